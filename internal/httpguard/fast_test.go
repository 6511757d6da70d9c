package httpguard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveFast runs a FastServer on a loopback port until the test ends.
func serveFast(t *testing.T, cfg Config, h http.Handler) (string, *FastServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := g.Fast(h)
	go func() { _ = s.Serve() }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String(), s
}

// pathOf says which path served a request.
func pathOf(w http.ResponseWriter) string {
	if _, ok := w.(*fastWriter); ok {
		return "fast"
	}
	return "net/http"
}

// echo answers with the path that served it, the method, target and body.
func echo(served *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served != nil {
			served.Add(1)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s %s", pathOf(w), r.Method, r.RequestURI, b)
	})
}

func readAnswer(t *testing.T, br *bufio.Reader, method string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "/", nil)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading an answer's body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

// Pipelined requests on one connection are answered in order; at the first
// request the fast path does not take (a chunked body), net/http takes the
// connection over with the bytes already read, and serves every request
// after it, each once.
func TestFastPathPipeliningAndHandoff(t *testing.T) {
	var served atomic.Int32
	addr, _ := serveFast(t, Config{}, echo(&served))
	c := dial(t, addr)
	host := "Host: " + addr + "\r\n"
	all := "POST /a?x=1 HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello" +
		"GET /b HTTP/1.1\r\n" + host + "\r\n" +
		"POST /c HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"POST /d HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nok"
	// Sent in small pieces: heads and bodies are split across reads.
	go func() {
		for i := 0; i < len(all); i += 7 {
			_, _ = io.WriteString(c, all[i:min(i+7, len(all))])
			time.Sleep(time.Millisecond)
		}
	}()
	br := bufio.NewReader(c)
	want := []string{"fast POST /a?x=1 hello", "fast GET /b ", "net/http POST /c abc", "net/http POST /d ok"}
	for _, w := range want {
		if code, body := readAnswer(t, br, "POST"); code != 200 || body != w {
			t.Fatalf("answer %d %q, want 200 %q", code, body, w)
		}
	}
	if n := served.Load(); n != 4 {
		t.Fatalf("%d requests served, want 4", n)
	}
}

