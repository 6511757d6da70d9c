// Command nodeclient measures the Node.js runtime client alone: Node.js
// processes running bench/gateway/node's handler against a minimal Runtime API
// served here, each in a closed loop (the next event as soon as the answer is
// in), with an HTTP API event of the size the gateway sends. It prints the
// CPU per invoke of the Node.js processes (every thread's schedstat), which
// is the client's cost without the platform's.
//
// With -entry2 it runs two clients side by side, the instances alternating
// between them, so that both see the same machine at the same time:
//
//	go run ./bench/gateway/nodeclient [-n 10] [-d 5s] [-entry2 old/bootstrap.js] [-cpuprof DIR]
//
// Run from the repository root (the handler is read from bench/gateway/node).
// -entry defaults to the client embedded in this build.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-platform/nimbus/runtimes"
)

// event is an HTTP API (payload 2.0) event as the gateway writes it for wrk's
// GET /node/hello.
const event = `{"version":"2.0","routeKey":"GET /node/hello","rawPath":"/node/hello","rawQueryString":"","headers":{"host":"127.0.0.1:38227","user-agent":"wrk","x-forwarded-for":"127.0.0.1","x-forwarded-port":"38227","x-forwarded-proto":"http"},"requestContext":{"accountId":"000000000000","apiId":"b0f3c1d2e4","domainName":"127.0.0.1:38227","domainPrefix":"127","http":{"method":"GET","path":"/node/hello","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"wrk"},"requestId":"7f3c8a52-1f2e-4d7b-9c1a-2b3c4d5e6f70","routeKey":"GET /node/hello","stage":"$default","time":"26/Nov/2026:14:59:00 +0000","timeEpoch":1795705140000},"isBase64Encoded":false}`

func main() {
	entry := flag.String("entry", "", "the client's bootstrap.js (default: the one embedded in this build)")
	entry2 := flag.String("entry2", "", "a second bootstrap.js, run side by side with the first")
	n := flag.Int("n", 10, "Node.js processes (instances)")
	warm := flag.Duration("warmup", 3*time.Second, "unmeasured loop before the measure")
	d := flag.Duration("d", 5*time.Second, "measured loop")
	nodeFlags := flag.String("flags", "--max-semi-space-size=8 --max-old-space-size=96", "node options (nimbus's for 128 MB)")
	cpuProf := flag.String("cpuprof", "", "write each process's --cpu-prof profile into this directory")
	flag.Parse()
	if err := run(*entry, *entry2, *n, *warm, *d, *nodeFlags, *cpuProf); err != nil {
		fmt.Fprintln(os.Stderr, "nodeclient:", err)
		os.Exit(1)
	}
}

func run(entry, entry2 string, n int, warm, d time.Duration, nodeFlags, cpuProf string) error {
	task, err := filepath.Abs("bench/gateway/node")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(task, "handler.js")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	if entry == "" {
		dir, err := os.MkdirTemp("", "nimbus-nodeclient-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if entry, _, err = runtimes.Install(dir); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	api := &api{stop: make(chan struct{}), counts: map[int]*atomic.Int64{}}
	go api.accept(ln)

	args := strings.Fields(nodeFlags)
	if cpuProf != "" {
		args = append(args, "--cpu-prof", "--cpu-prof-dir="+cpuProf)
	}
	procs := make([]*exec.Cmd, n)
	for i := range procs {
		e := entry
		if entry2 != "" && i%2 == 1 {
			e = entry2
		}
		cmd := exec.Command("node", append(append([]string(nil), args...), e)...)
		cmd.Dir = task
		cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(), "_HANDLER=handler.hello",
			"LAMBDA_TASK_ROOT="+task, "AWS_LAMBDA_FUNCTION_NAME=bench", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bench", "AWS_LAMBDA_LOG_STREAM_NAME=bench")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the function's log (and --trace-gc)
		if err := cmd.Start(); err != nil {
			return err
		}
		procs[i] = cmd
	}
	defer func() {
		// Closing the connections ends the clients (GET next fails), which
		// lets --cpu-prof write its profiles; stragglers are killed.
		close(api.stop)
		var wg sync.WaitGroup
		for _, c := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.AfterFunc(10*time.Second, func() { _ = c.Process.Kill() })
				_ = c.Wait()
				t.Stop()
			}()
		}
		wg.Wait()
	}()

	time.Sleep(warm)
	cpu0, inv0 := cpuOf(procs), api.invokesOf(procs)
	start := time.Now()
	time.Sleep(d)
	cpu1, inv1 := cpuOf(procs), api.invokesOf(procs)
	elapsed := time.Since(start)

	groups := []string{entry}
	if entry2 != "" {
		groups = append(groups, entry2)
	}
	fmt.Printf("%d Node.js instances, %s measured after %s\n", n, d, warm)
	for g, name := range groups {
		var cpu time.Duration
		var inv int64
		for i := range procs {
			if i%len(groups) == g {
				cpu += cpu1[i] - cpu0[i]
				inv += inv1[i] - inv0[i]
			}
		}
		if inv == 0 {
			return errors.New("no invocations were answered: see the clients' output above")
		}
		fmt.Printf("%-60s %8d invokes %8.0f/s  CPU per invoke %6.1f µs\n", name, inv, float64(inv)/elapsed.Seconds(), float64(cpu.Nanoseconds())/1000/float64(inv))
	}
	return nil
}

