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
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// A redeploy of a queue's consumer hands the queue's poller over without
// holding messages: a message sent right after the redeploy runs promptly,
// on its first receive (with maxReceiveCount 1 a held message would go to
// the dead-letter queue without having run).
func TestRedeployHandsOverThePoller(t *testing.T) {
	type delivery struct {
		count string
		at    time.Time
	}
	var mu sync.Mutex
	got := map[string][]delivery{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[string(b)] = append(got[string(b)], delivery{r.Header.Get("X-Receive-Count"), time.Now()})
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/queues/testdata/sqsfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	// The visibility timeout is far above the generous deadline below: a
	// message held by a stopped poller would come back only after it (and
	// then, with maxReceiveCount 1, go to the dead-letter queue). The
	// deadline is long so that a loaded machine cannot fail the test.
	const visibility = 180 * time.Second
	write := func(rev, batch int) {
		t.Helper()
		yml := fmt.Sprintf(`service: qh
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
      REVISION: "%d"
    events:
      - sqs:
          arn:
            Fn::GetAtt: [Jobs, Arn]
          batchSize: %d
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: jobs
        VisibilityTimeout: %d
        RedrivePolicy:
          deadLetterTargetArn:
            Fn::GetAtt: [JobsDLQ, Arn]
          maxReceiveCount: 1
    JobsDLQ:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: jobs-dlq
`, srv.URL, rev, batch, int(visibility/time.Second))
		if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	write(0, 1)
	p.Deploy(dir)
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	ctx := context.Background()
	q, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]time.Time{}
	send := func(body string) {
		t.Helper()
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
		sent[body] = time.Now()
	}
	send("warm")
	// Redeploys that change the code's settings only, and ones that change
	// the trigger (a new poller replaces the old one); messages follow each
	// at once and over the next seconds, while the old poller winds down.
	for rev := 1; rev <= 4; rev++ {
		write(rev, []int{1, 2, 2, 1}[rev-1]) // odd revisions keep the trigger
		p.Deploy(dir)
		for i := range 6 {
			send(fmt.Sprintf("rev%d-%d", rev, i))
			time.Sleep(400 * time.Millisecond)
		}
	}
	// Each message runs once, on its first receive, well before a visibility
	// timeout could have passed.
	deadline := time.Now().Add(visibility / 3)
	for {
		mu.Lock()
		missing := []string{}
		for body := range sent {
			if len(got[body]) == 0 {
				missing = append(missing, body)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages not delivered within %v of being sent: %v", visibility/3, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var slowest time.Duration
	for body, at := range sent {
		if d := got[body]; len(d) > 0 {
			slowest = max(slowest, d[0].at.Sub(at))
		}
	}
	t.Logf("%d messages, the slowest delivered %v after it was sent", len(sent), slowest)
	for body := range sent {
		d := got[body]
		if len(d) != 1 || d[0].count != "1" {
			t.Errorf("%s: delivered %d times with receive counts %v, want once with 1", body, len(d), d)
		}
	}
	dlq, _ := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("jobs-dlq")})
	if a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}}); err != nil {
		t.Fatal(err)
	} else if n := a.Attributes["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("the dead-letter queue holds %s messages", n)
	}
}
