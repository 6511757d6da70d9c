package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// The test binary doubles as a custom runtime: with NIMBUS_FAKE_RUNTIME set
// it speaks the Runtime API with raw HTTP, the way a `provided` bootstrap
// does, so the tests can send what well-behaved clients never send.
func TestMain(m *testing.M) {
	if mode := os.Getenv("NIMBUS_FAKE_RUNTIME"); mode != "" {
		fakeRuntime(mode)
		return
	}
	os.Exit(m.Run())
}

func fakeRuntime(mode string) {
	base := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"
	post := func(path, contentType string, body []byte, header map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println("post failed:", err)
			os.Exit(9)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // as aws-lambda-go does, so the connection is reused
		resp.Body.Close()
		return resp.StatusCode
	}
	if mode == "init-error" {
		fmt.Println("cannot initialise")
		status := post("init/error", "application/json", []byte(`{"errorType":"Runtime.ConfigError","errorMessage":"missing setting"}`),
			map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"})
		fmt.Println("init/error status", status)
		os.Exit(1)
	}
	for {
		resp, err := http.Get(base + "invocation/next")
		if err != nil {
			os.Exit(8)
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		headers := map[string]string{}
		for _, h := range []string{"Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Deadline-Ms", "Lambda-Runtime-Invoked-Function-Arn", "Lambda-Runtime-Trace-Id", "Lambda-Runtime-Client-Context", "Content-Type"} {
			headers[h] = resp.Header.Get(h)
		}
		switch mode {
		case "echo":
			fmt.Println("got", string(event))
			out, _ := json.Marshal(map[string]any{"event": json.RawMessage(event), "headers": headers, "status": resp.StatusCode, "pid": os.Getpid()})
			if s := post("invocation/"+id+"/response", "application/json", out, nil); s != http.StatusAccepted {
				fmt.Println("response status", s)
			}
		case "wrong-id":
			s1 := post("invocation/not-"+id+"/response", "application/json", []byte(`1`), nil)
			s2 := post("invocation/"+id+"/response", "application/json", []byte(fmt.Sprintf(`{"wrongIdStatus":%d}`, s1)), nil)
			s3 := post("invocation/"+id+"/response", "application/json", []byte(`2`), nil)
			fmt.Println("statuses", s1, s2, s3)
		case "error-header-only":
			post("invocation/"+id+"/error", "text/plain", []byte("not json at all"), map[string]string{"Lambda-Runtime-Function-Error-Type": "Custom.Failure"})
		case "big":
			post("invocation/"+id+"/response", "application/json", bytes.Repeat([]byte("a"), MaxResponseBytes+1), nil)
		case "exit":
			fmt.Println("leaving mid-invocation")
			os.Exit(2)
		case "hog":
			// Touch 200 MB, over the 128 MB the test function gets.
			hog := make([]byte, 200<<20)
			for i := 0; i < len(hog); i += 4096 {
				hog[i] = 1
			}
			post("invocation/"+id+"/response", "application/json", []byte(fmt.Sprintf(`{"touched":%d}`, len(hog))), nil)
		case "quiet":
			post("invocation/"+id+"/response", "application/json", event, nil)
		case "next-twice":
			// Asks for more work without answering: the call fails, the next one works.
			mode = "echo"
		case "hang":
			time.Sleep(time.Hour)
		}
	}
}

type memSink struct {
	mu   sync.Mutex
	recs []logs.Record
}

func (s *memSink) Append(r logs.Record) {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
}

func (s *memSink) contains(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if strings.Contains(r.Message, text) {
			return true
		}
	}
	return false
}

func newManager(t *testing.T, mutate func(*Config)) (*Manager, *memSink) {
	t.Helper()
	sink := &memSink{}
	cfg := Config{
		RunDir:              t.TempDir(),
		Sandbox:             sandbox.New(sandbox.Config{DropPrivileges: false}),
		Logs:                sink,
		IdleTimeout:         time.Minute,
		InitFailureCooldown: -1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m, sink
}

// fakeSpec is a provided-runtime function whose bootstrap runs this test
// binary in the given mode.
func fakeSpec(t *testing.T, mode string, timeout time.Duration) *Spec {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nNIMBUS_FAKE_RUNTIME=%s exec %q\n", mode, self)
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Spec{
		Key: "fake-" + mode, FunctionName: "fake-" + mode, Version: "$LATEST",
		ARN:     "arn:aws:lambda:us-east-1:000000000000:function:fake-" + mode,
		Runtime: "provided.al2023", Handler: "x", MemoryMB: 128, Timeout: timeout,
		CodeDir: dir, Region: "us-east-1", ReservedConcurrency: -1,
	}
}

func invokeOnce(t *testing.T, m *Manager, spec *Spec, payload string) *Result {
	t.Helper()
	res, err := m.Invoke(context.Background(), spec, &Invocation{RequestID: fmt.Sprintf("req-%d", time.Now().UnixNano()), Payload: []byte(payload), TraceID: "Root=1-abc", ClientContext: `{"custom":{"a":1}}`, TailLog: true})
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	return res
}

func TestRuntimeAPIHeadersAndResponse(t *testing.T) {
	m, _ := newManager(t, nil)
	spec := fakeSpec(t, "echo", 3*time.Second)
	before := time.Now()
	res := invokeOnce(t, m, spec, `{"k":"v"}`)
	if res.FunctionError != "" {
		t.Fatalf("function error: %s", res.Payload)
	}
	var out struct {
		Event   map[string]any    `json:"event"`
		Headers map[string]string `json:"headers"`
		Status  int               `json:"status"`
	}
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("%v: %s", err, res.Payload)
	}
	if out.Status != 200 || out.Event["k"] != "v" {
		t.Errorf("next answered %d with %v", out.Status, out.Event)
	}
	h := out.Headers
	if !strings.HasPrefix(h["Lambda-Runtime-Aws-Request-Id"], "req-") || h["Lambda-Runtime-Invoked-Function-Arn"] != spec.ARN ||
		h["Lambda-Runtime-Trace-Id"] != "Root=1-abc" || h["Lambda-Runtime-Client-Context"] != `{"custom":{"a":1}}` || h["Content-Type"] != "application/json" {
		t.Errorf("next headers: %v", h)
	}
	var deadline int64
	fmt.Sscan(h["Lambda-Runtime-Deadline-Ms"], &deadline)
	if d := time.UnixMilli(deadline).Sub(before); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("deadline %v after the invoke, want about the 3 s timeout", d)
	}
	if !res.ColdStart || res.InitDuration <= 0 {
		t.Errorf("first invoke: cold=%v init=%v", res.ColdStart, res.InitDuration)
	}
	for _, want := range []string{"START RequestId: req-", `got {"k":"v"}`, "END RequestId: req-", "REPORT RequestId: req-", "Init Duration:"} {
		if !strings.Contains(string(res.LogTail), want) {
			t.Errorf("log tail lacks %q:\n%s", want, res.LogTail)
		}
	}
	warm := invokeOnce(t, m, spec, `{}`)
	if warm.ColdStart || strings.Contains(string(warm.LogTail), "Init Duration") {
		t.Errorf("second invoke was not warm:\n%s", warm.LogTail)
	}
}

