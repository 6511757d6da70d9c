package runtimes

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const waitFor = 20 * time.Second

// ---------------------------------------------------------------- a scripted Runtime API

type invocation struct {
	ID      string
	Event   string
	Headers map[string]string // extra or overriding next-response headers
	Chunked bool              // send the event with chunked transfer encoding
}

type call struct {
	Kind   string // "response", "error" or "init-error"
	ID     string
	Header http.Header
	Body   string
}

type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string
	next   chan invocation
	calls  chan call
	conns  atomic.Int32
	died   chan struct{} // closed when the runtime process has exited
	// firstNext is when the first GET next arrived (unix nanoseconds).
	firstNext atomic.Int64
	// epoch counts dropConnections calls; each connection keeps the epoch
	// it was accepted in.
	epoch atomic.Int32
}

type epochKey struct{}

// dropConnections closes the runtime's connections. A GET next still
// waiting on one of them must not take the next invocation: net/http
// cancels its context only once a background read notices the close, and
// an invocation written to the closed connection would be lost (the
// runtime reconnects and waits for it forever).
func (f *fakeAPI) dropConnections() {
	f.epoch.Add(1)
	f.srv.CloseClientConnections()
}

func newFakeAPI(t *testing.T, prefix string) *fakeAPI {
	f := &fakeAPI{t: t, prefix: prefix, next: make(chan invocation, 16), calls: make(chan call, 16)}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, epochKey{}, f.epoch.Load())
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// addr is the value for AWS_LAMBDA_RUNTIME_API.
func (f *fakeAPI) addr() string { return f.srv.Listener.Addr().String() + f.prefix }

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, f.prefix+"/2018-06-01/runtime/")
	if !ok {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	switch {
	case r.Method == http.MethodGet && p == "invocation/next":
		f.firstNext.CompareAndSwap(0, time.Now().UnixNano())
		var inv invocation
		select {
		case inv = <-f.next:
			if r.Context().Err() != nil || r.Context().Value(epochKey{}) != f.epoch.Load() {
				// The connection is gone (a test closed it): the runtime's
				// next request on a new one gets the invocation.
				f.next <- inv
				return
			}
		case <-r.Context().Done():
			return
		}
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.ID)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:fn")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
		h.Set("Content-Type", "application/json")
		for k, v := range inv.Headers {
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
		}
		if inv.Chunked {
			half := len(inv.Event) / 2
			_, _ = w.Write([]byte(inv.Event[:half]))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(inv.Event[half:]))
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(inv.Event)))
		_, _ = w.Write([]byte(inv.Event))
	case r.Method == http.MethodPost && p == "init/error":
		f.record(w, r, "init-error", "")
	case r.Method == http.MethodPost && strings.HasPrefix(p, "invocation/"):
		rest := strings.TrimPrefix(p, "invocation/")
		i := strings.LastIndex(rest, "/")
		if i < 0 || (rest[i+1:] != "response" && rest[i+1:] != "error") {
			f.t.Errorf("unexpected POST %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		f.record(w, r, rest[i+1:], rest[:i])
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) record(w http.ResponseWriter, r *http.Request, kind, id string) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		f.t.Errorf("reading %s body: %v", kind, err)
	}
	f.calls <- call{Kind: kind, ID: id, Header: r.Header.Clone(), Body: buf.String()}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// invoke queues an invocation and returns the runtime's answer to it.
func (f *fakeAPI) invoke(t *testing.T, inv invocation) call {
	t.Helper()
	if inv.Event == "" {
		inv.Event = "{}"
	}
	f.next <- inv
	return f.wait(t)
}

func (f *fakeAPI) wait(t *testing.T) call {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-f.died:
		select {
		case c := <-f.calls:
			return c
		case <-time.After(100 * time.Millisecond):
			t.Fatalf("the runtime exited without answering")
		}
	case <-time.After(waitFor):
		t.Fatalf("no answer from the runtime within %s", waitFor)
	}
	return call{}
}

// ---------------------------------------------------------------- runtime processes

var (
	installOnce sync.Once
	installDir  string
	nodeEntry   string
	pyEntry     string
	installErr  error
)

func installed(t *testing.T) (node, python string) {
	t.Helper()
	installOnce.Do(func() {
		installDir, installErr = os.MkdirTemp("", "nimbus-runtimes-test-")
		if installErr == nil {
			nodeEntry, pyEntry, installErr = Install(installDir)
		}
	})
	if installErr != nil {
		t.Fatalf("Install: %v", installErr)
	}
	return nodeEntry, pyEntry
}

func TestMain(m *testing.M) {
	code := m.Run()
	if installDir != "" {
		os.RemoveAll(installDir)
	}
	os.Exit(code)
}

func interpreter(t *testing.T, lang string) string {
	t.Helper()
	candidates := map[string][]string{"node": {"/usr/bin/node", "node"}, "python": {"/usr/bin/python3", "python3"}, "ruby": {"ruby"}}[lang]
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatalf("%s interpreter not found (tried %v): the runtime client tests need it installed", lang, candidates)
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	started time.Time
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	done    chan struct{}
}

type runtimeOpts struct {
	lang    string // "node" or "python"
	handler string
	files   map[string]string // task root content
	env     []string
	prefix  string // Runtime API path prefix
	apiAddr string // AWS_LAMBDA_RUNTIME_API when the test serves it itself
}

// start writes the task root, starts a fake Runtime API and the runtime process.
func start(t *testing.T, o runtimeOpts) (*fakeAPI, *proc, string) {
	t.Helper()
	node, python := installed(t)
	root := t.TempDir()
	for name, content := range o.files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	api := newFakeAPI(t, o.prefix)
	var cmd *exec.Cmd
	var entry string
	switch o.lang {
	case "node":
		entry = node
		cmd = exec.Command(interpreter(t, "node"), entry)
	case "python":
		entry = python
		cmd = exec.Command(interpreter(t, "python"), "-u", entry)
	case "ruby":
		entry = filepath.Join(filepath.Dir(filepath.Dir(node)), filepath.FromSlash(RubyEntry))
		cmd = exec.Command(interpreter(t, "ruby"), entry)
	default:
		t.Fatalf("unknown language %q", o.lang)
	}
	cmd.Dir = root
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_LAMBDA_RUNTIME_API=" + cmp.Or(o.apiAddr, api.addr()),
		"_HANDLER=" + o.handler,
		"LAMBDA_TASK_ROOT=" + root,
		"LAMBDA_RUNTIME_DIR=" + filepath.Dir(entry),
		"AWS_LAMBDA_FUNCTION_NAME=fn",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn",
		"AWS_LAMBDA_LOG_STREAM_NAME=2024/01/01/[$LATEST]0123456789abcdef",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"TZ=:UTC",
	}, o.env...)
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	api.died = p.done
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", o.lang, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", o.lang, p.stdout, p.stderr)
		}
	})
	return api, p, root
}

