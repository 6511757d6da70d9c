package async_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

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

// A service's Wait returns only when every goroutine it started is done,
// the events of batches (which run concurrently) included, and after it no
// function invocation starts. Enqueue may run while Start does (-race).
func TestWaitOwnsEveryEvent(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `  slow:
`+fnZip+`    environment:
      ROLE: slow
  fast:
`+fnZip+`    environment:
      ROLE: fast
`)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	ctx := context.Background()

	// A service of its own (on its own store) running the platform's functions,
	// so the test controls its lifetime.
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	svc, err := async.New(ctx, async.Config{Store: st, Invoker: p.Invoker, Registry: p.Registry, Workers: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	// Events accepted while Start runs and after it, by goroutines that do
	// not synchronise with it otherwise (a data race -race sees).
	var early sync.WaitGroup
	for i := range 10 {
		early.Go(func() {
			time.Sleep(time.Duration(i) * 30 * time.Millisecond)
			if _, err := svc.Enqueue(ctx, &async.Request{Function: "asynctest-dev-fast", Payload: []byte(`{}`)}); err != nil {
				t.Error(err)
			}
		})
	}
	if err := svc.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	early.Wait()

	// A batch whose events run two at a time.
	const slow = 16
	reqs := make([]*async.Request, slow)
	for i := range reqs {
		reqs[i] = &async.Request{Function: "asynctest-dev-slow", Payload: []byte(`{"sleepMs":800}`)}
	}
	if err := svc.EnqueueBatch(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "batch events running", 20*time.Second, func() bool { return len(rec.byRole("slow")) >= 2 })

	stop()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := svc.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	// The platform's own service runs no events: any goroutine handling one
	// is the stopped service's.
	if g := goroutinesIn("internal/async.(*Service).handle"); g != "" {
		t.Fatalf("event goroutines still run after Wait:\n%s", g)
	}
	n := len(rec.byRole("slow"))
	time.Sleep(time.Second)
	if after := len(rec.byRole("slow")); after != n {
		t.Errorf("%d invocations started after Wait returned", after-n)
	}
	if n >= slow {
		t.Errorf("all %d events ran; stopping stopped nothing", n)
	}
}
