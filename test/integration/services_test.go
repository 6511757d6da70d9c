package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestBusToTopicToQueue follows one event across three services, all through
// their AWS SDK clients: an EventBridge rule targets an SNS topic, whose
// queue subscription delivers it to SQS.
func TestBusToTopicToQueue(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	ctx := context.Background()
	creds := p.Credentials()
	sq := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	sn := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})

	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders-audit")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"]),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("big-orders"),
		EventPattern: aws.String(`{"source":["shop"],"detail":{"total":[{"numeric":[">",100]}]}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("big-orders"), Targets: []ebtypes.Target{{
		Id: aws.String("topic"), Arn: topic.TopicArn, InputPath: aws.String("$.detail"),
	}}}); err != nil {
		t.Fatal(err)
	}
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("shop"), DetailType: aws.String("order"), Detail: aws.String(`{"id":"small","total":5}`)},
		{Source: aws.String("shop"), DetailType: aws.String("order"), Detail: aws.String(`{"id":"big","total":500}`)},
	}})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, put)
	}
	var bodies []string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && len(bodies) < 1 {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
	}
	// Give a wrongly delivered second event the chance to show up.
	out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"id":"big"`) || strings.Contains(bodies[0], `"source"`) {
		t.Fatalf("queue received %q, want only the big order's detail", bodies)
	}
}

// TestAsyncPayloadAtTheLimit: an event of nearly 1 MB is accepted and reaches
// the function; one over the limit is refused with Lambda's error.
func TestAsyncPayloadAtTheLimit(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("examples/hello")
	ctx := context.Background()
	name := strings.Repeat("x", 1024*1024-64)
	out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello-dev-hello"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"name":"` + name + `"}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("async invoke of a payload just under 1 MB: %v %+v", err, out)
	}
	_, err = p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello-dev-hello"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"name":"` + name + strings.Repeat("y", 100) + `"}`)})
	if code := errorCode(err); code != "RequestEntityTooLargeException" {
		t.Fatalf("async invoke over 1 MB: %v, want RequestEntityTooLargeException", err)
	}
	// The accepted one ran: its greeting is in the function's log.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		found := false
		_ = p.Client.Logs(ctx, "hello-dev-hello", "", "greeting xxxx", false, func(r logsRecord) error { found = true; return nil })
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the accepted 1 MB event never reached the function")
		}
	}
}
