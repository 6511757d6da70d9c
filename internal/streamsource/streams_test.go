package streamsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/conformance"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// delivery is one invocation as the function saw it.
type delivery struct {
	keys   []string // "pk:eventName"
	seqs   []string
	failed bool
}

type record struct {
	EventID        string `json:"eventID"`
	EventName      string `json:"eventName"`
	EventVersion   string `json:"eventVersion"`
	EventSource    string `json:"eventSource"`
	AWSRegion      string `json:"awsRegion"`
	EventSourceARN string `json:"eventSourceARN"`
	DynamoDB       struct {
		ApproximateCreationDateTime json.Number
		Keys                        map[string]map[string]any
		NewImage                    map[string]map[string]any
		OldImage                    map[string]map[string]any
		SequenceNumber              string
		SizeBytes                   int
		StreamViewType              string
	} `json:"dynamodb"`
}

const streamYML = `service: st
provider:
  name: aws
  runtime: provided.al2023
  timeout: 5
functions:
  recorder:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
    events:
      - stream:
          type: dynamodb
          arn:
            Fn::GetAtt: [Items, StreamArn]
          batchSize: 10
          startingPosition: TRIM_HORIZON
          maximumRetryAttempts: 1
          bisectBatchOnFunctionError: true
          functionResponseType: ReportBatchItemFailures
          filterPatterns:
            - dynamodb:
                Keys:
                  pk:
                    S: [{prefix: k}]
            - dynamodb:
                Keys:
                  pk:
                    S: [bad, partial]
          destinations:
            onFailure:
              Fn::GetAtt: [Failures, Arn]
resources:
  Resources:
    Items:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: items
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
        StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
    Failures:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: stream-failures
`

