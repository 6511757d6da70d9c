package httpguard

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Headers set after WriteHeader, or after the first Write, are not sent,
// on either path; those set before are.
func TestHeadersAfterWriteHeaderDropped(t *testing.T) {
	addr, _ := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		w.Header().Set("X-Path", pathOf(w))
		if r.URL.Path == "/write" {
			_, _ = io.WriteString(w, "body")
		} else {
			w.WriteHeader(201)
		}
		w.Header().Set("X-After", "1")
		w.Header().Set("Content-Type", "application/x-late")
		_, _ = io.WriteString(w, "!")
	}))
	for _, c := range []struct{ path, proto string }{{"/header", "HTTP/1.1"}, {"/write", "HTTP/1.1"}, {"/header", "HTTP/1.0"}} {
		conn := dial(t, addr)
		_, _ = io.WriteString(conn, "GET "+c.path+" "+c.proto+"\r\nHost: "+addr+"\r\n\r\n")
		req, _ := http.NewRequest("GET", c.path, nil)
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.Header.Get("X-Before") != "1" || resp.Header.Get("X-After") != "" || resp.Header.Get("Content-Type") == "application/x-late" {
			t.Errorf("%s %s (%s path): headers %v", c.path, c.proto, resp.Header.Get("X-Path"), resp.Header)
		}
		want := "fast"
		if c.proto == "HTTP/1.0" {
			want = "net/http" // HTTP/1.0 always goes to net/http (ADR 0034)
		}
		if got := resp.Header.Get("X-Path"); got != want {
			t.Errorf("%s %s served by %s, want %s", c.path, c.proto, got, want)
		}
	}
}

// The fast path's request context carries what net/http's does: the server
// and the local address the connection came in on.
func TestFastPathContextValues(t *testing.T) {
	type seen struct {
		path   string
		server bool
		local  string
	}
	got := make(chan seen, 2)
	addr, _ := serveFast(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		s := seen{path: pathOf(w), server: srv != nil}
		if local != nil {
			s.local = local.String()
		}
		got <- s
	}))
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		conn := dial(t, addr)
		_, _ = io.WriteString(conn, "GET / "+proto+"\r\nHost: "+addr+"\r\n\r\n")
		s := <-got
		conn.Close()
		if !s.server || s.local != addr {
			t.Errorf("%s (%s path): server in context %v, local address %q; want true, %q", proto, s.path, s.server, s.local, addr)
		}
	}
}

// syncBuffer is a log's output, written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A handler's panic is logged at Error with its stack, once per interval
// however often it recurs; every panicking request is still closed
// unanswered.
func TestFastPathPanicLogRateLimited(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr, _ := serveFast(t, Config{Logger: log}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("handler bug")
	}))
	start := time.Now()
	for range 20 {
		c := dial(t, addr)
		_, _ = io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		if data, _ := io.ReadAll(c); len(data) != 0 {
			t.Fatalf("a panicking handler answered %q", data)
		}
		c.Close()
	}
	logged := strings.Count(out.String(), "http: panic serving")
	// One per interval begun while the requests ran.
	if most := 1 + int(time.Since(start)/panicLogEvery); logged < 1 || logged > most {
		t.Errorf("20 panics logged %d times, want 1 to %d", logged, most)
	}
	if !strings.Contains(out.String(), "level=ERROR") || !strings.Contains(out.String(), "stack=") {
		t.Errorf("the panic was not logged at Error with its stack:\n%s", out.String())
	}
}
