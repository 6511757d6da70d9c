package main

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// seqTarget is one endpoint of the interleaved sequential run.
type seqTarget struct {
	name, url string
	lat       []time.Duration
	n         int64
	self      time.Duration // CPU of this process (platform + client)
	kids      time.Duration // CPU of the child processes
	nvcsw     int64         // voluntary context switches of this process
}

// sequential measures only the warm p50 of sequential invokes, the baseline
// and every runtime interleaved in blocks of block invokes, so that a load
// that changes during the run weighs on all of them alike: the ratio to the
// baseline is taken between blocks a few milliseconds apart, not between
// measurements seconds apart.
func sequential(warmN, block int) error {
	ws, err := benchkit.NewWorkspace("nimbus-bench-core-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	_, app, err := noopService(ws)
	if err != nil {
		return err
	}
	srv, err := ws.Start(app, func(c *server.Config) { c.NoAuth = true })
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	proxyURL, stopBaseline, err := startBaseline()
	if err != nil {
		return err
	}
	defer stopBaseline()

	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}}
	targets := []*seqTarget{{name: "baseline", url: proxyURL}}
	for _, key := range []string{"go", "node", "python"} {
		if onlyRuntime != "" && key != onlyRuntime {
			continue
		}
		targets = append(targets, &seqTarget{name: key, url: srv.URL() + "/2015-03-31/functions/bench-dev-" + key + "/invocations"})
	}
	for _, t := range targets {
		for range 300 { // warm up: start the instance, let its code settle
			if _, err := invokeOnce(httpc, t.url); err != nil {
				return err
			}
		}
	}
	for done := 0; done < warmN; done += block {
		for _, t := range targets {
			cpu := startCPU()
			csw := nvcsw()
			for range block {
				d, err := invokeOnce(httpc, t.url)
				if err != nil {
					return err
				}
				t.lat = append(t.lat, d)
			}
			self, kids := cpu.perOp(1)
			t.self += self
			t.kids += kids
			t.nvcsw += nvcsw() - csw
			t.n += int64(block)
		}
	}
	base := benchkit.Percentile(targets[0].lat, 50)
	fmt.Printf("Sequential warm invokes, interleaved in blocks of %d, %d each. Machine: %s.\n\n", block, warmN, benchkit.Machine())
	fmt.Println("| target | warm p50 | ÷ baseline p50 | warm p90 | warm p99 | CPU/invoke, bench process | CPU/invoke, child processes | voluntary switches/invoke, bench process |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, t := range targets {
		p50 := benchkit.Percentile(t.lat, 50)
		fmt.Printf("| %s | %s | %.2f× | %s | %s | %s | %s | %.1f |\n", t.name, us(p50), float64(p50)/float64(base),
			us(benchkit.Percentile(t.lat, 90)), us(benchkit.Percentile(t.lat, 99)),
			us(t.self/time.Duration(t.n)), us(t.kids/time.Duration(t.n)), float64(t.nvcsw)/float64(t.n))
	}
	return nil
}

func nvcsw() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw
}
