package isolation

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const echoPy = `import json

def echo(event, context):
    return {'statusCode': 200, 'body': json.dumps({
        'body': event.get('body'), 'headers': event.get('headers') or {},
        'multiValueHeaders': event.get('multiValueHeaders') or {}})}
`

// answer is one response read off a raw connection.
type answer struct {
	status int
	event  map[string]any // the echo's, for 200s
	raw    string
}

// exchange writes stream on one connection to the gateway and reads the
// answers until the gateway closes the connection or answers the request
// carrying "X-Next: 1" (the last of every stream). The connection is not
// half-closed: net/http cancels a request whose connection reads EOF.
func exchange(t *testing.T, addr, stream string) []answer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(conn, stream); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []answer
	for {
		resp, err := http.ReadResponse(br, nil)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return out
		}
		if err != nil {
			t.Fatalf("read answer %d: %v", len(out)+1, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		a := answer{status: resp.StatusCode, raw: string(data)}
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(data, &a.event); err != nil {
				t.Fatalf("answer %d: %v: %s", len(out)+1, err, data)
			}
		}
		out = append(out, a)
		if h, _ := a.event["headers"].(map[string]any); h["X-Next"] == "1" {
			return out
		}
	}
}

// headerNames lists an event's header names, as the function saw them.
func headerNames(ev map[string]any) []string {
	h, _ := ev["headers"].(map[string]any)
	var names []string
	for k := range h {
		names = append(names, k)
	}
	return names
}

// TestGatewayFramesRequestsAsOneServer: an unauthenticated client sends the
// classic smuggling shapes on one connection to the HTTP gateway. The
// gateway is the last hop (it turns requests into events and forwards to no
// HTTP server), so the question is whether an event ever carries bytes or
// headers of another request: each shape is either refused or framed by the
// RFC 9112 rules, each event has exactly its own request's body and headers,
// and framing headers never reach a function.
func TestGatewayFramesRequestsAsOneServer(t *testing.T) {
	p := start(t, withGateway)
	deploy(t, p, "smuggle", "  echo:\n    handler: echo.echo\n    events:\n      - http:\n          path: echo\n          method: any\n",
		map[string]string{"echo.py": echoPy})
	addr := p.Server.Gateway.Addr()
	host := "Host: " + addr + "\r\n"
	// A request the body of another one hides; if it ever became an event
	// of its own, or its header reached one, the framing was split.
	hidden := "GET /dev/echo HTTP/1.1\r\n" + host + "x-SMUGGLED: 1\r\n\r\n"
	next := "GET /dev/echo HTTP/1.1\r\n" + host + "X-Smuggled: 2\r\nX-Next: 1\r\n\r\n"

	t.Run("pipelined requests keep their own bodies and headers", func(t *testing.T) {
		var stream string
		for i := range 3 {
			body := "body-" + strconv.Itoa(i)
			stream += "POST /dev/echo HTTP/1.1\r\n" + host + "X-Next: " + strconv.Itoa(i/2) + "\r\nX-Index: " + strconv.Itoa(i) + "\r\nContent-Length: " +
				strconv.Itoa(len(body)) + "\r\n\r\n" + body
		}
		got := exchange(t, addr, stream)
		if len(got) != 3 {
			t.Fatalf("%d answers, want 3", len(got))
		}
		for i, a := range got {
			h, _ := a.event["headers"].(map[string]any)
			if a.status != 200 || a.event["body"] != "body-"+strconv.Itoa(i) || h["X-Index"] != strconv.Itoa(i) {
				t.Errorf("request %d: %d body %v headers %v: %s", i, a.status, a.event["body"], h, a.raw)
			}
		}
	})

	// Each shape, then a plain request on the same connection.
	shapes := []struct {
		name string
		head string // the framing headers of the first request
		body string
		// wantStatus of the first answer; 200 means framed, and then the
		// body its event must carry.
		wantStatus int
		wantBody   string
	}{
		{"CL.TE: chunked wins, the length is ignored", "Content-Length: " + strconv.Itoa(5+len(hidden)) + "\r\nTransfer-Encoding: chunked\r\n",
			"0\r\n\r\n" + hidden, 200, ""},
		{"TE.CL: chunked wins", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
			strconv.FormatInt(int64(len(hidden)), 16) + "\r\n" + hidden + "\r\n0\r\n\r\n", 200, hidden},
		{"two different lengths", "Content-Length: 0\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n", hidden, 400, ""},
		{"a length list", "Content-Length: 0, " + strconv.Itoa(len(hidden)) + "\r\n", hidden, 400, ""},
		{"chunked, identity", "Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n" + hidden, 501, ""},
		{"identity", "Transfer-Encoding: identity\r\nContent-Length: 0\r\n", hidden, 501, ""},
		{"two transfer codings", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + hidden, 501, ""},
		{"a space before the colon", "Transfer-Encoding : chunked\r\nContent-Length: 0\r\n", "0\r\n\r\n" + hidden, 400, ""},
		{"a folded length", "Content-Length:\r\n " + strconv.Itoa(len(hidden)) + "\r\n", hidden, 200, hidden},
		{"a folded transfer coding", "Transfer-Encoding:\r\n chunked\r\n",
			strconv.FormatInt(int64(len(hidden)), 16) + "\r\n" + hidden + "\r\n0\r\n\r\n", 200, hidden},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			got := exchange(t, addr, "POST /dev/echo HTTP/1.1\r\n"+host+s.head+"\r\n"+s.body+next)
			if len(got) == 0 {
				t.Fatal("no answer")
			}
			if got[0].status != s.wantStatus {
				t.Fatalf("first answer %d, want %d", got[0].status, s.wantStatus)
			}
			want := any(s.wantBody)
			if s.wantBody == "" {
				want = nil // an empty body is null in the event, as in API Gateway's
			}
			if s.wantStatus == 200 && got[0].event["body"] != want {
				t.Errorf("first event's body %q, want %q", got[0].event["body"], s.wantBody)
			}
			for i, a := range got {
				for _, name := range headerNames(a.event) {
					switch strings.ToLower(name) {
					case "transfer-encoding":
						t.Errorf("answer %d: a framing header reached the function: %s", i, name)
					}
					if name == "x-SMUGGLED" {
						t.Errorf("answer %d: the hidden request's header name reached an event: %v", i, headerNames(a.event))
					}
				}
				if a.event != nil && i > 0 {
					h, _ := a.event["headers"].(map[string]any)
					if h["X-Next"] != "1" {
						t.Errorf("answer %d is not the plain request's: %v", i, h)
					}
				}
			}
			if s.wantStatus != 200 && len(got) > 1 {
				t.Errorf("after a refused request the connection served %d more", len(got)-1)
			}
			if strings.HasPrefix(s.name, "CL.TE") || strings.HasPrefix(s.name, "TE.CL") {
				// RFC 9112 6.3: after a request with both, the server closes.
				if len(got) != 1 {
					t.Errorf("after a request with both a length and chunked, %d answers, want 1 (the connection closed)", len(got))
				}
			}
		})
	}
}
