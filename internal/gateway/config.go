package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// API kinds decide the event shape and the error bodies.
type apiKind uint8

const (
	kindREST apiKind = iota + 1 // `http` events: API Gateway REST API, payload 1.0, under the stage
	kindHTTP                    // `httpApi` events: HTTP API, payload 2.0 (or 1.0 if provider.httpApi.payload says so)
	kindURL                     // `url: true`: a function URL, payload 2.0
)

func (k apiKind) String() string {
	switch k {
	case kindREST:
		return "http"
	case kindHTTP:
		return "httpApi"
	default:
		return "url"
	}
}

// DefaultIntegrationTimeout is API Gateway's integration timeout.
const DefaultIntegrationTimeout = 29 * time.Second

// maxIntegrationTimeout bounds per-route timeouts (Lambda's own maximum).
const maxIntegrationTimeout = 900 * time.Second

// route is one endpoint: a method and path bound to a function.
type route struct {
	kind     apiKind
	api      *serviceAPI
	function string // deployed name
	key      string // function key in the manifest
	method   string // upper case, or "ANY"
	// pattern is the route's path as API Gateway knows it ("/users/{id}"), ""
	// for the $default route; resource in payload 1.0.
	pattern  string
	routeKey string // "GET /users/{id}", "ANY /{proxy+}", "$default"
	// payloadV1 is true for REST APIs and HTTP APIs set to payload 1.0.
	payloadV1 bool
	private   bool
	cors      *corsPolicy
	timeout   time.Duration
	auth      *authorizer
	scopes    []string // JWT scopes the route requires (any one)
	// iam is set on a function URL whose authorizer is aws_iam: callers
	// sign with SigV4 and need lambda:InvokeFunctionUrl.
	iam bool
	// events is set on a route whose integration puts the request on an
	// event bus instead of invoking a function (webhook.go).
	events *eventRoute
	// machine is set on a route whose integration starts a state machine
	// (machine.go).
	machine *machineRoute
	// required are the request parameters a REST route requires
	// (request.parameters marked true), checked as API Gateway's request
	// validator does.
	required []requiredParam
}

// requiredParam is one required request parameter of a REST route.
type requiredParam struct {
	in   string // "header", "querystring" or "path", as in method.request.<in>.<name>
	name string
}

// serviceAPI holds what a service's routes share.
type serviceAPI struct {
	service, stage, region string
	accessLog              string // AccessLogName(service), made once
	restID, httpID         string // API ids, stable per service and stage
	apiKeys                map[string]apiKey
	binaryMediaTypes       []string
	// compressMin overrides the gateway's minimum size for REST routes
	// (provider.apiGateway.minimumCompressionSize); -1 when unset.
	compressMin int
	httpCORS    *corsPolicy
	authorizers map[string]*authorizer // provider.httpApi.authorizers by name
	httpPayload string                 // "2.0" or "1.0"
}

type apiKey struct{ name, id, value string }

// parsedApp is an application's gateway configuration.
type parsedApp struct {
	api    *serviceAPI
	routes []*route // REST and HTTP API routes
	urls   []*route // function URLs
}

// apiGatewaySettings is provider.apiGateway.
type apiGatewaySettings struct {
	APIKeys                []json.RawMessage `json:"apiKeys"`
	BinaryMediaTypes       []string          `json:"binaryMediaTypes"`
	MinimumCompressionSize *int              `json:"minimumCompressionSize"`
}

// httpAPISettings is provider.httpApi.
type httpAPISettings struct {
	CORS        json.RawMessage            `json:"cors"`
	Authorizers map[string]json.RawMessage `json:"authorizers"`
	Payload     string                     `json:"payload"`
}