// Many requests on one keep-alive connection, through net/http's client.
func TestFastPathKeepAlive(t *testing.T) {
	var served atomic.Int32
	addr, _ := serveFast(t, Config{}, echo(&served))
	var conns atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		conns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for i := range 300 {
		body := strings.Repeat("x", i*37)
		resp, err := client.Post("http://"+addr+"/k", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "fast POST /k " + body; string(b) != want || resp.Header.Get("Date") == "" ||
			resp.ContentLength != int64(len(want)) {
			t.Fatalf("request %d: %q (length %d, date %q)", i, b, resp.ContentLength, resp.Header.Get("Date"))
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 300 sequential requests, want 1", n)
	}
}

// Smuggling shapes are never read by the fast path: net/http answers them
// as it always did (400, connection closed), and what hides behind them is
// never served.
func TestFastPathSmugglingShapes(t *testing.T) {
	var served atomic.Int32
	addr, _ := serveFast(t, Config{}, echo(&served))
	host := "Host: " + addr + "\r\n"
	hidden := "GET /hidden HTTP/1.1\r\n" + host + "\r\n"
	for name, req := range map[string]string{
		"two CLs":            "POST /x HTTP/1.1\r\n" + host + "Content-Length: 4\r\nContent-Length: 40\r\n\r\n" + hidden,
		"obs-fold":           "POST /x HTTP/1.1\r\n" + host + "Content-Length: 0\r\n X-Fold: y\r\n\r\n" + hidden,
		"NUL in a value":     "POST /x HTTP/1.1\r\n" + host + "X-A: a\x00b\r\nContent-Length: 0\r\n\r\n" + hidden,
		"space before colon": "POST /x HTTP/1.1\r\n" + host + "Content-Length : 4\r\n\r\n" + hidden,
		"two Hosts":          "GET /x HTTP/1.1\r\n" + host + host + "\r\n" + hidden,
		"signed CL":          "POST /x HTTP/1.1\r\n" + host + "Content-Length: +4\r\n\r\n" + hidden,
	} {
		t.Run(name, func(t *testing.T) {
			before := served.Load()
			c := dial(t, addr)
			_, _ = io.WriteString(c, req)
			data, _ := io.ReadAll(c) // net/http closes after a 400
			if !strings.HasPrefix(string(data), "HTTP/1.1 400 ") {
				t.Errorf("answer %.200q, want a 400", data)
			}
			if n := served.Load() - before; n != 0 {
				t.Errorf("%d requests served", n)
			}
		})
	}
	// Both framings: net/http reads the chunked one (and drops the length),
	// as it did before the fast path; the fast path reads neither.
	c := dial(t, addr)
	_, _ = io.WriteString(c, "POST /x HTTP/1.1\r\n"+host+"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+hidden)
	br := bufio.NewReader(c)
	for _, want := range []string{"net/http POST /x ", "net/http GET /hidden "} {
		if code, body := readAnswer(t, br, "GET"); code != 200 || body != want {
			t.Errorf("CL and TE: %d %q, want %q", code, body, want)
		}
	}

	// A head larger than the fast path reads goes to net/http's limits.
	c = dial(t, addr)
	_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\n"+host+"X-Big: "+strings.Repeat("a", 80<<10)+"\r\n\r\n")
	data, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(data), "HTTP/1.1 431 ") {
		t.Errorf("a huge head: %.200q, want a 431", data)
	}
}

// A head that does not arrive in time, and a connection idle between
// requests, are closed.
func TestFastPathSlowHeadAndIdle(t *testing.T) {
	addr, _ := serveFast(t, Config{Limits: Limits{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}}, echo(nil))
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: "+addr+"\r\n")
	if data, err := io.ReadAll(c); err != nil || len(data) != 0 {
		t.Fatalf("a slow head: %q %v, want the connection closed", data, err)
	}

	c = dial(t, addr)
	_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	br := bufio.NewReader(c)
	if code, _ := readAnswer(t, br, "GET"); code != 200 {
		t.Fatalf("answer %d", code)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("an idle connection: %v, want it closed", err)
	}
}

// A slow body is cut; a client that goes away mid-body leaves the server
// serving others, and nothing is served for it.
func TestFastPathBodies(t *testing.T) {
	var served atomic.Int32
	addr, _ := serveFast(t, Config{Limits: Limits{BodyTimeout: 300 * time.Millisecond}}, echo(&served))
	c := dial(t, addr)
	_, _ = io.WriteString(c, "POST /x HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 100\r\n\r\nabc")
	data, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(data), "HTTP/1.1 408 ") || !strings.Contains(string(data), "stopped arriving") {
		t.Errorf("a stalled body: %.200q, want a 408", data)
	}
	c = dial(t, addr)
	_, _ = io.WriteString(c, "POST /x HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 100\r\n\r\nabc")
	c.Close()
	c = dial(t, addr)
	_, _ = io.WriteString(c, "POST /y HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 2\r\n\r\nok")
	if code, body := readAnswer(t, bufio.NewReader(c), "POST"); code != 200 || body != "fast POST /y ok" {
		t.Fatalf("after a client went away: %d %q", code, body)
	}
	if n := served.Load(); n != 1 {
		t.Errorf("%d requests served, want 1", n)
	}
}

// A panicking handler closes its connection without an answer; the server
// goes on.
func TestFastPathPanic(t *testing.T) {
	addr, _ := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("handler bug")
		}
		_, _ = io.WriteString(w, "fine")
	}))
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	if data, _ := io.ReadAll(c); len(data) != 0 {
		t.Errorf("a panicking handler answered %q", data)
	}
	c = dial(t, addr)
	_, _ = io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	if code, body := readAnswer(t, bufio.NewReader(c), "GET"); code != 200 || body != "fine" {
		t.Fatalf("after a panic: %d %q", code, body)
	}
}