// TestStreamEvents: a function with a stream event on a table gets the
// table's changes as Lambda delivers them, in order; a poison record is
// bisected out and, after its retries, described to the on-failure queue;
// reported item failures resume from the lowest failed record; filtered
// records never arrive; a restart resumes after the last done batch.
func TestStreamEvents(t *testing.T) {
	var mu sync.Mutex
	var got []delivery
	records := map[string]record{}          // by pk:eventName, the last seen
	var rawFirst map[string]json.RawMessage // k1's INSERT as delivered
	partialSeen := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Records []record }
		var raw struct{ Records []map[string]json.RawMessage }
		if err := json.Unmarshal(body, &ev); err != nil || json.Unmarshal(body, &raw) != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if rawFirst == nil {
			rawFirst = raw.Records[0]
		}
		d := delivery{}
		answer := ""
		for _, rec := range ev.Records {
			pk := fmt.Sprint(rec.DynamoDB.Keys["pk"]["S"])
			d.keys = append(d.keys, pk+":"+rec.EventName)
			d.seqs = append(d.seqs, rec.DynamoDB.SequenceNumber)
			records[pk+":"+rec.EventName] = rec
			if pk == "bad" {
				d.failed = true
			}
			if pk == "partial" && !partialSeen {
				partialSeen = true
				answer = fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":%q}]}`, rec.DynamoDB.SequenceNumber)
			}
		}
		got = append(got, d)
		if d.failed {
			http.Error(w, "poison", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()

	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(fmt.Sprintf(streamYML, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	out := p.Deploy(dir)
	for _, w := range out.Project.Warnings {
		t.Errorf("warning: %s", w.Message)
	}
	db := dynamodb.NewFromConfig(p.AWSConfig())
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("items")})
	if err != nil {
		t.Fatal(err)
	}
	streamARN := aws.ToString(desc.Table.LatestStreamArn)
	// nimbus info lists the mapping with the stream it reads.
	infos, err := p.Client.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || len(infos[0].Functions) != 1 || fmt.Sprint(infos[0].Functions[0].Triggers) != "[stream "+streamARN+"]" {
		t.Errorf("info = %+v", infos)
	}

	put := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: aws.String("items"), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "v": &types.AttributeValueMemberN{Value: "1"}}}}
	}
	transact := func(items ...types.TransactWriteItem) {
		t.Helper()
		if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("waiting for %s; deliveries: %+v", what, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	last := func(key string) bool {
		return len(got) > 0 && strings.Join(got[len(got)-1].keys, ",") == key
	}

	// One transaction: its records appear together, so they form one batch.
	transact(put("k1"), put("k2"), put("bad"), put("k3"), put("skip1"))
	waitFor("k3 delivered alone", func() bool { return last("k3:INSERT") })
	want := []string{
		"k1:INSERT,k2:INSERT,bad:INSERT,k3:INSERT", // fails: bisected
		"k1:INSERT,k2:INSERT",
		"bad:INSERT,k3:INSERT", // fails: bisected
		"bad:INSERT",           // fails
		"bad:INSERT",           // retried once, fails: to the on-failure queue
		"k3:INSERT",
	}
	mu.Lock()
	var seen []string
	for _, d := range got {
		seen = append(seen, strings.Join(d.keys, ","))
	}
	badSeq := records["bad:INSERT"].DynamoDB.SequenceNumber
	first := records["k1:INSERT"]
	mu.Unlock()
	if strings.Join(seen, " | ") != strings.Join(want, " | ") {
		t.Fatalf("deliveries:\n  %s\nwant:\n  %s", strings.Join(seen, "\n  "), strings.Join(want, "\n  "))
	}
	// The record as Lambda delivers it.
	if len(first.EventID) != 32 || first.EventVersion != "1.1" || first.EventSource != "aws:dynamodb" || first.AWSRegion != "us-east-1" ||
		first.EventSourceARN != streamARN || first.DynamoDB.StreamViewType != "NEW_AND_OLD_IMAGES" || first.DynamoDB.SizeBytes <= 0 ||
		first.DynamoDB.NewImage["v"]["N"] != "1" || first.DynamoDB.OldImage != nil || len(first.DynamoDB.Keys) != 1 {
		t.Errorf("record = %+v", first)
	}
	// The same fields as AWS's sample INSERT event (one without userIdentity).
	sample := readSample(t)
	mu.Lock()
	gotShape := shape(rawFirst, "dynamodb")
	mu.Unlock()
	if want := shape(sample, "dynamodb"); gotShape != want {
		t.Errorf("record fields %s, AWS's sample has %s", gotShape, want)
	}
	if secs, err := first.DynamoDB.ApproximateCreationDateTime.Int64(); err != nil || time.Since(time.Unix(secs, 0)) > time.Hour {
		t.Errorf("ApproximateCreationDateTime = %s", first.DynamoDB.ApproximateCreationDateTime)
	}

	// The poison record's failure record.
	q := sqs.NewFromConfig(p.AWSConfig())
	url, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("stream-failures")})
	if err != nil {
		t.Fatal(err)
	}
	var failure struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			FunctionArn            string `json:"functionArn"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		ResponseContext struct {
			StatusCode    int    `json:"statusCode"`
			FunctionError string `json:"functionError"`
		} `json:"responseContext"`
		Version string `json:"version"`
		Info    struct {
			ShardID   string `json:"shardId"`
			Start     string `json:"startSequenceNumber"`
			End       string `json:"endSequenceNumber"`
			BatchSize int    `json:"batchSize"`
			StreamArn string `json:"streamArn"`
		} `json:"DDBStreamBatchInfo"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for failure.Version == "" && time.Now().Before(deadline) {
		m, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range m.Messages {
			if err := json.Unmarshal([]byte(*msg.Body), &failure); err != nil {
				t.Fatal(err)
			}
		}
	}
	if failure.RequestContext.Condition != "RetryAttemptsExhausted" || failure.RequestContext.ApproximateInvokeCount != 2 ||
		!strings.HasSuffix(failure.RequestContext.FunctionArn, ":function:st-dev-recorder") || failure.ResponseContext.FunctionError != "Unhandled" ||
		failure.Info.Start != badSeq || failure.Info.End != badSeq || failure.Info.BatchSize != 1 || failure.Info.StreamArn != streamARN ||
		!strings.HasPrefix(failure.Info.ShardID, "shardId-") || failure.Version != "1.0" {
		t.Errorf("failure record = %+v (bad is %s)", failure, badSeq)
	}

	// Reported item failures: the batch resumes at the failed record.
	mu.Lock()
	n := len(got)
	mu.Unlock()
	transact(
		types.TransactWriteItem{Update: &types.Update{TableName: aws.String("items"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k1"}},
			UpdateExpression: aws.String("SET v = :two"), ExpressionAttributeValues: map[string]types.AttributeValue{":two": &types.AttributeValueMemberN{Value: "2"}}}},
		put("partial"), put("k4"),
		types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String("items"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k2"}}}},
	)
	waitFor("the rest after the partial failure", func() bool { return len(got) >= n+2 })
	mu.Lock()
	seen = nil
	for _, d := range got[n:] {
		seen = append(seen, strings.Join(d.keys, ","))
	}
	modify, remove := records["k1:MODIFY"], records["k2:REMOVE"]
	mu.Unlock()
	if want := "k1:MODIFY,partial:INSERT,k4:INSERT,k2:REMOVE | partial:INSERT,k4:INSERT,k2:REMOVE"; strings.Join(seen, " | ") != want {
		t.Fatalf("after a partial failure: %s, want %s", strings.Join(seen, " | "), want)
	}
	if modify.DynamoDB.OldImage["v"]["N"] != "1" || modify.DynamoDB.NewImage["v"]["N"] != "2" || remove.DynamoDB.NewImage != nil || remove.DynamoDB.OldImage["pk"]["S"] != "k2" {
		t.Errorf("MODIFY %+v, REMOVE %+v", modify.DynamoDB, remove.DynamoDB)
	}

	// A restart resumes after the last done batch: only the new record comes.
	p = p.Restart()
	db = dynamodb.NewFromConfig(p.AWSConfig())
	mu.Lock()
	n = len(got)
	mu.Unlock()
	transact(put("k5"))
	waitFor("k5 after the restart", func() bool { return len(got) > n && last("k5:INSERT") })
	// The shard is in order: a redelivery would have come before k5.
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n+1 {
		t.Errorf("after the restart: %+v", got[n:])
	}
}

func readSample(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(conformance.Dir(t), "lambda", "events", "dynamodb-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Records []map[string]json.RawMessage }
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	for _, r := range ev.Records {
		if _, ok := r["userIdentity"]; !ok && strings.Contains(string(r["eventName"]), "INSERT") {
			return r
		}
	}
	t.Fatal("the sample has no INSERT without userIdentity")
	return nil
}

// shape lists a record's fields and the fields of its part named inner.
func shape(r map[string]json.RawMessage, inner string) string {
	var top, fields []string
	for k := range r {
		top = append(top, k)
	}
	var d map[string]json.RawMessage
	_ = json.Unmarshal(r[inner], &d)
	for k := range d {
		fields = append(fields, k)
	}
	slices.Sort(top)
	slices.Sort(fields)
	return strings.Join(top, ",") + " / " + strings.Join(fields, ",")
}
