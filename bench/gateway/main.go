// Command gateway benchmarks the HTTP gateway side by side with
// serverless-offline: the same Node.js handler and serverless.yml
// (bench/gateway/node) under nimbus, isolation on, and under serverless-offline,
// alternating run for run, with requests/s, p50, p99, memory after each run and
// CPU per request. Beside them, the limit (a plain net/http server answering
// the same JSON) and a Go (aws-lambda-go) function behind the gateway.
//
// Both sides are treated alike: each measured run of either follows a warm-up
// of the same load for -warmup (so that V8 has compiled the hot paths of every
// Node.js instance, nimbus's ten and serverless-offline's workers, before the
// measure starts), and the summary gives the ratio run for run, its median,
// and the CPU per request of each side.
//
// It installs what it lacks outside the repository: wrk with apt-get when it
// is not on PATH (or, when apt-get cannot, drives the load with its own Go
// load generator, run as a separate process), and serverless@3 with
// serverless-offline@13 with npm into the user's cache directory
// (~/.cache/nimbus-bench).
//
// Run from the repository root, as root for isolation:
//
//	go run ./bench/gateway [-d 10s] [-warmup 5s] [-c 10] [-runs 5] [-offline=false] [-offline-restart] [-wrk=false] [-cpuprofile FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
)

const body = `{"message":"hello","items":[1,2,3],"ok":true}`

// The serverless-offline side, pinned.
const (
	serverlessVersion = "3.40.0"
	offlineVersion    = "13.9.0"
)

type options struct {
	d       time.Duration
	warmup  time.Duration
	conns   int
	threads int
	runs    int
	offline bool
	// offlineRestart starts serverless-offline afresh before each of its
	// runs: each run then measures it at its best, before its memory grows.
	offlineRestart bool
	baselines      bool
	cpuProfile     string
	loader         string // "wrk" or "go"
}