// A request's context ends when its client goes away while it runs.
func TestFastPathContextCancelledOnClose(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	addr, _ := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(60 * time.Second):
			ended <- nil
		}
	}))
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	<-started
	c.Close()
	if err := <-ended; err != context.Canceled {
		t.Fatalf("the context ended with %v, want Canceled", err)
	}
}

// The watch outlives the head's read deadline: a request running longer
// than HeaderTimeout is still cancelled when its client goes away.
func TestFastPathContextCancelledAfterHeaderTimeout(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	addr, _ := serveFast(t, Config{Limits: Limits{HeaderTimeout: 100 * time.Millisecond}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := r.Context().Done()
		close(started)
		select {
		case <-done:
			ended <- r.Context().Err()
		case <-time.After(60 * time.Second):
			ended <- nil
		}
	}))
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	<-started
	time.Sleep(500 * time.Millisecond) // not an assertion: the head's deadline passes first
	c.Close()
	if err := <-ended; err != context.Canceled {
		t.Fatalf("the context ended with %v, want Canceled", err)
	}
}

// A watched request whose client pipelines its next request keeps both.
func TestFastPathWatchKeepsPipelinedByte(t *testing.T) {
	addr, _ := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := r.Context().Done()
		if r.URL.Path == "/first" {
			// Wait until the watcher has had a chance at the next request's bytes.
			select {
			case <-done:
				t.Error("the first request was cancelled")
			case <-time.After(200 * time.Millisecond):
			}
		}
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /first HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // not an assertion: lets the first request start alone
	_, _ = io.WriteString(c, "GET /second HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/first", "/second"} {
		if code, body := readAnswer(t, br, "GET"); code != 200 || body != want {
			t.Fatalf("answer %d %q, want %q", code, body, want)
		}
	}
}

// Answers as net/http frames them: HEAD without a body, 204 without a
// length, streamed answers chunked, declared lengths kept.
func TestFastPathAnswers(t *testing.T) {
	addr, _ := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "42")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/stream":
			_, _ = io.WriteString(w, "one,")
			w.(http.Flusher).Flush()
			_, _ = w.Write(bytes.Repeat([]byte("x"), 100<<10))
		case "/sniff":
			_, _ = io.WriteString(w, "<html><body>hi</body></html>")
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		}
	}))
	c := dial(t, addr)
	host := "Host: " + addr + "\r\n"
	_, _ = io.WriteString(c, "HEAD /head HTTP/1.1\r\n"+host+"\r\nGET /nocontent HTTP/1.1\r\n"+host+"\r\n"+
		"GET /stream HTTP/1.1\r\n"+host+"\r\nGET /sniff HTTP/1.1\r\n"+host+"\r\nGET /close HTTP/1.1\r\n"+host+"\r\n")
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		method, path string
		check        func(*http.Response, []byte) bool
	}{
		{"HEAD", "/head", func(r *http.Response, b []byte) bool { return r.ContentLength == 42 && len(b) == 0 }},
		{"GET", "/nocontent", func(r *http.Response, b []byte) bool {
			return r.StatusCode == 204 && r.Header.Get("Content-Length") == "" && len(b) == 0
		}},
		{"GET", "/stream", func(r *http.Response, b []byte) bool {
			return len(r.TransferEncoding) == 1 && r.TransferEncoding[0] == "chunked" && len(b) == 4+100<<10
		}},
		{"GET", "/sniff", func(r *http.Response, b []byte) bool {
			return r.Header.Get("Content-Type") == "text/html; charset=utf-8"
		}},
		{"GET", "/close", func(r *http.Response, b []byte) bool { return r.Close && string(b) == "bye" }},
	} {
		req, _ := http.NewRequest(tc.method, tc.path, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || !tc.check(resp, b) {
			t.Errorf("%s: %d %v %q (%v)", tc.path, resp.StatusCode, resp.Header, b[:min(len(b), 100)], err)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close: %v, want the connection closed", err)
	}
}

// Shutdown closes idle connections and lets a running request finish.
func TestFastPathShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	addr, s := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}))
	idle := dial(t, addr)
	_, _ = io.WriteString(idle, "GET /x HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	ibr := bufio.NewReader(idle)
	readAnswer(t, ibr, "GET")
	busy := dial(t, addr)
	_, _ = io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection: %v, want it closed", err)
	}
	close(release)
	if code, body := readAnswer(t, bufio.NewReader(busy), "GET"); code != 200 || body != "done" {
		t.Errorf("the running request: %d %q", code, body)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// The fast path reads a head exactly as net/http does, or leaves it to
// net/http.
func TestFastHeadAgreesWithNetHTTP(t *testing.T) {
	for _, in := range fastHeadCorpus {
		checkFastHead(t, []byte(in))
	}
	for _, in := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	} {
		if _, ok := parseFastHead([]byte(in)); ok {
			t.Errorf("the fast path took %q", in)
		}
	}
}

