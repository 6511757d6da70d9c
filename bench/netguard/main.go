// Command netguard measures what the function network rules (ADR 0028) cost:
// cold starts and warm invokes of no-op functions on two isolated platforms in
// one process, one with the rules and one with --no-network-guard,
// alternating, with the CPU of the platform and of the function processes.
//
//	go run ./bench/netguard [-cold 30] [-warm 2000] [-rounds 5] [-out BENCHMARKS.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	out := flag.String("out", "BENCHMARKS.md", "file to write the results section into (empty: print only)")
	coldN := flag.Int("cold", 30, "cold starts per runtime and platform")
	warmN := flag.Int("warm", 2000, "sequential warm invokes per round")
	rounds := flag.Int("rounds", 5, "alternating warm rounds per platform")
	flag.BoolVar(&swap, "swap", false, "start the platform without rules first and run it first in each pair (an order check)")
	flag.Parse()
	if err := run(*out, *coldN, *warmN, *rounds); err != nil {
		log.Fatal(err)
	}
}

// swap reverses the order of the platforms, to check the figures do not
// come from it.
var swap bool

func run(outFile string, coldN, warmN, rounds int) error {
	ws, err := benchkit.NewWorkspace("nimbus-bench-netguard-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	_, goZip, err := ws.NoopGo()
	if err != nil {
		return err
	}
	py, err := os.ReadFile("bench/core/noop-python/main.py")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	app, err := ws.App(`service: bench
provider:
  name: aws
  memorySize: 128
functions:
  go:
    runtime: provided.al2023
    handler: bootstrap
    package:
      artifact: go.zip
  python:
    runtime: python3.11
    handler: main.handler
`, map[string][]byte{"go.zip": goZip, "main.py": py})
	if err != nil {
		return err
	}
	platform := func(sub string, noGuard bool) (*server.Server, error) {
		return ws.Start(app, func(c *server.Config) {
			c.DataDir = filepath.Join(ws.Dir, sub, "data")
			c.RunDir = filepath.Join(ws.Dir, sub, "run")
			c.NoNetworkGuard = noGuard
			c.NoAuth = true // signatures are not what is measured
		})
	}
	var on, off *server.Server
	if swap {
		if off, err = platform("off", true); err != nil {
			return err
		}
		defer off.Close(context.Background())
	}
	if on, err = platform("on", false); err != nil {
		return err
	}
	defer on.Close(context.Background())
	if !swap {
		if off, err = platform("off", true); err != nil {
			return err
		}
		defer off.Close(context.Background())
	}
	if !on.Runtime().Isolation().NetworkGuarded {
		return fmt.Errorf("the rules are not installed: %s", on.Runtime().Isolation().NetworkReason)
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	url := func(srv *server.Server, fn string) string {
		return srv.URL() + "/2015-03-31/functions/bench-dev-" + fn + "/invocations"
	}
	cold := func(srv *server.Server, fn string) (time.Duration, error) {
		srv.Runtime().Retire("bench-dev-" + fn)
		time.Sleep(20 * time.Millisecond) // let the old instance exit
		return invoke(httpc, url(srv, fn))
	}
	var rows []string
	for _, fn := range []string{"go", "python"} {
		var onD, offD []time.Duration
		for i := range coldN + 2 {
			first, second := on, off
			if swap {
				first, second = off, on
			}
			x, err := cold(first, fn)
			if err != nil {
				return err
			}
			y, err := cold(second, fn)
			if err != nil {
				return err
			}
			a, b := x, y
			if swap {
				a, b = y, x
			}
			if i >= 2 {
				onD, offD = append(onD, a), append(offD, b)
			}
		}
		// Warm: alternating rounds, CPU of this process (both platforms; the
		// idle one adds little) and of the function processes per invoke.
		var onCPU, offCPU, onWall, offWall []time.Duration
		for r := range rounds*2 + 2 {
			srv := on
			if (r%2 == 1) != swap {
				srv = off
			}
			if _, err := invoke(httpc, url(srv, fn)); err != nil {
				return err
			}
			cpu0, start := cpuNow(), time.Now()
			for range warmN {
				if _, err := invoke(httpc, url(srv, fn)); err != nil {
					return err
				}
			}
			wall, cpu := time.Since(start)/time.Duration(warmN), (cpuNow()-cpu0)/time.Duration(warmN)
			if r < 2 {
				continue // warm-up rounds
			}
			if srv == on {
				onCPU, onWall = append(onCPU, cpu), append(onWall, wall)
			} else {
				offCPU, offWall = append(offCPU, cpu), append(offWall, wall)
			}
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |", fn,
			ms(benchkit.Percentile(onD, 50)), ms(benchkit.Percentile(offD, 50)),
			ms(benchkit.Percentile(onD, 90)), ms(benchkit.Percentile(offD, 90)),
			us(benchkit.Percentile(onCPU, 50)), us(benchkit.Percentile(offCPU, 50)),
			us(benchkit.Percentile(onWall, 50)), us(benchkit.Percentile(offWall, 50))))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Two isolated platforms in one process (no-op functions, 128 MB): one with the function network rules\n")
	fmt.Fprintf(&b, "of ADR 0028 (table %s), one with `--no-network-guard`; the runs alternate between them.\n", on.Runtime().Isolation().NetworkTable)
	fmt.Fprintf(&b, "Cold: %d per runtime and platform, at the client. Warm: %d rounds of %d sequential invokes per platform;\n", coldN, rounds, warmN)
	fmt.Fprintf(&b, "CPU per invoke is this process's (both platforms and the client) plus the function processes', median of the rounds.\n\n")
	fmt.Fprintf(&b, "Machine: %s (as the run ended). Command: `go run ./bench/netguard -cold %d -warm %d -rounds %d%s`.\n\n", benchkit.Machine(), coldN, warmN, rounds, map[bool]string{true: " -swap"}[swap])
	b.WriteString("| runtime | cold p50, rules | cold p50, none | cold p90, rules | cold p90, none | warm CPU/invoke, rules | warm CPU/invoke, none | warm wall/invoke, rules | warm wall/invoke, none |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	b.WriteString(strings.Join(rows, "\n") + "\n")
	fmt.Print(b.String())
	if outFile == "" {
		return nil
	}
	return benchkit.WriteSection(outFile, "Function network rules: cold and warm cost (bench/netguard)", b.String())
}

func invoke(c *http.Client, url string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Post(url, "application/json", strings.NewReader(`{"k":1}`))
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
		return 0, fmt.Errorf("invoke %s: %d %s", url, resp.StatusCode, body)
	}
	return time.Since(start), nil
}

// cpuNow is the CPU time of this process and of its live children (the
// function processes: the init step execs the runtime in place).
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	self := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 || f[1] != self {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
	}
	return total
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
