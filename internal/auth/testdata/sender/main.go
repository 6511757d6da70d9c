// Command sender is a test function: it sends a message to the queue its
// event names with aws-sdk-go-v2 and the credentials Lambda's environment
// gives, and reports what the platform answered.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

type event struct {
	QueueURL string `json:"queueUrl"`
	Body     string `json:"body"`
}

func handle(ctx context.Context, e event) (string, error) {
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		endpoint = os.Getenv("TEST_ENDPOINT")
	}
	c := sqs.New(sqs.Options{
		Region:       os.Getenv("AWS_REGION"),
		BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"),
			os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")),
		Retryer: aws.NopRetryer{},
	})
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.QueueURL), MessageBody: aws.String(e.Body)}); err != nil {
		return "", err
	}
	return "sent", nil
}

func main() { lambda.Start(handle) }
