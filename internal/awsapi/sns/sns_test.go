package sns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func TestSNSFanOut(t *testing.T) {
	var mu sync.Mutex
	var events [][]byte
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		events = append(events, b)
		mu.Unlock()
	}))
	defer cb.Close()
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/async/testdata/recorder", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := fmt.Sprintf(`service: snst
provider:
  name: aws
  runtime: provided.al2023
functions:
  onOrder:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
      ROLE: fn
    events:
      - sns:
          arn:
            Ref: Orders
          filterPolicy:
            kind: [order]
resources:
  Resources:
    Orders:
      Type: AWS::SNS::Topic
      Properties:
        TopicName: orders
    Audit:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: audit
    AuditSub:
      Type: AWS::SNS::Subscription
      Properties:
        Protocol: sqs
        TopicArn:
          Ref: Orders
        Endpoint:
          Fn::GetAtt: [Audit, Arn]
        RawMessageDelivery: true
`, cb.URL)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	opts := func(o *sns.Options) {}
	c := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()}, opts)
	q := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	ctx := context.Background()

	topics, err := c.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil || len(topics.Topics) != 1 || *topics.Topics[0].TopicArn != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Fatalf("topics: %v %+v", err, topics)
	}
	arn := topics.Topics[0].TopicArn
	// An envelope subscription created through the API.
	env, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("envelopes")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:envelopes"),
		Attributes: map[string]string{"FilterPolicy": `{"kind":["nope"]}x`}}); err == nil {
		t.Errorf("invalid filter policy accepted")
	}
	if _, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: arn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:envelopes")}); err != nil {
		t.Fatal(err)
	}
	subs, err := c.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: arn})
	if err != nil || len(subs.Subscriptions) != 3 {
		t.Fatalf("subscriptions: %v %d", err, len(subs.Subscriptions))
	}

	pub := func(msg, kind string) {
		t.Helper()
		if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: arn, Message: aws.String(msg), Subject: aws.String("s"),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String(kind)}}}); err != nil {
			t.Fatal(err)
		}
	}
	pub(`{"id":1}`, "order")
	pub(`{"id":2}`, "refund") // filtered out for the function

	// Raw delivery: the message itself, with its attributes.
	audit, _ := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("audit")})
	got := map[string]bool{}
	for i := 0; i < 10 && len(got) < 2; i++ {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: audit.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			got[*m.Body] = true
			if m.MessageAttributes["kind"].StringValue == nil {
				t.Errorf("raw delivery lost the attributes")
			}
		}
	}
	if !got[`{"id":1}`] || !got[`{"id":2}`] {
		t.Errorf("raw queue got %v", got)
	}
	// Envelope delivery.
	out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: env.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) == 0 {
		t.Fatalf("envelope queue: %v", err)
	}
	var e struct{ Type, TopicArn, Message, Subject, MessageId string }
	if err := json.Unmarshal([]byte(*out.Messages[0].Body), &e); err != nil || e.Type != "Notification" || e.TopicArn != *arn || e.Subject != "s" || e.MessageId == "" {
		t.Errorf("envelope: %v %s", err, *out.Messages[0].Body)
	}
	// The function gets only the matching message, in the SNS event shape.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(events)
		mu.Unlock()
		if n >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	if len(events) != 1 {
		t.Fatalf("function got %d events, want 1", len(events))
	}
	var ev struct {
		Records []struct {
			EventSource string
			Sns         struct {
				Message, TopicArn string
				MessageAttributes map[string]struct{ Type, Value string }
			}
		}
	}
	if err := json.Unmarshal(events[0], &ev); err != nil || len(ev.Records) != 1 || ev.Records[0].EventSource != "aws:sns" ||
		ev.Records[0].Sns.Message != `{"id":1}` || ev.Records[0].Sns.MessageAttributes["kind"].Value != "order" {
		t.Errorf("SNS event: %v %s", err, events[0])
	}
	mu.Unlock()

	// Errors.
	_, err = c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:nope"), Message: aws.String("x")})
	var nf *snstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("publish to unknown topic: %v", err)
	}
	_, err = c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: arn, PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String("1")}, {Id: aws.String("a"), Message: aws.String("2")}}})
	var dup *snstypes.BatchEntryIdsNotDistinctException
	if !errors.As(err, &dup) {
		t.Errorf("duplicate batch ids: %v", err)
	}
	pb, err := c.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: arn, PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{
		{Id: aws.String("a"), Message: aws.String("1")}, {Id: aws.String("b"), Message: aws.String("2")}}})
	if err != nil || len(pb.Successful) != 2 {
		t.Errorf("PublishBatch: %v %+v", err, pb)
	}
}
