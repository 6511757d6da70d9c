package dynamodbstreams_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func clients(t *testing.T) (*dynamodb.Client, *dynamodbstreams.Client) {
	t.Helper()
	p := testkit.Start(t, nil)
	cfg := p.AWSConfig()
	return dynamodb.NewFromConfig(cfg), dynamodbstreams.NewFromConfig(cfg)
}

func apiError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func createTable(t *testing.T, db *dynamodb.Client, name string, view types.StreamViewType) *types.TableDescription {
	t.Helper()
	out, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: view},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.TableDescription
}

// readAll reads a shard from it until a read returns nothing.
func readAll(t *testing.T, st *dynamodbstreams.Client, it *string) ([]stypes.Record, *string) {
	t.Helper()
	var out []stypes.Record
	for {
		r, err := st.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Records...)
		it = r.NextShardIterator
		if len(r.Records) == 0 || it == nil {
			return out, it
		}
	}
}

func TestStreamRecordsThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	db, st := clients(t)
	desc := createTable(t, db, "orders", types.StreamViewTypeNewAndOldImages)
	if desc.LatestStreamArn == nil || !strings.HasPrefix(*desc.LatestStreamArn, *desc.TableArn+"/stream/") || *desc.LatestStreamLabel == "" {
		t.Fatalf("CreateTable: LatestStreamArn %v, label %v", desc.LatestStreamArn, desc.LatestStreamLabel)
	}
	if desc.StreamSpecification == nil || desc.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Fatalf("StreamSpecification = %+v", desc.StreamSpecification)
	}
	arn := desc.LatestStreamArn
	// LATEST on a stream that never had a record reads nothing, without error.
	ds0, err := st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: ds0.StreamDescription.Shards[0].ShardId, ShardIteratorType: stypes.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, st, empty.ShardIterator); len(got) != 0 {
		t.Fatalf("LATEST on an empty stream read %d records", len(got))
	}

	// Every kind of write, including ones that change nothing.
	put := func(item map[string]types.AttributeValue) {
		t.Helper()
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(map[string]types.AttributeValue{"pk": s("a"), "v": n("1")})
	put(map[string]types.AttributeValue{"pk": s("a"), "v": n("1")}) // identical: no record
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"), Key: map[string]types.AttributeValue{"pk": s("a")},
		UpdateExpression: aws.String("SET v = v + :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("orders"), Key: map[string]types.AttributeValue{"pk": s("missing")}}); err != nil {
		t.Fatal(err) // deletes nothing: no record
	}
	if _, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"orders": {
		{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("b")}}},
		{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"pk": s("a")}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{"pk": s("c"), "x": s("y")}}},
		{Update: &types.Update{TableName: aws.String("orders"), Key: map[string]types.AttributeValue{"pk": s("b")}, UpdateExpression: aws.String("SET w = :w"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":w": s("z")}}},
	}}); err != nil {
		t.Fatal(err)
	}

	ls, err := st.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Streams) != 1 || *ls.Streams[0].StreamArn != *arn || *ls.Streams[0].TableName != "orders" {
		t.Fatalf("ListStreams = %+v", ls.Streams)
	}
	ds, err := st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	d := ds.StreamDescription
	if d.StreamStatus != stypes.StreamStatusEnabled || d.StreamViewType != stypes.StreamViewTypeNewAndOldImages || len(d.Shards) != 1 ||
		d.Shards[0].SequenceNumberRange.StartingSequenceNumber == nil || d.Shards[0].SequenceNumberRange.EndingSequenceNumber != nil || len(d.KeySchema) != 1 {
		t.Fatalf("DescribeStream = %+v", d)
	}
	shard := d.Shards[0].ShardId
	gi, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	recs, next := readAll(t, st, gi.ShardIterator)
	type want struct{ event, key, newV, oldV string }
	wants := []want{{"INSERT", "a", "1", ""}, {"MODIFY", "a", "2", "1"}, {"INSERT", "b", "", ""}, {"REMOVE", "a", "", "2"}, {"INSERT", "c", "", ""}, {"MODIFY", "b", "", ""}}
	if len(recs) != len(wants) {
		t.Fatalf("got %d records, want %d: %+v", len(recs), len(wants), recs)
	}
	var prev uint64
	for i, r := range recs {
		w := wants[i]
		if string(r.EventName) != w.event || *r.EventSource != "aws:dynamodb" || *r.AwsRegion != "us-east-1" || *r.EventVersion != "1.1" || len(*r.EventID) != 32 {
			t.Fatalf("record %d = %s %v %v", i, r.EventName, *r.EventSource, *r.AwsRegion)
		}
		sr := r.Dynamodb
		if k := sr.Keys["pk"].(*stypes.AttributeValueMemberS).Value; k != w.key || len(sr.Keys) != 1 {
			t.Fatalf("record %d keys = %v, want pk %s", i, sr.Keys, w.key)
		}
		seq, err := strconv.ParseUint(*sr.SequenceNumber, 10, 64)
		if err != nil || seq <= prev {
			t.Fatalf("record %d sequence %s after %d", i, *sr.SequenceNumber, prev)
		}
		prev = seq
		if sr.StreamViewType != stypes.StreamViewTypeNewAndOldImages || *sr.SizeBytes <= 0 || sr.ApproximateCreationDateTime == nil {
			t.Fatalf("record %d = %+v", i, sr)
		}
		if (sr.NewImage != nil) != (w.event != "REMOVE") || (sr.OldImage != nil) != (w.event != "INSERT") {
			t.Fatalf("record %d %s: new %v old %v", i, w.event, sr.NewImage, sr.OldImage)
		}
		if w.newV != "" && sr.NewImage["v"].(*stypes.AttributeValueMemberN).Value != w.newV {
			t.Fatalf("record %d NewImage = %v", i, sr.NewImage)
		}
		if w.oldV != "" && sr.OldImage["v"].(*stypes.AttributeValueMemberN).Value != w.oldV {
			t.Fatalf("record %d OldImage = %v", i, sr.OldImage)
		}
	}
	if next == nil {
		t.Fatal("an open shard has a next iterator")
	}
	// The iterator at the end sees what comes next, and only that.
	put(map[string]types.AttributeValue{"pk": s("d")})
	more, _ := readAll(t, st, next)
	if len(more) != 1 || more[0].Dynamodb.Keys["pk"].(*stypes.AttributeValueMemberS).Value != "d" {
		t.Fatalf("after the end: %+v", more)
	}

	// Positions by sequence number.
	third := recs[2].Dynamodb.SequenceNumber
	type from struct {
		first string
		count int
	}
	for typ, w := range map[stypes.ShardIteratorType]from{stypes.ShardIteratorTypeAtSequenceNumber: {"b", 5}, stypes.ShardIteratorTypeAfterSequenceNumber: {"a", 4}} {
		gi, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: typ, SequenceNumber: third})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := readAll(t, st, gi.ShardIterator)
		if k := got[0].Dynamodb.Keys["pk"].(*stypes.AttributeValueMemberS).Value; k != w.first || len(got) != w.count {
			t.Fatalf("%s %s: first key %s, %d records", typ, *third, k, len(got))
		}
	}
	latest, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: stypes.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, st, latest.ShardIterator); len(got) != 0 {
		t.Fatalf("LATEST read %d old records", len(got))
	}

	// Errors.
	old := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"a":%q,"s":%q,"p":0,"t":1000}`, *arn, *shard))
	_, err = st.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(old)})
	apiError(t, err, "ExpiredIteratorException")
	_, err = st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard,
		ShardIteratorType: stypes.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String("5")})
	apiError(t, err, "TrimmedDataAccessException")
	_, err = st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(*desc.TableArn + "/stream/2000-01-01T00:00:00.000")})
	apiError(t, err, "ResourceNotFoundException")
	_, err = st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: aws.String("shardId-nope"), ShardIteratorType: stypes.ShardIteratorTypeLatest})
	apiError(t, err, "ResourceNotFoundException")

	// Disabling closes the shard: its records stay readable, then no next iterator.
	if _, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("orders"), StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	put(map[string]types.AttributeValue{"pk": s("e")}) // no record
	ds, err = st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if ds.StreamDescription.StreamStatus != stypes.StreamStatusDisabled || ds.StreamDescription.Shards[0].SequenceNumberRange.EndingSequenceNumber == nil {
		t.Fatalf("disabled stream = %+v", ds.StreamDescription)
	}
	gi, err = st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	all, end := readAll(t, st, gi.ShardIterator)
	if len(all) != 7 || end != nil {
		t.Fatalf("closed shard: %d records, next %v", len(all), end)
	}
	// Enabling again starts a new stream.
	up, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("orders"),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeKeysOnly}})
	if err != nil {
		t.Fatal(err)
	}
	if *up.TableDescription.LatestStreamArn == *arn && *up.TableDescription.LatestStreamLabel == *desc.LatestStreamLabel {
		t.Log("same label within one millisecond") // labels are times to the millisecond
	}
	_, err = db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("orders"),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}})
	apiError(t, err, "ValidationException")
}