// exitCode waits for the process to end.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitFor):
		t.Fatalf("runtime did not exit within %s", waitFor)
		return 0
	}
}

// line waits until stdout has a line matching re and returns it.
func (p *proc) line(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(waitFor)
	for {
		for _, l := range strings.Split(p.stdout.String(), "\n") {
			if rx.MatchString(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stdout line matches %q; stdout:\n%s", re, p.stdout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func expectResponse(t *testing.T, c call, id, body string) {
	t.Helper()
	if c.Kind != "response" || c.ID != id || c.Body != body {
		t.Fatalf("got %s for %q with body %s\nwant response for %q with body %s", c.Kind, c.ID, c.Body, id, body)
	}
}

func expectError(t *testing.T, c call, kind, id, errorType string) map[string]any {
	t.Helper()
	if c.Kind != kind || c.ID != id {
		t.Fatalf("got %s for %q (%s), want %s for %q", c.Kind, c.ID, c.Body, kind, id)
	}
	if got := c.Header.Get("Lambda-Runtime-Function-Error-Type"); got != errorType {
		t.Errorf("Lambda-Runtime-Function-Error-Type = %q, want %q", got, errorType)
	}
	if got := c.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(c.Body), &m); err != nil {
		t.Fatalf("error body %q is not JSON: %v", c.Body, err)
	}
	if m["errorType"] != errorType {
		t.Errorf("errorType = %v, want %q (body %s)", m["errorType"], errorType, c.Body)
	}
	return m
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// ---------------------------------------------------------------- install

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rt")
	n1, p1, err := Install(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n1 != filepath.Join(dir, "node", "bootstrap.js") || p1 != filepath.Join(dir, "python", "bootstrap.py") {
		t.Fatalf("entries %s %s", n1, p1)
	}
	st1, _ := os.Stat(n1)
	if st1.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st1.Mode())
	}
	for _, d := range []string{dir, filepath.Dir(n1), filepath.Dir(p1)} {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("dir %s: %v %v", d, st.Mode(), err)
		}
	}
	want, _ := files.ReadFile(NodeEntry)
	if got, _ := os.ReadFile(n1); !bytes.Equal(got, want) {
		t.Error("node entry content differs from the embedded file")
	}
	// Idempotent: unchanged files are not rewritten; damaged ones are repaired.
	time.Sleep(10 * time.Millisecond)
	if _, _, err := Install(dir); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(n1)
	if !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second Install rewrote an unchanged file")
	}
	if err := os.WriteFile(p1, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Install(dir); err != nil {
		t.Fatal(err)
	}
	want, _ = files.ReadFile(PythonEntry)
	if got, _ := os.ReadFile(p1); !bytes.Equal(got, want) {
		t.Error("Install did not repair a damaged file")
	}
	if st, _ := os.Stat(p1); st.Mode().Perm() != 0o644 {
		t.Errorf("repaired file mode %v", st.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(p1))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".install-") {
			t.Errorf("leftover temporary file %s", e.Name())
		}
	}
}

func TestPrecompilePython(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Install(dir); err != nil {
		t.Fatal(err)
	}
	if err := PrecompilePython(context.Background(), interpreter(t, "python"), dir); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "python", "__pycache__", "nimbus_runtime.*.pyc"))
	if len(matches) != 1 {
		t.Fatalf("no cached bytecode: %v", matches)
	}
}

// ---------------------------------------------------------------- Node.js