func main() {
	var o options
	flag.DurationVar(&o.d, "d", 10*time.Second, "duration of each run")
	flag.IntVar(&o.conns, "c", 10, "connections")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before each measured run, not measured (the same for every target)")
	flag.IntVar(&o.runs, "runs", 5, "runs of each Node.js target, alternated")
	flag.BoolVar(&o.offline, "offline", true, "also run serverless-offline (installed with npm on first use)")
	flag.BoolVar(&o.offlineRestart, "offline-restart", false, "start serverless-offline afresh before each of its runs (then warmed up as every run is)")
	flag.BoolVar(&o.baselines, "baselines", true, "also measure plain net/http and the Go function")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the nimbus process during its Node.js runs")
	useWrk := flag.Bool("wrk", true, "drive the load with wrk (installed with apt-get if missing); false: the Go load generator")
	loadgen := flag.String("loadgen", "", "internal: run the Go load generator against this URL and print its figures")
	flag.Parse()
	if *loadgen != "" {
		if err := runLoadgen(*loadgen, o.d, o.conns); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	if !*useWrk {
		o.loader = "go"
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name      string
	requests  int64
	rps       float64
	p50, p99  string
	non2xx    string
	memory    string
	cpuPlat   time.Duration // per request: nimbus's process, or serverless-offline's group
	cpuFuncs  time.Duration // per request: nimbus's function processes
	hasCPU    bool
	isOffline bool
	// loadBefore and loadAfter are the 1-minute load average around the run.
	loadBefore, loadAfter string
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}

func run(o options) error {
	ctx := context.Background()
	var err error
	if o.loader == "" {
		if o.loader, err = ensureLoader(); err != nil {
			return err
		}
	}
	var offlineDir string
	if o.offline {
		if offlineDir, err = ensureOffline(); err != nil {
			return err
		}
	}
	ws, err := benchkit.NewWorkspace("nimbus-bench-gateway-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	load := fmt.Sprintf("the Go load generator (-wrk=false), %d connections, %s per run", o.conns, o.d)
	if o.loader == "wrk" {
		load = fmt.Sprintf("wrk -t%d -c%d -d%s --latency", o.threads, o.conns, o.d)
	}
	fmt.Fprintf(os.Stderr, "machine: %s\nload: %s, each run after %s of the same load\n", benchkit.Machine(), load, o.warmup)

	// nimbus, sandboxed as by default, with the Go and Node.js services.
	srv, err := server.Start(ctx, server.Config{
		DataDir: filepath.Join(ws.Dir, "data"), RunDir: filepath.Join(ws.Dir, "run"), Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	cl := benchkit.Client(srv)
	dirs := []string{"bench/gateway/node"}
	if o.baselines {
		goDir, err := goService(ws.Dir)
		if err != nil {
			return err
		}
		dirs = append(dirs, goDir)
	}
	for _, dir := range dirs {
		if _, err := cl.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
			return fmt.Errorf("deploy %s: %w", dir, err)
		}
	}
	gw := srv.Gateway.URL()

	var off *offlineProc
	starts := 0
	startOff := func() error {
		starts++
		work := filepath.Join(ws.Dir, "offline-"+strconv.Itoa(starts))
		if off, err = startOffline(offlineDir, work); err != nil {
			return fmt.Errorf("serverless-offline: %w", err)
		}
		return nil
	}
	if o.offline {
		if err := startOff(); err != nil {
			return err
		}
		defer func() { off.stop() }()
	}
	// isOffline says whether a process belongs to serverless-offline (its
	// process group), not to nimbus.
	isOffline := func(pid int) bool { return off != nil && pgid(pid) == off.cmd.Process.Pid }

	var results []result
	measure := func(name, url string, r *result, cpu func() (plat, funcs time.Duration), memory func() string) error {
		if err := warmAll(url, o.conns); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if o.warmup > 0 {
			if err := o.load(url, o.warmup, &result{}); err != nil {
				return fmt.Errorf("%s: warm-up: %w", name, err)
			}
		}
		r.loadBefore = loadAverage()
		var p0, f0 time.Duration
		if cpu != nil {
			p0, f0 = cpu()
		}
		if err := o.load(url, o.d, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.loadAfter = loadAverage()
		if cpu != nil && r.requests > 0 {
			p1, f1 := cpu()
			r.cpuPlat, r.cpuFuncs, r.hasCPU = (p1-p0)/time.Duration(r.requests), (f1-f0)/time.Duration(r.requests), true
		}
		r.name = name
		if memory != nil {
			r.memory = memory()
		}
		results = append(results, *r)
		fmt.Fprintf(os.Stderr, "%-44s %8.0f req/s  p50 %-9s p99 %-9s %-8s %s  (load %s → %s)\n", name, r.rps, r.p50, r.p99, r.memory, cpuText(*r), r.loadBefore, r.loadAfter)
		return nil
	}
	nimbusCPU := func() (time.Duration, time.Duration) {
		var funcs time.Duration
		for _, pid := range descendants(os.Getpid()) {
			if !isOffline(pid) {
				funcs += procCPU(pid)
			}
		}
		return selfCPU(), funcs
	}
	nimbusMemory := func() string {
		total := rssKB(os.Getpid())
		for _, pid := range descendants(os.Getpid()) {
			if !isOffline(pid) {
				total += rssKB(pid)
			}
		}
		return fmt.Sprintf("%.0f MiB", float64(total)/1024)
	}

	var stopProfile func()
	for i := 1; i <= o.runs; i++ {
		if o.cpuProfile != "" && stopProfile == nil {
			if stopProfile, err = startProfile(o.cpuProfile); err != nil {
				return err
			}
		}
		err := measure(fmt.Sprintf("nimbus → Node.js, run %d", i), gw+"/node/hello", &result{}, nimbusCPU, nimbusMemory)
		if stopProfile != nil && i == o.runs {
			stopProfile()
		}
		if err != nil {
			return err
		}
		if off != nil {
			if o.offlineRestart && i > 1 {
				off.stop()
				if err := startOff(); err != nil {
					return err
				}
			}
			if err := measure(fmt.Sprintf("serverless-offline → Node.js, run %d", i), off.url, &result{isOffline: true}, off.cpu, off.memory); err != nil {
				return err
			}
		}
	}

	// The baselines come last: the Go function's instances would otherwise
	// count in the memory of nimbus's Node.js runs.
	if o.baselines {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		})}
		go func() { _ = plain.Serve(ln) }()
		defer plain.Close()
		if err := measure("plain net/http (Go, in the bench process)", "http://"+ln.Addr().String()+"/", &result{}, nil, nil); err != nil {
			return err
		}
		if err := measure("nimbus gateway → Go function", gw+"/go/hello", &result{}, nimbusCPU, nil); err != nil {
			return err
		}
	}

	restarted := ""
	if o.offlineRestart {
		restarted = " serverless-offline started afresh before each of its runs."
	}
	fmt.Printf("Machine: %s. Load: %s, each run after 200 checked requests on each connection and %s of the same load. Isolation on.%s\n\n", benchkit.Machine(), load, o.warmup, restarted)
	fmt.Println("| target | requests/s | p50 | p99 | non-2xx | memory (RSS) after the run | CPU per request | load average (1 min) before → after |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s | %s → %s |\n", r.name, r.rps, r.p50, r.p99, r.non2xx, r.memory, cpuText(r), r.loadBefore, r.loadAfter)
	}
	fmt.Println()
	fmt.Println("Memory: nimbus's process and its function processes; serverless-offline's process group.")
	summary(results)
	return nil
}

func cpuText(r result) string {
	switch {
	case !r.hasCPU:
		return ""
	case r.isOffline:
		return fmt.Sprintf("%d µs (process group)", r.cpuPlat.Microseconds())
	}
	return fmt.Sprintf("%d µs nimbus + %d µs functions = %d µs", r.cpuPlat.Microseconds(), r.cpuFuncs.Microseconds(), (r.cpuPlat + r.cpuFuncs).Microseconds())
}

// summary prints the Node.js ratios run for run and their median, the ratio
// of the medians, and the CPU per request of each side.
func summary(results []result) {
	var nim, off []result
	for _, r := range results {
		switch {
		case r.isOffline:
			off = append(off, r)
		case strings.HasPrefix(r.name, "nimbus → Node.js"):
			nim = append(nim, r)
		}
	}
	if len(off) == 0 || len(nim) != len(off) {
		return
	}
	var ratios []float64
	var texts []string
	for i := range nim {
		ratios = append(ratios, nim[i].rps/off[i].rps)
		texts = append(texts, fmt.Sprintf("%.1f×", nim[i].rps/off[i].rps))
	}
	rps := func(rs []result) float64 {
		return median(rs, func(r result) float64 { return r.rps })
	}
	cpu := func(rs []result) float64 {
		return median(rs, func(r result) float64 { return float64((r.cpuPlat + r.cpuFuncs).Microseconds()) })
	}
	fmt.Printf("nimbus / serverless-offline requests/s, run for run: %s; median of the ratios %.1f×; medians %.0f / %.0f = %.1f×.\n",
		strings.Join(texts, ", "), medianOf(ratios), rps(nim), rps(off), rps(nim)/rps(off))
	fmt.Printf("CPU per request, medians: nimbus %.0f µs (its process and the function processes), serverless-offline %.0f µs = %.1f× more.\n",
		cpu(nim), cpu(off), cpu(off)/cpu(nim))
	fmt.Printf("Memory after each run: nimbus %s; serverless-offline %s.\n", memories(nim), memories(off))
}

func memories(rs []result) string {
	var m []string
	for _, r := range rs {
		m = append(m, strings.TrimSuffix(r.memory, " MiB"))
	}
	return strings.Join(m, ", ") + " MiB"
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return medianOf(v)
}

// medianOf is the median (the mean of the middle two for an even count).
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// goService writes the Go function's service (built as users build it).
func goService(dir string) (string, error) {
	goDir := filepath.Join(dir, "go")
	if err := os.MkdirAll(goDir, 0o755); err != nil {
		return "", err
	}
	manifestText := "service: bench-go\nprovider:\n  name: aws\n  runtime: provided.al2023\n  memorySize: 128\npackage:\n  patterns: ['!**', bootstrap]\nfunctions:\n  hello:\n    handler: bootstrap\n    events:\n      - httpApi: GET /go/hello\n"
	if err := os.WriteFile(filepath.Join(goDir, "serverless.yml"), []byte(manifestText), 0o644); err != nil {
		return "", err
	}
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(goDir, "bootstrap"), "./bench/gateway/gohandler")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the Go handler (run from the repository root): %w\n%s", err, out)
	}
	return goDir, nil
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// ensureLoader finds wrk, installs it with apt-get when it is missing, and
// falls back to the Go load generator when that fails.
func ensureLoader() (string, error) {
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk", nil
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		fmt.Fprintln(os.Stderr, "installing wrk with apt-get")
		install := func() error {
			cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "wrk")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			return cmd.Run()
		}
		if install() != nil {
			update := exec.Command("apt-get", "update")
			update.Stdout, update.Stderr = os.Stderr, os.Stderr
			if update.Run() == nil {
				_ = install()
			}
		}
		if _, err := exec.LookPath("wrk"); err == nil {
			return "wrk", nil
		}
	}
	fmt.Fprintln(os.Stderr, "wrk is not installable here: using the Go load generator")
	return "go", nil
}

