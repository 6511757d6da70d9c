package httpguard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs a guarded server on a loopback port until the test ends.
func serve(t *testing.T, cfg Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := g.Server(h)
	go func() { _ = srv.Serve(g.Listener()) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestRefusesRequestsFromWebPages(t *testing.T) {
	var served atomic.Int32
	addr := serve(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name    string
		method  string
		host    string
		headers map[string]string
		want    int
	}{
		{"sdk", "POST", "", nil, 200},
		{"localhost name", "POST", "localhost:" + port, nil, 200},
		{"virtual host", "GET", "bucket.localhost:" + port, nil, 200},
		{"address bar", "GET", "", map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}, 200},
		{"same-origin page", "POST", "", map[string]string{"Origin": "http://" + addr, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, 200},
		{"dns rebinding", "POST", "evil.example:" + port, nil, 403},
		{"cross-origin simple post", "POST", "", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403},
		{"cross-origin get", "GET", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"opaque origin", "POST", "", map[string]string{"Origin": "null"}, 403},
		{"gateway page", "POST", "", map[string]string{"Origin": "http://localhost:8080"}, 403},
		{"cross-site without origin", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site", "GET", "", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"form post", "POST", "", map[string]string{"Sec-Fetch-Mode": "navigate"}, 403},
		{"no-cors post", "POST", "", map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Site": "same-origin"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := served.Load()
			req, err := http.NewRequest(tt.method, "http://"+addr+"/x", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 403 {
				if served.Load() != before {
					t.Error("the handler ran for a refused request")
				}
				if resp.Header.Get("X-Amzn-ErrorType") != RefusedCode || !strings.Contains(string(body), `"message":"request refused: `) {
					t.Errorf("refusal is not AWS-shaped JSON: %s %s", resp.Header, body)
				}
			}
		})
	}
}

// rawRequest opens a connection and sends the request line and headers of
// a POST announcing length bytes, then prefix of the body.
func rawRequest(t *testing.T, addr string, length int, prefix string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", addr, length, prefix)
	return c
}

// closedWithin waits for the server to answer and close c.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	data, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the connection was not closed within %s: %v (read %q)", d, err, data)
	}
	return string(data)
}

func TestStalledBodyIsCut(t *testing.T) {
	bodyErr := make(chan error, 1)
	addr := serve(t, Config{Limits: Limits{BodyTimeout: 200 * time.Millisecond}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
		http.Error(w, "slow", http.StatusRequestTimeout)
	}))
	c := rawRequest(t, addr, 6<<20, "{")
	answer := closedWithin(t, c, 20*time.Second)
	if err := <-bodyErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the handler's body read ended with %v, want a deadline error", err)
	}
	if !strings.HasPrefix(answer, "HTTP/1.1 408") {
		t.Errorf("answer %q", answer)
	}
}