func TestNodeHandlers(t *testing.T) {
	api, p, _ := start(t, runtimeOpts{lang: "node", handler: "index.handler", prefix: "/rapid", files: map[string]string{
		"index.js": `
console.log('init');
exports.handler = async (event, context) => {
  if (event.undef) return undefined;
  return { ok: true, got: event, trace: process.env._X_AMZN_TRACE_ID };
};`,
	}})
	expectResponse(t, api.invoke(t, invocation{ID: "r1", Event: `{"a":1}`}), "r1",
		`{"ok":true,"got":{"a":1},"trace":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}`)
	expectResponse(t, api.invoke(t, invocation{ID: "r2", Event: `{"undef":true}`}), "r2", `null`)
	expectResponse(t, api.invoke(t, invocation{ID: "r3", Event: `{"big":"` + strings.Repeat("x", 100000) + `"}`, Chunked: true,
		Headers: map[string]string{"Lambda-Runtime-Trace-Id": ""}}), "r3",
		`{"ok":true,"got":{"big":"`+strings.Repeat("x", 100000)+`"}}`)
	if c := api.conns.Load(); c != 1 {
		t.Errorf("runtime used %d connections, want 1 keep-alive connection", c)
	}
	p.line(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tundefined\tINFO\tinit$`)

	// The server drops the keep-alive connection while the runtime waits in GET next: it reconnects.
	time.Sleep(100 * time.Millisecond)
	api.dropConnections()
	// The invocation goes out once the runtime is back on a new connection:
	// the handler of the closed one must not take it before it notices.
	for deadline := time.Now().Add(10 * time.Second); api.conns.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	expectResponse(t, api.invoke(t, invocation{ID: "r4", Event: `{"a":4}`}), "r4",
		`{"ok":true,"got":{"a":4},"trace":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}`)

	// 5 MB of two-byte characters with a Content-Length: the body arrives in many reads, some of
	// which split a character; the answer is as large.
	big := strings.Repeat("é", 5<<19)
	expectResponse(t, api.invoke(t, invocation{ID: "r5", Event: `{"big":"` + big + `"}`}), "r5",
		`{"ok":true,"got":{"big":"`+big+`"},"trace":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}`)
}

// The Node.js client writes its answer and the next GET next together and
// reads the answers in order, wherever the bytes of one end and the next
// begin: here the 202 and the next event arrive in one write, in pieces, with
// a chunked body, and a 202 closing the connection makes it ask again on a
// new one.
func TestNodePipelinedAnswers(t *testing.T) {
	testPipelinedAnswers(t, "node", map[string]string{
		"echo.js": `exports.handler = async (event, context) => {
  if (event.fail) throw new Error("asked to fail");
  return { id: context.awsRequestId, event };
};`,
	})
}

// TestPythonPipelinedAnswers: the Python client sends GET next behind each
// answer in the same write, so the next event does not wait for the process
// to wake for the 202 first.
func TestPythonPipelinedAnswers(t *testing.T) {
	testPipelinedAnswers(t, "python", map[string]string{
		"echo.py": `def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"id": context.aws_request_id, "event": event}
`,
	})
}

// testPipelinedAnswers serves the Runtime API by hand to a runtime whose
// handler echo.handler returns {"id": request id, "event": event} and fails
// when the event has "fail": every answer must be followed by GET next before
// the test writes the 202, and the 202 and the next event may arrive in one
// read or split anywhere.
func testPipelinedAnswers(t *testing.T, lang string, files map[string]string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, p, _ := start(t, runtimeOpts{lang: lang, handler: "echo.handler", apiAddr: ln.Addr().String(), files: files})
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	accept := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		select {
		case c := <-accepted:
			t.Cleanup(func() { c.Close() })
			_ = c.SetDeadline(time.Now().Add(waitFor))
			return c, bufio.NewReader(c)
		case <-p.done:
			t.Fatal("the runtime exited")
		case <-time.After(waitFor):
			t.Fatal("the runtime did not connect")
		}
		return nil, nil
	}
	// request reads one request and returns its line and body.
	request := func(br *bufio.Reader) (string, string) {
		t.Helper()
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("reading a request: %v", err)
		}
		var body bytes.Buffer
		if _, err := body.ReadFrom(req.Body); err != nil {
			t.Fatal(err)
		}
		return req.Method + " " + req.URL.Path, body.String()
	}
	const next = "GET /2018-06-01/runtime/invocation/next"
	event := func(id, body string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: " + id +
			"\r\nLambda-Runtime-Deadline-Ms: " + strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10) +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	const accepted202 = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}"
	answer := func(br *bufio.Reader, id, want string) {
		t.Helper()
		line, body := request(br)
		var got, wanted any
		if line != "POST /2018-06-01/runtime/invocation/"+id+"/response" || json.Unmarshal([]byte(body), &got) != nil ||
			json.Unmarshal([]byte(want), &wanted) != nil || !reflect.DeepEqual(got, wanted) {
			t.Fatalf("got %s %s, want the answer to %s: %s", line, body, id, want)
		}
	}
	write := func(c net.Conn, parts ...string) {
		t.Helper()
		for i, part := range parts {
			if i > 0 {
				time.Sleep(20 * time.Millisecond) // separate reads for the runtime
			}
			if _, err := io.WriteString(c, part); err != nil {
				t.Fatal(err)
			}
		}
	}

	c, br := accept()
	if line, _ := request(br); line != next {
		t.Fatalf("first request %q", line)
	}
	write(c, event("a1", `{"n":1}`))
	answer(br, "a1", `{"id":"a1","event":{"n":1}}`)
	if line, _ := request(br); line != next {
		t.Fatalf("after the answer: %q, want GET next", line)
	}
	// The 202 and the next event in one write.
	write(c, accepted202+event("a2", `{"n":2}`))
	answer(br, "a2", `{"id":"a2","event":{"n":2}}`)
	request(br)
	// The 202 with the start of a chunked event, the rest split inside a chunk and inside its size line.
	chunked := "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: a3\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"n\"\r\n3\r\n:3}\r\n0\r\n\r\n"
	write(c, accepted202+chunked[:30], chunked[30:62], chunked[62:75], chunked[75:])
	answer(br, "a3", `{"id":"a3","event":{"n":3}}`)
	request(br)
	// A body with a Content-Length in three reads, the cuts inside the head and inside a character.
	e := event("a5", `{"s":"`+strings.Repeat("é", 5000)+`"}`)
	cut := strings.Index(e, "\r\n\r\n") + 5000
	write(c, accepted202+e[:40], e[40:cut+1], e[cut+1:])
	answer(br, "a5", `{"id":"a5","event":{"s":"`+strings.Repeat("é", 5000)+`"}}`)
	request(br)
	// An error answer has GET next behind it too.
	write(c, accepted202+event("a6", `{"fail":true}`))
	if line, body := request(br); line != "POST /2018-06-01/runtime/invocation/a6/error" || !strings.Contains(body, "asked to fail") {
		t.Fatalf("got %s %s, want the error of a6", line, body)
	}
	if line, _ := request(br); line != next {
		t.Fatalf("after the error: %q, want GET next", line)
	}
	// A 202 that closes the connection: the GET next written behind it goes out again on a new one.
	write(c, strings.Replace(accepted202, "Content-Length", "Connection: close\r\nContent-Length", 1))
	c.Close()
	c, br = accept()
	if line, _ := request(br); line != next {
		t.Fatalf("on the new connection: %q, want GET next", line)
	}
	write(c, event("a4", `{"n":4}`))
	answer(br, "a4", `{"id":"a4","event":{"n":4}}`)
}

func TestNodeHandlerStyles(t *testing.T) {
	api, _, _ := start(t, runtimeOpts{lang: "node", handler: "styles.promise", files: map[string]string{
		"styles.js": `
exports.promise = (event) => new Promise((resolve) => setTimeout(() => resolve({ promised: event.n }), 5));`,
	}})
	expectResponse(t, api.invoke(t, invocation{ID: "p1", Event: `{"n":7}`}), "p1", `{"promised":7}`)

	// Callback style: with callbackWaitsForEmptyEventLoop (the default) the result is serialised only
	// when the event loop is empty, so the timer's change is in the response; without it, it is not.
	files := map[string]string{"cb.js": `
exports.handler = (event, context, callback) => {
  if (event.nowait) context.callbackWaitsForEmptyEventLoop = false;
  const res = { n: 0 };
  setTimeout(() => { res.n = 1; }, 100);
  if (event.err) return callback(new Error('callback error'));
  callback(null, res);
};
exports.never = (event, context, callback) => {};
exports.legacy = (event, context) => { if (event.fail) context.fail(new Error('failed')); else context.succeed({ legacy: true }); };`}
	api, _, _ = start(t, runtimeOpts{lang: "node", handler: "cb.handler", files: files})
	expectResponse(t, api.invoke(t, invocation{ID: "c1"}), "c1", `{"n":1}`)
	expectResponse(t, api.invoke(t, invocation{ID: "c2", Event: `{"nowait":true}`}), "c2", `{"n":0}`)
	m := expectError(t, api.invoke(t, invocation{ID: "c3", Event: `{"err":true}`}), "error", "c3", "Error")
	if m["errorMessage"] != "callback error" {
		t.Errorf("errorMessage %v", m["errorMessage"])
	}
	expectResponse(t, api.invoke(t, invocation{ID: "c4"}), "c4", `{"n":1}`)

	api, _, _ = start(t, runtimeOpts{lang: "node", handler: "cb.never", files: files})
	expectResponse(t, api.invoke(t, invocation{ID: "n1"}), "n1", `null`)

	api, _, _ = start(t, runtimeOpts{lang: "node", handler: "cb.legacy", files: files})
	expectResponse(t, api.invoke(t, invocation{ID: "l1"}), "l1", `{"legacy":true}`)
	m = expectError(t, api.invoke(t, invocation{ID: "l2", Event: `{"fail":true}`}), "error", "l2", "Error")
	if m["errorMessage"] != "failed" {
		t.Errorf("errorMessage %v", m["errorMessage"])
	}
}

func TestNodeModules(t *testing.T) {
	cases := []struct {
		name    string
		handler string
		files   map[string]string
		want    string
	}{
		{"mjs", "app.handler", map[string]string{
			"app.mjs": `export const handler = async (event) => ({ esm: import.meta.url.startsWith('file://'), n: event.n });`,
		}, `{"esm":true,"n":1}`},
		{"type-module", "src/index.handler", map[string]string{
			"package.json":  `{"name":"x","type":"module"}`,
			"src/index.js":  `import { greet } from './lib.js'; export async function handler(event) { return greet(event.n); }`,
			"src/lib.js":    `export const greet = (n) => ({ module: typeof require === 'undefined', n });`,
			"src/other.cjs": `module.exports = 1;`,
		}, `{"module":true,"n":1}`},
		{"cjs-extension", "lib.handler", map[string]string{
			"lib.cjs": `exports.handler = async () => 'cjs';`,
		}, `"cjs"`},
		{"node_modules-and-nested-export", "src/app.nested.fn", map[string]string{
			"node_modules/greet/package.json": `{"name":"greet","main":"main.js"}`,
			"node_modules/greet/main.js":      `module.exports = (n) => 'hello ' + n;`,
			"helpers/util.js":                 `module.exports = { two: 2 };`,
			"src/app.js": `const greet = require('greet'); const util = require('helpers/util');
exports.nested = { fn: async (event) => greet(event.n) + ' ' + util.two };`,
		}, `"hello 1 2"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The platform sets NODE_PATH=<task root>/node_modules; bare requires still resolve in the task root.
			api, _, root := start(t, runtimeOpts{lang: "node", handler: tc.handler, files: tc.files, env: []string{"NODE_PATH=/nonexistent/node_modules"}})
			_ = root
			expectResponse(t, api.invoke(t, invocation{ID: "m1", Event: `{"n":1}`}), "m1", tc.want)
		})
	}
}

