package schedule

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// manualClock is moved by the test; After polls it.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *manualClock) After(time.Duration) <-chan time.Time { return time.After(2 * time.Millisecond) }

type fired struct {
	mu    sync.Mutex
	ticks []time.Time
}

func (f *fired) fire(_ context.Context, _ Job, tick time.Time) error {
	f.mu.Lock()
	f.ticks = append(f.ticks, tick)
	f.mu.Unlock()
	return nil
}

func (f *fired) get() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.ticks...)
}

func waitTicks(t *testing.T, f *fired, n int) []time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.get()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got ticks %v, want %d", f.get(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond) // a duplicate would show up now
	return f.get()
}

func TestTicksOnceAndCoalescesMissedTicksAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := &manualClock{now: t0}
	job := Job{ID: "arn:aws:events:us-east-1:000000000000:rule/r", Expression: "rate(1 minute)", Created: t0}

	start := func(f *fired) (*store.Store, context.CancelFunc, chan struct{}) {
		st, err := store.Open(context.Background(), store.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), Config{Store: st, Clock: clock, Fire: f.fire})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.Set(ctx, []Job{job})
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		return st, cancel, done
	}

	f := &fired{}
	st, cancel, done := start(f)
	clock.set(t0.Add(30 * time.Second))
	time.Sleep(20 * time.Millisecond)
	if len(f.get()) != 0 {
		t.Fatalf("fired before the first tick: %v", f.get())
	}
	clock.set(t0.Add(time.Minute))
	got := waitTicks(t, f, 1)
	if len(got) != 1 || !got[0].Equal(t0.Add(time.Minute)) {
		t.Fatalf("first tick %v", got)
	}
	// Four ticks missed (2..5 minutes): only the most recent fires.
	clock.set(t0.Add(5*time.Minute + 30*time.Second))
	got = waitTicks(t, f, 2)
	if len(got) != 2 || !got[1].Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after a gap: %v", got)
	}
	cancel()
	<-done
	st.Close()

	// Restart: the stored last tick holds; the tick missed while down fires once.
	f2 := &fired{}
	clock.set(t0.Add(6*time.Minute + 10*time.Second))
	st, cancel, done = start(f2)
	got = waitTicks(t, f2, 1)
	if len(got) != 1 || !got[0].Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("after restart: %v", got)
	}
	clock.set(t0.Add(7 * time.Minute))
	got = waitTicks(t, f2, 2)
	if len(got) != 2 || !got[1].Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("on the grid after restart: %v", got)
	}
	cancel()
	<-done
	st.Close()
}

func TestScaledClock(t *testing.T) {
	epoch := time.Now()
	c := ScaledClock(epoch, 60)
	time.Sleep(50 * time.Millisecond)
	if d := c.Now().Sub(epoch); d < 2*time.Second || d > 60*time.Second {
		t.Fatalf("60x clock advanced %v in 50ms", d)
	}
	start := time.Now()
	<-c.After(6 * time.Second)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("After(6s) on a 60x clock took %v", el)
	}
}
