package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/console"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// xss is markup a log line or an output may carry: the console must show
// it as text.
const xss = `<img src=x onerror="document.title='pwned'">`

// clock is the console's clock, moved by tests to expire links and sessions.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// echoApp is a service whose function logs and returns the event's message.
func echoApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"serverless.yml": `service: cons
provider:
  name: aws
  runtime: nodejs20.x
  memorySize: 256
functions:
  echo:
    handler: handler.echo
    events:
      - httpApi: GET /echo
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: cons-jobs
    Items:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: cons-items
        AttributeDefinitions:
          - {AttributeName: id, AttributeType: S}
        KeySchema:
          - {AttributeName: id, KeyType: HASH}
        BillingMode: PAY_PER_REQUEST
`,
		"handler.js": `exports.echo = async (event) => {
  console.log("message: " + (event.message || ""));
  return {echoed: event.message || ""};
};
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const echoFn = "cons-dev-echo"

// start runs a platform with the echo service deployed and a console clock
// the test moves.
func start(t *testing.T) (*testkit.Platform, *clock) {
	t.Helper()
	c := &clock{}
	p := testkit.Start(t, func(cfg *server.Config) { cfg.Console.Now = c.Now })
	p.Deploy(echoApp(t))
	return p, c
}

// browser is what a page of the console sends: its cookie, token and Origin.
type browser struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
	token  string
	origin string
}

func newBrowser(t *testing.T, p *testkit.Platform) *browser {
	return &browser{t: t, base: p.URL(), origin: p.URL()}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path, ctype string, body []byte, prepare ...func(*http.Request)) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if method != http.MethodGet && b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	if b.token != "" {
		req.Header.Set(console.TokenHeader, b.token)
	}
	for _, f := range prepare {
		f(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// login posts a sign-in request and keeps the session it gets.
func (b *browser) login(req console.LoginRequest) answer {
	b.t.Helper()
	body, _ := json.Marshal(req)
	a := b.do(http.MethodPost, "/console/api/login", "application/json", body)
	if a.status == http.StatusOK {
		var lr console.LoginResponse
		if err := json.Unmarshal([]byte(a.body), &lr); err != nil || lr.Token == "" {
			b.t.Fatalf("sign-in answer %q: %v", a.body, err)
		}
		b.token = lr.Token
		resp := http.Response{Header: a.header}
		for _, c := range resp.Cookies() {
			if strings.HasPrefix(c.Name, "nimbus_console") {
				b.cookie = c
			}
		}
		if b.cookie == nil {
			b.t.Fatalf("sign-in set no session cookie: %v", a.header)
		}
	}
	return a
}

func link(t *testing.T, p *testkit.Platform) string {
	t.Helper()
	l, err := p.Client.ConsoleLink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, token, ok := strings.Cut(l.URL, "/console/login#token=")
	if !ok || !strings.HasPrefix(l.URL, p.URL()) || len(token) < 40 {
		t.Fatalf("sign-in link %q: want %s/console/login#token=...", l.URL, p.URL())
	}
	return token
}

func functions(t *testing.T, b *browser) []console.Function {
	t.Helper()
	a := b.do(http.MethodGet, "/console/api/functions", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("functions: %d %s", a.status, a.body)
	}
	var out []console.Function
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConsole signs in with a one-time link from the CLI's client and reads
// what the pages show: the deployed function with its figures, its logs
// (markup kept as data), an invocation from the console, the resources.
func TestConsole(t *testing.T) {
	p, _ := start(t)
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(echoFn),
		Payload: []byte(`{"message":` + quote(xss) + `}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke: %v", err)
	}

	b := newBrowser(t, p)
	token := link(t, p)
	if a := b.login(console.LoginRequest{Token: token}); a.status != http.StatusOK {
		t.Fatalf("sign-in with the link: %d %s", a.status, a.body)
	}
	c := b.cookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console" || c.Secure || c.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console, an expiry, not Secure over plain HTTP", c)
	}
	// Behind a TLS proxy the page's origin is https: the cookie is Secure.
	tls := newBrowser(t, p)
	tls.origin = strings.Replace(p.URL(), "http://", "https://", 1)
	if a := tls.login(console.LoginRequest{Token: link(t, p)}); a.status != http.StatusOK || !tls.cookie.Secure {
		t.Errorf("sign-in from an https page: %d, cookie %+v; want 200 and a Secure cookie", a.status, tls.cookie)
	}
	// Used once: the same link signs nobody in again.
	if a := newBrowser(t, p).login(console.LoginRequest{Token: token}); a.status != http.StatusUnauthorized {
		t.Errorf("the link used a second time: %d %s, want 401", a.status, a.body)
	}

	// The invocation's figures are recorded as it ends, which may be a moment
	// after its answer reached the caller: wait for them.
	var fn console.Function
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, f := range functions(t, b) {
			if f.Name == echoFn {
				fn = f
			}
		}
		if fn.Invocations > 0 && fn.BilledGBSecs > 0 || time.Now().After(deadline) {
			break
		}
	}
	if fn.Name == "" || fn.Service != "cons" || fn.Stage != "dev" || fn.Runtime != "nodejs20.x" || fn.MemoryMB != 256 ||
		fn.LastDeploy.IsZero() || fn.Invocations != 1 || fn.Errors != 0 || fn.P50Ms == nil || fn.P99Ms == nil || fn.BilledGBSecs <= 0 {
		t.Errorf("function row %+v: want cons/dev nodejs20.x 256 MB, 1 invocation, durations and GB-seconds", fn)
	}

	// The log line with markup: found, and JSON-escaped on the wire.
	var page console.LogPage
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := b.do(http.MethodGet, "/console/api/functions/"+echoFn+"/logs", "", nil)
		if a.status != http.StatusOK {
			t.Fatalf("logs: %d %s", a.status, a.body)
		}
		if strings.Contains(a.body, "<img") {
			t.Errorf("the logs answer carries raw markup: %.300s", a.body)
		}
		if err := json.Unmarshal([]byte(a.body), &page); err != nil {
			t.Fatal(err)
		}
		if hasLine(page, "message: "+xss) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the function's log line never showed: %+v", page.Records)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Polling after the last record answers only newer ones.
	next := b.do(http.MethodGet, "/console/api/functions/"+echoFn+"/logs?since="+page.Next.Format(time.RFC3339Nano), "", nil)
	var after console.LogPage
	if err := json.Unmarshal([]byte(next.body), &after); err != nil || hasLine(after, "message: "+xss) {
		t.Errorf("a poll since %s repeated old lines: %s %v", page.Next, next.body, err)
	}

	// Invoke from the console.
	a := b.do(http.MethodPost, "/console/api/functions/"+echoFn+"/invoke", "application/json", []byte(`{"message":"from the console"}`))
	var res console.InvokeResult
	if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &res) != nil || !strings.Contains(res.Payload, `"echoed":"from the console"`) ||
		res.RequestID == "" || !strings.Contains(res.LogTail, "REPORT RequestId: "+res.RequestID) {
		t.Errorf("invoke from the console: %d %s", a.status, a.body)
	}
	deadline = time.Now().Add(30 * time.Second)
	for f := functions(t, b); ; f = functions(t, b) {
		if n := invocations(f, echoFn); n == 2 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("invocations after the console's invoke: %v, want 2", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a := b.do(http.MethodPost, "/console/api/functions/"+echoFn+"/invoke", "application/json", []byte(`{"message":`)); a.status != http.StatusBadRequest {
		t.Errorf("invoke with a payload that is not JSON: %d %s, want 400", a.status, a.body)
	}
	if a := b.do(http.MethodPost, "/console/api/functions/nope/invoke", "application/json", []byte(`{}`)); a.status != http.StatusNotFound {
		t.Errorf("invoke of a function that does not exist: %d %s, want 404", a.status, a.body)
	}

	// Resources: a queue with one message, the table, the route.
	q := sqs.NewFromConfig(p.AWSConfig())
	url, err := q.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("cons-jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("job")}); err != nil {
		t.Fatal(err)
	}
	// The depth is the consumer's count: polled, not assumed at once.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		a = b.do(http.MethodGet, "/console/api/resources", "", nil)
		var inv console.Inventory
		if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &inv) != nil {
			t.Fatalf("resources: %d %s", a.status, a.body)
		}
		if slices.Contains(inv.Queues, console.Queue{Name: "cons-jobs", Visible: 1}) && slices.Contains(inv.Tables, "cons-items") &&
			slices.ContainsFunc(inv.Routes, func(r console.Route) bool {
				return r.Service == "cons" && r.Stage == "dev" && strings.Contains(r.Endpoint, "GET") && strings.Contains(r.Endpoint, "/echo")
			}) && inv.Buckets != nil && inv.StateMachines != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resources %s: want the queue cons-jobs with 1 visible message, the table cons-items and the route GET /echo", a.body)
		}
	}

	// Every answer carries the security headers, pages included.
	for _, path := range []string{"/console/", "/console/login", "/console/static/app.js", "/console/api/functions"} {
		a := b.do(http.MethodGet, path, "", nil)
		h := a.header
		csp := h.Get("Content-Security-Policy")
		if a.status != http.StatusOK || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			strings.Contains(csp, "unsafe-inline") || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s: %d, headers %v", path, a.status, h)
		}
	}
	// The pages hold no secret and no data: a cookie alone reads nothing.
	for _, path := range []string{"/console/", "/console/login"} {
		if a := b.do(http.MethodGet, path, "", nil); strings.Contains(a.body, b.token) || strings.Contains(a.body, echoFn) ||
			strings.Contains(a.body, "<script>") || strings.Contains(a.body, " style=") {
			t.Errorf("GET %s shows the session's token, data or inline script/style", path)
		}
	}

	// Signing out ends the session.
	if a := b.do(http.MethodPost, "/console/api/logout", "application/json", []byte(`{}`)); a.status != http.StatusOK {
		t.Errorf("sign out: %d %s", a.status, a.body)
	}
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("after signing out: %d, want 401", a.status)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func hasLine(page console.LogPage, line string) bool {
	for _, r := range page.Records {
		if strings.Contains(r.Message, line) {
			return true
		}
	}
	return false
}

