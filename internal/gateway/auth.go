package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nimbus-platform/nimbus/internal/invoke"
)

type authKind uint8

const (
	authJWT           authKind = iota + 1 // HTTP API JWT authorizer
	authLambdaToken                       // REST TOKEN authorizer
	authLambdaRequest                     // REST or HTTP API REQUEST authorizer
)

// identitySource is where an authorizer reads the caller's identity.
type identitySource struct {
	inHeader bool // else the query string
	name     string
}

// authorizer is one configured authorizer.
type authorizer struct {
	id      string // unique per service and name: the cache key prefix
	name    string
	kind    authKind
	sources []identitySource
	// JWT
	issuer   string
	audience []string
	jwksURL  string  // explicit (nimbus); else discovered from the issuer
	inline   *keySet // inline keys (nimbus)
	// Lambda
	function      string // deployed name or ARN
	ttl           time.Duration
	simple        bool // HTTP API simple responses
	payloadV2     bool // the authorizer gets a payload 2.0 event
	tokenValidate *regexp.Regexp
}

var restSourceRE = regexp.MustCompile(`^method\.request\.(header|querystring)\.(.+)$`)
var httpSourceRE = regexp.MustCompile(`^\$request\.(header|querystring)\.(.+)$`)

func parseSources(list []string, re *regexp.Regexp) ([]identitySource, error) {
	var out []identitySource
	for _, s := range list {
		m := re.FindStringSubmatch(strings.TrimSpace(s))
		if m == nil {
			if strings.HasPrefix(s, "$context.") || strings.HasPrefix(s, "$stageVariables.") || strings.HasPrefix(s, "context.") || strings.HasPrefix(s, "stageVariables.") {
				continue // always present here; they only widen the cache key in AWS
			}
			return nil, fmt.Errorf("identitySource %q must name a request header or query string parameter", s)
		}
		out = append(out, identitySource{inHeader: m[1] == "header", name: m[2]})
	}
	return out, nil
}

// functionRef resolves an authorizer's function: a key of this service, a
// deployed name, or an ARN.
func functionRef(ref string, names map[string]string) string {
	if n, ok := names[ref]; ok {
		return n
	}
	return ref
}

// parseRESTAuthorizer reads an `http` event's authorizer.
func parseRESTAuthorizer(raw json.RawMessage, names map[string]string) (*authorizer, error) {
	var c struct {
		Name                         string          `json:"name"`
		ARN                          string          `json:"arn"`
		Type                         string          `json:"type"`
		IdentitySource               json.RawMessage `json:"identitySource"`
		ResultTTLInSeconds           *int            `json:"resultTtlInSeconds"`
		IdentityValidationExpression string          `json:"identityValidationExpression"`
	}
	if s, ok := jsonString(raw); ok {
		c.Name = s
		if strings.HasPrefix(s, "arn:") {
			c.Name, c.ARN = "", s
		}
	} else if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	a := &authorizer{kind: authLambdaToken, ttl: 300 * time.Second}
	switch strings.ToLower(c.Type) {
	case "", "token":
	case "request":
		a.kind = authLambdaRequest
	case "aws_iam":
		return nil, errors.New("aws_iam authorizers are not supported by nimbus; use a Lambda authorizer")
	case "cognito_user_pools":
		return nil, errors.New("cognito_user_pools authorizers are not supported by nimbus; use a Lambda authorizer")
	default:
		return nil, fmt.Errorf("type %q must be token or request", c.Type)
	}
	if strings.EqualFold(c.Name, "aws_iam") {
		return nil, errors.New("aws_iam authorizers are not supported by nimbus; use a Lambda authorizer")
	}
	switch {
	case c.ARN != "":
		name, _, err := invoke.ParseName(c.ARN)
		if err != nil {
			return nil, fmt.Errorf("arn %q: %w", c.ARN, err)
		}
		a.function, a.name = name, name
	case c.Name != "":
		a.function, a.name = functionRef(c.Name, names), c.Name
	default:
		return nil, errors.New("needs the name of a function of this service, or an arn")
	}
	if c.ResultTTLInSeconds != nil {
		if *c.ResultTTLInSeconds < 0 || *c.ResultTTLInSeconds > 3600 {
			return nil, errors.New("resultTtlInSeconds must be between 0 and 3600")
		}
		a.ttl = time.Duration(*c.ResultTTLInSeconds) * time.Second
	}
	sources, err := stringList(c.IdentitySource)
	if err != nil {
		return nil, fmt.Errorf("identitySource %w", err)
	}
	// The Serverless Framework's default identity source, for REQUEST
	// authorizers too unless their results are not cached.
	if len(sources) == 0 && (a.kind == authLambdaToken || a.ttl > 0) {
		sources = []string{"method.request.header.Authorization"}
	}
	if a.sources, err = parseSources(sources, restSourceRE); err != nil {
		return nil, err
	}
	if a.kind == authLambdaToken && (len(a.sources) != 1 || !a.sources[0].inHeader) {
		return nil, errors.New("a token authorizer reads exactly one header (identitySource: method.request.header.NAME)")
	}
	if c.IdentityValidationExpression != "" {
		if a.tokenValidate, err = regexp.Compile("^(?:" + c.IdentityValidationExpression + ")$"); err != nil {
			return nil, fmt.Errorf("identityValidationExpression: %w", err)
		}
	}
	a.id = "rest/" + a.function + "/" + keyID(string(raw))
	return a, nil
}

