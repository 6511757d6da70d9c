package mappings

import (
	"context"
	"testing"
	"time"
)

// testPoller is released when the test says so, after it was stopped.
type testPoller struct {
	name     string
	stopped  chan struct{}
	released chan struct{}
}

func (p *testPoller) Stop()                     { close(p.stopped) }
func (p *testPoller) Released() <-chan struct{} { return p.released }

// mapping returns a Mapping of source whose poller and run signal the test.
func mapping(source string, made chan<- *testPoller, running chan<- string, name string) Mapping {
	return Mapping{Source: source, New: func(ctx context.Context) (Poller, func()) {
		p := &testPoller{name: name, stopped: make(chan struct{}), released: make(chan struct{})}
		made <- p
		return p, func() {
			if ctx.Err() == nil {
				running <- name
			}
			<-ctx.Done()
		}
	}}
}

func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

func TestReplacementWaitsForTheRelease(t *testing.T) {
	s := NewSet("test pollers")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	made := make(chan *testPoller, 4)
	running := make(chan string, 4)

	s.reconcile(ctx, map[string]Mapping{"a": mapping("q", made, running, "a"), "other": mapping("r", made, running, "other")})
	a, other := <-made, <-made
	if a.name != "a" {
		a, other = other, a
	}
	for range 2 {
		select {
		case <-running:
		case <-time.After(30 * time.Second):
			t.Fatal("the first pollers did not run")
		}
	}

	// "a" is replaced by "b" on the same source: "a" stops at once, "b"
	// runs only once "a" released the source.
	s.reconcile(ctx, map[string]Mapping{"b": mapping("q", made, running, "b"), "other": mapping("r", made, running, "other")})
	within(t, a.stopped, "the replaced poller's stop")
	b := <-made
	select {
	case name := <-running:
		t.Fatalf("%s ran while the poller it replaces still held the source", name)
	default:
	}
	close(a.released)
	select {
	case name := <-running:
		if name != "b" {
			t.Fatalf("%s ran, want b", name)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the replacement did not run after the release")
	}
	select {
	case <-other.stopped:
		t.Fatal("a mapping still wanted was stopped")
	default:
	}

	// A released leaver is forgotten at the next reconcile.
	s.reconcile(ctx, map[string]Mapping{"b": mapping("q", made, running, "b"), "other": mapping("r", made, running, "other")})
	s.mu.Lock()
	left := len(s.leaving)
	s.mu.Unlock()
	if left != 0 {
		t.Errorf("%d sources still have leaving pollers after their release", left)
	}

	// The end of ctx stops every poller; Run's goroutines all return.
	cancel()
	s.mu.Lock()
	for _, e := range s.running {
		e.stop()
	}
	s.mu.Unlock()
	within(t, b.stopped, "b's stop")
	within(t, other.stopped, "other's stop")
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	within(t, done, "the pollers' return")
}

func TestWaitReportsPollersStillRunning(t *testing.T) {
	s := NewSet("test pollers")
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	s.Start(ctx, time.Hour, func() map[string]Mapping {
		return map[string]Mapping{"a": {Source: "q", New: func(ctx context.Context) (Poller, func()) {
			p := &testPoller{stopped: make(chan struct{}), released: make(chan struct{})}
			return p, func() { <-ctx.Done(); <-release }
		}}}
	})
	cancel()
	short, stop := context.WithCancel(context.Background())
	stop()
	if err := s.Wait(short); err == nil {
		t.Fatal("Wait returned nil while a poller was still running")
	}
	close(release)
	long, stop2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop2()
	if err := s.Wait(long); err != nil {
		t.Fatalf("Wait after the pollers returned: %v", err)
	}
}
