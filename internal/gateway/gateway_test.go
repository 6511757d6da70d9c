package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/nimbus-platform/nimbus/internal/gateway"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// call is one HTTP exchange with the gateway.
type call struct {
	status int
	header http.Header
	body   []byte
}

func (c call) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, c.body)
	}
	return m
}

// event returns the event an echo function saw.
func (c call) event(t *testing.T) map[string]any {
	t.Helper()
	if c.status != 200 {
		t.Fatalf("status %d, want 200: %s", c.status, c.body)
	}
	ev, ok := c.json(t)["event"].(map[string]any)
	if !ok {
		t.Fatalf("no event in %s", c.body)
	}
	return ev
}

var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}

func do(t *testing.T, method, url string, body []byte, headers ...string) call {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return call{resp.StatusCode, resp.Header, data}
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func expect(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// issuer is an OpenID provider for JWT tests: discovery and JWKS over HTTP.
type issuer struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "jwks_uri": is.URL + "/jwks.json"})
	})
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

func (is *issuer) token(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// platform is shared by the integration tests: starting one and deploying
// the example apps once keeps the suite fast.
type platform struct {
	*testkit.Platform
	base   string
	issuer *issuer
}

func TestGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	is := newIssuer(t)
	t.Setenv("HTTP_PYTHON_ISSUER", is.URL)
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	p.Deploy("examples/http-node")
	p.Deploy("examples/http-python")
	goDir := t.TempDir()
	data, err := os.ReadFile(testkit.Path(t, "examples/http-go/serverless.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(goDir, "serverless.yml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.BuildGo(t, "examples/http-go/cmd/events", filepath.Join(goDir, "bootstrap"))
	p.Deploy(goDir)
	pl := &platform{Platform: p, base: p.Gateway.URL(), issuer: is}

	t.Run("RESTEvent", pl.testRESTEvent)
	t.Run("OriginalHeaderCase", pl.testOriginalHeaderCase)
	t.Run("HTTPAPIEvent", pl.testHTTPEvent)
	t.Run("FunctionURL", pl.testFunctionURL)
	t.Run("ConformanceKeys", pl.testConformanceKeys)
	t.Run("GoTypesLoseNothing", pl.testGoTypes)
	t.Run("Routing", pl.testRouting)
	t.Run("Binary", pl.testBinary)
	t.Run("CORS", pl.testCORS)
	t.Run("Compression", pl.testCompression)
	t.Run("Errors", pl.testErrors)
	t.Run("APIKeys", pl.testAPIKeys)
	t.Run("RequiredParameters", pl.testRequiredParameters)
	t.Run("SlowCallers", pl.testSlowCallers)
	t.Run("JWT", pl.testJWT)
	t.Run("LambdaAuthorizer", pl.testLambdaAuthorizer)
	t.Run("RouteConflict", pl.testRouteConflict)
	t.Run("InfoAndAccessLogs", pl.testInfoAndLogs)
	t.Run("InterimStatusRefused", pl.testInterimStatusRefused)
}

func (p *platform) testRESTEvent(t *testing.T) {
	c := do(t, "GET", p.base+"/dev/users/42?name=a&name=b&solo=x%20y", nil, "X-Custom", "v1", "X-Custom", "v2", "User-Agent", "nimbus-test")
	ev := c.event(t)
	expect(t, "resource", ev["resource"], "/users/{id}")
	expect(t, "path", ev["path"], "/users/42")
	expect(t, "httpMethod", ev["httpMethod"], "GET")
	expect(t, "pathParameters", ev["pathParameters"], map[string]any{"id": "42"})
	expect(t, "queryStringParameters", ev["queryStringParameters"], map[string]any{"name": "b", "solo": "x y"})
	expect(t, "multiValueQueryStringParameters", ev["multiValueQueryStringParameters"], map[string]any{"name": []any{"a", "b"}, "solo": []any{"x y"}})
	expect(t, "headers.X-Custom", path(ev, "headers", "X-Custom"), "v2")
	expect(t, "multiValueHeaders.X-Custom", path(ev, "multiValueHeaders", "X-Custom"), []any{"v1", "v2"})
	expect(t, "headers.User-Agent", path(ev, "headers", "User-Agent"), "nimbus-test")
	expect(t, "stageVariables", ev["stageVariables"], nil)
	expect(t, "body", ev["body"], nil)
	expect(t, "isBase64Encoded", ev["isBase64Encoded"], false)
	rc := ev["requestContext"].(map[string]any)
	expect(t, "requestContext.stage", rc["stage"], "dev")
	expect(t, "requestContext.resourcePath", rc["resourcePath"], "/users/{id}")
	expect(t, "requestContext.httpMethod", rc["httpMethod"], "GET")
	expect(t, "requestContext.path", rc["path"], "/dev/users/42")
	expect(t, "requestContext.protocol", rc["protocol"], "HTTP/1.1")
	expect(t, "requestContext.identity.sourceIp", path(rc, "identity", "sourceIp"), "127.0.0.1")
	expect(t, "requestContext.identity.userAgent", path(rc, "identity", "userAgent"), "nimbus-test")
	if rc["requestId"] != c.header.Get("X-Amzn-Requestid") || rc["requestId"] == "" {
		t.Errorf("requestContext.requestId %v does not match the x-amzn-RequestId header %q", rc["requestId"], c.header.Get("X-Amzn-Requestid"))
	}
	if epoch, _ := rc["requestTimeEpoch"].(float64); time.Since(time.UnixMilli(int64(epoch))) > time.Minute {
		t.Errorf("requestTimeEpoch %v is not now", rc["requestTimeEpoch"])
	}
	if id, _ := rc["apiId"].(string); len(id) != 10 {
		t.Errorf("apiId %q", rc["apiId"])
	}
	// Response mapping: headers and multiValueHeaders.
	expect(t, "response X-Handler", c.header.Get("X-Handler"), "echo")
	expect(t, "response X-Multi", c.header.Values("X-Multi"), []string{"one", "two"})

	// A JSON body travels as text.
	c = do(t, "POST", p.base+"/dev/echo/a/b", []byte(`{"a":1}`), "Content-Type", "application/json")
	ev = c.event(t)
	expect(t, "body", ev["body"], `{"a":1}`)
	expect(t, "greedy proxy", ev["pathParameters"], map[string]any{"proxy": "a/b"})
	expect(t, "resource", ev["resource"], "/echo/{proxy+}")
}

func (p *platform) testHTTPEvent(t *testing.T) {
	c := do(t, "GET", p.base+"/v2/users/7?tag=a&tag=b&x=1", nil, "Cookie", "a=1; b=2", "X-Custom", "v1", "X-Custom", "v2")
	ev := c.event(t)
	expect(t, "version", ev["version"], "2.0")
	expect(t, "routeKey", ev["routeKey"], "GET /v2/users/{id}")
	expect(t, "rawPath", ev["rawPath"], "/v2/users/7")
	expect(t, "rawQueryString", ev["rawQueryString"], "tag=a&tag=b&x=1")
	expect(t, "cookies", ev["cookies"], []any{"a=1", "b=2"})
	expect(t, "queryStringParameters", ev["queryStringParameters"], map[string]any{"tag": "a,b", "x": "1"})
	expect(t, "pathParameters", ev["pathParameters"], map[string]any{"id": "7"})
	expect(t, "headers.x-custom", path(ev, "headers", "x-custom"), "v1,v2")
	if _, ok := path(ev, "headers").(map[string]any)["cookie"]; ok {
		t.Error("the cookie header must move to cookies")
	}
	rc := ev["requestContext"].(map[string]any)
	expect(t, "http.method", path(rc, "http", "method"), "GET")
	expect(t, "http.path", path(rc, "http", "path"), "/v2/users/7")
	expect(t, "http.protocol", path(rc, "http", "protocol"), "HTTP/1.1")
	expect(t, "http.sourceIp", path(rc, "http", "sourceIp"), "127.0.0.1")
	expect(t, "stage", rc["stage"], "$default")
	expect(t, "routeKey", rc["routeKey"], "GET /v2/users/{id}")
	expect(t, "isBase64Encoded", ev["isBase64Encoded"], false)
	if _, ok := ev["body"]; ok {
		t.Error("a request without a body must have no body field")
	}
	expect(t, "apigw-requestid", c.header.Get("Apigw-Requestid"), rc["requestId"])
	expect(t, "set-cookie", c.header.Values("Set-Cookie"), []string{"session=abc; Path=/", "theme=dark"})

	// Python: a returned dict without statusCode is a 200 JSON response.
	c = do(t, "GET", p.base+"/py/items/9?q=1", nil)
	expect(t, "status", c.status, 200)
	expect(t, "content-type", c.header.Get("Content-Type"), "application/json")
	expect(t, "python body", c.json(t), map[string]any{"id": "9", "query": map[string]any{"q": "1"}})
	c = do(t, "POST", p.base+"/py/items", []byte(`{"name":"pen"}`), "Content-Type", "application/json")
	expect(t, "status", c.status, 201)
	expect(t, "python created", c.json(t), map[string]any{"created": map[string]any{"name": "pen"}})

	// $default catches what no route matches.
	c = do(t, "DELETE", p.base+"/nothing/here", nil)
	expect(t, "$default routeKey", c.event(t)["routeKey"], "$default")
}

func (p *platform) testFunctionURL(t *testing.T) {
	name := "http-node-dev-echo"
	c := do(t, "POST", p.base+"/lambda-url/"+name+"/some/path?x=1", []byte("hi"), "Content-Type", "text/plain")
	ev := c.event(t)
	expect(t, "rawPath", ev["rawPath"], "/some/path")
	expect(t, "body", ev["body"], "hi")
	expect(t, "routeKey", ev["routeKey"], "$default")
	expect(t, "http.path", path(ev, "requestContext", "http", "path"), "/some/path")
	// By host name too.
	c = do(t, "GET", p.base+"/other", nil, "Host", name+".lambda-url.localhost")
	expect(t, "rawPath by host", c.event(t)["rawPath"], "/other")
	expect(t, "domainName", path(c.event(t), "requestContext", "domainName"), name+".lambda-url.localhost")
	// A function without a URL has none.
	c = do(t, "GET", p.base+"/lambda-url/http-node-dev-fail/", nil)
	expect(t, "no url", c.status, 404)
}

// keysOf lists the keys of a JSON object, recursively ("a.b").
func keysOf(prefix string, v any, out map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, x := range m {
		out[prefix+k] = true
		switch k {
		case "headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters", "pathParameters", "stageVariables", "claims", "lambda":
			continue // user data
		}
		keysOf(prefix+k+".", x, out)
	}
}

func (p *platform) testConformanceKeys(t *testing.T) {
	shared := testkit.Shared(t)
	load := func(name string) map[string]any {
		data, err := os.ReadFile(filepath.Join(shared, "conformance/lambda/events", name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Each event is compared with AWS's sample of its kind: every field of the
	// sample must be there, and every field nimbus sends must appear in one of
	// the samples of that kind.
	cases := []struct {
		sample string
		others []string
		got    map[string]any
	}{
		{"apigw-request.json", []string{"sam-cli/apigateway-aws-proxy.json", "apigw-restapi-openapi-request.json"},
			do(t, "POST", p.base+"/dev/echo/hello/world?name=me", []byte(`{"a":1}`), "Content-Type", "application/json").event(t)},
		{"apigw-v2-request-no-authorizer.json", []string{"apigw-v2-request-jwt-authorizer.json", "sam-cli/apigateway-http-api-proxy.json"},
			do(t, "POST", p.base+"/v2/files/hello/world?parameter1=value1&parameter1=value2", []byte(`{"a":1}`), "Content-Type", "application/json", "Cookie", "cookie1; cookie2").event(t)},
		{"lambda-urls-request.json", nil,
			do(t, "POST", p.base+"/lambda-url/http-node-dev-echo/my/path?parameter1=value1", []byte("Hello"), "Content-Type", "text/plain", "Cookie", "cookie1").event(t)},
	}
	for _, c := range cases {
		want, got, known := map[string]bool{}, map[string]bool{}, map[string]bool{}
		keysOf("", load(c.sample), want)
		keysOf("", c.got, got)
		for k := range want {
			known[k] = true
		}
		for _, o := range c.others {
			keysOf("", load(o), known)
		}
		for k := range want {
			if !got[k] && !strings.HasPrefix(k, "requestContext.identity.clientCert") &&
				!strings.HasPrefix(k, "requestContext.authentication") && !strings.HasPrefix(k, "requestContext.authorizer") {
				t.Errorf("%s: field %s is missing from the event", c.sample, k)
			}
		}
		for k := range got {
			// Function URL events carry routeKey and stage as AWS documents them.
			if !known[k] && k != "routeKey" && k != "requestContext.routeKey" && k != "requestContext.stage" &&
				k != "requestContext.identity.principalOrgId" {
				t.Errorf("%s: the event has field %s that AWS's samples lack", c.sample, k)
			}
		}
	}
}

func (p *platform) testGoTypes(t *testing.T) {
	for _, tc := range []struct {
		url     string
		decoded any
	}{
		{p.base + "/dev/go/rest/5?a=1&a=2", &events.APIGatewayProxyRequest{}},
		{p.base + "/go/http/5?a=1&a=2", &events.APIGatewayV2HTTPRequest{}},
	} {
		c := do(t, "POST", tc.url, []byte(`{"x":"y"}`), "Content-Type", "application/json", "Cookie", "c=1", "X-Multi", "1", "X-Multi", "2")
		if c.status != 200 {
			t.Fatalf("%s: %d %s", tc.url, c.status, c.body)
		}
		var ans struct {
			Raw     json.RawMessage `json:"raw"`
			Decoded json.RawMessage `json:"decoded"`
		}
		if err := json.Unmarshal(c.body, &ans); err != nil {
			t.Fatal(err)
		}
		var raw, dec map[string]any
		_ = json.Unmarshal(ans.Raw, &raw)
		_ = json.Unmarshal(ans.Decoded, &dec)
		// Every non-empty field of the event survives decoding into the Go type.
		var walk func(prefix string, r, d any)
		walk = func(prefix string, r, d any) {
			switch rv := r.(type) {
			case map[string]any:
				dv, _ := d.(map[string]any)
				for k, x := range rv {
					if x == nil || x == false || x == "" {
						continue
					}
					if prefix == "requestContext.identity." || prefix == "requestContext." && k == "authorizer" {
						// aws-lambda-go drops unset identity fields it also omits.
						if _, ok := dv[k]; !ok && x == nil {
							continue
						}
					}
					if _, ok := dv[k]; !ok {
						t.Errorf("%s: field %s%s is lost by %T", tc.url, prefix, k, tc.decoded)
						continue
					}
					walk(prefix+k+".", x, dv[k])
				}
			default:
				if !reflect.DeepEqual(r, d) {
					t.Errorf("%s: field %s = %v after decoding, was %v", tc.url, strings.TrimSuffix(prefix, "."), d, r)
				}
			}
		}
		walk("", raw, dec)
		expect(t, "response multiValueHeaders", c.header.Get("X-Runtime"), map[bool]string{true: "go", false: ""}[strings.Contains(tc.url, "/dev/")])
	}
}

func (p *platform) testRouting(t *testing.T) {
	// Static beats parameter beats greedy; ANY takes any method.
	c := do(t, "PATCH", p.base+"/v2/files/a/b/c.txt", nil)
	expect(t, "greedy", c.event(t)["pathParameters"], map[string]any{"proxy": "a/b/c.txt"})
	c = do(t, "GET", p.base+"/v2/users/a%2Fb", nil)
	expect(t, "encoded param", c.event(t)["pathParameters"], map[string]any{"id": "a/b"})
	// REST: a path outside the API answers as API Gateway does.
	c = do(t, "GET", p.base+"/dev/nowhere", nil)
	expect(t, "rest unknown status", c.status, 403)
	expect(t, "rest unknown body", string(c.body), `{"message":"Missing Authentication Token"}`)
	c = do(t, "DELETE", p.base+"/dev/users/1", nil)
	expect(t, "rest wrong method", c.status, 403)
	// Trailing slash.
	c = do(t, "GET", p.base+"/dev/users/42/", nil)
	expect(t, "trailing slash", c.status, 200)
	// Per-service host names serve only that service.
	c = do(t, "GET", p.base+"/py/items/1", nil, "Host", "http-python.localhost")
	expect(t, "service host", c.status, 200)
	c = do(t, "GET", p.base+"/v2/users/1", nil, "Host", "http-python.localhost")
	expect(t, "other service on a service host", c.status, 404)
}

func (p *platform) testBinary(t *testing.T) {
	img := make([]byte, 4096)
	_, _ = rand.Read(img)
	img[0], img[1], img[2], img[3] = 0x89, 'P', 'N', 'G'
	for _, url := range []string{p.base + "/dev/image", p.base + "/v2/image"} {
		c := do(t, "POST", url, img, "Content-Type", "image/png")
		if c.status != 200 {
			t.Fatalf("%s: %d %s", url, c.status, c.body)
		}
		if !bytes.Equal(c.body, img) {
			t.Errorf("%s: the image came back changed (%d bytes, want %d)", url, len(c.body), len(img))
		}
		expect(t, "content-type", c.header.Get("Content-Type"), "image/png")
	}
	// The event carries binary as base64.
	c := do(t, "POST", p.base+"/v2/files/x", img[:16], "Content-Type", "application/octet-stream")
	ev := c.event(t)
	expect(t, "isBase64Encoded", ev["isBase64Encoded"], true)
	expect(t, "body", ev["body"], base64.StdEncoding.EncodeToString(img[:16]))
}

func (p *platform) testCORS(t *testing.T) {
	// REST cors: true — preflight answered by the gateway.
	c := do(t, "OPTIONS", p.base+"/dev/echo/x", nil, "Origin", "https://site.example", "Access-Control-Request-Method", "POST")
	expect(t, "rest preflight status", c.status, 200)
	expect(t, "allow-origin", c.header.Get("Access-Control-Allow-Origin"), "*")
	if !strings.Contains(c.header.Get("Access-Control-Allow-Headers"), "X-Api-Key") {
		t.Errorf("allow-headers %q", c.header.Get("Access-Control-Allow-Headers"))
	}
	if !strings.Contains(c.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("allow-methods %q", c.header.Get("Access-Control-Allow-Methods"))
	}
	c = do(t, "GET", p.base+"/dev/echo/x", nil, "Origin", "https://site.example")
	expect(t, "rest response allow-origin", c.header.Get("Access-Control-Allow-Origin"), "*")

	// HTTP API detailed CORS.
	c = do(t, "OPTIONS", p.base+"/py/items", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	expect(t, "http preflight status", c.status, 204)
	expect(t, "allow-origin", c.header.Get("Access-Control-Allow-Origin"), "https://app.example.com")
	expect(t, "allow-credentials", c.header.Get("Access-Control-Allow-Credentials"), "true")
	expect(t, "max-age", c.header.Get("Access-Control-Max-Age"), "600")
	expect(t, "allow-methods", c.header.Get("Access-Control-Allow-Methods"), "GET,POST")
	expect(t, "allow-headers", c.header.Get("Access-Control-Allow-Headers"), "Content-Type,Authorization")
	c = do(t, "POST", p.base+"/py/items", []byte(`{}`), "Origin", "https://app.example.com", "Content-Type", "application/json")
	expect(t, "response allow-origin", c.header.Get("Access-Control-Allow-Origin"), "https://app.example.com")
	expect(t, "expose-headers", c.header.Get("Access-Control-Expose-Headers"), "X-Request-Count")
	c = do(t, "POST", p.base+"/py/items", []byte(`{}`), "Origin", "https://evil.example", "Content-Type", "application/json")
	expect(t, "other origin", c.header.Get("Access-Control-Allow-Origin"), "")
}

func (p *platform) testCompression(t *testing.T) {
	c := do(t, "GET", p.base+"/v2/users/1?pad=20000", nil, "Accept-Encoding", "gzip")
	expect(t, "content-encoding", c.header.Get("Content-Encoding"), "gzip")
	zr, err := gzip.NewReader(bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < 20000 || len(c.body) > len(plain)/4 {
		t.Errorf("gzip: %d bytes for %d", len(c.body), len(plain))
	}
	c = do(t, "GET", p.base+"/v2/users/1?pad=20000", nil, "Accept-Encoding", "br;q=1, gzip;q=0.5")
	expect(t, "br", c.header.Get("Content-Encoding"), "br")
	c = do(t, "GET", p.base+"/v2/users/1", nil, "Accept-Encoding", "gzip")
	if c.header.Get("Content-Encoding") != "" && len(c.body) < 1024 {
		t.Error("a small body must not be compressed")
	}
	c = do(t, "GET", p.base+"/v2/users/1?pad=20000", nil)
	expect(t, "no accept-encoding", c.header.Get("Content-Encoding"), "")
}

func (p *platform) testErrors(t *testing.T) {
	c := do(t, "GET", p.base+"/v2/fail", nil)
	expect(t, "function error status", c.status, 502)
	expect(t, "function error body", string(c.body), `{"message":"Internal server error"}`)
	c = do(t, "GET", p.base+"/dev/malformed", nil)
	expect(t, "malformed status", c.status, 502)
	// As API Gateway's execution log, the access log says why.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found string
		err := p.Client.Logs(t.Context(), gateway.AccessLogName("http-node"), "", "Malformed Lambda proxy response", false, func(r logs.Record) error {
			found = r.Message
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if found != "" {
			if !strings.HasPrefix(found, "Execution failed due to configuration error: Malformed Lambda proxy response") || !strings.Contains(found, "function http-node-dev-") {
				t.Errorf("malformed response log line %q", found)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a malformed proxy response left no reason in the access log")
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	c = do(t, "GET", p.base+"/v2/slow", nil)
	expect(t, "timeout status", c.status, 504)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("the 1 s integration timeout answered after %s", d)
	}
	big := bytes.Repeat([]byte("a"), gateway.MaxBodyBytes+1)
	c = do(t, "POST", p.base+"/v2/files/x", big, "Content-Type", "text/plain")
	expect(t, "too large status", c.status, 413)
	c = do(t, "GET", p.base+"/v2/throttled", nil)
	expect(t, "throttled status", c.status, 429)
	if c.header.Get("X-Amzn-Requestid") == "" {
		t.Error("errors carry a request id too")
	}
}

func (p *platform) testAPIKeys(t *testing.T) {
	c := do(t, "GET", p.base+"/dev/partner", nil)
	expect(t, "no key", c.status, 403)
	expect(t, "no key body", string(c.body), `{"message":"Forbidden"}`)
	c = do(t, "GET", p.base+"/dev/partner", nil, "X-Api-Key", "wrong-key-0123456789abcdef")
	expect(t, "wrong key", c.status, 403)
	ev := do(t, "GET", p.base+"/dev/partner", nil, "X-Api-Key", "partner-key-0123456789abcdef").event(t)
	expect(t, "identity.apiKey", path(ev, "requestContext", "identity", "apiKey"), "partner-key-0123456789abcdef")
	// A key declared without a value gets a derived one.
	derived := gateway.DerivedAPIKey("http-node", "dev", "internal")
	c = do(t, "GET", p.base+"/dev/partner", nil, "X-Api-Key", derived)
	expect(t, "derived key", c.status, 200)
}

func (p *platform) testJWT(t *testing.T) {
	now := time.Now()
	good := jwt.MapClaims{"iss": p.issuer.URL, "aud": "my-api", "sub": "alice", "exp": now.Add(time.Hour).Unix(), "scope": "read write", "groups": []any{"a", "b"}}
	tok := p.issuer.token(t, p.issuer.key, good)
	c := do(t, "GET", p.base+"/py/me", nil, "Authorization", "Bearer "+tok)
	if c.status != 200 {
		t.Fatalf("good token: %d %s", c.status, c.body)
	}
	body := c.json(t)
	expect(t, "sub", body["user"], "alice")
	expect(t, "claims.groups", path(body, "claims", "groups"), "[a b]")
	expect(t, "claims.aud", path(body, "claims", "aud"), "my-api")
	expect(t, "scopes", body["scopes"], []any{"read", "write"})

	refused := map[string]jwt.MapClaims{
		"expired":        {"iss": p.issuer.URL, "aud": "my-api", "sub": "alice", "exp": now.Add(-time.Minute).Unix()},
		"wrong audience": {"iss": p.issuer.URL, "aud": "other-api", "sub": "alice", "exp": now.Add(time.Hour).Unix()},
		"wrong issuer":   {"iss": "https://elsewhere.example", "aud": "my-api", "sub": "alice", "exp": now.Add(time.Hour).Unix()},
		// API Gateway reads client_id only when the token has no aud: a
		// token issued for another API to this client is not for this one.
		"audience elsewhere, client_id here": {"iss": p.issuer.URL, "aud": "other-api", "client_id": "my-api", "sub": "alice", "exp": now.Add(time.Hour).Unix()},
		"no expiry":                          {"iss": p.issuer.URL, "aud": "my-api", "sub": "alice"},
		"not valid yet":                      {"iss": p.issuer.URL, "aud": "my-api", "sub": "alice", "exp": now.Add(2 * time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()},
		"issued in the future":               {"iss": p.issuer.URL, "aud": "my-api", "sub": "alice", "exp": now.Add(2 * time.Hour).Unix(), "iat": now.Add(time.Hour).Unix()},
	}
	for name, claims := range refused {
		c := do(t, "GET", p.base+"/py/me", nil, "Authorization", "Bearer "+p.issuer.token(t, p.issuer.key, claims))
		expect(t, name, c.status, 401)
	}
	// An access token without aud is read by its client_id.
	c = do(t, "GET", p.base+"/py/me", nil, "Authorization", "Bearer "+p.issuer.token(t, p.issuer.key,
		jwt.MapClaims{"iss": p.issuer.URL, "client_id": "my-api", "sub": "alice", "exp": now.Add(time.Hour).Unix()}))
	expect(t, "client_id without aud", c.status, 200)
	// Algorithm confusion: no signature, and HMAC keyed with the RSA public key.
	unsigned := jwt.NewWithClaims(jwt.SigningMethodNone, good)
	unsigned.Header["kid"] = "k1"
	none, _ := unsigned.SignedString(jwt.UnsafeAllowNoneSignatureType)
	expect(t, "alg none", do(t, "GET", p.base+"/py/me", nil, "Authorization", "Bearer "+none).status, 401)
	pub, _ := x509.MarshalPKIXPublicKey(&p.issuer.key.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, good)
	hs.Header["kid"] = "k1"
	for _, secret := range [][]byte{pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), p.issuer.key.N.Bytes()} {
		forged, _ := hs.SignedString(secret)
		expect(t, "HS256 with the public key", do(t, "GET", p.base+"/py/me", nil, "Authorization", "Bearer "+forged).status, 401)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	c = do(t, "GET", p.base+"/py/me", nil, "Authorization", "Bearer "+p.issuer.token(t, other, good))
	expect(t, "signed by another key", c.status, 401)
	c = do(t, "GET", p.base+"/py/me", nil)
	expect(t, "no token", c.status, 401)
	expect(t, "no token body", string(c.body), `{"message":"Unauthorized"}`)
	// Scopes: the admin route needs "admin".
	c = do(t, "GET", p.base+"/py/admin", nil, "Authorization", tok)
	expect(t, "missing scope", c.status, 403)
	admin := jwt.MapClaims{"iss": p.issuer.URL, "aud": []any{"my-api"}, "sub": "root", "exp": now.Add(time.Hour).Unix(), "scope": "admin"}
	c = do(t, "GET", p.base+"/py/admin", nil, "Authorization", p.issuer.token(t, p.issuer.key, admin))
	expect(t, "admin scope", c.status, 200)
}

func (p *platform) testLambdaAuthorizer(t *testing.T) {
	// HTTP API simple responses, cached by the Authorization header.
	c := do(t, "GET", p.base+"/v2/protected", nil, "Authorization", "allow")
	ev := c.event(t)
	expect(t, "authorizer.lambda.user", path(ev, "requestContext", "authorizer", "lambda", "user"), "alice")
	first := path(ev, "requestContext", "authorizer", "lambda", "calls")
	ev = do(t, "GET", p.base+"/v2/protected", nil, "Authorization", "allow").event(t)
	expect(t, "cached decision (authorizer not called again)", path(ev, "requestContext", "authorizer", "lambda", "calls"), first)
	c = do(t, "GET", p.base+"/v2/protected", nil, "Authorization", "deny")
	expect(t, "denied", c.status, 403)
	c = do(t, "GET", p.base+"/v2/protected", nil)
	expect(t, "no identity", c.status, 401)

	// REST REQUEST authorizer with an IAM policy.
	ev = do(t, "GET", p.base+"/dev/protected", nil, "Authorization", "allow").event(t)
	expect(t, "principalId", path(ev, "requestContext", "authorizer", "principalId"), "user-1")
	expect(t, "context.user", path(ev, "requestContext", "authorizer", "user"), "bob")
	first = path(ev, "requestContext", "authorizer", "calls")
	ev = do(t, "GET", p.base+"/dev/protected", nil, "Authorization", "allow").event(t)
	expect(t, "cached policy", path(ev, "requestContext", "authorizer", "calls"), first)
	c = do(t, "GET", p.base+"/dev/protected", nil, "Authorization", "deny")
	expect(t, "explicit deny", c.status, 403)
	c = do(t, "GET", p.base+"/dev/protected", nil, "Authorization", "unauthorized")
	expect(t, "Unauthorized error", c.status, 401)
}

// testRouteConflict deploys a second service claiming a route http-node
// serves: both deploy; the shared root keeps its first owner, and the second
// answers on its own host, which its endpoints name.
func (p *platform) testRouteConflict(t *testing.T) {
	dir := t.TempDir()
	manifestText := "service: http-thief\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  steal:\n    handler: handler.echo\n    events:\n      - httpApi: 'GET /v2/users/{userId}'\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(manifestText), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte("module.exports.echo = async () => ({ statusCode: 200, body: 'thief' });\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := p.Client.Deploy(t.Context(), dir, manifest.Options{}, nil)
	if err != nil {
		t.Fatalf("a service serving a route another serves was refused: %v", err)
	}
	t.Cleanup(func() { _, _ = p.Client.Remove(context.Background(), "http-thief") })
	ev := do(t, "GET", p.base+"/v2/users/5", nil).event(t)
	expect(t, "shared root keeps the first owner", path(ev, "pathParameters", "id"), "5")
	c := do(t, "GET", p.base+"/v2/users/5", nil, "Host", "dev.http-thief.localhost")
	if c.status != 200 || string(c.body) != "thief" {
		t.Fatalf("the second service on its host: %d %s", c.status, c.body)
	}
	c = do(t, "GET", p.base+"/v2/users/5", nil, "Host", "http-thief.localhost")
	if c.status != 200 || string(c.body) != "thief" {
		t.Fatalf("the second service on its service host: %d %s", c.status, c.body)
	}
	ev = do(t, "GET", p.base+"/v2/users/6", nil, "Host", "dev.http-node.localhost").event(t)
	expect(t, "first service on its stage host", path(ev, "pathParameters", "id"), "6")
	joined := strings.Join(out.Response.Endpoints, "\n")
	if !strings.Contains(joined, "GET "+strings.Replace(p.base, "127.0.0.1", "dev.http-thief.localhost", 1)+"/v2/users/{userId}") || !strings.Contains(joined, "http-node") {
		t.Errorf("the deploy's endpoints do not say where the route is served:\n%s", joined)
	}
}

func (p *platform) testInfoAndLogs(t *testing.T) {
	services, err := p.Client.Services(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var endpoints []string
	var keys map[string]string
	for _, s := range services {
		if s.Service == "http-node" {
			endpoints, keys = s.Endpoints, s.APIKeys
		}
	}
	sort.Strings(endpoints)
	joined := strings.Join(endpoints, "\n")
	for _, want := range []string{"GET " + p.base + "/dev/users/{id}", "GET " + p.base + "/v2/users/{id}", "URL " + p.base + "/lambda-url/http-node-dev-echo/"} {
		if !strings.Contains(joined, want) {
			t.Errorf("info endpoints lack %q:\n%s", want, joined)
		}
	}
	expect(t, "api key partner", keys["partner"], "partner-key-0123456789abcdef")

	do(t, "GET", p.base+"/dev/users/77?log=1", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var lines []string
		err := p.Client.Logs(t.Context(), gateway.AccessLogName("http-node"), "", "/dev/users/77", false, func(r logs.Record) error {
			lines = append(lines, r.Message)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) > 0 {
			if !strings.Contains(lines[0], `"GET /dev/users/77?log=1 HTTP/1.1" 200`) || !strings.Contains(lines[0], "function=http-node-dev-echo") ||
				!regexp.MustCompile(` [0-9]+\.[0-9][0-9]ms requestId=`).MatchString(lines[0]) {
				t.Errorf("access log line %q", lines[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no access log line")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawExchange writes requests on one connection as raw bytes (so header names
// keep the spelling the test gives them) and reads one response per request.
func rawExchange(t *testing.T, addr string, requests ...string) []call {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	// All at once: pipelined requests must be told apart too.
	if _, err := io.WriteString(conn, strings.Join(requests, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []call
	for range requests {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, call{resp.StatusCode, resp.Header, data})
	}
	return out
}

func (p *platform) testOriginalHeaderCase(t *testing.T) {
	addr := strings.TrimPrefix(p.base, "http://")
	_, port, _ := net.SplitHostPort(addr)
	calls := rawExchange(t, addr,
		"POST /dev/echo/one HTTP/1.1\r\nhost: "+addr+"\r\nx-lower-case: a\r\nX-UPPER-CASE: b\r\nContent-type: text/plain\r\n"+
			"transfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n",
		"GET /dev/users/5 HTTP/1.1\r\nHost: "+addr+"\r\nx-second: 2\r\nX-Camel-Case: c\r\nx-twice: 1\r\nx-twice: 2\r\n\r\n",
		"GET /v2/users/5 HTTP/1.1\r\nHost: "+addr+"\r\nX-Http-Api: 1\r\n\r\n",
		"GET /dev/users/6 HTTP/1.1\r\nHost: example.com:1234\r\nContent-Length: 0\r\nx-third: 3\r\n\r\n",
	)
	cases := []struct {
		call      int
		field     string
		present   []string
		absent    []string
		wantValue map[string]any
	}{
		{0, "headers", []string{"host", "x-lower-case", "X-UPPER-CASE", "Content-type", "X-Forwarded-For"}, []string{"Host", "X-Lower-Case", "X-Upper-Case", "Content-Type"}, map[string]any{"x-lower-case": "a"}},
		{0, "multiValueHeaders", []string{"host", "x-lower-case", "X-UPPER-CASE"}, []string{"Host", "X-Lower-Case"}, map[string]any{"X-UPPER-CASE": []any{"b"}}},
		{1, "headers", []string{"Host", "x-second", "X-Camel-Case", "x-twice"}, []string{"host", "X-Second", "x-lower-case", "X-Twice"}, map[string]any{"x-twice": "2"}},
		{1, "multiValueHeaders", []string{"x-twice"}, nil, map[string]any{"x-twice": []any{"1", "2"}}},
		{2, "headers", []string{"host", "x-http-api", "x-forwarded-for"}, []string{"Host", "X-Http-Api"}, nil},
		{3, "headers", []string{"x-third"}, []string{"X-Third", "x-second"}, map[string]any{"X-Forwarded-Port": port}}, // the port connected to, not the Host header's
	}
	for _, tc := range cases {
		ev := calls[tc.call].event(t)
		h, _ := ev[tc.field].(map[string]any)
		for _, k := range tc.present {
			if _, ok := h[k]; !ok {
				t.Errorf("request %d: %s lacks %q: %v", tc.call, tc.field, k, h)
			}
		}
		for _, k := range tc.absent {
			if _, ok := h[k]; ok {
				t.Errorf("request %d: %s has %q: %v", tc.call, tc.field, k, h)
			}
		}
		for k, v := range tc.wantValue {
			expect(t, tc.field+"."+k, h[k], v)
		}
	}
	expect(t, "chunked body", calls[0].event(t)["body"], "wiki")
}

func (p *platform) testRequiredParameters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		url     string
		headers []string
		status  int
		body    string
	}{
		{"all missing", "/dev/search/books", nil, 400, `{"message":"Missing required request parameters: [X-Tenant, q]"}`},
		{"blank values are missing", "/dev/search/books?q=&page=2", []string{"X-Tenant", " "}, 400, `{"message":"Missing required request parameters: [X-Tenant, q]"}`},
		{"header in any case", "/dev/search/books", []string{"x-tenant", "acme"}, 400, `{"message":"Missing required request parameters: [q]"}`},
		{"optional ones may be left out", "/dev/search/books?q=go", []string{"X-Tenant", "acme"}, 200, ""},
		{"a repeated key counts when one value is set", "/dev/search/books?q=&q=go", []string{"X-Tenant", "acme"}, 200, ""},
	} {
		c := do(t, "GET", p.base+tc.url, nil, tc.headers...)
		expect(t, tc.name+": status", c.status, tc.status)
		if tc.body != "" {
			expect(t, tc.name+": body", string(c.body), tc.body)
			expect(t, tc.name+": error type", c.header.Get("X-Amzn-Errortype"), "BadRequestException")
		}
	}
}

func (p *platform) testSlowCallers(t *testing.T) {
	// A gateway of its own, with short limits, over the same functions.
	g := gateway.New(gateway.Config{Registry: p.Registry, Invoker: p.Invoker, HeaderReadTimeout: 300 * time.Millisecond, BodyReadTimeout: 300 * time.Millisecond})
	if err := g.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(t.Context()) })
	cases := []struct {
		name, sent string
	}{
		{"headers never finished", "GET /v2/users/1 HTTP/1.1\r\nHost: x\r\nX-Slow: "},
		{"body never finished", "POST /v2/files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part"},
	}
	for _, tc := range cases {
		conn, err := net.Dial("tcp", g.Addr())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetDeadline(start.Add(10 * time.Second))
		if _, err := io.WriteString(conn, tc.sent); err != nil {
			t.Fatal(err)
		}
		// The gateway must give up on the caller (answer and close) long
		// before the caller's own 10 s deadline.
		_, err = io.ReadAll(conn)
		conn.Close()
		if d := time.Since(start); err != nil || d > 5*time.Second {
			t.Errorf("%s: the connection stayed open %s (%v)", tc.name, d, err)
		}
	}
}