// parseHTTPAuthorizer reads one of provider.httpApi.authorizers.
func parseHTTPAuthorizer(name string, raw json.RawMessage, names map[string]string) (*authorizer, error) {
	var c struct {
		Type                  string          `json:"type"`
		IdentitySource        json.RawMessage `json:"identitySource"`
		IssuerURL             string          `json:"issuerUrl"`
		Audience              json.RawMessage `json:"audience"`
		JWKSURI               string          `json:"jwksUri"`
		JWKSURL               string          `json:"jwksUrl"`
		JWKS                  json.RawMessage `json:"jwks"`
		FunctionName          string          `json:"functionName"`
		FunctionARN           string          `json:"functionArn"`
		ResultTTLInSeconds    *int            `json:"resultTtlInSeconds"`
		EnableSimpleResponses bool            `json:"enableSimpleResponses"`
		PayloadVersion        string          `json:"payloadVersion"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	a := &authorizer{name: name, id: "http/" + name + "/" + keyID(string(raw))}
	typ := strings.ToLower(c.Type)
	if typ == "" {
		typ = "jwt"
		if c.FunctionName != "" || c.FunctionARN != "" {
			typ = "request"
		}
	}
	sources, err := stringList(c.IdentitySource)
	if err != nil {
		return nil, fmt.Errorf("identitySource %w", err)
	}
	switch typ {
	case "jwt":
		a.kind = authJWT
		if c.IssuerURL == "" {
			return nil, errors.New("a JWT authorizer needs issuerUrl")
		}
		a.issuer = c.IssuerURL
		if a.audience, err = stringList(c.Audience); err != nil || len(a.audience) == 0 {
			return nil, errors.New("a JWT authorizer needs audience (a string or a list)")
		}
		a.jwksURL = c.JWKSURI
		if a.jwksURL == "" {
			a.jwksURL = c.JWKSURL
		}
		if len(c.JWKS) > 0 {
			data := []byte(c.JWKS)
			if s, ok := jsonString(c.JWKS); ok {
				data = []byte(s)
			}
			if a.inline, err = parseJWKS(data); err != nil {
				return nil, fmt.Errorf("jwks: %w", err)
			}
		}
		if len(sources) == 0 {
			sources = []string{"$request.header.Authorization"}
		}
		if a.sources, err = parseSources(sources, httpSourceRE); err != nil {
			return nil, err
		}
		if len(a.sources) != 1 {
			return nil, errors.New("a JWT authorizer reads the token from exactly one identitySource")
		}
	case "request":
		a.kind = authLambdaRequest
		switch {
		case c.FunctionARN != "":
			if a.function, _, err = invoke.ParseName(c.FunctionARN); err != nil {
				return nil, fmt.Errorf("functionArn: %w", err)
			}
		case c.FunctionName != "":
			a.function = functionRef(c.FunctionName, names)
		default:
			return nil, errors.New("a request authorizer needs functionName or functionArn")
		}
		switch c.PayloadVersion {
		case "", "2.0":
			a.payloadV2 = true
		case "1.0":
		default:
			return nil, fmt.Errorf("payloadVersion %q must be '1.0' or '2.0'", c.PayloadVersion)
		}
		a.simple = c.EnableSimpleResponses
		if a.simple && !a.payloadV2 {
			return nil, errors.New("enableSimpleResponses needs payloadVersion '2.0'")
		}
		if c.ResultTTLInSeconds != nil {
			if *c.ResultTTLInSeconds < 0 || *c.ResultTTLInSeconds > 3600 {
				return nil, errors.New("resultTtlInSeconds must be between 0 and 3600")
			}
			a.ttl = time.Duration(*c.ResultTTLInSeconds) * time.Second
		}
		if a.sources, err = parseSources(sources, httpSourceRE); err != nil {
			return nil, err
		}
		if a.ttl > 0 && len(a.sources) == 0 {
			return nil, errors.New("caching (resultTtlInSeconds) needs an identitySource to key the cache")
		}
	default:
		return nil, fmt.Errorf("type %q must be jwt or request", c.Type)
	}
	return a, nil
}

// authFailure is an authorization refusal and the answer it gets.
type authFailure struct {
	status int
	body   string
}

var (
	errUnauthorized = &authFailure{http.StatusUnauthorized, `{"message":"Unauthorized"}`}
	errForbidden    = &authFailure{http.StatusForbidden, `{"message":"Forbidden"}`}
	errDenied       = &authFailure{http.StatusForbidden, `{"Message":"User is not authorized to access this resource with an explicit deny"}`}
	errNotAllowed   = &authFailure{http.StatusForbidden, `{"Message":"User is not authorized to access this resource"}`}
	errAuthConfig   = &authFailure{http.StatusInternalServerError, `{"message":null}`}
)

// identityValues reads an authorizer's identity sources; ok is false when
// one is missing (API Gateway answers 401 without calling the authorizer).
func (q *request) identityValues(a *authorizer, dst []string) ([]string, bool) {
	for _, s := range a.sources {
		var v string
		if s.inHeader {
			vs := q.r.Header.Values(s.name)
			if len(vs) > 1 && a.kind != authLambdaRequest {
				// A token or JWT authorizer judges one value; the
				// integration's event would carry the others too.
				return dst, false
			}
			if len(vs) > 0 {
				v = vs[0]
			}
		} else {
			for _, p := range q.query {
				if p.key == s.name {
					v = p.value
				}
			}
		}
		if v == "" {
			return dst, false
		}
		dst = append(dst, v)
	}
	return dst, true
}

// authorize runs the route's authorizer and sets q.authorizer.
func (g *Gateway) authorize(ctx context.Context, q *request) *authFailure {
	a := q.rt.auth
	values, ok := q.identityValues(a, nil)
	if !ok {
		return errUnauthorized
	}
	switch a.kind {
	case authJWT:
		return g.authorizeJWT(ctx, q, a, values[0])
	default:
		return g.authorizeLambda(ctx, q, a, values)
	}
}

// --- JWT ---

var jwtMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

func (g *Gateway) authorizeJWT(ctx context.Context, q *request, a *authorizer, token string) *authFailure {
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods(jwtMethods), jwt.WithIssuer(a.issuer), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(0))
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if a.inline != nil {
			return a.inline.key(kid)
		}
		return g.jwks.key(ctx, a, kid)
	})
	if err != nil {
		g.log.Debug("JWT refused", "authorizer", a.name, "err", err)
		return errUnauthorized
	}
	if !audienceMatches(claims, a.audience) {
		g.log.Debug("JWT refused: audience", "authorizer", a.name)
		return errUnauthorized
	}
	scopes := tokenScopes(claims)
	if len(q.rt.scopes) > 0 {
		found := false
		for _, want := range q.rt.scopes {
			for _, have := range scopes {
				if want == have {
					found = true
				}
			}
		}
		if !found {
			return errForbidden
		}
	}
	b := make([]byte, 0, 256)
	if q.rt.payloadV1 {
		b = append(b, `{"claims":`...)
	} else {
		b = append(b, `{"jwt":{"claims":`...)
	}
	b = appendClaims(b, claims)
	b = append(b, `,"scopes":`...)
	if len(scopes) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range scopes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	if !q.rt.payloadV1 {
		b = append(b, '}')
	}
	q.authorizer = append(b, '}')
	return nil
}

func audienceMatches(claims jwt.MapClaims, want []string) bool {
	var have []string
	switch v := claims["aud"].(type) {
	case string:
		have = append(have, v)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				have = append(have, s)
			}
		}
	}
	// API Gateway reads client_id only when aud is absent (access tokens of
	// some providers): a token whose aud names another API is not for this
	// one, whichever client it was issued to.
	if _, hasAud := claims["aud"]; !hasAud {
		if s, ok := claims["client_id"].(string); ok {
			have = append(have, s)
		}
	}
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

func tokenScopes(claims jwt.MapClaims) []string {
	for _, k := range []string{"scope", "scp"} {
		switch v := claims[k].(type) {
		case string:
			return strings.Fields(v)
		case []any:
			out := make([]string, 0, len(v))
			for _, x := range v {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
	}
	return nil
}

// appendClaims writes claims as API Gateway passes them: every value a
// string, lists as "[a b]".
func appendClaims(b []byte, claims jwt.MapClaims) []byte {
	b = append(b, '{')
	first := true
	for _, k := range sortedKeys(claims) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, claimString(claims[k]))
	}
	return append(b, '}')
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		data, _ := json.Marshal(x)
		return string(data)
	}
}

// --- Lambda authorizers ---

// authDecision is an authorizer's answer, cached by identity.
type authDecision struct {
	simple      bool
	authorized  bool // simple responses
	principalID string
	statements  []policyStatement
	context     json.RawMessage // the authorizer's context object, or nil
	expires     time.Time
}

type policyStatement struct {
	allow     bool
	actions   []string
	resources []string
}

// authCache holds authorizer decisions until their TTL passes.
type authCache struct {
	mu      sync.Mutex
	entries map[string]*authDecision
	max     int
}

func (c *authCache) get(key string, now time.Time) *authDecision {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.entries[key]
	if d != nil && now.After(d.expires) {
		delete(c.entries, key)
		return nil
	}
	return d
}

func (c *authCache) put(key string, d *authDecision, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*authDecision{}
	}
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			for k := range c.entries { // still full: drop an arbitrary entry
				delete(c.entries, k)
				break
			}
		}
	}
	c.entries[key] = d
}

func (q *request) executeAPIArn() string {
	var sb strings.Builder
	sb.WriteString("arn:aws:execute-api:")
	sb.WriteString(q.rt.api.region)
	sb.WriteByte(':')
	sb.WriteString(q.accountID)
	sb.WriteByte(':')
	sb.WriteString(q.apiID())
	sb.WriteByte('/')
	sb.WriteString(q.stage())
	sb.WriteByte('/')
	sb.WriteString(q.r.Method)
	sb.WriteString(q.path)
	return sb.String()
}

func (g *Gateway) authorizeLambda(ctx context.Context, q *request, a *authorizer, values []string) *authFailure {
	if a.kind == authLambdaToken && a.tokenValidate != nil && !a.tokenValidate.MatchString(values[0]) {
		return errUnauthorized
	}
	arn := q.executeAPIArn()
	var cacheKey string
	var d *authDecision
	if a.ttl > 0 && len(values) > 0 {
		cacheKey = authCacheKey(a.id, q.cacheValues(a, values))
		d = g.authCache.get(cacheKey, q.now)
	}
	if d == nil {
		var fail *authFailure
		d, fail = g.callAuthorizer(ctx, q, a, values, arn)
		if fail != nil {
			return fail
		}
		if cacheKey != "" {
			d.expires = q.now.Add(a.ttl)
			g.authCache.put(cacheKey, d, q.now)
		}
	}
	if d.simple {
		if !d.authorized {
			return errForbidden
		}
	} else if fail := d.evaluate(arn); fail != nil {
		return fail
	}
	q.authorizer = d.requestContext(q.rt.payloadV1)
	return nil
}

// cacheValues are what a cached decision is keyed by. A token authorizer
// sees exactly values; a request authorizer's event carries every value of
// a repeated header or parameter (payload 1.0 shows the last, 2.0 all
// joined), so the key holds them all, counted per source: keyed by the
// first alone, a decision made on another value would be reused for it.
func (q *request) cacheValues(a *authorizer, values []string) []string {
	if a.kind == authLambdaToken {
		return values
	}
	var out []string
	for _, s := range a.sources {
		mark := len(out)
		out = append(out, "")
		if s.inHeader {
			out = append(out, q.r.Header.Values(s.name)...)
		} else {
			for _, p := range q.query {
				if p.key == s.name {
					out = append(out, p.value)
				}
			}
		}
		out[mark] = strconv.Itoa(len(out) - mark - 1)
	}
	return out
}

// authCacheKey keys a cached decision by authorizer and identity. Each value
// is length-prefixed: query string values may hold any byte, and no two
// identities may share a key.
func authCacheKey(id string, values []string) string {
	n := len(id)
	for _, v := range values {
		n += len(v) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, id...)
	for _, v := range values {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
	}
	return string(b)
}

// callAuthorizer invokes the authorizer function and reads its answer.
func (g *Gateway) callAuthorizer(ctx context.Context, q *request, a *authorizer, values []string, arn string) (*authDecision, *authFailure) {
	var ev []byte
	switch {
	case a.kind == authLambdaToken:
		ev = append(ev, `{"type":"TOKEN","authorizationToken":`...)
		ev = appendString(ev, values[0])
		ev = append(ev, `,"methodArn":`...)
		ev = appendString(ev, arn)
		ev = append(ev, '}')
	case a.payloadV2:
		ev = append(ev, `{"type":"REQUEST","routeArn":`...)
		ev = appendString(ev, arn)
		ev = append(ev, `,"identitySource":[`...)
		for i, v := range values {
			if i > 0 {
				ev = append(ev, ',')
			}
			ev = appendString(ev, v)
		}
		ev = append(ev, "],"...)
		body := q.appendEventV2(nil)
		ev = append(ev, body[1:]...)
	default:
		ev = append(ev, `{"type":"REQUEST","methodArn":`...)
		ev = appendString(ev, arn)
		ev = append(ev, ',')
		body := q.appendEventV1(nil)
		ev = append(ev, body[1:]...)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := g.invoker.Invoke(actx, &invoke.Request{Function: a.function, Payload: ev, Source: "authorizer " + a.name})
	if err != nil {
		g.log.Warn("authorizer invoke failed", "authorizer", a.name, "function", a.function, "err", err)
		return nil, errAuthConfig
	}
	if res.FunctionError != "" {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(res.Payload, &fe)
		if fe.ErrorMessage == "Unauthorized" {
			return nil, errUnauthorized
		}
		g.log.Warn("authorizer failed", "authorizer", a.name, "function", a.function, "error", string(res.Payload))
		return nil, errAuthConfig
	}
	d, err := parseAuthorizerResponse(res.Payload, a.simple)
	if err != nil {
		g.log.Warn("authorizer answered something API Gateway would refuse", "authorizer", a.name, "err", err)
		return nil, errAuthConfig
	}
	return d, nil
}

func parseAuthorizerResponse(payload []byte, simple bool) (*authDecision, error) {
	var resp struct {
		IsAuthorized   *bool           `json:"isAuthorized"`
		Context        json.RawMessage `json:"context"`
		PrincipalID    string          `json:"principalId"`
		PolicyDocument *struct {
			Statement json.RawMessage `json:"Statement"`
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		return nil, fmt.Errorf("the authorizer's answer is not a JSON object: %w", err)
	}
	d := &authDecision{principalID: resp.PrincipalID}
	if c := bytes.TrimSpace(resp.Context); len(c) > 0 && c[0] == '{' {
		d.context = c
	}
	if simple && resp.IsAuthorized != nil {
		d.simple, d.authorized = true, *resp.IsAuthorized
		return d, nil
	}
	if resp.PolicyDocument == nil {
		if simple {
			return nil, errors.New("a simple response needs isAuthorized")
		}
		return nil, errors.New("the answer has no policyDocument")
	}
	raw := bytes.TrimSpace(resp.PolicyDocument.Statement)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '{' {
		items = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("policyDocument.Statement must be a statement or a list")
	}
	for _, it := range items {
		var st struct {
			Effect   string          `json:"Effect"`
			Action   json.RawMessage `json:"Action"`
			Resource json.RawMessage `json:"Resource"`
		}
		if err := json.Unmarshal(it, &st); err != nil {
			return nil, fmt.Errorf("policy statement: %w", err)
		}
		actions, err := stringList(st.Action)
		if err != nil {
			return nil, fmt.Errorf("policy statement Action %w", err)
		}
		resources, err := stringList(st.Resource)
		if err != nil {
			return nil, fmt.Errorf("policy statement Resource %w", err)
		}
		d.statements = append(d.statements, policyStatement{allow: strings.EqualFold(st.Effect, "Allow"), actions: actions, resources: resources})
	}
	return d, nil
}

// evaluate applies the IAM policy to the method ARN: an explicit deny wins,
// then an allow, else the request is refused.
func (d *authDecision) evaluate(arn string) *authFailure {
	allowed := false
	for _, st := range d.statements {
		if !matchesAny(st.actions, "execute-api:Invoke") || !matchesAny(st.resources, arn) {
			continue
		}
		if !st.allow {
			return errDenied
		}
		allowed = true
	}
	if !allowed {
		return errNotAllowed // no statement allows it: an implicit deny
	}
	return nil
}

func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

// globMatch matches IAM wildcards: * any run, ? one character.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// requestContext is requestContext.authorizer for the function's event.
func (d *authDecision) requestContext(v1 bool) []byte {
	if !v1 {
		b := append([]byte(nil), `{"lambda":`...)
		if d.context != nil {
			b = append(b, d.context...)
		} else {
			b = append(b, "null"...)
		}
		return append(b, '}')
	}
	// Payload 1.0: principalId and the context's entries side by side.
	b := append([]byte(nil), `{"principalId":`...)
	b = appendString(b, d.principalID)
	b = append(b, `,"integrationLatency":0`...)
	if len(d.context) > 2 {
		inner := bytes.TrimSpace(d.context[1 : len(d.context)-1])
		if len(inner) > 0 {
			b = append(b, ',')
			b = append(b, inner...)
		}
	}
	return append(b, '}')
}
