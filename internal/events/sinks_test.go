package events_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestTopicAndQueueTargets: one rule sends matching events to an SNS topic (through an input
// transformer) and to an SQS queue (through InputPath); the topic's raw queue subscription and the
// queue receive exactly the matching event, rendered for each target.
func TestTopicAndQueueTargets(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	eb, sq := ebClient(p), sqsClient(p)
	sn := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})

	queueARN := func(url *string) string {
		t.Helper()
		a, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Attributes["QueueArn"]
	}
	viaTopic, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("via-topic")})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("direct")})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN(viaTopic.QueueUrl)),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("paid"), EventPattern: aws.String(`{"source":["shop"],"detail-type":["paid"]}`)}); err != nil {
		t.Fatal(err)
	}
	// EventBridge takes only SQS queues as dead-letter queues: an SNS one is refused.
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("paid"), Targets: []ebtypes.Target{{
		Id: aws.String("topic"), Arn: topic.TopicArn, DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: topic.TopicArn},
	}}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Fatalf("SNS dead-letter queue: %v", err)
	}
	out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("paid"), Targets: []ebtypes.Target{
		{Id: aws.String("topic"), Arn: topic.TopicArn, InputTransformer: &ebtypes.InputTransformer{
			InputPathsMap: map[string]string{"id": "$.detail.id"},
			InputTemplate: aws.String(`{"order": <id>, "text": "paid <id>", "rule": <aws.events.rule-name>}`),
		}},
		{Id: aws.String("queue"), Arn: aws.String(queueARN(direct.QueueUrl)), InputPath: aws.String("$.detail")},
	}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutTargets with an SNS topic and an SQS queue: %v %+v", err, out)
	}
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("shop"), DetailType: aws.String("created"), Detail: aws.String(`{"id":"o-1"}`)},
		{Source: aws.String("shop"), DetailType: aws.String("paid"), Detail: aws.String(`{"id":"o-2"}`)},
	}})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, put)
	}
	receive := func(url *string, want int) []string {
		t.Helper()
		var bodies []string
		deadline := time.Now().Add(15 * time.Second)
		for {
			m, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range m.Messages {
				bodies = append(bodies, aws.ToString(msg.Body))
			}
			// Once the expected messages are in, one more empty poll shows nothing extra came.
			if (len(bodies) >= want && len(m.Messages) == 0) || time.Now().After(deadline) {
				sort.Strings(bodies)
				return bodies
			}
		}
	}
	if got := receive(viaTopic.QueueUrl, 1); strings.Join(got, "|") != `{"order": "o-2", "text": "paid o-2", "rule": "paid"}` {
		t.Fatalf("the topic's subscriber got %q", got)
	}
	if got := receive(direct.QueueUrl, 1); strings.Join(got, "|") != `{"id":"o-2"}` {
		t.Fatalf("the queue got %q", got)
	}
}

// TestMissingQueueOrTopicGoesToDLQWithoutRetries: a target queue or topic that does not exist is
// not retried (as EventBridge does for a missing resource); the event goes to the dead-letter
// queue at once with ResourceNotFoundException.
func TestMissingQueueOrTopicGoesToDLQWithoutRetries(t *testing.T) {
	p := testkit.Start(t, nil) // the default retry delay (1 s, doubling) would take minutes for 185 retries
	ctx := context.Background()
	eb, sq := ebClient(p), sqsClient(p)
	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dlqARN := "arn:aws:sqs:us-east-1:000000000000:dlq"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["test"]}`)}); err != nil {
		t.Fatal(err)
	}
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: []ebtypes.Target{
		{Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:no-such-queue"), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlqARN)}},
		{Id: aws.String("topic"), Arn: aws.String("arn:aws:sns:us-east-1:000000000000:no-such-topic"), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlqARN)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("test"), DetailType: aws.String("t"), Detail: aws.String(`{}`)},
	}}); err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	targets := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for len(targets) < 2 && time.Now().Before(deadline) {
		m, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range m.Messages {
			attr := func(k string) string {
				if v, ok := msg.MessageAttributes[k]; ok {
					return aws.ToString(v.StringValue)
				}
				return ""
			}
			if attr("ERROR_CODE") != "ResourceNotFoundException" || attr("RETRY_ATTEMPTS") != "" {
				t.Fatalf("DLQ message for %s: %v", attr("TARGET_ARN"), msg.MessageAttributes)
			}
			targets[attr("TARGET_ARN")] = aws.ToString(msg.Body)
		}
	}
	if len(targets) != 2 {
		t.Fatalf("dead-letter messages for %v, want the missing queue and the missing topic", targets)
	}
}
