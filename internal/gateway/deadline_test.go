package gateway

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestLazyDeadline(t *testing.T) {
	// Nothing waits: no timer is made, and stop is enough.
	l := withLazyDeadline(context.Background(), time.Hour)
	if d, ok := l.Deadline(); !ok || time.Until(d) < 59*time.Minute {
		t.Fatalf("Deadline() = %v, %v", d, ok)
	}
	l.stop()
	if l.cancel != nil {
		t.Fatal("a timer was made for a context nobody waited on")
	}

	// Waited on: it ends at its deadline.
	l = withLazyDeadline(context.Background(), 10*time.Millisecond)
	select {
	case <-l.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the deadline never ended the context")
	}
	if !errors.Is(l.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v", l.Err())
	}
	l.stop()

	// The parent's end reaches it, and an earlier parent deadline wins.
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	l = withLazyDeadline(parent, time.Hour)
	if d, _ := l.Deadline(); time.Until(d) > 2*time.Minute {
		t.Fatalf("Deadline() = %v, want the parent's", d)
	}
	if l.Err() != nil {
		t.Fatalf("Err() = %v before anything ended", l.Err())
	}
	cancel()
	select {
	case <-l.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the parent's cancellation did not reach the context")
	}
	if !errors.Is(l.Err(), context.Canceled) {
		t.Fatalf("Err() = %v", l.Err())
	}
	l.stop()
}

// Contexts derived from the lazy deadline register with it: no goroutine
// each, and they end when the invocation's context stops.
func TestLazyDeadlineDerivedContexts(t *testing.T) {
	l := withLazyDeadline(context.Background(), time.Hour)
	before := runtime.NumGoroutine()
	derived := make([]context.Context, 100)
	for i := range derived {
		var cancel context.CancelFunc
		derived[i], cancel = context.WithCancel(l)
		defer cancel()
	}
	if n := runtime.NumGoroutine() - before; n > 10 {
		t.Fatalf("100 derived contexts started %d goroutines", n)
	}
	l.stop()
	for i, d := range derived {
		select {
		case <-d.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("derived context %d did not end with the invocation's", i)
		}
	}
}