func TestNodeContext(t *testing.T) {
	api, _, _ := start(t, runtimeOpts{lang: "node", handler: "ctx.handler", files: map[string]string{
		"ctx.js": `exports.handler = async (event, context) => {
  const remaining = context.getRemainingTimeInMillis();
  return {
    awsRequestId: context.awsRequestId, functionName: context.functionName, functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName, logStreamName: context.logStreamName,
    remainingOK: remaining > 20000 && remaining <= 30000, callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
    clientContext: context.clientContext, identity: context.identity,
  };
};`,
	}})
	c := api.invoke(t, invocation{ID: "ctx-1", Headers: map[string]string{
		"Lambda-Runtime-Client-Context":   `{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{}}`,
		"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`,
	}})
	expectResponse(t, c, "ctx-1", `{"awsRequestId":"ctx-1","functionName":"fn","functionVersion":"$LATEST",`+
		`"invokedFunctionArn":"arn:aws:lambda:us-east-1:000000000000:function:fn","memoryLimitInMB":"128",`+
		`"logGroupName":"/aws/lambda/fn","logStreamName":"2024/01/01/[$LATEST]0123456789abcdef","remainingOK":true,`+
		`"callbackWaitsForEmptyEventLoop":true,"clientContext":{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{}},`+
		`"identity":{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}}`)
	m := expectError(t, api.invoke(t, invocation{ID: "ctx-2", Headers: map[string]string{"Lambda-Runtime-Client-Context": "{bad"}}), "error", "ctx-2", "Error")
	if msg, _ := m["errorMessage"].(string); !strings.HasPrefix(msg, "Cannot parse ClientContext as json: SyntaxError: ") {
		t.Errorf("errorMessage %q", msg)
	}
}

// The trace id is process.env._X_AMZN_TRACE_ID for the handler, its keys and
// its child processes, and changes with each invocation (it is held outside the
// C environment, whose setenv keeps every value).
func TestNodeTraceEnvironment(t *testing.T) {
	api, _, _ := start(t, runtimeOpts{lang: "node", handler: "trace.handler", files: map[string]string{
		"trace.js": `const { execFileSync } = require('child_process');
exports.handler = async () => ({
  trace: process.env._X_AMZN_TRACE_ID,
  has: '_X_AMZN_TRACE_ID' in process.env,
  listed: Object.keys(process.env).includes('_X_AMZN_TRACE_ID'),
  child: execFileSync(process.execPath, ['-e', 'process.stdout.write(process.env._X_AMZN_TRACE_ID || "none")']).toString(),
  fn: process.env.AWS_LAMBDA_FUNCTION_NAME,
});`,
	}})
	for i, trace := range []string{"Root=1-a;Sampled=0", "", "Root=1-b;Sampled=1"} {
		id := "t" + strconv.Itoa(i)
		want := `{"trace":"` + trace + `","has":true,"listed":true,"child":"` + trace + `","fn":"fn"}`
		if trace == "" {
			want = `{"has":false,"listed":false,"child":"none","fn":"fn"}`
		}
		expectResponse(t, api.invoke(t, invocation{ID: id, Headers: map[string]string{"Lambda-Runtime-Trace-Id": trace}}), id, want)
	}
}

