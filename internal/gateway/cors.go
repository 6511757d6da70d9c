package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// defaultCORSHeaders are the Serverless Framework's defaults for `cors: true`.
var defaultCORSHeaders = []string{
	"Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key", "X-Amz-Security-Token", "X-Amz-User-Agent", "X-Amzn-Trace-Id",
}

// corsPolicy is one CORS configuration, with its header values precomputed.
type corsPolicy struct {
	origins     []string // "*", exact origins, or wildcards like https://*.example.com
	anyOrigin   bool
	headers     string // Access-Control-Allow-Headers
	methods     string // Access-Control-Allow-Methods; "" lists the path's methods
	exposed     string // Access-Control-Expose-Headers
	credentials bool
	maxAge      string // Access-Control-Max-Age; "" when unset
	// overrides: HTTP APIs and function URLs replace CORS headers the function
	// set; REST APIs (where the function owns them) only fill in missing ones.
	overrides bool
}

// parseCORS reads `cors: true` or the detailed form. It accepts both the REST
// keys (origin, origins, headers, allowCredentials, maxAge) and the HTTP API
// keys (allowedOrigins, allowedHeaders, allowedMethods, allowCredentials,
// exposedResponseHeaders, maxAge).
func parseCORS(raw json.RawMessage, rest bool) (*corsPolicy, error) {
	p := &corsPolicy{overrides: !rest}
	switch strings.TrimSpace(string(raw)) {
	case "false", "null":
		return nil, nil
	case "true":
		p.origins, p.anyOrigin = []string{"*"}, true
		p.headers = strings.Join(defaultCORSHeaders, ",")
		if !rest {
			p.methods = "*"
		}
		return p, nil
	}
	var c struct {
		Origin                 json.RawMessage `json:"origin"`
		Origins                json.RawMessage `json:"origins"`
		AllowedOrigins         json.RawMessage `json:"allowedOrigins"`
		Headers                json.RawMessage `json:"headers"`
		AllowedHeaders         json.RawMessage `json:"allowedHeaders"`
		Methods                json.RawMessage `json:"methods"`
		AllowedMethods         json.RawMessage `json:"allowedMethods"`
		AllowCredentials       bool            `json:"allowCredentials"`
		ExposedResponseHeaders json.RawMessage `json:"exposedResponseHeaders"`
		ExposeHeaders          json.RawMessage `json:"exposeHeaders"`
		MaxAge                 *int            `json:"maxAge"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errors.New("must be true or a map of CORS settings: " + jsonProblem(err))
	}
	for _, src := range []json.RawMessage{c.Origin, c.Origins, c.AllowedOrigins} {
		list, err := stringList(src)
		if err != nil {
			return nil, errors.New("origins " + err.Error())
		}
		p.origins = append(p.origins, list...)
	}
	if len(p.origins) == 0 {
		p.origins = []string{"*"}
	}
	for _, o := range p.origins {
		if o == "*" {
			p.anyOrigin = true
		}
	}
	headers, err := firstList(c.Headers, c.AllowedHeaders)
	if err != nil {
		return nil, errors.New("headers " + err.Error())
	}
	if headers == nil && rest {
		headers = defaultCORSHeaders
	}
	p.headers = strings.Join(headers, ",")
	meths, err := firstList(c.Methods, c.AllowedMethods)
	if err != nil {
		return nil, errors.New("methods " + err.Error())
	}
	p.methods = strings.ToUpper(strings.Join(meths, ","))
	exposed, err := firstList(c.ExposedResponseHeaders, c.ExposeHeaders)
	if err != nil {
		return nil, errors.New("exposedResponseHeaders " + err.Error())
	}
	p.exposed = strings.Join(exposed, ",")
	p.credentials = c.AllowCredentials
	if c.MaxAge != nil {
		if *c.MaxAge < 0 || *c.MaxAge > 86400 {
			return nil, errors.New("maxAge must be between 0 and 86400 seconds")
		}
		p.maxAge = strconv.Itoa(*c.MaxAge)
	}
	return p, nil
}

func firstList(a, b json.RawMessage) ([]string, error) {
	if len(a) > 0 {
		return stringList(a)
	}
	return stringList(b)
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, or ""
// when the origin is not allowed.
func (p *corsPolicy) allowOrigin(origin string) string {
	if origin == "" {
		if p.anyOrigin {
			return "*"
		}
		return ""
	}
	for _, o := range p.origins {
		if o == "*" {
			continue
		}
		if strings.EqualFold(o, origin) {
			return origin
		}
		if i := strings.Index(o, "*"); i >= 0 && len(origin) >= len(o)-1 &&
			strings.HasPrefix(strings.ToLower(origin), strings.ToLower(o[:i])) && strings.HasSuffix(strings.ToLower(origin), strings.ToLower(o[i+1:])) {
			return origin
		}
	}
	// "*" is never turned into the caller's origin, credentials or not:
	// browsers refuse "*" with credentials, and reflecting every origin
	// would let any site read answers with the caller's cookies.
	if p.anyOrigin {
		return "*"
	}
	return ""
}

// applyResponse adds CORS headers to a response.
func (p *corsPolicy) applyResponse(h http.Header, origin string) {
	if !p.anyOrigin || p.credentials {
		// The headers depend on the caller's Origin (present, absent, allowed
		// or not), so caches must key on it.
		addVary(h, "Origin")
	}
	if origin == "" {
		return
	}
	allow := p.allowOrigin(origin)
	if allow == "" {
		return
	}
	set := func(k, v string) {
		if v == "" {
			return
		}
		if p.overrides || len(h[k]) == 0 {
			h[k] = []string{v}
		}
	}
	set("Access-Control-Allow-Origin", allow)
	if p.credentials {
		set("Access-Control-Allow-Credentials", "true")
	}
	set("Access-Control-Expose-Headers", p.exposed)
}

// writePreflight answers an OPTIONS preflight as API Gateway does.
func (p *corsPolicy) writePreflight(w http.ResponseWriter, origin, pathMethods string, status int) {
	h := w.Header()
	if allow := p.allowOrigin(origin); allow != "" {
		h["Access-Control-Allow-Origin"] = []string{allow}
		methods := p.methods
		if methods == "" || methods == "*" && p.credentials {
			methods = pathMethods
		}
		h["Access-Control-Allow-Methods"] = []string{methods}
		if p.headers != "" {
			h["Access-Control-Allow-Headers"] = []string{p.headers}
		}
		if p.credentials {
			h["Access-Control-Allow-Credentials"] = []string{"true"}
		}
		if p.maxAge != "" {
			h["Access-Control-Max-Age"] = []string{p.maxAge}
		}
		if p.exposed != "" {
			h["Access-Control-Expose-Headers"] = []string{p.exposed}
		}
	}
	if !p.anyOrigin || p.credentials {
		addVary(h, "Origin")
	}
	h["Content-Length"] = []string{"0"}
	w.WriteHeader(status)
}