func invocations(list []console.Function, name string) float64 {
	for _, f := range list {
		if f.Name == name {
			return f.Invocations
		}
	}
	return -1
}

// TestConsoleAttacks tries what a web page, a function or a thief would:
// requests without the session's two halves, forged and expired cookies,
// another origin's posts, function credentials at the sign-in, reused
// and expired links, a revoked key's session.
func TestConsoleAttacks(t *testing.T) {
	p, clk := start(t)
	b := newBrowser(t, p)
	if a := b.login(console.LoginRequest{Token: link(t, p)}); a.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", a.status, a.body)
	}
	invokePath := "/console/api/functions/" + echoFn + "/invoke"
	count := func() float64 { return invocations(functions(t, b), echoFn) }

	// Missing halves and forgeries.
	cases := []struct {
		name   string
		cookie *http.Cookie
		token  string
	}{
		{"no cookie, no token", nil, ""},
		{"the cookie without the token (what a gateway page could receive)", b.cookie, ""},
		{"the token without the cookie", nil, b.token},
		{"a forged cookie", &http.Cookie{Name: b.cookie.Name, Value: strings.Repeat("A", len(b.cookie.Value))}, b.token},
		{"a wrong token", b.cookie, strings.Repeat("A", len(b.token))},
	}
	for _, c := range cases {
		x := &browser{t: t, base: b.base, origin: b.origin, cookie: c.cookie, token: c.token}
		for _, req := range [][3]string{{"GET", "/console/api/functions", ""}, {"GET", "/console/api/functions/" + echoFn + "/logs", ""},
			{"GET", "/console/api/resources", ""}, {"POST", invokePath, `{}`}} {
			if a := x.do(req[0], req[1], "application/json", []byte(req[2])); a.status != http.StatusUnauthorized {
				t.Errorf("%s: %s %s answered %d %s, want 401", c.name, req[0], req[1], a.status, a.body)
			}
		}
	}

	// Cross-site request forgery: the session's cookie and token, but
	// another origin, no Origin, or a form's content type.
	forged := []struct {
		name    string
		origin  string
		ctype   string
		prepare func(*http.Request)
	}{
		{"another origin", "http://evil.example", "application/json", nil},
		{"the gateway's origin", "http://127.0.0.1:1", "application/json", nil},
		{"the listener's host on another scheme's default port", "https://127.0.0.1", "application/json", nil},
		{"Origin null", "null", "application/json", nil},
		{"no Origin", "", "application/json", nil},
		{"a form post", b.origin, "application/x-www-form-urlencoded", nil},
		{"a text/plain post", b.origin, "text/plain", nil},
		{"a cross-site fetch", b.origin, "application/json", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
	}
	for _, f := range forged {
		x := &browser{t: t, base: b.base, origin: f.origin, cookie: b.cookie, token: b.token}
		var prep []func(*http.Request)
		if f.prepare != nil {
			prep = append(prep, f.prepare)
		}
		if a := x.do(http.MethodPost, invokePath, f.ctype, []byte(`{"message":"forged"}`), prep...); a.status < 400 || a.status == http.StatusNotFound {
			t.Errorf("%s: invoke answered %d %s, want a refusal", f.name, a.status, a.body)
		}
		if a := x.do(http.MethodPost, "/console/api/login", f.ctype, []byte(`{"token":"x"}`), prep...); a.status != http.StatusForbidden &&
			a.status != http.StatusUnsupportedMediaType {
			t.Errorf("%s: sign-in answered %d %s, want 403 or 415", f.name, a.status, a.body)
		}
	}
	// A GET of the API from another site's page.
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }); a.status != http.StatusForbidden {
		t.Errorf("a same-site page reading the API: %d, want 403", a.status)
	}
	if n := count(); n != 0 {
		t.Errorf("forged requests invoked the function %v times", n)
	}

	// A function's credentials cannot sign in, neither as a key nor by
	// asking for a link.
	fc, err := p.Auth.FunctionCredentials(echoFn, "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	if a := newBrowser(t, p).login(console.LoginRequest{AccessKeyID: fc.AccessKeyID, SecretAccessKey: fc.SecretAccessKey}); a.status != http.StatusUnauthorized {
		t.Errorf("sign-in with a function's credentials: %d %s, want 401", a.status, a.body)
	}
	req, _ := http.NewRequest(http.MethodPost, p.URL()+console.LinkPath, nil)
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: fc.AccessKeyID, SecretAccessKey: fc.SecretAccessKey, SessionToken: fc.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "nimbus", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "#token=") {
		t.Errorf("a sign-in link asked with a function's credentials: %d %s, want 403", resp.StatusCode, body)
	}
	// Unsigned.
	if resp, err := http.Post(p.URL()+console.LinkPath, "application/json", nil); err != nil || resp.StatusCode < 400 {
		t.Errorf("an unsigned request for a sign-in link: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A wrong secret for the administrator's key.
	if a := newBrowser(t, p).login(console.LoginRequest{AccessKeyID: p.AdminKey.AccessKeyID, SecretAccessKey: strings.Repeat("x", 40)}); a.status != http.StatusUnauthorized {
		t.Errorf("sign-in with a wrong secret: %d, want 401", a.status)
	}

	// A link past its lifetime.
	stale := link(t, p)
	clk.Advance(console.DefaultLinkTTL + time.Second)
	if a := newBrowser(t, p).login(console.LoginRequest{Token: stale}); a.status != http.StatusUnauthorized {
		t.Errorf("an expired link: %d, want 401", a.status)
	}

	// An operator key signs in; revoking the key ends its session.
	k, err := p.Client.CreateKey(context.Background(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	ops := newBrowser(t, p)
	if a := ops.login(console.LoginRequest{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}); a.status != http.StatusOK {
		t.Fatalf("sign-in with an operator key: %d %s", a.status, a.body)
	}
	if a := ops.do(http.MethodGet, "/console/api/functions", "", nil); a.status != http.StatusOK {
		t.Errorf("an operator key's session: %d", a.status)
	}
	if err := p.Client.RevokeKey(context.Background(), k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if a := ops.do(http.MethodGet, "/console/api/functions", "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("the session of a revoked key: %d, want 401", a.status)
	}

	// A session past its lifetime.
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil); a.status != http.StatusOK {
		t.Fatalf("the link's session before it expires: %d", a.status)
	}
	clk.Advance(console.DefaultSessionTTL)
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("an expired session: %d, want 401", a.status)
	}
}

// TestFunctionNamesCarryNoMarkup: names are shown on the pages; the deploy
// refuses one with markup (the pages would show it as text anyway).
func TestFunctionNamesCarryNoMarkup(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	yml := "service: cons\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  echo:\n    name: " + quote(xss) + "\n    handler: handler.echo\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte("exports.echo = async () => 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err == nil {
		t.Fatal("a function named with markup was deployed")
	}
	if fns := p.Registry.List(); len(fns) != 0 {
		t.Errorf("functions after the refused deploy: %d", len(fns))
	}
}

// TestObjectsOnTheConsoleOriginAreSandboxed: an object served path-style
// on the API listener (the console's origin), signed, presigned or public,
// must not run as a page of that origin, where it could read the console's
// token and send its cookie.
func TestObjectsOnTheConsoleOriginAreSandboxed(t *testing.T) {
	p := testkit.Start(t, nil)
	s3 := func(method, path, body string, sign bool, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if sign {
			sum := sha256.Sum256([]byte(body))
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			p.Sign(req, "s3")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := s3(http.MethodPut, "/pages", "", true); r.StatusCode != http.StatusOK {
		t.Fatalf("create bucket: %d", r.StatusCode)
	}
	page := `<script>fetch("/console/api/functions")</script>`
	if r := s3(http.MethodPut, "/pages/evil.html", page, true, "Content-Type", "text/html", "X-Amz-Acl", "public-read"); r.StatusCode != http.StatusOK {
		t.Fatalf("put object: %d", r.StatusCode)
	}
	for _, c := range []struct {
		name string
		sign bool
	}{{"signed", true}, {"public, unsigned", false}} {
		r := s3(http.MethodGet, "/pages/evil.html", "", c.sign)
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Security-Policy") != "sandbox" {
			t.Errorf("%s GET of an HTML object on the API origin: %d, CSP %q; want 200 with sandbox", c.name, r.StatusCode, r.Header.Get("Content-Security-Policy"))
		}
	}
}
