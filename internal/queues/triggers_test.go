package queues_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/queues"
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
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
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

// goroutinesIn returns the stacks of the goroutines that are inside fn.
func goroutinesIn(fn string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			out = append(out, string(g))
		}
	}
	return strings.Join(out, "\n\n")
}

// Stopping the pollers waits for the batches being delivered (their
// functions run to the end and what succeeded is deleted), and no invocation
// starts after Wait returns.
func TestPollersWaitForTheirWorkers(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(calls)
	}
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/queues/testdata/sqsfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := fmt.Sprintf(`service: qstop
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
          batchSize: 1
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: jobs
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	ctx := context.Background()

	// Pollers of their own, over a queue service of their own, running the
	// platform's function (the platform's pollers watch its own, empty, queue).
	q := openService(t)
	if _, err := q.Create(ctx, "jobs", map[string]string{"VisibilityTimeout": "30"}, nil); err != nil {
		t.Fatal(err)
	}
	const sent = 12
	for i := range sent {
		if _, err := q.Send(ctx, "jobs", &queues.SendInput{Body: fmt.Sprintf("sleep%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	pollers := queues.NewPollers(q, p.Invoker, p.Registry, slog.New(slog.NewTextHandler(io.Discard, nil)))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	pollers.Start(runCtx, 100*time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for count() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the trigger delivered nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}

	stop()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := pollers.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	// The platform's pollers deliver nothing: a delivering goroutine is ours.
	if g := goroutinesIn("internal/queues.(*Pollers).deliver"); g != "" {
		t.Fatalf("trigger workers still deliver after Wait:\n%s", g)
	}
	n := count()
	time.Sleep(1200 * time.Millisecond)
	if after := count(); after != n {
		t.Errorf("%d invocations started after Wait returned", after-n)
	}
	if n >= sent {
		t.Fatalf("all %d messages ran; stopping stopped nothing", n)
	}
	// Every batch that ran was deleted; the rest is still in the queue.
	c, err := q.Count(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if left := c.Visible + c.InFlight; left != int64(sent-n) {
		t.Errorf("%d messages left after %d of %d ran, want %d", left, n, sent, sent-n)
	}
}
