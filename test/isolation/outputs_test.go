package isolation

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

const outputsPy = `import json

def big(event, context):
    # An answer of event['mb'] MiB: over Lambda's 6 MB limit.
    return 'x' * (event['mb'] << 20)

def split(event, context):
    # Tries to write a second response (or headers of its own) into the
    # gateway's connection through CR/LF in what it answers.
    inject = 'a\r\nSet-Cookie: injected=1\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nX-Forged: 1\r\n\r\n'
    return {
        'statusCode': 200,
        'headers': {'X-Value': inject, 'X-Name\r\nSet-Cookie: injected=2': 'v', 'X-Fine': 'ok'},
        'multiValueHeaders': {'X-Multi': ['b\r\nSet-Cookie: injected=3', 'c']},
        'body': 'own body',
    }
`

// TestOversizedAnswerIsRefusedUnbuffered: a function answering more than
// Lambda's 6 MB gets Function.ResponseSizeTooLarge, and the platform reads no
// more of it than the limit (it runs in this process: its allocations are
// the test's).
func TestOversizedAnswerIsRefusedUnbuffered(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "outputs", "  big:\n    handler: outputs.big\n    memorySize: 1024\n", map[string]string{"outputs.py": outputsPy})
	ctx := context.Background()
	call := func(mb int) *lambda.InvokeOutput {
		t.Helper()
		out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("outputs-dev-big"),
			Payload: []byte(`{"mb":` + itoa(mb) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := call(1); out.FunctionError != nil || len(out.Payload) < 1<<20 {
		t.Fatalf("a 1 MiB answer: %v, %d bytes", out.FunctionError, len(out.Payload))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls, mb = 3, 64
	for range calls {
		out := call(mb)
		var e struct{ ErrorType, ErrorMessage string }
		_ = json.Unmarshal(out.Payload, &e)
		if out.FunctionError == nil || e.ErrorType != "Function.ResponseSizeTooLarge" || !strings.Contains(e.ErrorMessage, "6291456") {
			t.Fatalf("a %d MiB answer: %v %s, want Function.ResponseSizeTooLarge", mb, aws.ToString(out.FunctionError), out.Payload)
		}
	}
	runtime.ReadMemStats(&after)
	// Everything the process allocated meanwhile (the SDK, the logs, the
	// runtime): far less than the answers, which a platform buffering them
	// would have allocated whole.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > calls*mb<<20/2 {
		t.Errorf("the process allocated %d MiB over %d answers of %d MiB: the answers were buffered", grown>>20, calls, mb)
	} else {
		t.Logf("allocated %d MiB over %d answers of %d MiB", grown>>20, calls, mb)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestFunctionCannotSplitGatewayResponses: CR/LF in the header names and
// values a function answers never reach the gateway's connection as lines of
// their own: a client (or a front proxy sharing the connection among many
// clients and services) reads exactly one response, with none of the
// function's forged headers.
func TestFunctionCannotSplitGatewayResponses(t *testing.T) {
	p := start(t, withGateway)
	deploy(t, p, "split", "  split:\n    handler: outputs.split\n    events:\n      - http:\n          path: split\n          method: get\n",
		map[string]string{"outputs.py": outputsPy})
	addr := p.Server.Gateway.Addr()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	req := "GET /dev/split HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	if _, err := io.WriteString(conn, req+req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "own body" {
			t.Errorf("response %d: %d %q, want 200 with the function's body", i, resp.StatusCode, body)
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("response %d: a forged Set-Cookie reached the client: %q", i, c)
		}
		if resp.Header.Get("X-Forged") != "" {
			t.Errorf("response %d: a forged response's header reached the client", i)
		}
		if resp.Header.Get("X-Fine") != "ok" {
			t.Errorf("response %d: X-Fine = %q, want ok", i, resp.Header.Get("X-Fine"))
		}
	}
	// Nothing more on the connection than the two answers.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if extra, _ := br.Peek(1); len(extra) > 0 {
		rest, _ := io.ReadAll(io.LimitReader(br, 512))
		t.Errorf("bytes after the answers: %q", rest)
	}
}

const hoardPy = `import os, socket, urllib.parse

held = []

def hoard(event, context):
    # Opens connections to the platform's API (which functions may reach)
    # and keeps them, in the warm instance, past the invocation.
    u = urllib.parse.urlparse(os.environ['AWS_ENDPOINT_URL'])
    for _ in range(event['n']):
        try:
            held.append(socket.create_connection((u.hostname, u.port), timeout=5))
        except OSError as e:
            return {'held': len(held), 'error': str(e)}
    out = {'held': len(held)}
    if held:
        # The last one is over the caps: the API answers it and closes it.
        try:
            held[-1].settimeout(60)
            out['last'] = held[-1].recv(200).decode(errors='replace')
        except OSError as e:
            out['last'] = str(e)
    return out
`

// TestFunctionCannotHoardTheAPIsConnections: the API caps the connections of
// each client, and every function reaches it from the host's own address,
// the operator's CLI too. A function holding more connections than the cap
// must not lock the operator (or other functions) out of the API: past the
// address's 256, each local uid has 256 of its own, and the function meets
// its cap at 512.
func TestFunctionCannotHoardTheAPIsConnections(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "hoard", "  hoard:\n    handler: outputs.hoard\n    timeout: 120\n", map[string]string{"outputs.py": hoardPy})
	got := invoke(t, p, "hoard-dev-hoard", map[string]any{"n": 600}).payload
	// The function still has a cap of its own.
	if last, _ := got["last"].(string); !strings.Contains(last, "429") {
		t.Errorf("the function's connection over the cap: %q, want a 429", last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Lambda().ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
		t.Errorf("the operator's call while a function holds connections: %v", err)
	}
	if r, err := tryInvoke(p, "hoard-dev-hoard", map[string]any{"n": 0}); err != nil || r.errType != "" {
		t.Errorf("an invoke while a function holds connections: %v %v", err, r.errType)
	}
}
