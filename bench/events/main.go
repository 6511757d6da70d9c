// Command events measures the event bus end to end: PutEvents (10 entries a
// call, through the EventBridge JSON API on the platform's listener) to a rule
// whose target is a no-op Go function, counting completed invocations.
//
//	go run ./bench/events [-n 20000] [-clients 16]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	n := flag.Int("n", 20000, "events to put")
	clients := flag.Int("clients", 16, "concurrent PutEvents callers")
	workers := flag.Int("workers", 8, "event batches delivered at once")
	flag.Parse()
	if err := run(*n, *clients, *workers); err != nil {
		log.Fatal(err)
	}
}

func run(n, clients, workers int) error {
	ws, err := benchkit.NewWorkspace("nimbus-bench-events-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	_, zipData, err := ws.NoopGo()
	if err != nil {
		return err
	}
	app, err := ws.App(`service: ebench
provider:
  name: aws
  memorySize: 128
functions:
  noop:
    runtime: provided.al2023
    handler: bootstrap
    package:
      artifact: fn.zip
    events:
      - eventBridge:
          pattern:
            source: [bench]
            detail-type: [tick]
`, map[string][]byte{"fn.zip": zipData})
	if err != nil {
		return err
	}
	srv, err := ws.Start(app, func(c *server.Config) {
		c.NoAuth = true // raw HTTP calls, unsigned: bench/auth measures what signatures add
		c.NoSandbox = true
		c.Events = server.EventsConfig{Workers: workers}
	})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	type entry struct{ Source, DetailType, Detail string }
	entries := make([]entry, 10)
	for i := range entries {
		entries[i] = entry{"bench", "tick", fmt.Sprintf(`{"i":%d,"payload":"some text of an ordinary event"}`, i)}
	}
	body, _ := json.Marshal(map[string]any{"Entries": entries})
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: clients}}
	put := func() error {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		var out struct{ FailedEntryCount int }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || out.FailedEntryCount != 0 {
			return fmt.Errorf("status %d, %d failed entries, %v", resp.StatusCode, out.FailedEntryCount, err)
		}
		return nil
	}
	// Warm up: instances started, consumers running.
	for range 20 {
		if err := put(); err != nil {
			return err
		}
	}
	for invocations(srv) < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	base := invocations(srv)
	calls := n / 10
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(calls) {
				if err := put(); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	want := base + float64(calls-int(failed.Load()))*10
	deadline := time.Now().Add(5 * time.Minute)
	for invocations(srv) < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	delivered := time.Since(start)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), load average %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), load)
	fmt.Printf("events: %d in %d PutEvents calls of 10 by %d clients, %d calls failed, %d delivery workers\n", calls*10, calls, clients, failed.Load(), workers)
	fmt.Printf("accepted (after the fsync'd JetStream ack): %.0f events/s (%v)\n", float64(calls*10)/accepted.Seconds(), accepted.Round(time.Millisecond))
	fmt.Printf("delivered end to end to the no-op Go function: %.0f events/s (%v from the first put to the last completed invocation; %.0f of %.0f)\n",
		(invocations(srv)-base)/delivered.Seconds(), delivered.Round(time.Millisecond), invocations(srv)-base, want-base)
	return nil
}

func invocations(srv *server.Server) float64 {
	mfs, err := srv.Metrics.Registry.Gather()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "nimbus_invocations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