// api is the minimal Runtime API: GET next answered at once, answers 202.
type api struct {
	stop   chan struct{}
	mu     sync.Mutex
	counts map[int]*atomic.Int64 // answers by the client's local port
}

func (a *api) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n := new(atomic.Int64)
		a.mu.Lock()
		a.counts[c.RemoteAddr().(*net.TCPAddr).Port] = n
		a.mu.Unlock()
		go a.serve(c, n)
	}
}

func (a *api) serve(c net.Conn, answers *atomic.Int64) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 16<<10)
	id := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		length := 0
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if h == "\r\n" {
				break
			}
			if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Content-Length") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
			return
		}
		var out string
		if strings.HasPrefix(line, "GET ") {
			select {
			case <-a.stop:
				return
			default:
			}
			id++
			out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: 7f3c8a52-1f2e-4d7b-9c1a-" + fmt.Sprintf("%012d", id) +
				"\r\nLambda-Runtime-Deadline-Ms: " + strconv.FormatInt(time.Now().Add(6*time.Second).UnixMilli(), 10) +
				"\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:bench-node-dev-hello" +
				"\r\nLambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a99427" + fmt.Sprintf("%04d", id%10000) + ";Parent=53995c3f42cd8ad8;Sampled=0" +
				"\r\nContent-Length: " + strconv.Itoa(len(event)) + "\r\n\r\n" + event
		} else {
			answers.Add(1)
			out = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}"
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// invokesOf counts each process's answers, finding its connection through
// its socket's inode (/proc/PID/fd) and that socket's port (/proc/net/tcp).
func (a *api) invokesOf(procs []*exec.Cmd) []int64 {
	portByInode := map[string]int{}
	data, _ := os.ReadFile("/proc/net/tcp")
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, port, _ := strings.Cut(f[1], ":")
		p, _ := strconv.ParseInt(port, 16, 32)
		portByInode[f[9]] = int(p)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int64, len(procs))
	for i, c := range procs {
		dir := "/proc/" + strconv.Itoa(c.Process.Pid) + "/fd"
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			l, err := os.Readlink(dir + "/" + e.Name())
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if port, ok := portByInode[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")]; ok {
				if n := a.counts[port]; n != nil {
					out[i] += n.Load()
				}
			}
		}
	}
	return out
}

// cpuOf reads each process's CPU time, all its threads (V8's compiler and
// GC helpers too), in nanoseconds on the CPU from each task's schedstat.
func cpuOf(procs []*exec.Cmd) []time.Duration {
	out := make([]time.Duration, len(procs))
	for i, c := range procs {
		dir := "/proc/" + strconv.Itoa(c.Process.Pid) + "/task"
		tasks, _ := os.ReadDir(dir)
		for _, t := range tasks {
			data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
			if err != nil {
				continue
			}
			if f := strings.Fields(string(data)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				out[i] += time.Duration(ns)
			}
		}
	}
	return out
}
