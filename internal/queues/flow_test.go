package queues_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// Redeploys of a FIFO queue's consumer while messages flow: every message
// the queue acknowledged runs once, on its first receive, in its group's
// order, and once a message has reached a new revision no later one reaches
// an older revision (a stopped poller delivers nothing after the hand-over).
func TestRedeployWhileMessagesFlow(t *testing.T) {
	type delivery struct {
		body     string
		revision int
		count    string
	}
	var mu sync.Mutex
	var got []delivery
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rev, _ := strconv.Atoi(r.Header.Get("X-Revision"))
		mu.Lock()
		got = append(got, delivery{string(b), rev, r.Header.Get("X-Receive-Count")})
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/queues/testdata/sqsfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	write := func(rev, batch, window int) {
		t.Helper()
		yml := fmt.Sprintf(`service: qflow
provider:
  name: aws
  runtime: provided.al2023
  timeout: 10
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
            Fn::GetAtt: [Flow, Arn]
          batchSize: %d
          maximumBatchingWindow: %d
resources:
  Resources:
    Flow:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: flow.fifo
        FifoQueue: true
        ContentBasedDeduplication: true
        VisibilityTimeout: 120
        RedrivePolicy:
          deadLetterTargetArn:
            Fn::GetAtt: [FlowDLQ, Arn]
          maxReceiveCount: 1
    FlowDLQ:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: flow-dlq.fifo
        FifoQueue: true
`, srv.URL, rev, batch, window)
		if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	write(0, 1, 0)
	p.Deploy(dir)
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	ctx := context.Background()
	q, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("flow.fifo")})
	if err != nil {
		t.Fatal(err)
	}

	// Messages flow in two groups from the first deploy to after the last.
	groups := []string{"a", "b"}
	var sentMu sync.Mutex
	sent := map[string][]string{} // by group, in send order
	stop := make(chan struct{})
	var sender sync.WaitGroup
	sender.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(80 * time.Millisecond):
			}
			g := groups[i%len(groups)]
			body := fmt.Sprintf("%s-%03d", g, i)
			if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body),
				MessageGroupId: aws.String(g)}); err != nil {
				continue // not acknowledged: nothing is owed for it
			}
			sentMu.Lock()
			sent[g] = append(sent[g], body)
			sentMu.Unlock()
		}
	})
	// Every redeploy changes the code's revision; all but the third change
	// the trigger too, so a new poller takes over from the old one.
	settings := [][2]int{{2, 0}, {1, 1}, {1, 1}, {3, 0}, {1, 0}}
	for rev, s := range settings {
		time.Sleep(700 * time.Millisecond)
		write(rev+1, s[0], s[1])
		p.Deploy(dir)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	sender.Wait()

	total := 0
	for _, g := range groups {
		total += len(sent[g])
	}
	if total < 10 {
		t.Fatalf("only %d messages were acknowledged", total)
	}
	// Wait, generously, for every acknowledged message to run once.
	deadline := time.Now().Add(120 * time.Second)
	for {
		mu.Lock()
		seen := map[string]bool{}
		for _, d := range got {
			seen[d.body] = true
		}
		mu.Unlock()
		missing := 0
		for _, g := range groups {
			for _, b := range sent[g] {
				if !seen[b] {
					missing++
				}
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			state := map[string]string{}
			for _, name := range []string{"flow.fifo", "flow-dlq.fifo"} {
				u, _ := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
				if u == nil {
					continue
				}
				if a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
					AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}}); err == nil {
					state[name] = a.Attributes["ApproximateNumberOfMessages"] + " visible, " + a.Attributes["ApproximateNumberOfMessagesNotVisible"] + " in flight"
				}
			}
			t.Fatalf("%d of %d acknowledged messages not delivered; queues: %v", missing, total, state)
		}
		time.Sleep(100 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	times := map[string]int{}
	order := map[string][]string{}
	highest := 0
	for i, d := range got {
		times[d.body]++
		if d.count != "1" {
			t.Errorf("%s delivered with receive count %s, want 1", d.body, d.count)
		}
		if d.revision < highest {
			t.Errorf("delivery %d (%s) reached revision %d after revision %d had taken over", i, d.body, d.revision, highest)
		}
		highest = max(highest, d.revision)
		g, _, _ := strings.Cut(d.body, "-")
		order[g] = append(order[g], d.body)
	}
	for body, n := range times {
		if n != 1 {
			t.Errorf("%s delivered %d times", body, n)
		}
	}
	for _, g := range groups {
		if fmt.Sprint(order[g]) != fmt.Sprint(sent[g]) {
			t.Errorf("group %s delivered in the order\n%v\nsent as\n%v", g, order[g], sent[g])
		}
	}
	if highest != len(settings) {
		t.Errorf("the last revision to run was %d, want %d", highest, len(settings))
	}
	t.Logf("%d messages over %d redeploys", total, len(settings))
	dlq, _ := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("flow-dlq.fifo")})
	if a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}}); err != nil {
		t.Fatal(err)
	} else if n := a.Attributes["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("the dead-letter queue holds %s messages", n)
	}
}