var fastHeadCorpus = []string{
	"POST / HTTP/1.1\r\nHost: localhost:9000\r\nContent-Length: 12\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\r\n",
	"GET /b/k%2Fx?list-type=2&prefix=a HTTP/1.1\r\nhost: a\r\nx-amz-date: 1\r\nX-AMZ-META-a: 1\r\nx-amz-meta-a: 2\r\n\r\n",
	"DELETE /q HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\nAuthorization: AWS4-HMAC-SHA256 Credential=x, Signature=y\r\n\r\n",
	"PATCH /p HTTP/1.1\r\nHost: a\r\nEmpty:\r\nSpaces: \t v \t\r\nUtf8: h\xc3\xa9\r\n\r\n",
}

func checkFastHead(t *testing.T, in []byte) {
	end := bytes.Index(in, []byte("\r\n\r\n"))
	if end < 0 {
		return
	}
	h, ok := parseFastHead(in[:end+4])
	if !ok {
		return
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
	if err != nil {
		t.Fatalf("the fast path took %q, net/http refuses it: %v", in, err)
	}
	if r.Method != h.method || r.RequestURI != h.target || r.URL.String() != h.url.String() ||
		r.URL.RawPath != h.url.RawPath || r.Host != h.host || r.ContentLength != h.contentLength ||
		r.Close != h.close || !reflect.DeepEqual(r.Header, h.header) {
		t.Fatalf("%q read differently:\nnet/http %s %s %q %d %v %v\nfast     %s %s %q %d %v %v", in,
			r.Method, r.RequestURI, r.Host, r.ContentLength, r.Close, r.Header,
			h.method, h.target, h.host, h.contentLength, h.close, h.header)
	}
}

// go test -run XXX -fuzz FuzzFastHead ./internal/httpguard
func FuzzFastHead(f *testing.F) {
	for _, in := range fastHeadCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkFastHead(t, in) })
}

// TestFastPathContextTakesOneValue: the request's context takes one value
// before the handler (auth's principal), refuses a second, and each request
// starts without one; the body serves its bytes whole until it is read.
func TestFastPathContextTakesOneValue(t *testing.T) {
	type key struct{}
	type setter interface{ SetRequestValue(k, v any) bool }
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := r.Context().(setter)
		if !ok {
			http.Error(w, "context takes no value", 500)
			return
		}
		before := r.Context().Value(key{})
		first := s.SetRequestValue(key{}, r.URL.Path)
		second := s.SetRequestValue(key{}, "other")
		var whole string
		if wb, ok := r.Body.(interface{ WholeBody() ([]byte, bool) }); ok {
			if b, ok := wb.WholeBody(); ok {
				whole = string(b)
			}
		}
		read, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%v %v %v %v %q %q", before, first, second, r.Context().Value(key{}), whole, read)
	})
	addr, _ := serveFast(t, Config{}, h)
	client := &http.Client{Timeout: 60 * time.Second}
	for _, path := range []string{"/a", "/b"} {
		resp, err := client.Post("http://"+addr+path, "text/plain", strings.NewReader("body"+path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("<nil> true false %s %q %q", path, "body"+path, "body"+path); string(b) != want {
			t.Fatalf("%s: %q, want %q", path, b, want)
		}
	}
}
