package queues_test

import (
	"context"
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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func TestQueueTrigger(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{} // body -> receive counts seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[string(b)] = append(got[string(b)], r.Header.Get("X-Receive-Count"))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/queues/testdata/sqsfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := fmt.Sprintf(`service: qt
provider:
  name: aws
  runtime: provided.al2023
  timeout: 5
functions:
  worker:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
    events:
      - sqs:
          arn:
            Fn::GetAtt: [Jobs, Arn]
          batchSize: 10
          functionResponseType: ReportBatchItemFailures
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: jobs
        VisibilityTimeout: 1
        RedrivePolicy:
          deadLetterTargetArn:
            Fn::GetAtt: [JobsDLQ, Arn]
          maxReceiveCount: 2
    JobsDLQ:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: jobs-dlq
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	// A bad queue declaration refuses the deploy and creates nothing.
	bad := t.TempDir()
	badYml := `service: qbad
provider: {name: aws, runtime: provided.al2023}
functions:
  f: {handler: bootstrap, package: {artifact: fn.zip}}
resources:
  Resources:
    Q: {Type: AWS::SQS::Queue, Properties: {QueueName: "bad name"}}
`
	_ = os.WriteFile(filepath.Join(bad, "serverless.yml"), []byte(badYml), 0o644)
	data, _ := os.ReadFile(filepath.Join(dir, "fn.zip"))
	_ = os.WriteFile(filepath.Join(bad, "fn.zip"), data, 0o644)
	if _, err := p.Client.Deploy(context.Background(), bad, manifest.Options{}, nil); err == nil {
		t.Errorf("deploy with an invalid queue succeeded")
	}
	p.Deploy(dir)
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), Retryer: aws.NopRetryer{}})
	ctx := context.Background()
	if out, _ := c.ListQueues(ctx, &sqs.ListQueuesInput{}); len(out.QueueUrls) != 2 {
		t.Fatalf("queues after deploy: %v", out.QueueUrls)
	}
	q, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"ok1", "ok2", "fail1"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	dlq, _ := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("jobs-dlq")})
	deadline := time.Now().Add(20 * time.Second)
	var dead []string
	for len(dead) == 0 && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			dead = append(dead, *m.Body)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 1 || dead[0] != "fail1" {
		t.Fatalf("dead-letter queue holds %v, want [fail1]", dead)
	}
	if len(got["ok1"]) != 1 || len(got["ok2"]) != 1 {
		t.Errorf("successful messages delivered %d and %d times, want once", len(got["ok1"]), len(got["ok2"]))
	}
	if fmt.Sprint(got["fail1"]) != "[1 2]" {
		t.Errorf("failing message receive counts %v, want [1 2]", got["fail1"])
	}
}