func TestRuntimeAPIRejectsWrongAndRepeatedAnswers(t *testing.T) {
	m, sink := newManager(t, nil)
	res := invokeOnce(t, m, fakeSpec(t, "wrong-id", 3*time.Second), `{}`)
	if string(res.Payload) != `{"wrongIdStatus":400}` {
		t.Fatalf("payload %s", res.Payload)
	}
	// The runtime prints the statuses after answering, outside the invocation.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if sink.contains("statuses 400 202 400") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a second answer for the same invocation was not refused (no 'statuses 400 202 400' line)")
		}
	}
}

func TestRuntimeAPIErrorTypeFromHeader(t *testing.T) {
	m, _ := newManager(t, nil)
	res := invokeOnce(t, m, fakeSpec(t, "error-header-only", 3*time.Second), `{}`)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Custom.Failure" {
		t.Fatalf("error %q type %q payload %s", res.FunctionError, res.ErrorType, res.Payload)
	}
}

func TestRuntimeAPIInitError(t *testing.T) {
	m, _ := newManager(t, nil)
	res := invokeOnce(t, m, fakeSpec(t, "init-error", 3*time.Second), `{}`)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ConfigError" || !strings.Contains(string(res.Payload), "missing setting") {
		t.Fatalf("init error: %q %q %s", res.FunctionError, res.ErrorType, res.Payload)
	}
	if !strings.Contains(string(res.LogTail), "init/error status 202") || !strings.Contains(string(res.LogTail), "cannot initialise") {
		t.Errorf("log tail:\n%s", res.LogTail)
	}
}

