package gateway_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// A function answering statusCode 101 made the gateway write "101 Switching
// Protocols" to a request carrying Upgrade: a proxy in front then tunnels the
// connection, and what the client sends next bypasses the proxy's rules.
// 100-199 wrote an interim answer with the function's headers before a 200.
func (p *platform) testInterimStatusRefused(t *testing.T) {
	u, err := neturl.Parse(p.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"100", "101", "103", "199"} {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		req := "GET /dev/echo/x?status=" + status + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
			"GET /dev/echo/y HTTP/1.1\r\nHost: x\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("status %s: %v", status, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("a function answering statusCode %s: the gateway answered %d, want 502", status, resp.StatusCode)
		}
		// The next request on the connection is answered as a request of its own.
		if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("status %s: the request after it: %v %v", status, resp, err)
		} else {
			resp.Body.Close()
		}
		c.Close()
	}
}

const corsApp = `service: corsstar
provider:
  name: aws
  runtime: nodejs20.x
  httpApi:
    cors:
      allowedOrigins: ['*']
      allowCredentials: true
functions:
  api:
    handler: handler.h
    url:
      cors:
        allowedOrigins: ['*']
        allowCredentials: true
    events:
      - http:
          path: rest
          method: get
          cors:
            origin: '*'
            allowCredentials: true
      - httpApi:
          path: /v2
          method: get
`

// CORS allowing any origin with credentials made the gateway reflect every
// Origin (null included) with Access-Control-Allow-Credentials: any site
// could read answers made with the caller's cookies. AWS answers "*", which
// browsers refuse with credentials.
func TestCORSWildcardNeverReflectsTheOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": corsApp,
		"handler.js": "exports.h = async () => ({statusCode: 200, body: 'the caller\\'s data'});\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	base := p.Gateway.URL()
	for _, path := range []string{"/dev/rest", "/v2", "/lambda-url/corsstar-dev-api/"} {
		for _, origin := range []string{"https://evil.example", "null"} {
			pre := do(t, "OPTIONS", base+path, nil, "Origin", origin, "Access-Control-Request-Method", "GET")
			got := do(t, "GET", base+path, nil, "Origin", origin, "Cookie", "session=1")
			if got.status != 200 {
				t.Fatalf("GET %s: %d %s", path, got.status, got.body)
			}
			for what, c := range map[string]call{"preflight": pre, "answer": got} {
				if v := c.header.Get("Access-Control-Allow-Origin"); v != "" && v != "*" {
					t.Errorf("%s of %s from %s: Access-Control-Allow-Origin %q (credentials %q), want *", what, path, origin,
						v, c.header.Get("Access-Control-Allow-Credentials"))
				}
			}
		}
	}
}

const tenantApp = `service: tenants
provider:
  name: aws
  runtime: nodejs20.x
functions:
  tenantAuth:
    handler: handler.auth
  api:
    handler: handler.api
    events:
      - http:
          path: tenant
          method: get
          authorizer:
            name: tenantAuth
            type: request
            identitySource: method.request.header.X-Tenant
            resultTtlInSeconds: 300
      - http:
          path: token
          method: get
          authorizer:
            name: tokenAuth
  tokenAuth:
    handler: handler.token
`

const tenantHandler = `exports.auth = async (event) => ({
  principalId: 'caller',
  policyDocument: {Version: '2012-10-17', Statement: [{Action: 'execute-api:Invoke',
    Effect: event.headers['X-Tenant'] === 'mine' ? 'Allow' : 'Deny', Resource: event.methodArn}]},
});
exports.token = async (event) => ({
  principalId: 'caller',
  policyDocument: {Version: '2012-10-17', Statement: [{Action: 'execute-api:Invoke',
    Effect: event.authorizationToken === 'good' ? 'Allow' : 'Deny', Resource: event.methodArn}]},
});
exports.api = async (event) => ({statusCode: 200,
  body: 'data of tenant ' + event.headers['X-Tenant'] + ' for ' + event.headers['Authorization']});
`

