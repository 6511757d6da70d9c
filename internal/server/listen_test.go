package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/httpguard"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const helloFunction = "hello-dev-hello"

// instances counts the live instances of a function: each invocation that
// reached the runtime left one.
func instances(p *testkit.Platform, function string) int {
	n := 0
	for _, s := range p.Runtime().Stats() {
		if s.Function == function {
			n += s.Instances
		}
	}
	return n
}

// A web page in the user's browser can neither deploy nor invoke: not with
// "simple" cross-origin requests, not through DNS rebinding, not with a
// text/plain body; the CLI's client and aws-sdk-go-v2 still work.
func TestWebPagesCannotDriveThePlatform(t *testing.T) {
	p := testkit.Start(t, nil)
	p.Deploy("examples/hello") // the CLI's client: code upload and deploy

	// What a page would deploy: a copy of hello under another name.
	app, ok := p.Registry.Service("hello")
	if !ok {
		t.Fatal("hello is not deployed")
	}
	evil := *app
	evil.Service = "evil"
	evil.Functions = append(evil.Functions[:0:0], app.Functions...)
	for i := range evil.Functions {
		evil.Functions[i].Name = "evil-dev-" + evil.Functions[i].Key
	}
	evilApp, err := json.Marshal(&evil)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(p.Addr())
	invokePath := "/2015-03-31/functions/" + helloFunction + "/invocations"

	attacks := []struct {
		name, method, path, host, contentType string
		headers                               map[string]string
		body                                  []byte
		status                                int
	}{
		{name: "cross-origin invoke", method: "POST", path: invokePath, contentType: "text/plain",
			headers: map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
			body:    []byte(`{"name":"page"}`), status: 403},
		{name: "cross-origin invoke, old browser", method: "POST", path: invokePath, contentType: "text/plain",
			headers: map[string]string{"Origin": "http://evil.example"}, body: []byte(`{}`), status: 403},
		{name: "rebound invoke", method: "POST", path: invokePath, host: "evil.example:" + port,
			contentType: "text/plain", body: []byte(`{}`), status: 403},
		{name: "cross-origin form deploy", method: "POST", path: "/nimbus/v1/services", contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Mode": "navigate"}, body: evilApp, status: 403},
		{name: "rebound deploy", method: "POST", path: "/nimbus/v1/services", host: "evil.example:" + port,
			contentType: "text/plain", body: evilApp, status: 403},
		{name: "text/plain deploy", method: "POST", path: "/nimbus/v1/services", contentType: "text/plain", body: evilApp, status: 415},
		{name: "form deploy", method: "POST", path: "/nimbus/v1/services", contentType: "application/x-www-form-urlencoded", body: evilApp, status: 415},
		{name: "text/plain code upload", method: "PUT", path: "/nimbus/v1/code/" + strings.Repeat("a", 64), contentType: "text/plain", body: []byte("PK"), status: 415},
		{name: "rebound read", method: "GET", path: "/nimbus/v1/services", host: "evil.example:" + port, status: 403},
		{name: "rebound metrics", method: "GET", path: "/metrics", host: "evil.example:" + port, status: 403},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			req, err := http.NewRequest(a.method, p.URL()+a.path, bytes.NewReader(a.body))
			if err != nil {
				t.Fatal(err)
			}
			if a.host != "" {
				req.Host = a.host
			}
			if a.contentType != "" {
				req.Header.Set("Content-Type", a.contentType)
			}
			for k, v := range a.headers {
				req.Header.Set(k, v)
			}
			// Signed with the operator's key: the refusals must come from
			// the guard and the content type, not from a missing signature.
			service := "nimbus"
			if strings.HasPrefix(a.path, "/2015-03-31/") {
				service = "lambda"
			}
			p.Sign(req, service)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != a.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, a.status, body)
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(body, &e); err != nil || e.Code == "" || e.Message == "" {
				t.Errorf("the refusal does not say why in JSON: %s", body)
			}
		})
	}

	if _, ok := p.Registry.Service("evil"); ok {
		t.Fatal("a refused deploy deployed")
	}
	if n := instances(p, helloFunction); n != 0 {
		t.Fatalf("a refused invoke ran the function (%d instances)", n)
	}

	// The same body, sent as the CLI sends it, deploys: the refusals were
	// the guard's and the content type's, not a bad application.
	req, _ := http.NewRequest("POST", p.URL()+"/nimbus/v1/services", bytes.NewReader(evilApp))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	p.Sign(req, "nimbus")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the CLI's deploy request failed: %d %s", resp.StatusCode, body)
	}

	// aws-sdk-go-v2 and the CLI's client still invoke.
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(helloFunction), Payload: []byte(`{"name":"sdk"}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("SDK invoke: %v", err)
	}
	if _, err := p.Client.Invoke(context.Background(), helloFunction, "", []byte(`{"name":"cli"}`), false); err != nil {
		t.Fatalf("CLI invoke: %v", err)
	}
	if _, err := p.Client.Services(context.Background()); err != nil {
		t.Fatalf("CLI services: %v", err)
	}

	// And the AWS CLI, where it is installed.
	if aws, err := exec.LookPath("aws"); err == nil {
		outFile := filepath.Join(t.TempDir(), "out.json")
		cmd := exec.Command(aws, "lambda", "invoke", "--endpoint-url", p.URL(), "--function-name", helloFunction, outFile)
		cmd.Env = append(os.Environ(), p.AWSEnv()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws lambda invoke: %v\n%s", err, out)
		}
		if data, _ := os.ReadFile(outFile); !strings.Contains(string(data), "Hello") {
			t.Fatalf("aws lambda invoke wrote %q", data)
		}
	}
}

// A configured name (and its subdomains) reaches the API; others do not.
// A subdomain names a bucket (virtual-host style): the S3 edge answers it.
func TestAllowedHosts(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.AllowedHosts = []string{"nimbus.test"} })
	_, port, _ := net.SplitHostPort(p.Addr())
	for host, want := range map[string]int{
		"nimbus.test:" + port:        200,
		"bucket.nimbus.test:" + port: 403, // S3: anonymous access to bucket/healthz
		"nimbus.test":                200, // behind a proxy on port 80
		"bucket.localhost:" + port:   403,
		"other.test:" + port:         403,
	} {
		req, _ := http.NewRequest("GET", p.URL()+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d (%s)", host, resp.StatusCode, want, body)
		}
		if strings.HasPrefix(host, "bucket.") {
			if !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
				t.Errorf("Host %s: not answered by S3: %s", host, body)
			}
		} else if want == 403 && !strings.Contains(string(body), "--allowed-host other.test") {
			t.Errorf("the refusal does not say how to allow the name: %s", body)
		}
	}
}

// heapInUse is the Go heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// 150 connections announcing 6 MB invoke bodies and sending one byte hold
// neither memory nor connections: the heap stays within a few MB and the
// body deadline closes them, while normal calls keep working.
func TestSlowBodyFlood(t *testing.T) {
	const conns = 150
	p := testkit.Start(t, func(c *server.Config) {
		c.APILimits = httpguard.Limits{BodyTimeout: 3 * time.Second}
	})
	p.Deploy("examples/hello")
	sdk := p.Lambda()
	ctx := context.Background()
	if _, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(helloFunction)}); err != nil {
		t.Fatal(err)
	}

	// Signed heads, as a client with a key would send them: the signature
	// check reads the body too, and must grow its buffer as bytes arrive.
	signed, _ := http.NewRequest("POST", p.URL()+"/2015-03-31/functions/"+helloFunction+"/invocations", bytes.NewReader(make([]byte, 6<<20-1)))
	signed.Header.Set("Content-Type", "application/json")
	p.Sign(signed, "lambda")
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", signed.URL.Path, p.Addr(), 6<<20-1)
	for k, vs := range signed.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, vs[0])
	}
	head.WriteString("\r\n{")

	before := heapInUse()
	var flood []net.Conn
	for range conns {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, head.String())
		flood = append(flood, c)
	}
	// Every request reached its handler (a normal call on a later connection
	// is served), which is when the buffer used to be allocated.
	start := time.Now()
	if out, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(helloFunction), Payload: []byte(`{"name":"meanwhile"}`)}); err != nil || out.FunctionError != nil {
		t.Fatalf("a normal call during the flood: %v", err)
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap growth with %d slow bodies: %.1f MB", conns, float64(grown)/(1<<20))
	if grown > 100<<20 {
		t.Errorf("the heap grew by %d MB with %d slow bodies", grown>>20, conns)
	}
	if time.Since(start) > 2*time.Second {
		t.Log("the machine is slow: the deadline may have passed before the heap was measured")
	}

	// The deadline ends every one of them (the answer, then the close).
	for i, c := range flood {
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		data, err := io.ReadAll(c)
		if err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("connection %d was not closed: %v", i, err)
		}
		if !strings.Contains(string(data), "stopped arriving") {
			t.Errorf("connection %d: the answer does not say why: %.300q", i, data)
		}
	}
}

// A malformed --allowed-host stops the start with a message naming it.
func TestBadAllowedHost(t *testing.T) {
	cfg := server.Config{
		DataDir:      t.TempDir(),
		RunDir:       t.TempDir(),
		Addr:         "127.0.0.1:0",
		NoSandbox:    true,
		AllowedHosts: []string{"http://nimbus.test/"},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, cfg)
	if err == nil {
		_ = srv.Close(ctx)
		t.Fatal("a platform started with a malformed allowed host")
	}
	if !strings.Contains(err.Error(), `"http://nimbus.test/"`) {
		t.Fatalf("the error does not name the bad entry: %v", err)
	}
}
