package queues_test

import (
	"context"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/queues"
)

// A long poll whose caller went away (a poller told to stop, an HTTP
// client that hung up) holds nothing: a message sent right after the
// cancel is not handed to the gone caller, and the next receive gets it
// on its first count, long before its visibility timeout.
func TestCancelledReceiveHoldsNothing(t *testing.T) {
	for _, tc := range []struct{ name, group string }{{"std", ""}, {"f.fifo", "g"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openService(t)
			attrs := map[string]string{"VisibilityTimeout": "600"}
			if tc.group != "" {
				attrs["FifoQueue"], attrs["ContentBasedDeduplication"] = "true", "true"
			}
			if _, err := s.Create(ctx, tc.name, attrs, nil); err != nil {
				t.Fatal(err)
			}
			for round := range 3 {
				rctx, cancel := context.WithCancel(ctx)
				type result struct {
					n   int
					err error
				}
				done := make(chan result, 1)
				go func() {
					wait := 20
					msgs, err := s.Receive(rctx, tc.name, queues.ReceiveInput{Max: 10, WaitSeconds: &wait})
					done <- result{len(msgs), err}
				}()
				// Let the receive's request reach the server (a shorter
				// pause only makes the test easier to pass).
				time.Sleep(300 * time.Millisecond)
				cancel()
				body := "m" + string(rune('0'+round))
				if _, err := s.Send(ctx, tc.name, &queues.SendInput{Body: body, GroupID: tc.group}); err != nil {
					t.Fatal(err)
				}
				if r := <-done; r.n != 0 {
					t.Fatalf("round %d: the cancelled receive returned %d messages (err %v)", round, r.n, r.err)
				}
				wait := 20
				msgs, err := s.Receive(ctx, tc.name, queues.ReceiveInput{Max: 10, WaitSeconds: &wait})
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) != 1 || msgs[0].Body != body {
					t.Fatalf("round %d: received %v, want %s", round, msgs, body)
				}
				if c := msgs[0].System["ApproximateReceiveCount"]; c != "1" {
					t.Errorf("round %d: receive count %s, want 1", round, c)
				}
				if err := s.DeleteMessage(ctx, tc.name, msgs[0].ReceiptHandle); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
