package queues_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/store"
)

func openService(t *testing.T) *queues.Service {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	s, err := queues.New(ctx, queues.ServiceConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kind(err error) queues.Kind {
	var qe *queues.Error
	if errors.As(err, &qe) {
		return qe.Kind
	}
	return ""
}

func receiveOne(t *testing.T, s *queues.Service, q string) *queues.Message {
	t.Helper()
	zero := 0
	msgs, err := s.Receive(context.Background(), q, queues.ReceiveInput{Max: 10, WaitSeconds: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) > 1 {
		t.Fatalf("received %d messages, want at most 1", len(msgs))
	}
	if len(msgs) == 0 {
		return nil
	}
	return &msgs[0]
}

// A receipt handle whose visibility timeout passed must not change the
// visibility of the message's next receive (that would hand the message to
// a second consumer while the first still works on it), and a deleted
// message's handle is refused with SQS's error.
func TestChangeVisibilityReceipts(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	if _, err := s.Create(ctx, "vis", map[string]string{"VisibilityTimeout": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, "vis", &queues.SendInput{Body: "a"}); err != nil {
		t.Fatal(err)
	}
	first := receiveOne(t, s, "vis")
	if first == nil {
		t.Fatal("no message")
	}
	time.Sleep(1300 * time.Millisecond)
	second := receiveOne(t, s, "vis")
	if second == nil || second.System["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive: %+v", second)
	}
	// The first receipt expired: changing it answers OK and does nothing.
	if err := s.ChangeVisibility(ctx, "vis", first.ReceiptHandle, 0); err != nil {
		t.Fatalf("change on expired receipt: %v", err)
	}
	if m := receiveOne(t, s, "vis"); m != nil {
		t.Fatalf("an expired receipt made the message visible while the second receive holds it: %+v", m)
	}
	if err := s.DeleteMessage(ctx, "vis", second.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	err := s.ChangeVisibility(ctx, "vis", second.ReceiptHandle, 10)
	if kind(err) != queues.InvalidParameterValue {
		t.Fatalf("change on a deleted message: %v, want InvalidParameterValue", err)
	}
	for _, h := range []string{"garbage", "JEpTLkFDSy5TUVNfdmlzLnNxcy4xLj4", ""} {
		if err := s.ChangeVisibility(ctx, "vis", h, 10); kind(err) != queues.ReceiptHandleIsInvalid {
			t.Errorf("handle %q: %v, want ReceiptHandleIsInvalid", h, err)
		}
		if err := s.DeleteMessage(ctx, "vis", h); kind(err) != queues.ReceiptHandleIsInvalid {
			t.Errorf("delete with handle %q: %v, want ReceiptHandleIsInvalid", h, err)
		}
	}

	// A heartbeat extends the visibility past the receive's own deadline, and
	// again after that deadline passed.
	if _, err := s.Send(ctx, "vis", &queues.SendInput{Body: "b"}); err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, s, "vis")
	if m == nil {
		t.Fatal("no message b")
	}
	if err := s.ChangeVisibility(ctx, "vis", m.ReceiptHandle, 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past the receive's 1 s
	if err := s.ChangeVisibility(ctx, "vis", m.ReceiptHandle, 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past the first extension
	if got := receiveOne(t, s, "vis"); got != nil {
		t.Fatalf("the second extension did not hold the message: %+v", got)
	}
	// Visibility 0 on the current receipt makes it visible at once.
	if err := s.ChangeVisibility(ctx, "vis", m.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	if got := receiveOne(t, s, "vis"); got == nil || got.Body != "b" {
		t.Fatalf("after visibility 0: %+v", got)
	}
}

// A FIFO message that became visible again and was received a second time
// is in flight: nothing after it may be received until it is deleted.
func TestFIFOHoldsOrderAcrossRedelivery(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	if _, err := s.Create(ctx, "f.fifo", map[string]string{"FifoQueue": "true", "VisibilityTimeout": "1", "ContentBasedDeduplication": "true"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"1", "2", "3"} {
		if _, err := s.Send(ctx, "f.fifo", &queues.SendInput{Body: b, GroupID: "g"}); err != nil {
			t.Fatal(err)
		}
	}
	m := receiveOne(t, s, "f.fifo")
	if m == nil || m.Body != "1" {
		t.Fatalf("first receive: %+v", m)
	}
	if got := receiveOne(t, s, "f.fifo"); got != nil {
		t.Fatalf("received %q while 1 is in flight", got.Body)
	}
	time.Sleep(1300 * time.Millisecond)
	m = receiveOne(t, s, "f.fifo")
	if m == nil || m.Body != "1" || m.System["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after the visibility timeout: %+v, want 1 again", m)
	}
	if got := receiveOne(t, s, "f.fifo"); got != nil {
		t.Fatalf("received %q while the redelivered 1 is in flight", got.Body)
	}
	if err := s.DeleteMessage(ctx, "f.fifo", m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2", "3"} {
		m = receiveOne(t, s, "f.fifo")
		if m == nil || m.Body != want {
			t.Fatalf("got %+v, want %s", m, want)
		}
		if err := s.DeleteMessage(ctx, "f.fifo", m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
}
