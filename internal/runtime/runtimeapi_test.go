package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// apiTestServer serves the Runtime API of an instance without a process:
// the test plays the runtime over real TCP and the invoking side through the
// instance's work channel.
func apiTestServer(t *testing.T) (*instance, string) {
	t.Helper()
	m, _ := newManager(t, nil)
	spec := &Spec{FunctionName: "raw", Version: "$LATEST", ARN: "arn:aws:lambda:us-east-1:000000000000:function:raw", Timeout: 3 * time.Second, MemoryMB: 128}
	inst := &instance{pool: &Pool{m: m, spec: spec}, id: "test", work: make(chan *call), exited: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst.ln = ln
	inst.api = newAPIServer(inst, ln)
	go inst.api.serve()
	t.Cleanup(inst.api.close)
	return inst, ln.Addr().String()
}

func dialAPI(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(body)
}

// offer hands a call to the runtime's waiting next, as Invoke does.
func offer(t *testing.T, inst *instance, inv *Invocation) *call {
	t.Helper()
	c := &call{inv: inv, done: make(chan outcome, 1)}
	select {
	case inst.work <- c:
	case <-time.After(30 * time.Second):
		t.Fatal("no next took the call")
	}
	return c
}

func TestRuntimeAPIServerExchange(t *testing.T) {
	inst, addr := apiTestServer(t)
	conn, br := dialAPI(t, addr)

	// next: the caller's trace id carries a line break, which must not become a header.
	if _, err := io.WriteString(conn, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("e"), apiInlineBody+1000)
	offer(t, inst, &Invocation{RequestID: "r1", Payload: big, TraceID: "Root=1\r\nX-Evil: 1"})
	resp, body := readResponse(t, br)
	if resp.StatusCode != 200 || body != string(big) || resp.Header.Get("Lambda-Runtime-Aws-Request-Id") != "r1" ||
		resp.Header.Get("Lambda-Runtime-Trace-Id") != "Root=1  X-Evil: 1" || resp.Header.Get("X-Evil") != "" ||
		resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn") != inst.pool.spec.ARN || resp.Header.Get("Lambda-Runtime-Deadline-Ms") == "" {
		t.Fatalf("next: %d %v (body %d bytes)", resp.StatusCode, resp.Header, len(body))
	}

	// The error, chunked, after 100 Continue, its type in a trailer; the
	// same connection then carries the next request.
	c := inst.current.Load()
	if _, err := io.WriteString(conn, "POST /2018-06-01/runtime/invocation/r1/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("before the body: %q %v", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue ends with %q", blank)
	}
	if _, err := io.WriteString(conn, "5;ext=1\r\nnot j\r\n4\r\nson!\r\n0\r\nLambda-Runtime-Function-Error-Type: Custom.Trailer\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, body = readResponse(t, br)
	if resp.StatusCode != 202 || body != `{"status":"OK"}` || resp.Close {
		t.Fatalf("error answer: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	out := <-c.done
	if !out.isError || out.errorType != "Custom.Trailer" || string(out.payload) != "not json!" {
		t.Fatalf("outcome %+v %q", out, out.payload)
	}

	// Two requests in one write are answered in order.
	if _, err := io.WriteString(conn, "POST /nowhere HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"+
		"POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1\r\nContent-Length: 1\r\n\r\n1"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := readResponse(t, br); resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	if resp, body := readResponse(t, br); resp.StatusCode != 400 || !strings.Contains(body, "InvalidRequestID") {
		t.Fatalf("answer to a finished invocation: %d %s", resp.StatusCode, body)
	}
}

// A runtime that gives up a connection waiting in next and asks again on
// another gets the event on the new one.
func TestRuntimeAPIServerNextOnClosedConnection(t *testing.T) {
	inst, addr := apiTestServer(t)
	const next = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
	for i := range 3 {
		old, _ := dialAPI(t, addr)
		if _, err := io.WriteString(old, next); err != nil {
			t.Fatal(err)
		}
		conn, br := dialAPI(t, addr)
		if _, err := io.WriteString(conn, next); err != nil {
			t.Fatal(err)
		}
		old.Close()
		id := fmt.Sprintf("r%d", i)
		c := offer(t, inst, &Invocation{RequestID: id, Payload: []byte(`{}`)})
		resp, _ := readResponse(t, br)
		if got := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); got != id {
			t.Fatalf("the open connection got %q, want %q", got, id)
		}
		if _, err := io.WriteString(conn, "POST /2018-06-01/runtime/invocation/"+id+"/response HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			t.Fatal(err)
		}
		if resp, _ := readResponse(t, br); resp.StatusCode != 202 {
			t.Fatalf("answer: %d", resp.StatusCode)
		}
		if out := <-c.done; string(out.payload) != "ok" {
			t.Fatalf("outcome %q", out.payload)
		}
		conn.Close()
	}
}

func TestRuntimeAPIServerRefusesMalformedRequests(t *testing.T) {
	_, addr := apiTestServer(t)
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"header without colon", "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nBad Header\r\n\r\n", 400},
		{"folded header", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},
		{"both framings", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
		{"signed length", "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400},
		{"other coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
		{"bad chunk size", "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"long line", "GET /" + strings.Repeat("a", apiReadBuffer) + " HTTP/1.1\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", apiMaxHeaders+1) + "\r\n", 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, br := dialAPI(t, addr)
			if _, err := io.WriteString(conn, tc.req); err != nil {
				t.Fatal(err)
			}
			resp, _ := readResponse(t, br)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Fatalf("answered %d (close=%v), want %d and the connection closed", resp.StatusCode, resp.Close, tc.status)
			}
			if n, err := br.ReadByte(); err == nil {
				t.Fatalf("the connection goes on after a malformed request: %q", n)
			}
		})
	}
}

// FuzzRuntimeAPIRequest feeds arbitrary bytes to the request parser. It must
// not panic, must honour the body's framing, and where net/http also reads
// the first request it must read the same method, path and body.
func FuzzRuntimeAPIRequest(f *testing.F) {
	for _, s := range []string{
		"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"POST /2018-06-01/runtime/invocation/abc/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nLambda-Runtime-Function-Error-Type: T\r\n\r\n",
		"POST /x?q=1 HTTP/1.0\nContent-Length: 0\n\nGET / HTTP/1.1\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nConnection: keep-alive, close\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &apiReader{br: bufio.NewReaderSize(bytes.NewReader(data), apiReadBuffer)}
		for i := 0; i < 4; i++ {
			if err := r.readRequest(); err != nil {
				return
			}
			method, path := string(r.req.method), string(r.req.path)
			cl, chunked := r.req.contentLength, r.req.chunked
			body, tooLarge, err := r.readBody(1 << 16)
			if err != nil || tooLarge {
				return
			}
			if !chunked && cl >= 0 && int64(len(body)) != cl {
				t.Fatalf("Content-Length %d, body of %d bytes", cl, len(body))
			}
			if i > 0 {
				continue
			}
			want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
			if err != nil {
				continue
			}
			wantBody, err := io.ReadAll(want.Body)
			if err != nil {
				continue
			}
			wantPath, _, _ := strings.Cut(want.RequestURI, "?")
			if method != want.Method || path != wantPath || !bytes.Equal(body, wantBody) {
				t.Fatalf("read %s %s %q; net/http read %s %s %q", method, path, body, want.Method, wantPath, wantBody)
			}
		}
	})
}
