package stepfunctions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// runMachine starts an execution of machine with input and waits for its end.
func runMachine(t *testing.T, c *sfn.Client, machine, input string) *sfn.DescribeExecutionOutput {
	t.Helper()
	start, err := c.StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN + machine), Input: aws.String(input)})
	if err != nil {
		t.Fatalf("StartExecution %s: %v", machine, err)
	}
	return waitDone(t, c, aws.ToString(start.ExecutionArn))
}

// TestServiceIntegrations: a machine puts an item in a table (optimized
// DynamoDB, with a condition), reads it back (getItem) and queries it
// (aws-sdk:dynamodb:query), sends it to a queue with a task token
// (sqs:sendMessage.waitForTaskToken) that the function consuming the queue
// completes with SendTaskSuccess, publishes to a topic (sns:publish, which
// reaches a subscribed queue) and puts an event (events:putEvents). A
// second run with the same id fails the conditional put and the Catch on
// DynamoDB.ConditionalCheckFailedException takes it. A machine whose role
// allows only dynamodb:GetItem fails its sqs:sendMessage task with the AWS
// error and AccessDenied text.
func TestServiceIntegrations(t *testing.T) {
	testkit.RequireSDK(t, false, true)
	p := testkit.Start(t, nil)
	p.Deploy(testkit.Path(t, "test/stepfunctions/testdata/integrations"))
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()

	d := runMachine(t, c, "order", `{"id":"o-1","qty":3}`)
	if d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("order: %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	var out struct {
		Put struct {
			SdkHTTPMetadata struct {
				HTTPStatusCode int `json:"HttpStatusCode"`
			} `json:"SdkHttpMetadata"`
		} `json:"put"`
		Got    struct{ Qty string } `json:"got"`
		Query  struct{ Count int }  `json:"query"`
		Worked struct {
			Worked    string `json:"worked"`
			Qty       string `json:"qty"`
			MessageID string `json:"messageId"`
		} `json:"worked"`
		Notified  struct{ MessageID string } `json:"notified"`
		Announced struct {
			Entries          []struct{ EventID string } `json:"Entries"`
			FailedEntryCount int
		} `json:"announced"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
		t.Fatal(err)
	}
	if out.Put.SdkHTTPMetadata.HTTPStatusCode != 200 || out.Got.Qty != "3" || out.Query.Count != 1 ||
		out.Worked.Worked != "o-1" || out.Worked.Qty != "3" || out.Worked.MessageID == "" ||
		out.Notified.MessageID == "" || len(out.Announced.Entries) != 1 || out.Announced.Entries[0].EventID == "" {
		t.Fatalf("order output: %s", aws.ToString(d.Output))
	}
	// The topic's subscribed queue got the published message as JSON text.
	q := sqs.NewFromConfig(p.AWSConfig())
	url, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("sfn-int-inbox")})
	if err != nil {
		t.Fatal(err)
	}
	var body string
	waitFor(t, "the published message", func() bool {
		m, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Messages) > 0 {
			body = aws.ToString(m.Messages[0].Body)
		}
		return body != ""
	})
	if body != `{"id":"o-1"}` {
		t.Fatalf("published body %q", body)
	}

	dup := runMachine(t, c, "order", `{"id":"o-1","qty":5}`)
	if dup.Status != types.ExecutionStatusSucceeded || !strings.Contains(aws.ToString(dup.Output), `"Error":"DynamoDB.ConditionalCheckFailedException"`) {
		t.Fatalf("duplicate: %s %s", dup.Status, aws.ToString(dup.Output))
	}

	denied := runMachine(t, c, "limited", `{}`)
	if denied.Status != types.ExecutionStatusFailed || aws.ToString(denied.Error) != "SQS.AmazonSQSException" ||
		!strings.Contains(aws.ToString(denied.Cause), "assumed-role/sfn-int-dev-LimitedRole/") ||
		!strings.Contains(aws.ToString(denied.Cause), "is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:") {
		t.Fatalf("limited: %s %s %s", denied.Status, aws.ToString(denied.Error), aws.ToString(denied.Cause))
	}
}