func TestNodeErrors(t *testing.T) {
	api, p, _ := start(t, runtimeOpts{lang: "node", handler: "err.handler", files: map[string]string{
		"err.js": `exports.handler = async (event) => {
  if (event.kind === 'type') throw new TypeError('bad thing');
  if (event.kind === 'string') throw 'oops';
  if (event.kind === 'custom') { const e = new Error('custom'); e.name = 'MyError'; e.code = 42; throw e; }
  if (event.kind === 'circular') { const o = {}; o.o = o; return o; }
  return 'ok';
};`,
	}})
	c := api.invoke(t, invocation{ID: "e1", Event: `{"kind":"type"}`})
	m := expectError(t, c, "error", "e1", "TypeError")
	if keys(m) != "errorMessage,errorType,trace" || m["errorMessage"] != "bad thing" {
		t.Errorf("body %s", c.Body)
	}
	trace := strs(m["trace"])
	if len(trace) < 2 || trace[0] != "TypeError: bad thing" || !strings.HasPrefix(trace[1], "    at ") || !strings.Contains(trace[1], "err.js:2") {
		t.Errorf("trace %q", trace)
	}
	c = api.invoke(t, invocation{ID: "e2", Event: `{"kind":"string"}`})
	expectError(t, c, "error", "e2", "string")
	if c.Body != `{"errorType":"string","errorMessage":"oops","trace":[]}` {
		t.Errorf("body %s", c.Body)
	}
	c = api.invoke(t, invocation{ID: "e3", Event: `{"kind":"custom"}`})
	m = expectError(t, c, "error", "e3", "MyError")
	if strs(m["trace"])[0] != "MyError: custom" {
		t.Errorf("trace %v", m["trace"])
	}
	c = api.invoke(t, invocation{ID: "e4", Event: `{"kind":"circular"}`})
	m = expectError(t, c, "error", "e4", "Error")
	if m["errorMessage"] != "Unable to stringify response body" {
		t.Errorf("body %s", c.Body)
	}
	expectResponse(t, api.invoke(t, invocation{ID: "e5", Event: `{}`}), "e5", `"ok"`)
	// The error is logged as AWS logs it, on one line.
	l := p.line(t, `\te1\tERROR\tInvoke Error `)
	if !strings.HasSuffix(l, "\tERROR\tInvoke Error \t"+`{"errorType":"TypeError","errorMessage":"bad thing","stack":["TypeError: bad thing",`+l[strings.Index(l, `"    at `):]) {
		t.Errorf("log line %q", l)
	}
	l = p.line(t, `\te3\tERROR\tInvoke Error `)
	if !strings.Contains(l, `{"errorType":"MyError","errorMessage":"custom","code":42,"name":"MyError","stack":["MyError: custom",`) {
		t.Errorf("log line %q", l)
	}
}

func TestNodeUncaught(t *testing.T) {
	files := map[string]string{"u.js": `
exports.throws = (event, context, callback) => { setTimeout(() => { throw new Error('async boom'); }, 5); };
exports.rejects = async (event) => { Promise.reject(new Error('rejected')); await new Promise((r) => setTimeout(r, 50)); return 'late'; };
exports.hangs = async () => new Promise(() => {});`}
	api, p, _ := start(t, runtimeOpts{lang: "node", handler: "u.throws", files: files})
	m := expectError(t, api.invoke(t, invocation{ID: "u1"}), "error", "u1", "Error")
	if m["errorMessage"] != "async boom" {
		t.Errorf("errorMessage %v", m["errorMessage"])
	}
	if code := p.exitCode(t); code != 129 {
		t.Errorf("exit code %d, want 129", code)
	}
	p.line(t, `\tu1\tERROR\tUncaught Exception \t\{"errorType":"Error","errorMessage":"async boom"`)

	api, p, _ = start(t, runtimeOpts{lang: "node", handler: "u.rejects", files: files})
	c := api.invoke(t, invocation{ID: "u2"})
	m = expectError(t, c, "error", "u2", "Runtime.UnhandledPromiseRejection")
	if m["errorMessage"] != "Error: rejected" || strs(m["trace"])[0] != "Runtime.UnhandledPromiseRejection: Error: rejected" {
		t.Errorf("body %s", c.Body)
	}
	if code := p.exitCode(t); code != 128 {
		t.Errorf("exit code %d, want 128", code)
	}

	api, _, _ = start(t, runtimeOpts{lang: "node", handler: "u.hangs", files: files})
	m = expectError(t, api.invoke(t, invocation{ID: "u3"}), "error", "u3", "Runtime.NodeJsExit")
	if msg, _ := m["errorMessage"].(string); !strings.Contains(msg, "Promise that was never settled") {
		t.Errorf("errorMessage %q", msg)
	}
}

func TestNodeInitErrors(t *testing.T) {
	node, _ := installed(t)
	cases := []struct {
		name, handler, errorType, message string
		files                             map[string]string
	}{
		{"missing-module", "nope.handler", "Runtime.ImportModuleError",
			"Error: Cannot find module 'nope'\nRequire stack:\n- " + node, nil},
		{"missing-dependency", "app.handler", "Runtime.ImportModuleError",
			"Error: Cannot find module 'left-pad'\nRequire stack:\n- {root}/app.js\n- " + node,
			map[string]string{"app.js": `require('left-pad'); exports.handler = async () => 1;`}},
		{"missing-handler", "app.missing", "Runtime.HandlerNotFound", "app.missing is undefined or not exported",
			map[string]string{"app.js": `exports.handler = async () => 1; exports.notfn = 1;`}},
		{"not-a-function", "app.notfn", "Runtime.HandlerNotFound", "app.notfn is not a function",
			map[string]string{"app.js": `exports.handler = async () => 1; exports.notfn = 1;`}},
		{"malformed", "app", "Runtime.MalformedHandlerName", "Bad handler",
			map[string]string{"app.js": `exports.handler = async () => 1;`}},
		{"syntax", "bad.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token ';'",
			map[string]string{"bad.js": "exports.handler = async () => {\n  return 1 +;\n}\n"}},
		{"throws-at-init", "boom.handler", "Error", "init boom",
			map[string]string{"boom.js": "throw new Error('init boom');\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, p, root := start(t, runtimeOpts{lang: "node", handler: tc.handler, files: tc.files})
			c := api.wait(t)
			m := expectError(t, c, "init-error", "", tc.errorType)
			want := strings.ReplaceAll(tc.message, "{root}", root)
			if m["errorMessage"] != want {
				t.Errorf("errorMessage %q, want %q", m["errorMessage"], want)
			}
			if keys(m) != "errorMessage,errorType,trace" {
				t.Errorf("body %s", c.Body)
			}
			if code := p.exitCode(t); code != 129 {
				t.Errorf("exit code %d, want 129", code)
			}
			p.line(t, `\tundefined\tERROR\tUncaught Exception \t\{"errorType":"`+regexp.QuoteMeta(tc.errorType)+`"`)
		})
	}
}

