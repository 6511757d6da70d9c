// Command core measures the invoke path: warm latency and throughput through
// the Lambda API, cold starts beside the bare start of each runtime, and memory
// per warm idle instance. It prints a table and writes it into BENCHMARKS.md.
//
//	go run ./bench/core [-out BENCHMARKS.md]
//	go run ./bench/core -isolation    # cold starts with isolation on and off
//	go run ./bench/core -seq 100      # warm p50 only, runtimes and baseline interleaved
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	if os.Getenv("NIMBUS_BENCH_ECHO") != "" {
		serveEcho()
		return
	}
	out := flag.String("out", "BENCHMARKS.md", "file to write the results section into (empty: print only)")
	warmN := flag.Int("warm", 3000, "sequential warm invokes per runtime")
	dur := flag.Duration("duration", 3*time.Second, "duration of the 8-client throughput run")
	warmup := flag.Duration("warmup", 3*time.Second, "8-client warm-up before each throughput run")
	coldN := flag.Int("cold", 25, "cold starts per runtime")
	idleN := flag.Int("idle", 40, "idle instances for the memory measurement")
	only := flag.String("only", "", "measure one runtime only: go, node or python")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the platform to this file")
	isolation := flag.Bool("isolation", false, "measure only cold starts, with isolation on and off side by side")
	seq := flag.Int("seq", 0, "measure only the warm p50 of sequential invokes, the baseline and the runtimes interleaved in blocks of this many invokes (0: off)")
	flag.IntVar(&cpuShares, "cpushares", 0, "experiment: give each function process its own cpu cgroup with this cpu.shares after the warm-up (0: off)")
	flag.Parse()
	onlyRuntime = *only
	warmupDur = *warmup
	profilePath = *cpuProfile
	if *seq > 0 {
		if err := sequential(*warmN, *seq); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *isolation {
		if err := coldIsolation(*out, *coldN); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*out, *warmN, *dur, *coldN, *idleN); err != nil {
		log.Fatal(err)
	}
}

// onlyRuntime restricts the run to one runtime (the -only flag); profilePath
// receives a CPU profile of the throughput runs (the -cpuprofile flag).
var onlyRuntime, profilePath string

// warmupDur is the 8-client warm-up before each throughput run (the -warmup flag).
var warmupDur time.Duration

type runtimeCase struct {
	key, runtime string
	bare         []string // command for the bare process start
}

// verdicts compares a runtime's figures with the targets.
func (rc runtimeCase) verdicts(warmP50 time.Duration, rps float64, coldP50, bareP50 time.Duration) []string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	switch rc.key {
	case "go":
		ratio := float64(coldP50) / float64(bareP50)
		return []string{
			fmt.Sprintf("Go warm p50 ≤ 300 µs: %s, %s", us(warmP50), met(warmP50 <= 300*time.Microsecond)),
			fmt.Sprintf("Go ≥ 8,000 invokes/s with 8 clients: %.0f/s, %s", rps, met(rps >= 8000)),
			fmt.Sprintf("Go cold start ≤ 3× the bare start: %.1f×, %s", ratio, met(ratio <= 3)),
		}
	default:
		extra := coldP50 - bareP50
		return []string{fmt.Sprintf("%s cold start ≤ bare start + 30 ms: %+.1f ms, %s", rc.runtime, float64(extra.Microseconds())/1000, met(extra <= 30*time.Millisecond))}
	}
}