// parseApp reads the gateway configuration of app. Every problem is reported
// (joined), so a deploy says all that is wrong at once.
func parseApp(app *appspec.Application) (*parsedApp, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	api := &serviceAPI{
		service: app.Service, stage: app.Stage, region: app.Region, accessLog: AccessLogName(app.Service),
		restID: apiID("rest", app.Service, app.Stage), httpID: apiID("http", app.Service, app.Stage),
		compressMin: -1, httpPayload: "2.0",
	}
	names := map[string]string{} // function key -> deployed name
	for _, f := range app.Functions {
		names[f.Key] = f.Name
	}
	if app.HTTP != nil && len(app.HTTP.APIGateway) > 0 {
		var gw apiGatewaySettings
		if err := json.Unmarshal(app.HTTP.APIGateway, &gw); err != nil {
			fail("provider.apiGateway: %s", jsonProblem(err))
		}
		keys, err := parseAPIKeys(app, gw.APIKeys)
		if err != nil {
			errs = append(errs, err)
		}
		api.apiKeys = keys
		api.binaryMediaTypes = gw.BinaryMediaTypes
		if m := gw.MinimumCompressionSize; m != nil {
			if *m < 0 || *m > 10485760 {
				fail("provider.apiGateway.minimumCompressionSize %d must be between 0 and 10485760", *m)
			}
			api.compressMin = *m
		}
	}
	if app.HTTP != nil && len(app.HTTP.HTTPAPI) > 0 {
		var h httpAPISettings
		if err := json.Unmarshal(app.HTTP.HTTPAPI, &h); err != nil {
			fail("provider.httpApi: %s", jsonProblem(err))
		}
		switch h.Payload {
		case "", "2.0":
		case "1.0":
			api.httpPayload = "1.0"
		default:
			fail("provider.httpApi.payload %q must be '1.0' or '2.0'", h.Payload)
		}
		if len(h.CORS) > 0 {
			c, err := parseCORS(h.CORS, false)
			if err != nil {
				fail("provider.httpApi.cors: %w", err)
			}
			api.httpCORS = c
		}
		api.authorizers = map[string]*authorizer{}
		for _, name := range sortedKeys(h.Authorizers) {
			a, err := parseHTTPAuthorizer(name, h.Authorizers[name], names)
			if err != nil {
				fail("provider.httpApi.authorizers.%s: %w", name, err)
				continue
			}
			// Cached decisions belong to one API: two services may declare
			// the same authorizer text, naming different functions.
			a.id = cacheScope(api) + a.id
			api.authorizers[name] = a
		}
	}

	out := &parsedApp{api: api}
	for _, f := range app.Functions {
		for i, ev := range f.Events {
			where := fmt.Sprintf("function %q event #%d (%s)", f.Key, i+1, ev.Type)
			var r *route
			var err error
			switch ev.Type {
			case "http":
				r, err = parseRESTEvent(ev.Properties, api, names)
			case "httpApi":
				r, err = parseHTTPEvent(ev.Properties, api)
			default:
				continue
			}
			if err != nil {
				fail("%s: %w", where, err)
				continue
			}
			r.function, r.key = f.Name, f.Key
			if r.kind == kindREST && r.pattern != "" && strings.HasPrefix(r.pattern+"/", urlPathPrefix) {
				fail("%s: paths under %s are reserved for function URLs", where, urlPathPrefix)
			}
			if r.kind == kindHTTP && strings.HasPrefix(r.pattern+"/", urlPathPrefix) {
				fail("%s: paths under %s are reserved for function URLs", where, urlPathPrefix)
			}
			out.routes = append(out.routes, r)
		}
		if len(f.URL) > 0 {
			r, err := parseURL(f.URL)
			if err != nil {
				fail("function %q url: %w", f.Key, err)
				continue
			}
			if r != nil {
				r.api, r.function, r.key = api, f.Name, f.Key
				out.urls = append(out.urls, r)
			}
		}
	}
	machines, err := app.StateMachineEvents()
	if err != nil {
		fail("%w", err)
	}
	for _, m := range machines {
		for i, ev := range m.Events {
			if ev.Type != "http" && ev.Type != "httpApi" {
				continue
			}
			r, err := parseMachineEvent(ev.Type, ev.Properties, api, names, m.ARN)
			if err != nil {
				fail("state machine %q event #%d (%s): %w", m.Key, i+1, ev.Type, err)
				continue
			}
			r.key = m.Key
			out.routes = append(out.routes, r)
		}
	}
	for _, er := range app.EventRoutes {
		r, err := parseEventRoute(er, api)
		if err != nil {
			fail("construct %q: %w", er.Construct, err)
			continue
		}
		out.routes = append(out.routes, r)
	}
	// Routes of one service must not collide either.
	seen := map[string]*route{}
	for _, r := range out.routes {
		k := r.conflictKey()
		if other, ok := seen[k]; ok {
			fail("route %s is declared by function %q and function %q", r.describe(), other.key, r.key)
			continue
		}
		seen[k] = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// urlPathPrefix is where function URLs are served when not reached by host name.
const urlPathPrefix = "/lambda-url/"

// fullPath is where the route is served on the gateway listener.
func (r *route) fullPath() string {
	if r.kind == kindREST {
		if r.pattern == "/" {
			return "/" + r.api.stage
		}
		return "/" + r.api.stage + r.pattern
	}
	return r.pattern
}

func (r *route) conflictKey() string {
	if r.pattern == "" {
		return "$default"
	}
	return r.method + " " + normalizeParams(r.fullPath())
}

// describe names the route the way the user wrote it, for errors.
func (r *route) describe() string {
	if r.pattern == "" {
		return "$default (httpApi '*')"
	}
	return fmt.Sprintf("%s %s (%s)", r.method, r.fullPath(), r.kind)
}

// normalizeParams makes "/a/{x}" and "/a/{y}" the same route for conflicts.
func normalizeParams(p string) string {
	if !strings.Contains(p, "{") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			if strings.HasSuffix(s, "+}") {
				segs[i] = "{+}"
			} else {
				segs[i] = "{}"
			}
		}
	}
	return strings.Join(segs, "/")
}