func TestNodeConsole(t *testing.T) {
	api, p, _ := start(t, runtimeOpts{lang: "node", handler: "log.handler", env: []string{"AWS_LAMBDA_LOG_LEVEL=DEBUG"}, files: map[string]string{
		"log.js": `exports.handler = async () => {
  console.log('hello %s', 'world', { a: 1 });
  console.log('multi\nline');
  console.info('info'); console.warn('warn'); console.error('error'); console.debug('debug'); console.trace('trace');
  process.stdout.write('raw\n');
  return 1;
};`,
	}})
	expectResponse(t, api.invoke(t, invocation{ID: "log-1"}), "log-1", `1`)
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
	p.line(t, `^`+ts+`\tlog-1\tINFO\thello world \{ a: 1 \}$`)
	p.line(t, `^`+ts+`\tlog-1\tINFO\tmulti\rline$`)
	p.line(t, `^`+ts+`\tlog-1\tINFO\tinfo$`)
	p.line(t, `^`+ts+`\tlog-1\tWARN\twarn$`)
	p.line(t, `^`+ts+`\tlog-1\tERROR\terror$`)
	p.line(t, `^`+ts+`\tlog-1\tDEBUG\tdebug$`)
	p.line(t, `^raw$`)
	if strings.Contains(p.stdout.String(), "\tTRACE\t") {
		t.Error("console.trace logged below AWS_LAMBDA_LOG_LEVEL=DEBUG")
	}
}

func TestNodeJSONLogs(t *testing.T) {
	api, p, _ := start(t, runtimeOpts{lang: "node", handler: "j.handler", env: []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=info"}, files: map[string]string{
		"j.js": `exports.handler = async () => { console.log({ a: 1 }); console.info('n=%d', 2); console.debug('hidden'); throw new RangeError('r'); };`,
	}})
	expectError(t, api.invoke(t, invocation{ID: "j1"}), "error", "j1", "RangeError")
	ts := `"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`
	p.line(t, `^\{`+ts+`,"level":"INFO","requestId":"j1","message":\{"a":1\}\}$`)
	p.line(t, `^\{`+ts+`,"level":"INFO","requestId":"j1","message":"n=2"\}$`)
	p.line(t, `^\{`+ts+`,"level":"ERROR","requestId":"j1","message":\{"errorType":"RangeError","errorMessage":"r","stackTrace":\["RangeError: r",`)
	if strings.Contains(p.stdout.String(), "hidden") {
		t.Error("DEBUG logged at AWS_LAMBDA_LOG_LEVEL=info")
	}
}

// ---------------------------------------------------------------- Python

func TestPythonHandlers(t *testing.T) {
	api, p, root := start(t, runtimeOpts{lang: "python", handler: "app.handler", prefix: "/rapid", files: map[string]string{
		"app.py": `import os
from decimal import Decimal
print("init print")

def handler(event, context):
    kind = event.get("kind")
    if kind == "none":
        return None
    if kind == "decimal":
        return {"price": Decimal("1.10"), "n": [1, 2.5, None, True, "\u00e9"]}
    if kind == "bytes":
        return b"raw bytes"
    if kind == "set":
        return {1, 2}
    if kind == "raise":
        return helper()
    return {"ok": True, "event": event, "trace": os.environ.get("_X_AMZN_TRACE_ID")}

def helper():
    raise ValueError("boom")
`,
	}})
	expectResponse(t, api.invoke(t, invocation{ID: "r1", Event: `{"a": 1}`}), "r1",
		`{"ok": true, "event": {"a": 1}, "trace": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}`)
	expectResponse(t, api.invoke(t, invocation{ID: "r2", Event: `{"kind":"none"}`}), "r2", `null`)
	c := api.invoke(t, invocation{ID: "r3", Event: `{"kind":"decimal"}`})
	expectResponse(t, c, "r3", `{"price": 1.10, "n": [1, 2.5, null, true, "\u00e9"]}`)
	if ct := c.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	c = api.invoke(t, invocation{ID: "r4", Event: `{"kind":"bytes"}`})
	expectResponse(t, c, "r4", `raw bytes`)
	if ct := c.Header.Get("Content-Type"); ct != "application/unknown" {
		t.Errorf("Content-Type %q", ct)
	}
	c = api.invoke(t, invocation{ID: "r5", Event: `{"kind":"set"}`})
	expectError(t, c, "error", "r5", "Runtime.MarshalError")
	if c.Body != `{"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable", "errorType": "Runtime.MarshalError", "requestId": "r5", "stackTrace": []}` {
		t.Errorf("body %s", c.Body)
	}
	c = api.invoke(t, invocation{ID: "r6", Event: `{"kind":"raise"}`})
	expectError(t, c, "error", "r6", "ValueError")
	app := filepath.Join(root, "app.py")
	want := `{"errorMessage": "boom", "errorType": "ValueError", "requestId": "r6", "stackTrace": [` +
		`"  File \"` + app + `\", line 16, in handler\n    return helper()\n", ` +
		`"  File \"` + app + `\", line 20, in helper\n    raise ValueError(\"boom\")\n"]}`
	if c.Body != want {
		t.Errorf("body\n%s\nwant\n%s", c.Body, want)
	}
	l := p.line(t, `^\[ERROR\] ValueError: boom\r`)
	wantLog := "[ERROR] ValueError: boom\rTraceback (most recent call last):\r\u00a0\u00a0File \"" + app +
		"\", line 16, in handler\r\u00a0\u00a0\u00a0\u00a0return helper()\r\u00a0\u00a0File \"" + app +
		"\", line 20, in helper\r\u00a0\u00a0\u00a0\u00a0raise ValueError(\"boom\")"
	if l != wantLog {
		t.Errorf("error log\n%q\nwant\n%q", l, wantLog)
	}
	c = api.invoke(t, invocation{ID: "r7", Event: `{"kind"`})
	expectError(t, c, "error", "r7", "Runtime.UnmarshalError")
	if c.Body != `{"errorMessage": "Unable to unmarshal input: Expecting ':' delimiter: line 1 column 8 (char 7)", "errorType": "Runtime.UnmarshalError", "requestId": "r7", "stackTrace": []}` {
		t.Errorf("body %s", c.Body)
	}
	expectResponse(t, api.invoke(t, invocation{ID: "r8", Event: `{"big": "` + strings.Repeat("y", 100000) + `"}`, Chunked: true,
		Headers: map[string]string{"Lambda-Runtime-Trace-Id": ""}}), "r8",
		`{"ok": true, "event": {"big": "`+strings.Repeat("y", 100000)+`"}, "trace": null}`)
	if n := api.conns.Load(); n != 1 {
		t.Errorf("runtime used %d connections, want 1 keep-alive connection", n)
	}
	p.line(t, `^init print$`)

	// The server drops the keep-alive connection while the runtime waits in GET next: it reconnects.
	time.Sleep(100 * time.Millisecond)
	api.dropConnections()
	expectResponse(t, api.invoke(t, invocation{ID: "r9", Event: `{"kind":"none"}`}), "r9", `null`)

	// From python3.12 on, AWS's marshaller no longer escapes non-ASCII characters.
	api, _, _ = start(t, runtimeOpts{lang: "python", handler: "app.handler", files: map[string]string{"app.py": "def handler(e, c):\n    return e\n"},
		env: []string{"AWS_EXECUTION_ENV=AWS_Lambda_python3.12"}})
	expectResponse(t, api.invoke(t, invocation{ID: "u1", Event: `{"s":"\u00e9\u20ac"}`}), "u1", "{\"s\": \"\u00e9\u20ac\"}")
}

