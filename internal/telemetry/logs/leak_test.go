package logs_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// Reading logs through the deploy API, to the end or following until the
// reader gives up, leaves no goroutine behind (in the platform or in the
// embedded NATS server it runs).
func TestLogReadsDoNotLeak(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy("examples/hello")
	const fn = "hello-dev-hello"
	if _, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"name":"leak"}`)}); err != nil {
		t.Fatal(err)
	}
	read := func(follow bool) int {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		err := p.Client.Logs(ctx, fn, "", "", follow, func(logs.Record) error {
			n++
			if follow && n == 1 {
				cancel() // the user's ^C on `nimbus logs --tail`
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			t.Fatalf("read logs (follow %v): %v", follow, err)
		}
		return n
	}
	// The invocation's lines are stored within a flush interval.
	deadline := time.Now().Add(10 * time.Second)
	for read(false) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the invocation's log lines never became readable")
		}
		time.Sleep(50 * time.Millisecond)
	}
	read(true) // warm up connection pools and lazily started parts

	settle := func() int {
		// Idle HTTP connections are closed so that only leaks remain.
		p.Client.HTTP.CloseIdleConnections()
		time.Sleep(200 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	base := settle()
	const reads = 40
	for range reads {
		if n := read(false); n == 0 {
			t.Fatal("a read returned no lines")
		}
		read(true)
	}
	// Leaked goroutines would be about 3 per read (240 here); a few come
	// and go with the platform's own work.
	const slack = 15
	var now int
	for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait); {
		if now = settle(); now <= base+slack {
			t.Logf("goroutines: %d before %d reads, %d after", base, 2*reads, now)
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("goroutines grew from %d to %d after %d reads\n%s", base, now, 2*reads, buf[:runtime.Stack(buf, true)])
}