func run(outFile string, warmN int, dur time.Duration, coldN, idleN int) error {
	ws, err := benchkit.NewWorkspace("nimbus-bench-core-*")
	if err != nil {
		return err
	}
	defer ws.Close()

	goBin, app, err := noopService(ws)
	if err != nil {
		return err
	}
	// Raw HTTP calls, unsigned: bench/auth measures what signatures add.
	srv, err := ws.Start(app, func(c *server.Config) { c.NoAuth = true })
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	python := pythonPath()
	cases := []runtimeCase{
		{key: "go", runtime: "Go (provided.al2023, aws-lambda-go)", bare: []string{goBin}},
		{key: "node", runtime: "Node.js 20", bare: []string{"node", "-e", "0"}},
		{key: "python", runtime: "Python 3.11", bare: []string{python, "-c", "0"}},
	}

	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}}
	var rows, verdicts []string

	// The floor: the same two hops with nothing but net/http on them (client →
	// reverse proxy in this process → echo server in another process).
	proxyURL, stopBaseline, err := startBaseline()
	if err != nil {
		return err
	}
	for range 200 {
		if _, err := invokeOnce(httpc, proxyURL); err != nil {
			return err
		}
	}
	base := make([]time.Duration, 0, warmN)
	for range warmN {
		d, err := invokeOnce(httpc, proxyURL)
		if err != nil {
			return err
		}
		base = append(base, d)
	}
	if _, _, err := throughput(httpc, proxyURL, 8, warmupDur); err != nil { // warm up, as below
		return err
	}
	cpu := startCPU()
	baseRPS, n, err := throughput(httpc, proxyURL, 8, dur)
	if err != nil {
		return err
	}
	baseSelf, baseKids := cpu.perOp(n)
	stopBaseline()
	rows = append(rows, fmt.Sprintf("| baseline: net/http proxy → echo process | %s | %s | %.0f | %s | %s | | | | | | |",
		us(benchkit.Percentile(base, 50)), us(benchkit.Percentile(base, 99)), baseRPS, us(baseSelf), us(baseKids)))

	for _, rc := range cases {
		if onlyRuntime != "" && rc.key != onlyRuntime {
			continue
		}
		name := "bench-dev-" + rc.key
		url := srv.URL() + "/2015-03-31/functions/" + name + "/invocations"
		for range 200 { // warm up
			if _, err := invokeOnce(httpc, url); err != nil {
				return err
			}
		}
		lat := make([]time.Duration, 0, warmN)
		for range warmN {
			d, err := invokeOnce(httpc, url)
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		p50, p99 := benchkit.Percentile(lat, 50), benchkit.Percentile(lat, 99)
		// Warm up with the 8 clients first: the sequential invokes above
		// started one instance, and the other 7 would otherwise start (and a
		// Node.js one compile its hot code) inside the measured run, their
		// start-up CPU counted as CPU per warm invoke.
		if _, _, err := throughput(httpc, url, 8, warmupDur); err != nil {
			return err
		}
		unweigh, err := weighChildren()
		if err != nil {
			return err
		}
		stopProfile := startProfile(rc.key)
		cpu := startCPU()
		rps, n, err := throughput(httpc, url, 8, dur)
		stopProfile()
		unweigh()
		if err != nil {
			return err
		}
		selfCPU, fnCPU := cpu.perOp(n)

		cold := make([]time.Duration, 0, coldN)
		for range coldN {
			srv.Runtime().Retire(name)
			time.Sleep(20 * time.Millisecond) // let the old instances exit
			d, err := invokeOnce(httpc, url)
			if err != nil {
				return err
			}
			cold = append(cold, d)
		}
		bare := make([]time.Duration, 0, coldN)
		for range coldN {
			start := time.Now()
			cmd := exec.Command(rc.bare[0], rc.bare[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // the Go binary exits at once without the Runtime API
			_ = cmd.Run()
			bare = append(bare, time.Since(start))
		}
		platMem, instMem, err := idleMemory(srv, httpc, url, name, idleN)
		if err != nil {
			return err
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %.1f KiB | %.1f MiB |",
			rc.runtime, us(p50), us(p99), rps, us(selfCPU), us(fnCPU), ms(benchkit.Percentile(cold, 50)), ms(benchkit.Percentile(cold, 99)),
			ms(benchkit.Percentile(bare, 50)), ms(benchkit.Percentile(bare, 99)), platMem/1024, instMem/(1<<20)))
		verdicts = append(verdicts, rc.verdicts(p50, rps, benchkit.Percentile(cold, 50), benchkit.Percentile(bare, 50))...)
		srv.Runtime().Retire(name)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "No-op functions (128 MB) in Go, Node.js and Python, invoked through the Lambda API over HTTP on\n")
	fmt.Fprintf(&b, "loopback with a keep-alive client (plain net/http, no SigV4 signing). Warm: %d sequential invokes after\n", warmN)
	fmt.Fprintf(&b, "200 warm-up ones; throughput: 8 concurrent clients for %s after %s of the same to warm up. Cold: %d invokes each after retiring every\n", dur, warmupDur, coldN)
	fmt.Fprintf(&b, "instance, measured at the client from request to response (process start, runtime init, first\n")
	fmt.Fprintf(&b, "invocation), beside the bare start of the same runtime to exit in the same run (`node -e 0`,\n")
	fmt.Fprintf(&b, "`%s -c 0`, the Go binary). Instances run sandboxed as the platform runs them by default: their own uid\n", python)
	fmt.Fprintf(&b, "and a memory cgroup (moving a process into a cgroup v1 costs milliseconds of kernel time, done beside the\n")
	fmt.Fprintf(&b, "cold start rather than in front of it, but it still competes with it on 2 cores). Memory: %d warm idle\n", idleN)
	fmt.Fprintf(&b, "instances; the platform's share is the growth of\n")
	fmt.Fprintf(&b, "its live Go memory (heap in use + stacks, after GC) divided by the instances, the instance's is one process's RSS.\n")
	fmt.Fprintf(&b, "CPU per invoke is user+system time over the throughput run divided by its invokes: the bench process\n")
	fmt.Fprintf(&b, "(getrusage: the platform plus the 8 load-generating clients, which live in the same process) and its child\n")
	fmt.Fprintf(&b, "processes (/proc/PID/stat: the function instances, or the baseline's echo process).\n\n")
	fmt.Fprintf(&b, "Machine: %s. Command: `go run ./bench/core`.\n\n", benchkit.Machine())
	b.WriteString("| runtime | warm p50 | warm p99 | invokes/s (8 clients) | CPU/invoke, bench process | CPU/invoke, function processes | cold p50 | cold p99 | bare start p50 | bare start p99 | platform memory per idle instance | instance RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	b.WriteString("\nThe baseline row is the floor of this path on this machine: the same two HTTP hops (the caller to a\n" +
		"process, that process to another) with plain net/http and nothing else, measured in the same run. An invoke\n" +
		"adds a third exchange, the runtime's answer and its 202, before the next `next`.\n")
	if len(verdicts) > 0 {
		b.WriteString("\nTargets of issue 2 on this run:\n\n")
		for _, v := range verdicts {
			b.WriteString("- " + v + "\n")
		}
		b.WriteString("\nWhy the Go warm targets were out of reach on the AMD EPYC VM of 2026-11-22: there a write on loopback\n" +
			"costs about 20 µs of CPU and waking an idle vCPU about 100 µs, so even the baseline's two plain hops take\n" +
			"longer than the 300 µs target and top out well below 8,000/s. An invoke has one more exchange than the\n" +
			"baseline, required by the Runtime API (the answer and its 202, then the next `next`). The Python runtime,\n" +
			"whose client is one thread on a raw socket, reaches a higher rate than aws-lambda-go through the same platform\n" +
			"path: the rest of the Go figure is the function process (Go's HTTP client hands each request between\n" +
			"goroutines on several threads), not the platform. Profile with `go run ./bench/core -only go -cpuprofile f`.\n")
	}
	fmt.Print(b.String())
	if outFile == "" {
		return nil
	}
	return benchkit.WriteSection(outFile, "Core invoke path", b.String())
}

// serveEcho is the baseline's server process: it answers every request
// with its body.
func serveEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
}

// startBaseline runs the echo server process and a reverse proxy to it.
func startBaseline() (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "NIMBUS_BENCH_ECHO=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return "", nil, err
	}
	target, _ := url.Parse("http://" + strings.TrimSpace(line))
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = cmd.Process.Kill()
		return "", nil, err
	}
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", func() {
		_ = srv.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}, nil
}