func TestPythonContext(t *testing.T) {
	api, _, _ := start(t, runtimeOpts{lang: "python", handler: "pkg/sub/ctx.handler", files: map[string]string{
		"pkg/sub/ctx.py": `def handler(event, context):
    r = context.get_remaining_time_in_millis()
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id, "function_name": context.function_name,
        "function_version": context.function_version, "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb, "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name, "remaining_ok": 20000 < r <= 30000,
        "client": cc and cc.client.installation_id, "custom": cc and cc.custom,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
    }
`,
	}})
	c := api.invoke(t, invocation{ID: "ctx-1", Headers: map[string]string{
		"Lambda-Runtime-Client-Context":   `{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{}}`,
		"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`,
	}})
	expectResponse(t, c, "ctx-1", `{"aws_request_id": "ctx-1", "function_name": "fn", "function_version": "$LATEST", `+
		`"invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn", "memory_limit_in_mb": "128", `+
		`"log_group_name": "/aws/lambda/fn", "log_stream_name": "2024/01/01/[$LATEST]0123456789abcdef", "remaining_ok": true, `+
		`"client": "i", "custom": {"k": "v"}, "identity": ["id", "pool"]}`)
	expectResponse(t, api.invoke(t, invocation{ID: "ctx-2"}), "ctx-2", `{"aws_request_id": "ctx-2", "function_name": "fn", "function_version": "$LATEST", `+
		`"invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn", "memory_limit_in_mb": "128", `+
		`"log_group_name": "/aws/lambda/fn", "log_stream_name": "2024/01/01/[$LATEST]0123456789abcdef", "remaining_ok": true, `+
		`"client": null, "custom": null, "identity": [null, null]}`)
	c = api.invoke(t, invocation{ID: "ctx-3", Headers: map[string]string{"Lambda-Runtime-Cognito-Identity": "{bad"}})
	expectError(t, c, "error", "ctx-3", "Runtime.LambdaContextUnmarshalError")
	if !strings.HasPrefix(c.Body, `{"errorMessage": "Unable to parse Cognito Identity JSON: Expecting property name enclosed in double quotes`) {
		t.Errorf("body %s", c.Body)
	}
}