// cacheScope prefixes the authorizer cache keys of a service's API.
func cacheScope(api *serviceAPI) string {
	return strconv.Itoa(len(api.service)) + ":" + api.service + "/" + api.stage + "/"
}

func apiID(kind, service, stage string) string {
	sum := sha256.Sum256([]byte(kind + "/" + service + "/" + stage))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 10)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true, "OPTIONS": true, "ANY": true}

func parseMethod(m string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(m))
	if u == "*" {
		u = "ANY"
	}
	if !methods[u] {
		return "", fmt.Errorf("method %q is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY", m)
	}
	return u, nil
}

// parsePath normalises a path as the Serverless Framework does (leading slash
// added, trailing slash dropped) and checks its parameters.
func parsePath(p string) (string, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	segs := strings.Split(p[1:], "/")
	seenParams := map[string]bool{}
	for i, s := range segs {
		if s == "" && len(segs) > 1 {
			return "", fmt.Errorf("path %q has an empty segment", p)
		}
		if strings.ContainsAny(s, "{}") {
			if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") || len(s) < 3 {
				return "", fmt.Errorf("path %q: a parameter must be a whole segment, like {id}", p)
			}
			name := strings.TrimSuffix(s[1:len(s)-1], "+")
			if strings.HasSuffix(s, "+}") && i != len(segs)-1 {
				return "", fmt.Errorf("path %q: the greedy parameter %s must be the last segment", p, s)
			}
			if name == "" || strings.ContainsAny(name, "{}+/") {
				return "", fmt.Errorf("path %q: parameter %s has no valid name", p, s)
			}
			if seenParams[name] {
				return "", fmt.Errorf("path %q: parameter {%s} appears twice", p, name)
			}
			seenParams[name] = true
		}
	}
	return p, nil
}

// restEvent is an `http` event in its map form.
type restEvent struct {
	Path            string          `json:"path"`
	Method          string          `json:"method"`
	CORS            json.RawMessage `json:"cors"`
	Private         bool            `json:"private"`
	Authorizer      json.RawMessage `json:"authorizer"`
	Integration     string          `json:"integration"`
	Timeout         *float64        `json:"timeout"`         // seconds (nimbus)
	TimeoutInMillis *int            `json:"timeoutInMillis"` // as in API Gateway's integration
	Request         json.RawMessage `json:"request"`
}