func startProfile(key string) func() {
	if profilePath == "" {
		return func() {}
	}
	f, err := os.Create(profilePath + "." + key)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func invokeOnce(c *http.Client, url string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Post(url, "application/json", strings.NewReader(`{"k":1}`))
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
		return 0, fmt.Errorf("invoke %s: %d %s", url, resp.StatusCode, body)
	}
	return d, nil
}

// throughput returns the invokes per second and the number of invokes.
func throughput(c *http.Client, url string, clients int, dur time.Duration) (float64, int64, error) {
	var n atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := invokeOnce(c, url); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), nil
}

// cpuMark holds CPU times at the start of a measurement: this process's
// (getrusage) and each child process's (/proc/PID/stat).
type cpuMark struct {
	self time.Duration
	kids map[int]time.Duration
}

func startCPU() cpuMark {
	m := cpuMark{self: selfCPU(), kids: map[int]time.Duration{}}
	for _, pid := range childPIDs(os.Getpid()) {
		m.kids[pid] = procCPU(pid)
	}
	return m
}

// perOp is the CPU spent since the mark, per operation, by this process and
// by its children. A child that started since the mark counts from zero.
func (m cpuMark) perOp(n int64) (self, kids time.Duration) {
	if n == 0 {
		return 0, 0
	}
	self = selfCPU() - m.self
	for _, pid := range childPIDs(os.Getpid()) {
		kids += procCPU(pid) - m.kids[pid]
	}
	return self / time.Duration(n), kids / time.Duration(n)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of a process from /proc/PID/stat (clock ticks,
// 100 per second on Linux).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from its closing paren.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// idleMemory starts n instances with n concurrent invokes and leaves them idle.
func idleMemory(srv *server.Server, c *http.Client, url, name string, n int) (platformPerInstance, instanceRSS float64, err error) {
	srv.Runtime().Retire(name)
	time.Sleep(100 * time.Millisecond)
	before := goMemory()
	// A sleeping payload is not available in the no-op; concurrent cold starts
	// still need one instance each because every instance is busy initialising.
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := invokeOnce(c, url); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, 0, err
	}
	time.Sleep(200 * time.Millisecond)
	after := goMemory()
	instances := 0
	for _, s := range srv.Runtime().Stats() {
		if s.Function == name {
			instances += s.Instances
		}
	}
	if instances == 0 {
		return 0, 0, fmt.Errorf("no idle instances of %s", name)
	}
	var total float64
	kids := childPIDs(os.Getpid())
	for _, pid := range kids {
		total += rss(pid)
	}
	if len(kids) > 0 {
		instanceRSS = total / float64(len(kids))
	}
	return (after - before) / float64(instances), instanceRSS, nil
}

// goMemory is the platform's live Go memory: heap in use and goroutine stacks.
func goMemory() float64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return float64(ms.HeapInuse + ms.StackInuse)
}

