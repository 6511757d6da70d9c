package queues_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/queues"
)

// forgeHandle rewrites a receipt handle to name the message at stream
// sequence sseq (a well-formed handle of a delivery that never happened).
func forgeHandle(t *testing.T, h string, sseq uint64) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(raw), "\n")
	tok := strings.Split(parts[1], ".")
	for i := 1; i+2 < len(tok); i++ {
		if tok[i] == "sqs" && strings.HasPrefix(tok[i-1], "SQS_") {
			tok[i+2] = strconv.FormatUint(sseq, 10) // after the delivery count
			parts[1] = strings.Join(tok, ".")
			return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\n")))
		}
	}
	t.Fatalf("unexpected ack subject %q", parts[1])
	return ""
}

// A well-formed receipt handle of a message that was never received is
// refused at once with SQS's ReceiptHandleIsInvalid (JetStream does not
// answer such an ack, so waiting for it took the request timeout), and
// deletes nothing.
func TestDeleteWithNeverDeliveredHandle(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	if _, err := s.Create(ctx, "del", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"a", "b"} {
		if _, err := s.Send(ctx, "del", &queues.SendInput{Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	zero := 0
	got, err := s.Receive(ctx, "del", queues.ReceiveInput{Max: 1, WaitSeconds: &zero})
	if err != nil || len(got) != 1 {
		t.Fatalf("receive: %v %d", err, len(got))
	}
	for _, sseq := range []uint64{2, 1 << 40} { // the unreceived message; one never sent
		forged := forgeHandle(t, got[0].ReceiptHandle, sseq)
		if err := s.CheckHandle("del", forged); err != nil {
			t.Fatalf("forged handle is not well-formed: %v", err)
		}
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := s.DeleteMessage(dctx, "del", forged)
		cancel()
		if kind(err) != queues.ReceiptHandleIsInvalid {
			t.Errorf("delete with a handle of never-delivered sequence %d: %v, want ReceiptHandleIsInvalid", sseq, err)
		}
	}
	// The received message is deleted with its own handle; the other is still there.
	if err := s.DeleteMessage(ctx, "del", got[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, s, "del")
	if m == nil || m.Body != "b" {
		t.Fatalf("after the refused deletes: %+v, want message b", m)
	}
	// Its handle (now delivered) deletes it, and a second delete of it is fine.
	for range 2 {
		if err := s.DeleteMessage(ctx, "del", m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
	if m := receiveOne(t, s, "del"); m != nil {
		t.Fatalf("deleted message received again: %+v", m)
	}
}
