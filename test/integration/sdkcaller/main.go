// Command sdkcaller is a Go function (aws-lambda-go) that calls the platform's
// SQS, SNS, EventBridge and Lambda APIs with aws-sdk-go-v2 configured from the
// environment alone; the integration tests build and deploy it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

type caller struct {
	sqs    *sqs.Client
	sns    *sns.Client
	events *eventbridge.Client
	lambda *lambdaapi.Client
}

type event struct {
	From string `json:"from"`
}

func body(via, from string) string {
	b, _ := json.Marshal(map[string]string{"via": via, "from": from})
	return string(b)
}

func (c *caller) handle(ctx context.Context, ev event) (map[string]any, error) {
	if _, err := c.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(os.Getenv("QUEUE_URL")), MessageBody: aws.String(body("sqs", ev.From))}); err != nil {
		return nil, fmt.Errorf("send message: %w", err)
	}
	if _, err := c.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(os.Getenv("TOPIC_ARN")), Message: aws.String(body("sns", ev.From))}); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	put, err := c.events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(os.Getenv("BUS_NAME")), Source: aws.String("nimbus.sdk-test"),
		DetailType: aws.String("call"), Detail: aws.String(body("events", ev.From)),
	}}})
	if err != nil {
		return nil, fmt.Errorf("put events: %w", err)
	}
	if put.FailedEntryCount != 0 {
		return nil, errors.New("put events: an entry failed")
	}
	payload, _ := json.Marshal(ev)
	out, err := c.lambda.Invoke(ctx, &lambdaapi.InvokeInput{FunctionName: aws.String(os.Getenv("TARGET_FUNCTION")), Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("target failed: %s", out.Payload)
	}
	var target any
	if err := json.Unmarshal(out.Payload, &target); err != nil {
		return nil, fmt.Errorf("target's answer: %w", err)
	}
	return map[string]any{"from": ev.From, "target": target}, nil
}

func main() {
	// Endpoint (AWS_ENDPOINT_URL), region and credentials: the environment alone.
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load AWS config:", err)
		os.Exit(1)
	}
	c := &caller{sqs: sqs.NewFromConfig(cfg), sns: sns.NewFromConfig(cfg), events: eventbridge.NewFromConfig(cfg), lambda: lambdaapi.NewFromConfig(cfg)}
	lambda.Start(c.handle)
}