func rss(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) * 1024
		}
	}
	return 0
}

func childPIDs(parent int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	var out []int
	if err == nil {
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	// Children may hang off other threads of this process.
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", parent))
	for _, t := range tasks {
		if t.Name() == strconv.Itoa(parent) {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", parent, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(out, pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func pythonPath() string {
	if p := os.Getenv("NIMBUS_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// noopService writes the benchmarks' service: one no-op function per
// runtime. It returns the Go function's executable (for bare starts) and the
// service directory.
func noopService(ws *benchkit.Workspace) (goBin, app string, err error) {
	goBin, goZip, err := ws.NoopGo()
	if err != nil {
		return "", "", err
	}
	files := map[string][]byte{"go.zip": goZip}
	for _, f := range []string{"noop-node/index.js", "noop-python/main.py"} {
		data, err := os.ReadFile(filepath.Join("bench/core", f))
		if err != nil {
			return "", "", fmt.Errorf("run from the repository root: %w", err)
		}
		files[filepath.Base(f)] = data
	}
	app, err = ws.App(`service: bench
provider:
  name: aws
  memorySize: 128
functions:
  go:
    runtime: provided.al2023
    handler: bootstrap
    package:
      artifact: go.zip
  node:
    runtime: nodejs20.x
    handler: index.handler
  python:
    runtime: python3.11
    handler: main.handler
`, files)
	return goBin, app, err
}
