package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func TestEventV1HeaderNames(t *testing.T) {
	r := httptest.NewRequest("GET", "http://api.example/p", nil)
	r.Header.Add("X-Api-Key", "k")
	r.Header.Add("X-Two", "a")
	r.Header.Add("X-Two", "b")
	cases := []struct {
		name    string
		kind    apiKind
		names   string // recorded spellings
		headers map[string]any
	}{
		{"REST keeps the caller's spelling", kindREST, "x-api-key:HOST:",
			map[string]any{"HOST": "api.example", "x-api-key": "k", "X-Two": "b", "X-Forwarded-For": "192.0.2.1", "X-Forwarded-Port": "80", "X-Forwarded-Proto": "http"}},
		{"REST without records keeps canonical names", kindREST, "",
			map[string]any{"Host": "api.example", "X-Api-Key": "k", "X-Two": "b", "X-Forwarded-For": "192.0.2.1", "X-Forwarded-Port": "80", "X-Forwarded-Proto": "http"}},
		{"HTTP API payload 1.0 lower-cases", kindHTTP, "x-api-key:HOST:",
			map[string]any{"host": "api.example", "x-api-key": "k", "x-two": "b", "x-forwarded-for": "192.0.2.1", "x-forwarded-port": "80", "x-forwarded-proto": "http"}},
	}
	for _, tc := range cases {
		q := &request{r: r, rt: &route{kind: tc.kind, payloadV1: true, routeKey: "GET /p", pattern: "/p", api: &serviceAPI{}},
			path: "/p", rawPath: "/p", sourceIP: "192.0.2.1", port: "80", names: []byte(tc.names)}
		out := q.appendEventV1(nil)
		var ev map[string]any
		if err := json.Unmarshal(out, &ev); err != nil {
			t.Fatalf("%s: invalid JSON: %v\n%s", tc.name, err, out)
		}
		if got := ev["headers"]; !jsonEqual(got, tc.headers) {
			t.Errorf("%s: headers %v, want %v", tc.name, got, tc.headers)
		}
		mv, _ := ev["multiValueHeaders"].(map[string]any)
		for k := range tc.headers {
			if _, ok := mv[k]; !ok {
				t.Errorf("%s: multiValueHeaders lacks %q: %v", tc.name, k, mv)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestParseRequestParameters(t *testing.T) {
	cases := []struct {
		raw, path string
		want      string // "in.name,..." or an error fragment after "error:"
	}{
		{``, "/a", ""},
		{`{"parameters":{"querystrings":{"q":true,"opt":false},"headers":{"X-Tenant":true},"paths":{"id":true}}}`, "/a/{id}", "header.X-Tenant,path.id,querystring.q"},
		{`{"parameters":{"querystrings":{"a":{"required":false,"mappedValue":"x"},"b":{"mappedValue":"x"},"c":{"required":true}}}}`, "/a", "querystring.b,querystring.c"},
		{`{"parameters":{"paths":{"proxy":true}}}`, "/a/{proxy+}", "path.proxy"},
		{`{"parameters":{"cookies":{"a":true}}}`, "/a", "error:querystrings, headers or paths"},
		{`{"parameters":{"paths":{"nope":true}}}`, "/a/{id}", "error:not a parameter of the path"},
		{`{"parameters":{"querystrings":{"q":"yes"}}}`, "/a", "error:must be true, false"},
	}
	for _, tc := range cases {
		got, err := parseRequestParameters(json.RawMessage(tc.raw), tc.path)
		if want, ok := strings.CutPrefix(tc.want, "error:"); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want one containing %q", tc.raw, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		var parts []string
		for _, p := range got {
			parts = append(parts, p.in+"."+p.name)
		}
		if s := strings.Join(parts, ","); s != tc.want {
			t.Errorf("%s: required %q, want %q", tc.raw, s, tc.want)
		}
	}
}

// Two services may declare the same authorizer text; their cached decisions
// must stay apart, since the function names resolve differently.
func TestAuthorizerCacheScopedToService(t *testing.T) {
	mk := func(service string) *parsedApp {
		app := &appspec.Application{Service: service, Stage: "dev", Region: "us-east-1",
			HTTP: &appspec.HTTPSettings{HTTPAPI: json.RawMessage(`{"authorizers":{"auth":{"type":"request","functionName":"authorizer","identitySource":"$request.header.Authorization","resultTtlInSeconds":300,"enableSimpleResponses":true}}}`)},
			Functions: []appspec.Function{
				{Key: "authorizer", Name: service + "-dev-authorizer"},
				{Key: "f", Name: service + "-dev-f", Events: []appspec.Event{
					{Type: "httpApi", Properties: json.RawMessage(`{"method":"GET","path":"/` + service + `","authorizer":{"name":"auth"}}`)},
					{Type: "http", Properties: json.RawMessage(`{"method":"GET","path":"r","authorizer":{"name":"authorizer","type":"request","identitySource":"method.request.header.Authorization"}}`)},
				}},
			}}
		p, err := parseApp(app)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := mk("alpha"), mk("beta")
	for i := range a.routes {
		ka := authCacheKey(a.routes[i].auth.id, []string{"token"})
		kb := authCacheKey(b.routes[i].auth.id, []string{"token"})
		if ka == kb {
			t.Errorf("route %d: both services cache under %q", i, ka)
		}
	}
	// Values are length-prefixed: no two identities share a key.
	if authCacheKey("x", []string{"a\x00b", "c"}) == authCacheKey("x", []string{"a", "b\x00c"}) {
		t.Error("identities that differ share a cache key")
	}
}

func TestRESTRequestAuthorizerDefaultIdentity(t *testing.T) {
	cases := []struct {
		raw     string
		sources int
	}{
		{`{"name":"auth","type":"request"}`, 1},                        // cached: Authorization, as the Serverless Framework sets it
		{`{"name":"auth","type":"request","resultTtlInSeconds":0}`, 0}, // not cached: no identity source needed
		{`{"name":"auth","type":"token"}`, 1},                          // a token authorizer reads Authorization
		{`{"name":"auth","type":"request","identitySource":"method.request.querystring.k"}`, 1},
	}
	for _, tc := range cases {
		a, err := parseRESTAuthorizer(json.RawMessage(tc.raw), map[string]string{"auth": "s-dev-auth"})
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if len(a.sources) != tc.sources {
			t.Errorf("%s: %d identity sources, want %d", tc.raw, len(a.sources), tc.sources)
		}
		if tc.sources == 1 && strings.Contains(tc.raw, `"request"}`) && (!a.sources[0].inHeader || a.sources[0].name != "Authorization") {
			t.Errorf("%s: identity source %+v", tc.raw, a.sources[0])
		}
	}
}

func TestPolicyEvaluation(t *testing.T) {
	arn := "arn:aws:execute-api:us-east-1:000000000000:abc/dev/GET/items"
	cases := []struct {
		name   string
		policy string
		want   *authFailure
	}{
		{"allowed", `{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:abc/dev/*"}]}}`, nil},
		{"explicit deny wins", `{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"` + arn + `"}]}}`, errDenied},
		{"no statement allows it", `{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:abc/dev/POST/*"}]}}`, errNotAllowed},
	}
	for _, tc := range cases {
		d, err := parseAuthorizerResponse([]byte(tc.policy), false)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := d.evaluate(arn); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if !strings.Contains(errNotAllowed.body, `"User is not authorized to access this resource"`) {
		t.Errorf("implicit deny body %s", errNotAllowed.body)
	}
}

func TestCompressVary(t *testing.T) {
	big := bytes.Repeat([]byte(`{"k":"v"},`), 500)
	cases := []struct {
		name     string
		accept   string
		header   http.Header
		body     []byte
		encoding string
		vary     []string
	}{
		{"compressed", "gzip", http.Header{"Content-Type": {"application/json"}}, big, "gzip", []string{"Accept-Encoding"}},
		{"caller takes no encoding: still varies", "", http.Header{"Content-Type": {"application/json"}}, big, "", []string{"Accept-Encoding"}},
		{"existing Vary kept, not doubled", "br", http.Header{"Vary": {"Origin, accept-encoding"}}, big, "br", []string{"Origin, accept-encoding"}},
		{"too small: no Vary", "gzip", http.Header{}, []byte("{}"), "", nil},
		{"no-transform is honoured", "gzip", http.Header{"Cache-Control": {"public, no-transform"}}, big, "", nil},
		{"images are not compressed", "gzip", http.Header{"Content-Type": {"image/png"}}, big, "", nil},
	}
	var c compressors
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Encoding", tc.accept)
		}
		resp := &httpResponse{status: 200, header: tc.header, body: tc.body}
		var out bytes.Buffer
		c.compress(r, resp, DefaultCompressMin, &out)
		if got := resp.header.Get("Content-Encoding"); got != tc.encoding {
			t.Errorf("%s: Content-Encoding %q, want %q", tc.name, got, tc.encoding)
		}
		if got := resp.header["Vary"]; !jsonEqual(got, tc.vary) {
			t.Errorf("%s: Vary %q, want %q", tc.name, got, tc.vary)
		}
	}
}

func TestCORSVary(t *testing.T) {
	list, _ := parseCORS(json.RawMessage(`{"allowedOrigins":["https://a.example"]}`), false)
	star, _ := parseCORS(json.RawMessage(`true`), false)
	cases := []struct {
		name   string
		policy *corsPolicy
		origin string
		allow  string
		vary   bool
	}{
		{"listed origin", list, "https://a.example", "https://a.example", true},
		{"other origin: no headers, but varies", list, "https://b.example", "", true},
		{"no origin: varies", list, "", "", true},
		{"any origin: the answer never varies", star, "https://b.example", "*", false},
	}
	for _, tc := range cases {
		h := http.Header{}
		tc.policy.applyResponse(h, tc.origin)
		if got := h.Get("Access-Control-Allow-Origin"); got != tc.allow {
			t.Errorf("%s: allow-origin %q, want %q", tc.name, got, tc.allow)
		}
		if got := h.Get("Vary") == "Origin"; got != tc.vary {
			t.Errorf("%s: Vary %q", tc.name, h["Vary"])
		}
	}
}

func TestReadBodyBoundsPreallocation(t *testing.T) {
	cases := []struct {
		name     string
		body     io.Reader
		declared int64
		limit    int64
		want     string
		err      error
		maxCap   int
	}{
		{"a 10 MB claim with 3 bytes sent", strings.NewReader("abc"), 10 << 20, MaxBodyBytes, "abc", nil, maxBodyPrealloc},
		{"exact length, read in pieces", iotest.HalfReader(strings.NewReader("hello world")), 11, 100, "hello world", nil, 11},
		{"unknown length", iotest.OneByteReader(strings.NewReader("chunked body")), -1, 100, "chunked body", nil, 64},
		{"over the limit", strings.NewReader(strings.Repeat("x", 101)), -1, 100, "", errBodyTooLarge, 1 << 10},
		{"over the limit with an exact length", strings.NewReader(strings.Repeat("x", 101)), 100, 100, "", errBodyTooLarge, 1 << 10},
	}
	for _, tc := range cases {
		got, err := readBody(tc.body, nil, tc.declared, tc.limit)
		if err != tc.err {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && string(got) != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if cap(got) > tc.maxCap {
			t.Errorf("%s: buffer of %d bytes, want at most %d", tc.name, cap(got), tc.maxCap)
		}
	}
}