func TestPythonInitErrors(t *testing.T) {
	cases := []struct {
		name, handler, errorType, body string
		files                          map[string]string
	}{
		{"missing-module", "nope.handler", "Runtime.ImportModuleError",
			`{"errorMessage": "Unable to import module 'nope': No module named 'nope'", "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}`, nil},
		{"missing-dependency", "app.handler", "Runtime.ImportModuleError",
			`{"errorMessage": "Unable to import module 'app': No module named 'requests_nope'", "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}`,
			map[string]string{"app.py": "import requests_nope\n"}},
		{"missing-handler", "app.missing", "Runtime.HandlerNotFound",
			`{"errorMessage": "Handler 'missing' missing on module 'app'", "errorType": "Runtime.HandlerNotFound", "requestId": "", "stackTrace": []}`,
			map[string]string{"app.py": "def handler(e, c):\n    return 1\n"}},
		{"malformed", "app", "Runtime.MalformedHandlerName",
			`{"errorMessage": "Bad handler 'app': not enough values to unpack (expected 2, got 1)", "errorType": "Runtime.MalformedHandlerName", "requestId": "", "stackTrace": []}`,
			map[string]string{"app.py": "def handler(e, c):\n    return 1\n"}},
		{"builtin", "sys.handler", "Runtime.BuiltInModuleConflict",
			`{"errorMessage": "Cannot use built-in module sys as a handler module", "errorType": "Runtime.BuiltInModuleConflict", "requestId": "", "stackTrace": []}`, nil},
		{"syntax", "bad.handler", "Runtime.UserCodeSyntaxError", "", map[string]string{"bad.py": "def handler(e, c)\n    return 1\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, p, root := start(t, runtimeOpts{lang: "python", handler: tc.handler, files: tc.files})
			c := api.wait(t)
			m := expectError(t, c, "init-error", "", tc.errorType)
			if tc.body != "" && c.Body != tc.body {
				t.Errorf("body\n%s\nwant\n%s", c.Body, tc.body)
			}
			if tc.name == "syntax" {
				msg, _ := m["errorMessage"].(string)
				trace := strs(m["stackTrace"])
				if !strings.HasPrefix(msg, "Syntax error in module 'bad': ") || !strings.HasSuffix(msg, "(bad.py, line 1)") ||
					len(trace) != 1 || trace[0] != `  File "`+filepath.Join(root, "bad.py")+`" Line 1`+"\n    def handler(e, c)\n" {
					t.Errorf("body %s", c.Body)
				}
			}
			if code := p.exitCode(t); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			p.line(t, `^\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t\tLAMBDA_WARNING: Unhandled exception\. `)
			p.line(t, `^\[ERROR\] `+regexp.QuoteMeta(tc.errorType)+`: `)
		})
	}
	// An exception raised while importing the module is reported with its own type and trace.
	api, p, root := start(t, runtimeOpts{lang: "python", handler: "boom.handler", files: map[string]string{"boom.py": "x = 1\nraise KeyError('init')\n"}})
	c := api.wait(t)
	m := expectError(t, c, "init-error", "", "KeyError")
	trace := strs(m["stackTrace"])
	if m["errorMessage"] != "'init'" || len(trace) == 0 || trace[len(trace)-1] != `  File "`+filepath.Join(root, "boom.py")+`", line 2, in <module>`+"\n    raise KeyError('init')\n" {
		t.Errorf("body %s", c.Body)
	}
	if code := p.exitCode(t); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

func TestPythonLogging(t *testing.T) {
	files := map[string]string{"lg.py": `import logging
logging.getLogger().warning("at init")
log = logging.getLogger("app")

def handler(event, context):
    print("hello from print")
    print("two", "words", end="!\n")
    log.info("hidden at the default level")
    log.warning("warned %s", "x")
    log.error("multi\nline")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("caught")
    context.log("via context\n")
    return "done"

def lazy(event, context):
    import logging
    logging.info("info %d", 1)
    logging.debug("debug")
    return "lazy"
`}
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
	api, p, _ := start(t, runtimeOpts{lang: "python", handler: "lg.handler", files: files})
	expectResponse(t, api.invoke(t, invocation{ID: "lg-1"}), "lg-1", `"done"`)
	p.line(t, `^\[WARNING\]\t`+ts+`\t\tat init$`)
	p.line(t, `^hello from print$`)
	p.line(t, `^two words!$`)
	p.line(t, `^\[WARNING\]\t`+ts+`\tlg-1\twarned x$`)
	p.line(t, `^\[ERROR\]\t`+ts+`\tlg-1\tmulti\rline$`)
	p.line(t, `^\[ERROR\]\t`+ts+`\tlg-1\tcaught\rTraceback \(most recent call last\):\r  File .*\rZeroDivisionError: division by zero$`)
	p.line(t, `^via context$`)
	if strings.Contains(p.stdout.String(), "hidden at the default level") {
		t.Error("INFO record logged although the root logger defaults to WARNING as in AWS")
	}

	// logging first imported inside the handler, AWS_LAMBDA_LOG_LEVEL=INFO.
	api, p, _ = start(t, runtimeOpts{lang: "python", handler: "lg.lazy", files: files, env: []string{"AWS_LAMBDA_LOG_LEVEL=INFO"}})
	expectResponse(t, api.invoke(t, invocation{ID: "lg-2"}), "lg-2", `"lazy"`)
	p.line(t, `^\[INFO\]\t`+ts+`\tlg-2\tinfo 1$`)
	if strings.Contains(p.stdout.String(), "debug") {
		t.Error("DEBUG record logged at AWS_LAMBDA_LOG_LEVEL=INFO")
	}
}

func TestPythonJSONLogs(t *testing.T) {
	api, p, _ := start(t, runtimeOpts{lang: "python", handler: "j.handler", env: []string{"AWS_LAMBDA_LOG_FORMAT=JSON"}, files: map[string]string{
		"j.py": `import logging
def handler(event, context):
    logging.getLogger("app").warning("w %s", 1, extra={"k": "v"})
    raise KeyError("x")
`,
	}})
	expectError(t, api.invoke(t, invocation{ID: "j1"}), "error", "j1", "KeyError")
	ts := `"timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`
	p.line(t, `^\{`+ts+`, "level": "WARNING", "message": "w 1", "logger": "app", "requestId": "j1", "k": "v"\}$`)
	p.line(t, `^\{"timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "level": "ERROR", "errorMessage": "'x'", "errorType": "KeyError", "requestId": "j1", "stackTrace": \[`)
}

// TestStartTimes logs how long each runtime takes from process start to its first GET next, next to
// how long the bare interpreter takes from process start to its first write on stdout from a one-line
// script (not the time to exit: node's exit alone takes tens of ms; nor node -e, which is slower).
// Informational: it asserts only that the runtimes start and answer.
func TestStartTimes(t *testing.T) {
	const runs = 7
	median := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	langs := []string{"node", "python"}
	if _, err := exec.LookPath("ruby"); err == nil {
		langs = append(langs, "ruby")
	}
	for _, lang := range langs {
		bin := interpreter(t, lang)
		script := filepath.Join(t.TempDir(), map[string]string{"node": "first.js", "python": "first.py", "ruby": "first.rb"}[lang])
		src := map[string]string{"node": "process.stdout.write('.');\n", "python": "import sys; sys.stdout.write('.')\n", "ruby": "$stdout.write('.')\n"}[lang]
		if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		bare := []string{script}
		var base, toNext, toResponse []time.Duration
		for i := 0; i < runs; i++ {
			cmd := exec.Command(bin, bare...)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := out.Read(make([]byte, 1)); err != nil {
				t.Fatalf("%s %v: %v", bin, bare, err)
			}
			base = append(base, time.Since(t0))
			_ = cmd.Wait()

			files := map[string]string{"index.js": "exports.handler = async () => 1;", "app.py": "def handler(e, c):\n    return 1\n",
				"app.rb": "def handler(event:, context:)\n  1\nend\n"}
			handler := map[string]string{"node": "index.handler", "python": "app.handler", "ruby": "app.handler"}[lang]
			api, p, _ := start(t, runtimeOpts{lang: lang, handler: handler, files: files})
			expectResponse(t, api.invoke(t, invocation{ID: "s"}), "s", "1")
			toResponse = append(toResponse, time.Since(p.started))
			toNext = append(toNext, time.Duration(api.firstNext.Load()-p.started.UnixNano()))
		}
		t.Logf("%-6s median of %d: bare interpreter to first output %v, runtime to first GET next %v (+%v), to first response %v",
			lang, runs, median(base), median(toNext), median(toNext)-median(base), median(toResponse))
	}
}