func parseRESTEvent(raw json.RawMessage, api *serviceAPI, names map[string]string) (*route, error) {
	var ev restEvent
	if s, ok := jsonString(raw); ok {
		// `http: GET hello` shorthand.
		f := strings.Fields(s)
		if len(f) != 2 {
			return nil, fmt.Errorf("%q must be `METHOD path`, e.g. `GET users/{id}`", s)
		}
		ev.Method, ev.Path = f[0], f[1]
	} else if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	if ev.Path == "" || ev.Method == "" {
		return nil, errors.New("both path and method are required")
	}
	switch strings.ToLower(ev.Integration) {
	case "", "lambda-proxy", "aws_proxy":
	default:
		return nil, fmt.Errorf("integration %q is not supported by nimbus; use the default lambda-proxy", ev.Integration)
	}
	method, err := parseMethod(ev.Method)
	if err != nil {
		return nil, err
	}
	path, err := parsePath(ev.Path)
	if err != nil {
		return nil, err
	}
	r := &route{kind: kindREST, api: api, method: method, pattern: path, payloadV1: true, private: ev.Private}
	r.routeKey = method + " " + path
	if r.private && len(api.apiKeys) == 0 {
		return nil, errors.New("private: true needs keys in provider.apiGateway.apiKeys")
	}
	if len(ev.CORS) > 0 {
		if r.cors, err = parseCORS(ev.CORS, true); err != nil {
			return nil, fmt.Errorf("cors: %w", err)
		}
	}
	if r.timeout, err = parseTimeout(ev.Timeout, ev.TimeoutInMillis); err != nil {
		return nil, err
	}
	if len(ev.Authorizer) > 0 && string(ev.Authorizer) != "null" {
		if r.auth, err = parseRESTAuthorizer(ev.Authorizer, names); err != nil {
			return nil, fmt.Errorf("authorizer: %w", err)
		}
		r.auth.id = cacheScope(api) + r.auth.id
	}
	if r.required, err = parseRequestParameters(ev.Request, path); err != nil {
		return nil, fmt.Errorf("request.parameters: %w", err)
	}
	return r, nil
}