func TestInitFailureCooldownAvoidsHotLoop(t *testing.T) {
	m, _ := newManager(t, func(c *Config) { c.InitFailureCooldown = time.Minute })
	spec := fakeSpec(t, "init-error", 3*time.Second)
	first := invokeOnce(t, m, spec, `{}`)
	start := time.Now()
	for range 20 {
		again := invokeOnce(t, m, spec, `{}`)
		if again.ErrorType != first.ErrorType {
			t.Fatalf("cached failure %q, want %q", again.ErrorType, first.ErrorType)
		}
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("20 invokes of a function that cannot start took %v: processes were started again", took)
	}
}

func TestOversizeResponse(t *testing.T) {
	m, _ := newManager(t, nil)
	res := invokeOnce(t, m, fakeSpec(t, "big", 3*time.Second), `{}`)
	if res.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Fatalf("error type %q payload %.200s", res.ErrorType, res.Payload)
	}
}

func TestExitMidInvocationAndTimeout(t *testing.T) {
	m, _ := newManager(t, nil)
	res := invokeOnce(t, m, fakeSpec(t, "exit", 3*time.Second), `{}`)
	if res.ErrorType != "Runtime.ExitError" || !strings.Contains(string(res.Payload), "exit status 2") {
		t.Fatalf("exit: %q %s", res.ErrorType, res.Payload)
	}
	if !strings.Contains(string(res.LogTail), "leaving mid-invocation") {
		t.Errorf("the crash's output is missing from the tail:\n%s", res.LogTail)
	}
	start := time.Now()
	res = invokeOnce(t, m, fakeSpec(t, "hang", 500*time.Millisecond), `{}`)
	if res.ErrorType != "Sandbox.Timedout" || !strings.Contains(string(res.Payload), "Task timed out after 0.50 seconds") {
		t.Fatalf("timeout: %q %s", res.ErrorType, res.Payload)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("timeout took %v", took)
	}
}

func TestMemoryLimit(t *testing.T) {
	m, _ := newManager(t, nil)
	res := invokeOnce(t, m, fakeSpec(t, "hog", 10*time.Second), `{}`)
	if reason := m.sandbox.MemoryLimitError; reason != nil {
		// No cgroup memory controller to use: the function runs unbounded.
		t.Logf("memory is not limited on this host: %v", reason)
		if res.FunctionError != "" {
			t.Fatalf("without a memory limit the function should finish: %s", res.Payload)
		}
		return
	}
	if res.ErrorType != "Runtime.OutOfMemory" || !strings.Contains(string(res.Payload), "signal: killed") {
		t.Fatalf("a function over its memory got %q: %s", res.ErrorType, res.Payload)
	}
	if !strings.Contains(string(res.LogTail), "Max Memory Used: 12") {
		t.Errorf("the report should show the limit reached:\n%s", res.LogTail)
	}
}

func TestThrottles(t *testing.T) {
	m, _ := newManager(t, func(c *Config) { c.MaxConcurrency = 1 })
	spec := fakeSpec(t, "hang", 2*time.Second)
	go func() {
		_, _ = m.Invoke(context.Background(), spec, &Invocation{RequestID: "a", Payload: []byte(`{}`)})
	}()
	time.Sleep(200 * time.Millisecond)
	_, err := m.Invoke(context.Background(), spec, &Invocation{RequestID: "b", Payload: []byte(`{}`)})
	var te *ThrottleError
	if !errors.As(err, &te) || te.Reason != ReasonAccount {
		t.Fatalf("err = %v, want an account throttle", err)
	}
	zero := fakeSpec(t, "echo", time.Second)
	zero.ReservedConcurrency = 0
	_, err = m.Invoke(context.Background(), zero, &Invocation{RequestID: "c", Payload: []byte(`{}`)})
	if !errors.As(err, &te) {
		t.Fatalf("reserved concurrency 0: err = %v", err)
	}
}

