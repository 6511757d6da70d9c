package kinesis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/datastreams"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func apiError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

func readShard(t *testing.T, c *kinesis.Client, it *string) []types.Record {
	t.Helper()
	var out []types.Record
	for {
		r, err := c.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(3)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Records...)
		if len(r.Records) == 0 {
			return out
		}
		it = r.NextShardIterator
	}
}

func TestDataStreamAPI(t *testing.T) {
	ctx := context.Background()
	p := testkit.Start(t, nil)
	c := kinesis.NewFromConfig(p.AWSConfig())
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("clicks"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("clicks"), ShardCount: aws.Int32(2)})
	apiError(t, err, "ResourceInUseException")
	d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("clicks")})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if sd.StreamStatus != types.StreamStatusActive || len(sd.Shards) != 2 || *sd.StreamARN != "arn:aws:kinesis:us-east-1:000000000000:stream/clicks" ||
		*sd.Shards[0].ShardId != "shardId-000000000000" || *sd.Shards[1].HashKeyRange.EndingHashKey != "340282366920938463463374607431768211455" {
		t.Fatalf("DescribeStream = %+v", sd)
	}
	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("clicks")})
	if err != nil || *sum.StreamDescriptionSummary.OpenShardCount != 2 {
		t.Fatalf("DescribeStreamSummary = %+v, %v", sum, err)
	}
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("clicks")})
	if err != nil || len(ls.Shards) != 2 {
		t.Fatalf("ListShards = %+v, %v", ls, err)
	}

	// Records of one key go to the shard its MD5 hash falls in, in order.
	keys := []string{"alice", "bob", "carol", "dave"}
	wantShard := map[string]string{}
	for _, k := range keys {
		start, _ := datastreams.HashRange(1, 2)
		wantShard[k] = "shardId-000000000000"
		if datastreams.HashKey(k).Cmp(start) >= 0 {
			wantShard[k] = "shardId-000000000001"
		}
	}
	var entries []types.PutRecordsRequestEntry
	for i := 0; i < 12; i++ {
		k := keys[i%len(keys)]
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: fmt.Appendf(nil, "%s-%d", k, i)})
	}
	pr, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("clicks"), Records: entries})
	if err != nil || *pr.FailedRecordCount != 0 || len(pr.Records) != 12 {
		t.Fatalf("PutRecords = %+v, %v", pr, err)
	}
	for i, r := range pr.Records {
		if k := keys[i%len(keys)]; *r.ShardId != wantShard[k] {
			t.Fatalf("record %d (%s) went to %s, want %s", i, k, *r.ShardId, wantShard[k])
		}
	}
	one, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String("alice"), Data: []byte("alice-12")})
	if err != nil || *one.ShardId != wantShard["alice"] {
		t.Fatalf("PutRecord = %+v, %v", one, err)
	}
	seen := map[string][]string{}
	total := 0
	for _, shard := range ls.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"), ShardId: shard.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		var prev uint64
		for _, r := range readShard(t, c, it.ShardIterator) {
			seq, _ := strconv.ParseUint(*r.SequenceNumber, 10, 64)
			if seq <= prev || wantShard[*r.PartitionKey] != *shard.ShardId || r.ApproximateArrivalTimestamp == nil {
				t.Fatalf("record %s in %s after %d", *r.SequenceNumber, *shard.ShardId, prev)
			}
			prev = seq
			seen[*r.PartitionKey] = append(seen[*r.PartitionKey], string(r.Data))
			total++
		}
	}
	if total != 13 || fmt.Sprint(seen["alice"]) != "[alice-0 alice-4 alice-8 alice-12]" || fmt.Sprint(seen["dave"]) != "[dave-3 dave-7 dave-11]" {
		t.Fatalf("read %d records: %v", total, seen)
	}

	// Positions.
	shard := one.ShardId
	at, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"), ShardId: shard,
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: one.SequenceNumber})
	if err != nil {
		t.Fatal(err)
	}
	if got := readShard(t, c, at.ShardIterator); len(got) != 1 || string(got[0].Data) != "alice-12" {
		t.Fatalf("AT_SEQUENCE_NUMBER read %d records", len(got))
	}
	latest, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"), ShardId: shard, ShardIteratorType: types.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	if got := readShard(t, c, latest.ShardIterator); len(got) != 0 {
		t.Fatalf("LATEST read %d old records", len(got))
	}
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String("alice"), Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if got := readShard(t, c, latest.ShardIterator); len(got) != 1 || string(got[0].Data) != "new" {
		t.Fatalf("LATEST then a put: %d records", len(got))
	}

	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"), ShardId: aws.String("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeLatest})
	apiError(t, err, "ResourceNotFoundException")
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String(""), Data: []byte("x")})
	if err == nil {
		t.Fatal("an empty partition key was accepted")
	}
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("clicks")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("clicks")})
	apiError(t, err, "ResourceNotFoundException")
}
