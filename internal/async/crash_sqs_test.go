package async_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestSQSSurvivesSIGKILL sends thousands of messages while consumers receive
// and delete, kills the platform with SIGKILL, restarts it on the same data
// directory, and checks that every acknowledged send is received and that no
// acknowledged delete is delivered again.
func TestSQSSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	p := testkit.NewChild(t)
	p.Start()
	c := sqs.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("crash"), Attributes: map[string]string{"VisibilityTimeout": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	const total = 3000
	var sentOK, deleted, deleting sync.Map
	var nSent atomic.Int64
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				body := fmt.Sprintf("m%05d", i)
				if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err == nil {
					sentOK.Store(body, true)
					nSent.Add(1)
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
				if err != nil {
					return
				}
				for _, m := range out.Messages {
					// A delete cut off by the kill may still have been applied.
					deleting.Store(*m.Body, true)
					if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err == nil {
						deleted.Store(*m.Body, true)
					}
				}
			}
		}()
	}
	for nSent.Load() < total/2 {
		time.Sleep(time.Millisecond)
	}
	p.Kill()
	stop.Store(true)
	wg.Wait()
	nDeleted := 0
	deleted.Range(func(_, _ any) bool { nDeleted++; return true })
	t.Logf("acknowledged %d sends and %d deletes before the kill", nSent.Load(), nDeleted)
	p.Start()

	received := map[string]bool{}
	redelivered := 0
	idle := 0
	for idle < 4 {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			idle++
			continue
		}
		idle = 0
		for _, m := range out.Messages {
			if _, ok := deleted.Load(*m.Body); ok {
				redelivered++
			}
			received[*m.Body] = true
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var lost []string
	sentOK.Range(func(k, _ any) bool {
		b := k.(string)
		if _, ok := deleting.Load(b); !ok && !received[b] {
			lost = append(lost, b)
		}
		return true
	})
	if len(lost) > 0 {
		t.Errorf("%d acknowledged messages were lost (e.g. %v)", len(lost), lost[:min(5, len(lost))])
	}
	if redelivered > 0 {
		t.Errorf("%d messages whose delete was acknowledged were delivered again", redelivered)
	}
	t.Logf("after restart: %d received, none lost, none deleted delivered again", len(received))
}
