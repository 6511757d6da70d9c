// Command async measures durable asynchronous invocations: how many
// InvocationType Event requests per second the platform accepts (each stored
// and fsync'd in JetStream before the 202), and how many per second reach a
// no-op Go function end to end.
//
//	go run ./bench/async -n 20000 -clients 64
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	n := flag.Int("n", 20000, "async invocations to send")
	clients := flag.Int("clients", 64, "concurrent HTTP clients")
	workers := flag.Int("workers", 64, "async workers (invocations running at once)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *clients, *workers); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

func run(n, clients, workers int) error {
	ws, err := benchkit.NewWorkspace("nimbus-bench-async-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	_, zipData, err := ws.NoopGo()
	if err != nil {
		return err
	}
	app, err := ws.App("service: abench\nprovider:\n  name: aws\n  memorySize: 128\nfunctions:\n  noop:\n    runtime: provided.al2023\n    handler: bootstrap\n    package:\n      artifact: fn.zip\n",
		map[string][]byte{"fn.zip": zipData})
	if err != nil {
		return err
	}
	// Raw HTTP calls, unsigned: bench/auth measures what signatures add.
	srv, err := ws.Start(app, func(c *server.Config) { c.Async = server.AsyncConfig{Workers: workers}; c.NoAuth = true })
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	url := srv.URL() + "/2015-03-31/functions/abench-dev-noop/invocations"
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: clients}}
	post := func(kind string) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{"k":"v"}`)))
		req.Header.Set("X-Amz-Invocation-Type", kind)
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for range 100 {
		if err := post("RequestResponse"); err != nil {
			return err
		}
	}
	base := invocations(srv)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := post("Event"); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	want := base + float64(n) - float64(failed.Load())
	for invocations(srv) < want {
		time.Sleep(5 * time.Millisecond)
	}
	delivered := time.Since(start)
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("async invocations: %d sent by %d clients, %d refused, %d workers\n", n, clients, failed.Load(), workers)
	fmt.Printf("accepted (202 after fsync'd JetStream ack): %.0f/s (%v)\n", float64(n)/accepted.Seconds(), accepted.Round(time.Millisecond))
	fmt.Printf("delivered end to end to the no-op Go function: %.0f/s (%v from the first send to the last completion)\n", float64(n)/delivered.Seconds(), delivered.Round(time.Millisecond))
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