// parseRequestParameters reads request.parameters of an `http` event:
// {querystrings, headers, paths: {name: true | false | {required, mappedValue}}}.
// The Serverless Framework attaches a request validator (body and
// parameters) to a method as soon as one parameter is required; API Gateway
// then refuses requests that lack one, or send it blank. Those are returned,
// sorted by their method.request.* key.
func parseRequestParameters(raw json.RawMessage, path string) ([]requiredParam, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var req struct {
		Parameters map[string]map[string]json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	var out []requiredParam
	for _, loc := range sortedKeys(req.Parameters) {
		var in string
		switch loc {
		case "querystrings":
			in = "querystring"
		case "headers":
			in = "header"
		case "paths":
			in = "path"
		default:
			return nil, fmt.Errorf("%q must be querystrings, headers or paths", loc)
		}
		for _, name := range sortedKeys(req.Parameters[loc]) {
			v := bytes.TrimSpace(req.Parameters[loc][name])
			required := false
			switch {
			case string(v) == "true":
				required = true
			case string(v) == "false" || string(v) == "null":
			case len(v) > 0 && v[0] == '{':
				var o struct {
					Required *bool `json:"required"`
				}
				if err := json.Unmarshal(v, &o); err != nil {
					return nil, fmt.Errorf("%s.%s: %s", loc, name, jsonProblem(err))
				}
				required = o.Required == nil || *o.Required
			default:
				return nil, fmt.Errorf("%s.%s must be true, false or {required, mappedValue}", loc, name)
			}
			if in == "path" && !strings.Contains(path, "{"+name+"}") && !strings.Contains(path, "{"+name+"+}") {
				return nil, fmt.Errorf("paths.%s is not a parameter of the path %s", name, path)
			}
			if required {
				out = append(out, requiredParam{in: in, name: name})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].in != out[j].in {
			return out[i].in < out[j].in
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// httpEvent is an `httpApi` event in its map form.
type httpEvent struct {
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	Authorizer json.RawMessage `json:"authorizer"`
	Timeout    *float64        `json:"timeout"` // seconds (nimbus)
}

func parseHTTPEvent(raw json.RawMessage, api *serviceAPI) (*route, error) {
	var ev httpEvent
	if s, ok := jsonString(raw); ok {
		if strings.TrimSpace(s) == "*" {
			ev.Method, ev.Path = "*", "*"
		} else {
			f := strings.Fields(s)
			if len(f) != 2 {
				return nil, fmt.Errorf("%q must be '*' or 'METHOD /path', e.g. 'GET /users/{id}'", s)
			}
			ev.Method, ev.Path = f[0], f[1]
		}
	} else if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	r := &route{kind: kindHTTP, api: api, payloadV1: api.httpPayload == "1.0", cors: api.httpCORS}
	if ev.Path == "*" {
		if ev.Method != "" && ev.Method != "*" {
			return nil, errors.New("the catch-all route '*' takes every method; drop the method")
		}
		r.method, r.routeKey = "ANY", "$default"
	} else {
		if ev.Path == "" {
			return nil, errors.New("path is required (or '*' for the catch-all route)")
		}
		if !strings.HasPrefix(ev.Path, "/") {
			return nil, fmt.Errorf("path %q must start with /", ev.Path)
		}
		if ev.Method == "" {
			return nil, errors.New("method is required")
		}
		method, err := parseMethod(ev.Method)
		if err != nil {
			return nil, err
		}
		path, err := parsePath(ev.Path)
		if err != nil {
			return nil, err
		}
		r.method, r.pattern, r.routeKey = method, path, method+" "+path
	}
	var err error
	if r.timeout, err = parseTimeout(ev.Timeout, nil); err != nil {
		return nil, err
	}
	if len(ev.Authorizer) > 0 && string(ev.Authorizer) != "null" {
		var ref struct {
			Name   string   `json:"name"`
			ID     string   `json:"id"`
			Type   string   `json:"type"`
			Scopes []string `json:"scopes"`
		}
		if s, ok := jsonString(ev.Authorizer); ok {
			ref.Name = s
		} else if err := json.Unmarshal(ev.Authorizer, &ref); err != nil {
			return nil, fmt.Errorf("authorizer: %s", jsonProblem(err))
		}
		switch {
		case strings.EqualFold(ref.Type, "aws_iam"):
			return nil, errors.New("authorizer type aws_iam is not supported by nimbus; use a JWT or Lambda authorizer")
		case ref.ID != "":
			return nil, errors.New("authorizer.id refers to an authorizer outside the service, which nimbus cannot see; declare it under provider.httpApi.authorizers")
		case ref.Name == "":
			return nil, errors.New("authorizer needs a name from provider.httpApi.authorizers")
		}
		a := api.authorizers[ref.Name]
		if a == nil {
			return nil, fmt.Errorf("authorizer %q is not declared under provider.httpApi.authorizers", ref.Name)
		}
		r.auth, r.scopes = a, ref.Scopes
	}
	return r, nil
}

// parseURL reads `url: true` or `url: {cors, authorizer, invokeMode}`; nil
// when the function has no URL (`url: false`).
func parseURL(raw json.RawMessage) (*route, error) {
	r := &route{kind: kindURL, method: "ANY", routeKey: "$default"}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return r, nil
	case "false", "null":
		return nil, nil
	}
	var u struct {
		CORS       json.RawMessage `json:"cors"`
		Authorizer string          `json:"authorizer"`
		InvokeMode string          `json:"invokeMode"`
		Timeout    *float64        `json:"timeout"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	if u.Authorizer != "" && !strings.EqualFold(u.Authorizer, "none") && !strings.EqualFold(u.Authorizer, "aws_iam") {
		return nil, fmt.Errorf("authorizer %q must be aws_iam or none", u.Authorizer)
	}
	r.iam = strings.EqualFold(u.Authorizer, "aws_iam")
	switch strings.ToUpper(u.InvokeMode) {
	case "", "BUFFERED", "RESPONSE_STREAM": // streamed responses are sent buffered
	default:
		return nil, fmt.Errorf("invokeMode %q must be BUFFERED or RESPONSE_STREAM", u.InvokeMode)
	}
	if len(u.CORS) > 0 {
		c, err := parseCORS(u.CORS, false)
		if err != nil {
			return nil, fmt.Errorf("cors: %w", err)
		}
		r.cors = c
	}
	var err error
	if r.timeout, err = parseTimeout(u.Timeout, nil); err != nil {
		return nil, err
	}
	return r, nil
}

func parseTimeout(seconds *float64, millis *int) (time.Duration, error) {
	var d time.Duration
	switch {
	case millis != nil:
		d = time.Duration(*millis) * time.Millisecond
	case seconds != nil:
		d = time.Duration(*seconds * float64(time.Second))
	default:
		return 0, nil
	}
	if d < 50*time.Millisecond || d > maxIntegrationTimeout {
		return 0, fmt.Errorf("timeout %s must be between 50ms and %s", d, maxIntegrationTimeout)
	}
	return d, nil
}

// parseAPIKeys reads provider.apiGateway.apiKeys in each Serverless form:
// "name", {name, value}, and usage-plan groups {plan: [keys]}.
func parseAPIKeys(app *appspec.Application, raw []json.RawMessage) (map[string]apiKey, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	keys := map[string]apiKey{}
	var errs []error
	var add func(json.RawMessage)
	add = func(item json.RawMessage) {
		var k struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		if s, ok := jsonString(item); ok {
			k.Name = s
		} else if err := json.Unmarshal(item, &k); err != nil || k.Name == "" {
			// A usage plan group: {planName: [keys]}.
			var group map[string][]json.RawMessage
			if json.Unmarshal(item, &group) == nil && len(group) == 1 {
				for _, items := range group {
					for _, it := range items {
						add(it)
					}
				}
				return
			}
			errs = append(errs, fmt.Errorf("provider.apiGateway.apiKeys: %s is not a key name, {name, value} or a usage plan", item))
			return
		}
		if k.Value == "" {
			// Without a value, API Gateway generates one; nimbus derives it so
			// that it survives redeploys, and `nimbus info` shows it.
			k.Value = DerivedAPIKey(app.Service, app.Stage, k.Name)
		} else if len(k.Value) < 20 {
			errs = append(errs, fmt.Errorf("provider.apiGateway.apiKeys: the value of key %q must have at least 20 characters, as in API Gateway", k.Name))
			return
		}
		keys[k.Value] = apiKey{name: k.Name, id: apiID("key", app.Service, k.Name), value: k.Value}
	}
	for _, item := range raw {
		add(item)
	}
	return keys, errors.Join(errs...)
}

// DerivedAPIKey is the value of an API key declared without one.
func DerivedAPIKey(service, stage, name string) string {
	sum := sha256.Sum256([]byte("nimbus api key\x00" + service + "\x00" + stage + "\x00" + name))
	return base64.RawURLEncoding.EncodeToString(sum[:30])
}

// jsonString reports whether raw is a JSON string, and its value.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonProblem turns a decoding error into what the user wrote wrong.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s must be %s, not %s", te.Field, describeGoType(te.Type.Kind().String()), te.Value)
		}
		return fmt.Sprintf("must be %s, not %s", describeGoType(te.Type.Kind().String()), te.Value)
	}
	return err.Error()
}

func describeGoType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "float64", "ptr":
		return "a number"
	case "slice":
		return "a list"
	case "map", "struct":
		return "a map"
	}
	return kind
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stringList accepts a string (comma-separated) or a list of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if s, ok := jsonString(raw); ok {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, errors.New("must be a string or a list of strings")
	}
	return out, nil
}

// keyID is a short, stable identifier (for logs and ids).
func keyID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