func TestCloseLetsRunningInvocationsFinish(t *testing.T) {
	m, _ := newManager(t, nil)
	spec := fakeSpec(t, "echo", 3*time.Second)
	invokeOnce(t, m, spec, `{}`) // warm
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Invoke(context.Background(), spec, &Invocation{RequestID: "late", Payload: []byte(`{}`)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("invoke after close: %v", err)
	}
	for _, s := range m.Stats() {
		if s.Instances != 0 {
			t.Errorf("instances left after close: %+v", s)
		}
	}
}

func TestBilledMS(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, 100 * time.Microsecond: 1, time.Millisecond: 1, 1001 * time.Microsecond: 2, 1500 * time.Millisecond: 1500} {
		if got := BilledMS(d); got != want {
			t.Errorf("BilledMS(%v) = %d, want %d", d, got, want)
		}
	}
}

// BenchmarkWarmInvoke measures the Manager's round trip to a warm custom
// runtime (raw net/http client, like aws-lambda-go's). Its log lines are
// queued for a goroutine that takes them on a ticker, as the log store's
// writer does.
func BenchmarkWarmInvoke(b *testing.B) {
	sink := newBatchSink()
	defer sink.close()
	m, err := NewManager(Config{RunDir: b.TempDir(), Sandbox: sandbox.New(sandbox.Config{}), Logs: sink, IdleTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	dir := b.TempDir()
	self, _ := os.Executable()
	script := fmt.Sprintf("#!/bin/sh\nNIMBUS_FAKE_RUNTIME=quiet exec %q\n", self)
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	spec := &Spec{Key: "bench", FunctionName: "bench", Version: "$LATEST", Runtime: "provided.al2023", MemoryMB: 128, Timeout: 3 * time.Second, CodeDir: dir, Region: "us-east-1", ReservedConcurrency: -1}
	inv := &Invocation{RequestID: "r", Payload: []byte(`{}`)}
	if _, err := m.Invoke(context.Background(), spec, inv); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start, startCS := processCPU(), contextSwitches()
	n := 0
	for ; b.Loop(); n++ {
		inv := &Invocation{RequestID: fmt.Sprint("r", n), Payload: []byte(`{}`)}
		res, err := m.Invoke(context.Background(), spec, inv)
		if err != nil || res.FunctionError != "" {
			b.Fatal(err, res)
		}
	}
	// The runtime is another process: this is the platform's CPU alone.
	b.ReportMetric(float64((processCPU()-start).Nanoseconds())/1000/float64(n), "cpu-µs/op")
	b.ReportMetric(float64(contextSwitches()-startCS)/float64(n), "vcsw/op")
}

// contextSwitches counts this process's voluntary context switches (all threads).
func contextSwitches() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw
}

// processCPU is this process's user+system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discardSink struct{}

func (discardSink) Append(logs.Record) {}

// batchSink queues records in a slice that a goroutine of its own takes on
// a ticker, as the log store does.
type batchSink struct {
	mu      sync.Mutex
	pending []logs.Record
	stop    chan struct{}
	done    chan struct{}
}

func newBatchSink() *batchSink {
	s := &batchSink{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var spare []logs.Record
		for {
			select {
			case <-t.C:
				s.mu.Lock()
				spare, s.pending = s.pending, spare[:0]
				s.mu.Unlock()
				clear(spare)
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

func (s *batchSink) Append(r logs.Record) {
	s.mu.Lock()
	if len(s.pending) < 1<<16 {
		s.pending = append(s.pending, r)
	}
	s.mu.Unlock()
}

func (s *batchSink) close() { close(s.stop); <-s.done }
