package gateway

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func testRouter(t *testing.T, routes ...string) *router {
	t.Helper()
	api := &serviceAPI{service: "s", stage: "dev"}
	rt := &router{}
	for _, spec := range routes {
		r := &route{kind: kindHTTP, api: api}
		if spec == "$default" {
			r.method, r.routeKey = "ANY", "$default"
		} else {
			m, p, _ := strings.Cut(spec, " ")
			r.method, r.pattern, r.routeKey = m, p, spec
		}
		if prev := rt.add(r); prev != nil {
			t.Fatalf("%s conflicts with %s", spec, prev.routeKey)
		}
	}
	return rt
}

func TestRouterSpecificity(t *testing.T) {
	rt := testRouter(t,
		"GET /users/me", "GET /users/{id}", "ANY /users/{id}", "GET /users/{id}/posts/{post}",
		"ANY /files/{proxy+}", "GET /files/readme", "GET /", "POST /users/{id}/x", "GET /users/me/settings")
	cases := []struct {
		method, path, want string
		params             string
	}{
		{"GET", "/users/me", "GET /users/me", ""},
		{"GET", "/users/42", "GET /users/{id}", "id=42"},
		{"DELETE", "/users/42", "ANY /users/{id}", "id=42"},
		{"GET", "/users/7/posts/9", "GET /users/{id}/posts/{post}", "id=7,post=9"},
		{"POST", "/users/me/x", "POST /users/{id}/x", "id=me"}, // static "me" leads nowhere: backtrack
		{"GET", "/users/me/settings", "GET /users/me/settings", ""},
		{"GET", "/files/readme", "GET /files/readme", ""},
		{"GET", "/files/a/b/c", "ANY /files/{proxy+}", "proxy=a/b/c"},
		{"PUT", "/files/readme", "ANY /files/{proxy+}", "proxy=readme"},
		{"GET", "/", "GET /", ""},
		{"GET", "/files", "", ""}, // a greedy parameter needs at least one segment
		{"GET", "/nope", "", ""},
	}
	for _, c := range cases {
		var ps params
		r, _ := rt.match(c.method, c.path, &ps, true)
		got := ""
		if r != nil {
			got = r.routeKey
		}
		if got != c.want {
			t.Errorf("%s %s matched %q, want %q", c.method, c.path, got, c.want)
			continue
		}
		var parts []string
		for _, p := range ps.slice() {
			parts = append(parts, p.name+"="+p.value)
		}
		if strings.Join(parts, ",") != c.params {
			t.Errorf("%s %s params %v, want %s", c.method, c.path, parts, c.params)
		}
	}
}

func TestRouterDefaultAndManyStatics(t *testing.T) {
	routes := []string{"$default"}
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"} {
		routes = append(routes, "GET /"+s+"/{id}")
	}
	rt := testRouter(t, routes...)
	var ps params
	if r, _ := rt.match("GET", "/k/1", &ps, true); r == nil || r.routeKey != "GET /k/{id}" {
		t.Errorf("static map lookup: %v", r)
	}
	if r, _ := rt.match("GET", "/zz", &ps, true); r == nil || r.routeKey != "$default" {
		t.Errorf("$default: %v", r)
	}
	if r, _ := rt.match("GET", "/zz", &ps, false); r != nil {
		t.Errorf("without $default: %v", r)
	}
}

func TestRouterMatchAllocatesNothing(t *testing.T) {
	rt := testRouter(t, "GET /users/{id}/posts/{post}", "ANY /files/{proxy+}")
	var ps params
	allocs := testing.AllocsPerRun(100, func() {
		rt.match("GET", "/users/1/posts/2", &ps, true)
		rt.match("GET", "/files/a/b", &ps, true)
	})
	if allocs != 0 {
		t.Errorf("match allocates %.0f times", allocs)
	}
}