func TestUnreadBodyIsCut(t *testing.T) {
	// A handler that answers without reading: net/http then discards what
	// is left of the body, which must not wait on a stalled client.
	addr := serve(t, Config{Limits: Limits{BodyTimeout: 200 * time.Millisecond}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	c := rawRequest(t, addr, 6<<20, "{")
	closedWithin(t, c, 20*time.Second)
}

func TestSteadyBodyIsNotCut(t *testing.T) {
	// The body takes several times the grace, at about ten times the
	// minimum rate.
	got := make(chan int, 1)
	addr := serve(t, Config{Limits: Limits{BodyTimeout: 300 * time.Millisecond, BodyMinRate: 1000}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
	}))
	const chunk, chunks = 500, 30
	c := rawRequest(t, addr, chunk*chunks, "")
	for range chunks {
		if _, err := c.Write([]byte(strings.Repeat("x", chunk))); err != nil {
			t.Fatalf("the upload was cut: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := <-got; n != chunk*chunks {
		t.Fatalf("the handler read %d bytes of %d", n, chunk*chunks)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("answer %v %v", resp, err)
	}
}

func TestUnreadAnswerIsCut(t *testing.T) {
	writeErr := make(chan error, 1)
	addr := serve(t, Config{Limits: Limits{WriteTimeout: 300 * time.Millisecond}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	select {
	case err := <-writeErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a client that does not read held the handler")
	}
}

func TestConnectionsPerClientAreCapped(t *testing.T) {
	addr := serve(t, Config{Limits: Limits{MaxConnsPerClient: 3}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// Each held connection is accepted before the next dial is refused:
	// a request on each one proves it.
	for _, c := range held {
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v %v", resp, err)
		}
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	answer := closedWithin(t, extra, 20*time.Second)
	if !strings.HasPrefix(answer, "HTTP/1.1 429") && answer != "" {
		t.Fatalf("a fourth connection got %q", answer)
	}
	// Once one is closed, the client may connect again.
	held[0].Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/x")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection after one was closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A stream that is quiet for longer than the write timeout (logs --tail of
// an idle function) and a handler that runs longer than it (a long
// invocation) are not cut: only a client that does not read is.
func TestQuietStreamIsNotCut(t *testing.T) {
	addr := serve(t, Config{Limits: Limits{WriteTimeout: 200 * time.Millisecond}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/silent" {
			time.Sleep(600 * time.Millisecond) // and writes nothing
			return
		}
		for i := range 3 {
			fmt.Fprintf(w, "line %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(600 * time.Millisecond)
		}
	}))
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "line 0\nline 1\nline 2\n" {
		t.Fatalf("stream cut: %q %v", body, err)
	}
	resp, err = http.Get("http://" + addr + "/silent")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a long handler's empty answer: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Permit lets the requests it names come from web pages (the server's S3
// edge); the others are refused as before, and the Host check applies to all.
func TestPermit(t *testing.T) {
	var asked atomic.Int32
	addr := serve(t, Config{Permit: func(r *http.Request) bool {
		asked.Add(1)
		return strings.HasPrefix(r.URL.Path, "/bucket/")
	}}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	_, port := splitHostPort(addr)
	for _, c := range []struct {
		path, host string
		page       bool
		want       int
	}{
		{"/bucket/key", "", true, 200},
		{"/bucket/key", "evil.example:" + port, true, 403},
		{"/2015-03-31/functions", "", true, 403},
		{"/2015-03-31/functions", "", false, 200},
	} {
		req, _ := http.NewRequest("POST", "http://"+addr+c.path, strings.NewReader("x"))
		if c.host != "" {
			req.Host = c.host
		}
		if c.page {
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("Sec-Fetch-Mode", "no-cors")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST %s (host %q, page %v): %d, want %d", c.path, c.host, c.page, resp.StatusCode, c.want)
		}
	}
	// Requests without a page's headers never ask Permit (SDK calls stay cheap).
	if n := asked.Load(); n != 2 {
		t.Errorf("Permit asked %d times, want 2", n)
	}
}

// TestClientOfSplitsAnAddress: once an address is at its cap, ClientOf
// names its further clients (the platform names the local users behind the
// host's address), and each named client has a cap of its own.
func TestClientOfSplitsAnAddress(t *testing.T) {
	var n atomic.Int32
	cfg := Config{Limits: Limits{MaxConnsPerClient: 2}, ClientOf: func(c net.Conn, ip string) string {
		if n.Add(1) <= 2 {
			return ip + " first"
		}
		return ip + " second"
	}}
	addr := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	// Two for the address, then two for each named client.
	for i := range 6 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
	}
	if got := n.Load(); got != 4 {
		t.Errorf("ClientOf called %d times, want 4 (only past the address's cap)", got)
	}
	// The next is over the second client's cap.
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if answer := closedWithin(t, extra, 20*time.Second); !strings.HasPrefix(answer, "HTTP/1.1 429") && answer != "" {
		t.Fatalf("a seventh connection got %q", answer)
	}
}