// ensureOffline installs serverless and serverless-offline into the user's
// cache directory unless they are there, and returns that directory.
func ensureOffline() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "nimbus-bench", "serverless"+serverlessVersion+"-offline"+offlineVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "serverless")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "serverless-offline")); err == nil {
			return dir, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "installing serverless@%s and serverless-offline@%s into %s\n", serverlessVersion, offlineVersion, dir)
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir,
		"serverless@"+serverlessVersion, "serverless-offline@"+offlineVersion)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm install serverless-offline: %w", err)
	}
	return dir, nil
}

type offlineProc struct {
	cmd *exec.Cmd
	url string
}

// startOffline runs `serverless offline start` on a copy of the Node.js
// service in its own process group and waits until it answers; work is a new
// directory for the copy and its log.
func startOffline(dir, work string) (*offlineProc, error) {
	tmp := work
	svc := filepath.Join(tmp, "offline")
	if err := os.MkdirAll(svc, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{"serverless.yml", "handler.js"} {
		data, err := os.ReadFile(filepath.Join("bench/gateway/node", f))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(svc, f), data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.Symlink(filepath.Join(dir, "node_modules"), filepath.Join(svc, "node_modules")); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lambdaPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(dir, "node_modules/.bin/serverless"), "offline", "start",
		"--httpPort", strconv.Itoa(port), "--lambdaPort", strconv.Itoa(lambdaPort), "--noTimeout")
	cmd.Dir = svc
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy", "SLS_TELEMETRY_DISABLED=1", "SLS_NOTIFICATIONS_MODE=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(tmp, "offline.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &offlineProc{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port) + "/node/hello"}
	deadline := time.Now().Add(90 * time.Second)
	for warm(p.url) != nil {
		if time.Now().After(deadline) {
			p.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("did not answer within 90 s:\n%s", log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return p, nil
}

func (p *offlineProc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *offlineProc) group() []int {
	var pids []int
	for _, pid := range allPIDs() {
		if pgid(pid) == p.cmd.Process.Pid {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (p *offlineProc) cpu() (time.Duration, time.Duration) {
	var total time.Duration
	for _, pid := range p.group() {
		total += procCPU(pid)
	}
	return total, 0
}

func (p *offlineProc) memory() string {
	total := 0
	for _, pid := range p.group() {
		total += rssKB(pid)
	}
	return fmt.Sprintf("%.0f MiB", float64(total)/1024)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func warm(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("warm-up answered %d: %s", resp.StatusCode, data)
	}
	if string(data) != body {
		return fmt.Errorf("warm-up answered %q, want %q", data, body)
	}
	return nil
}

// warmAll sends 200 requests on each of conns connections at once, so that
// a run measures warm instances (nimbus starts one per concurrent request).
func warmAll(url string, conns int) error {
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if errs[i] = warm(url); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

var (
	rpsRE      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	requestsRE = regexp.MustCompile(`(\d+) requests in`)
	p50RE      = regexp.MustCompile(`\s50%\s+(\S+)`)
	p99RE      = regexp.MustCompile(`\s99%\s+(\S+)`)
	non2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	loadgenRE  = regexp.MustCompile(`loadgen requests=(\d+) rps=([\d.]+) p50=(\S+) p99=(\S+) non2xx=(\d+)`)
)

// load drives url for d, with wrk or the Go load generator
// (a separate process either way, so that it is not counted as nimbus's CPU).
func (o options) load(url string, d time.Duration, r *result) error {
	if o.loader == "go" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		out, err := exec.Command(self, "-loadgen", url, "-d", d.String(), "-c", strconv.Itoa(o.conns)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("load generator: %w\n%s", err, out)
		}
		m := loadgenRE.FindSubmatch(out)
		if m == nil {
			return fmt.Errorf("load generator: unexpected output\n%s", out)
		}
		r.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
		r.rps, _ = strconv.ParseFloat(string(m[2]), 64)
		r.p50, r.p99, r.non2xx = string(m[3]), string(m[4]), string(m[5])
		return nil
	}
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(o.threads), "-c"+strconv.Itoa(o.conns), "-d"+strconv.Itoa(max(int(d.Seconds()), 1))+"s", "--latency", url).CombinedOutput()
	if err != nil {
		return fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if m := rpsRE.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := requestsRE.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := p50RE.FindSubmatch(out); m != nil {
		r.p50 = string(m[1])
	}
	if m := p99RE.FindSubmatch(out); m != nil {
		r.p99 = string(m[1])
	}
	r.non2xx = "0"
	if m := non2xxRE.FindSubmatch(out); m != nil {
		r.non2xx = string(m[1])
	}
	return nil
}

// runLoadgen is the fallback load generator: conns keep-alive clients for d,
// each request timed from write to the last byte of the answer.
func runLoadgen(url string, d time.Duration, conns int) error {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	c := &http.Client{Transport: tr}
	end := time.Now().Add(d)
	lat := make([][]time.Duration, conns)
	bad := make([]int, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					errs[i] = err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = append(lat[i], time.Since(t))
				if resp.StatusCode >= 400 {
					bad[i]++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	non2xx := 0
	for i := range conns {
		all = append(all, lat[i]...)
		non2xx += bad[i]
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(all) == 0 {
		return errors.New("no requests completed")
	}
	ms := func(v time.Duration) string { return fmt.Sprintf("%.2fms", float64(v.Microseconds())/1000) }
	fmt.Printf("loadgen requests=%d rps=%.1f p50=%s p99=%s non2xx=%d\n", len(all), float64(len(all))/elapsed.Seconds(),
		ms(benchkit.Percentile(all, 50)), ms(benchkit.Percentile(all, 99)), non2xx)
	return nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces): state, ppid, pgrp, ...
func statFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// procCPU is a process's utime+stime (clock ticks, 100 per second on Linux).
func procCPU(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func pgid(pid int) int {
	f := statFields(pid)
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants lists the processes below root.
func descendants(root int) []int {
	parent := map[int]int{}
	for _, pid := range allPIDs() {
		if f := statFields(pid); len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func rssKB(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}