// A cached authorizer decision was keyed by the identity header's first
// value while the authorizer's event (payload 1.0 headers) carries the last:
// a request with X-Tenant: victim and X-Tenant: mine was allowed for "mine"
// and cached under "victim", and the next request naming only the victim
// was let in without asking the authorizer.
func TestAuthorizerCacheKeysEveryValueOfTheIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": tenantApp, "handler.js": tenantHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	url := p.Gateway.URL() + "/dev/tenant"
	if c := do(t, "GET", url, nil, "X-Tenant", "mine"); c.status != 200 {
		t.Fatalf("own tenant: %d %s", c.status, c.body)
	}
	if c := do(t, "GET", url, nil, "X-Tenant", "victim"); c.status != 403 {
		t.Fatalf("other tenant: %d %s", c.status, c.body)
	}
	// Poison: two values, the authorizer judges the last.
	do(t, "GET", url, nil, "X-Tenant", "victim2", "X-Tenant", "mine")
	if c := do(t, "GET", url, nil, "X-Tenant", "victim2"); c.status != 403 {
		t.Fatalf("after a request naming two tenants, the first alone: %d %s", c.status, c.body)
	}

	// A token authorizer judges the first Authorization value, the function
	// reads the last: a repeated identity header is refused.
	url = p.Gateway.URL() + "/dev/token"
	if c := do(t, "GET", url, nil, "Authorization", "good"); c.status != 200 {
		t.Fatalf("good token: %d %s", c.status, c.body)
	}
	if c := do(t, "GET", url, nil, "Authorization", "good", "Authorization", "forged"); c.status != 401 {
		t.Fatalf("a good token followed by a forged one: %d %s", c.status, c.body)
	}
}

const prefixApp = `service: prefixes
provider:
  name: aws
  runtime: nodejs20.x
functions:
  prefixAuth:
    handler: handler.auth
  app:
    handler: handler.app
    events:
      - http:
          path: '{proxy+}'
          method: get
          authorizer:
            name: prefixAuth
            resultTtlInSeconds: 0
`

// The authorizer allows the public part of an app served by one greedy
// route; the app, like most web frameworks, resolves dot segments itself.
const prefixHandler = `exports.auth = async (event) => {
  const base = event.methodArn.split('/').slice(0, 2).join('/');
  return {principalId: 'anyone', policyDocument: {Version: '2012-10-17', Statement: [{Action: 'execute-api:Invoke',
    Effect: 'Allow', Resource: base + '/GET/public/*'}]}};
};
exports.app = async (event) => ({statusCode: 200, body: require('path').posix.normalize(event.path)});
`

// A method ARN is built from the decoded path: /public/../admin (or
// %2e%2e, or ..%2f) matched a policy allowing GET/public/*, and the app
// behind the greedy route served /admin.
func TestDotSegmentsDoNotPassPathPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": prefixApp, "handler.js": prefixHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	base := p.Gateway.URL() + "/dev"
	if c := do(t, "GET", base+"/public/page", nil, "Authorization", "x"); c.status != 200 || string(c.body) != "/public/page" {
		t.Fatalf("public page: %d %s", c.status, c.body)
	}
	if c := do(t, "GET", base+"/admin", nil, "Authorization", "x"); c.status != 403 {
		t.Fatalf("admin page: %d %s", c.status, c.body)
	}
	for _, path := range []string{"/public/../admin", "/public/%2e%2e/admin", "/public/..%2fadmin", "/public/%2E%2E%2Fadmin", "/public/./../admin"} {
		c := do(t, "GET", base+path, nil, "Authorization", "x")
		if c.status == 200 || bytes.Contains(c.body, []byte("/admin")) {
			t.Errorf("GET %s: %d %s", path, c.status, c.body)
		}
	}
}
