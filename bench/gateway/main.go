// Command gateway benchmarks the HTTP gateway with wrk, side by side:
//
//  1. a Go (aws-lambda-go) function behind the gateway against a plain
//     net/http server returning the same JSON;
//  2. the same Node.js handler and serverless.yml under nimbus and, when
//     -offline points at a directory with serverless@3 and
//     serverless-offline@13 installed, under serverless-offline (three runs,
//     with its memory after each).
//
// Run from the repository root: go run ./bench/gateway [-d 10s] [-c 50] [-offline DIR]
package main

import (
	"context"
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
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
)

const body = `{"message":"hello","items":[1,2,3],"ok":true}`

func main() {
	duration := flag.Duration("d", 10*time.Second, "duration of each wrk run")
	conns := flag.Int("c", 50, "connections")
	threads := flag.Int("t", 2, "wrk threads")
	offline := flag.String("offline", "", "directory with node_modules holding serverless@3 and serverless-offline@13")
	flag.Parse()
	if err := run(*duration, *conns, *threads, *offline); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name      string
	rps       float64
	p50, p99  string
	non2xx    string
	memoryMiB string
}

func run(d time.Duration, conns, threads int, offline string) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "nimbus-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// The limit: plain net/http.
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

	// nimbus with the Go and Node services.
	srv, err := server.Start(ctx, server.Config{
		DataDir: filepath.Join(tmp, "data"), RunDir: filepath.Join(tmp, "run"), Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	goDir := filepath.Join(tmp, "go")
	if err := os.MkdirAll(goDir, 0o755); err != nil {
		return err
	}
	manifestText := "service: bench-go\nprovider:\n  name: aws\n  runtime: provided.al2023\n  memorySize: 128\npackage:\n  patterns: ['!**', bootstrap]\nfunctions:\n  hello:\n    handler: bootstrap\n    events:\n      - httpApi: GET /go/hello\n"
	if err := os.WriteFile(filepath.Join(goDir, "serverless.yml"), []byte(manifestText), 0o644); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(goDir, "bootstrap"), "./bench/gateway/gohandler")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the Go handler: %w\n%s", err, out)
	}
	cl := benchkit.Client(srv)
	for _, dir := range []string{goDir, "bench/gateway/node"} {
		if _, err := cl.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
			return fmt.Errorf("deploy %s: %w", dir, err)
		}
	}
	gw := srv.Gateway.URL()

	var results []result
	bench := func(name, url string, memory func() string) error {
		if err := warm(url); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r, err := wrk(url, d, conns, threads)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.name = name
		if memory != nil {
			r.memoryMiB = memory()
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%-40s %10.0f req/s  p50 %-8s p99 %-8s %s\n", name, r.rps, r.p50, r.p99, r.memoryMiB)
		return nil
	}
	self := func() string { return treeRSSMiB(os.Getpid()) + " (nimbus and its function processes)" }
	if err := bench("plain net/http (Go)", "http://"+ln.Addr().String()+"/", nil); err != nil {
		return err
	}
	if err := bench("nimbus gateway → Go function", gw+"/go/hello", nil); err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		if err := bench(fmt.Sprintf("nimbus gateway → Node.js function, run %d", i), gw+"/node/hello", self); err != nil {
			return err
		}
	}
	if offline != "" {
		if err := benchOffline(offline, tmp, bench); err != nil {
			fmt.Fprintln(os.Stderr, "serverless-offline:", err)
			results = append(results, result{name: "serverless-offline: " + err.Error()})
		}
	}
	cpu := cpuModel()
	fmt.Printf("machine: %d CPUs (nproc), %s, %s/%s, %s\n", runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("wrk -t%d -c%d -d%s --latency, after a warm-up request\n\n", threads, conns, d)
	fmt.Println("| target | requests/s | p50 | p99 | non-2xx | memory (RSS) |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s |\n", r.name, r.rps, r.p50, r.p99, r.non2xx, r.memoryMiB)
	}
	return nil
}

func benchOffline(dir, tmp string, bench func(string, string, func() string) error) error {
	svc := filepath.Join(tmp, "offline")
	if err := os.MkdirAll(svc, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"serverless.yml", "handler.js"} {
		data, err := os.ReadFile(filepath.Join("bench/gateway/node", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(svc, f), data, 0o644); err != nil {
			return err
		}
	}
	abs, _ := filepath.Abs(dir)
	if err := os.Symlink(filepath.Join(abs, "node_modules"), filepath.Join(svc, "node_modules")); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(abs, "node_modules/.bin/serverless"), "offline", "start", "--httpPort", "3999", "--lambdaPort", "3998")
	cmd.Dir = svc
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy", "SLS_TELEMETRY_DISABLED=1", "SLS_NOTIFICATIONS_MODE=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logFile, _ := os.Create(filepath.Join(tmp, "offline.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	url := "http://127.0.0.1:3999/node/hello"
	deadline := time.Now().Add(60 * time.Second)
	for warm(url) != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(tmp, "offline.log"))
			return fmt.Errorf("did not start within 60 s:\n%s", log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	memory := func() string { return groupRSSMiB(cmd.Process.Pid) + " (serverless-offline process group)" }
	for i := 1; i <= 3; i++ {
		if err := bench(fmt.Sprintf("serverless-offline → Node.js function, run %d", i), url, memory); err != nil {
			return err
		}
	}
	return nil
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
	return nil
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	p50RE    = regexp.MustCompile(`\s50%\s+(\S+)`)
	p99RE    = regexp.MustCompile(`\s99%\s+(\S+)`)
	non2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
)

func wrk(url string, d time.Duration, conns, threads int) (result, error) {
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	var r result
	if m := rpsRE.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
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
	return r, nil
}

// treeRSSMiB sums the RSS of pid and its descendants.
func treeRSSMiB(root int) string {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces): state ppid ...
		if i := strings.LastIndexByte(string(data), ')'); i >= 0 {
			if f := strings.Fields(string(data[i+1:])); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	total := 0
	for pid := range parent {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				total += rssKB(pid)
				break
			}
		}
	}
	return fmt.Sprintf("%.0f MiB", float64(total)/1024)
}

func rssKB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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

// groupRSSMiB sums the RSS of every process in pid's process group.
func groupRSSMiB(pgid int) string {
	entries, _ := os.ReadDir("/proc")
	total := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		total += rssKB(pid)
	}
	return fmt.Sprintf("%.0f MiB", float64(total)/1024)
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