func TestParseAppErrors(t *testing.T) {
	ev := func(typ, props string) appspec.Event {
		return appspec.Event{Type: typ, Properties: json.RawMessage(props)}
	}
	cases := []struct {
		name   string
		events []appspec.Event
		want   string
	}{
		{"bad method", []appspec.Event{ev("http", `{"path":"x","method":"fetch"}`)}, "method \"fetch\""},
		{"greedy not last", []appspec.Event{ev("httpApi", `"GET /a/{p+}/b"`)}, "must be the last segment"},
		{"unknown authorizer", []appspec.Event{ev("httpApi", `{"method":"GET","path":"/a","authorizer":{"name":"nope"}}`)}, "not declared"},
		{"private without keys", []appspec.Event{ev("http", `{"path":"a","method":"get","private":true}`)}, "apiKeys"},
		{"same route twice", []appspec.Event{ev("httpApi", `"GET /a/{x}"`), ev("httpApi", `"GET /a/{y}"`)}, "declared by function"},
		{"non-proxy integration", []appspec.Event{ev("http", `{"path":"a","method":"get","integration":"lambda"}`)}, "lambda-proxy"},
		{"reserved prefix", []appspec.Event{ev("httpApi", `"GET /lambda-url/x"`)}, "reserved"},
	}
	for _, c := range cases {
		app := &appspec.Application{Service: "s", Stage: "dev", Region: "us-east-1", Functions: []appspec.Function{{Key: "f", Name: "s-dev-f", Events: c.events}}}
		_, err := parseApp(app)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestCheckDeployAllowsRoutesOthersServe(t *testing.T) {
	mk := func(service, route string) appspec.Application {
		return appspec.Application{Service: service, Stage: "dev", Region: "us-east-1", Functions: []appspec.Function{{
			Key: "fn", Name: service + "-fn", Events: []appspec.Event{{Type: "httpApi", Properties: json.RawMessage(`"` + route + `"`)}},
		}}}
	}
	a, b := mk("alpha", "GET /items/{id}"), mk("beta", "GET /items/{itemId}")
	if err := CheckDeploy(&b, []appspec.Application{a}); err != nil {
		t.Fatalf("a route another service serves is refused: %v", err)
	}
	bad := mk("gamma", "GET /lambda-url/x")
	if err := CheckDeploy(&bad, []appspec.Application{a}); err == nil {
		t.Fatal("an invalid route is accepted")
	}
}

func TestEventV2QueryAndCookies(t *testing.T) {
	r := httptest.NewRequest("GET", "http://api.example/p?a=1&a=2&b=x%20y", nil)
	r.Header.Add("Cookie", "c1=v1; c2=v2")
	r.Header.Add("X-Two", "a")
	r.Header.Add("X-Two", "b")
	q := &request{r: r, rt: &route{kind: kindHTTP, routeKey: "$default", api: &serviceAPI{}}, path: "/p", rawPath: "/p", sourceIP: "192.0.2.1", port: "80"}
	q.query = parseQuery(nil, r.URL.RawQuery)
	var ev map[string]any
	out := q.appendEventV2(nil)
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	qs := ev["queryStringParameters"].(map[string]any)
	if qs["a"] != "1,2" || qs["b"] != "x y" {
		t.Errorf("query %v", qs)
	}
	if c := ev["cookies"].([]any); len(c) != 2 || c[1] != "c2=v2" {
		t.Errorf("cookies %v", c)
	}
	h := ev["headers"].(map[string]any)
	if h["x-two"] != "a,b" || h["x-forwarded-for"] != "192.0.2.1" {
		t.Errorf("headers %v", h)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"plain", "quote\" back\\slash", "ctl\x01\n\t", "utf8 é 😀", "bad \xff byte", "\u2028"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q round-trips to %q, want %q", s, back, wantBack)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	arn := "arn:aws:execute-api:eu-west-1:000000000000:abc/dev/GET/users/1"
	for pattern, want := range map[string]bool{
		"*": true, "arn:aws:execute-api:eu-west-1:000000000000:abc/*": true, "arn:aws:execute-api:*:*:abc/dev/GET/users/?": true,
		"arn:aws:execute-api:eu-west-1:000000000000:abc/dev/POST/*": false, arn: true, arn + "x": false,
	} {
		if globMatch(pattern, arn) != want {
			t.Errorf("globMatch(%q) = %v, want %v", pattern, !want, want)
		}
	}
}
