// Package gateway serves functions over HTTP as API Gateway does: REST APIs
// (`http` events, payload 1.0, under the stage), HTTP APIs (`httpApi` events,
// payload 2.0) and function URLs. It turns requests into events, invokes the
// function synchronously and maps its answer back to HTTP, with CORS,
// compression, API keys, JWT and Lambda authorizers, and access logs.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/httpguard"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// Limits from API Gateway.
const (
	MaxBodyBytes        = 10 << 20
	MaxHeaderBytes      = 10 << 10
	DefaultCompressMin  = 1024
	DefaultDomain       = "localhost"
	unmatchedAccessLogs = "_gateway"
)

// Time limits on the connection (not API Gateway's: it does not document them).
const (
	headerReadTimeout = 30 * time.Second
	bodyReadTimeout   = 2 * time.Minute // a 10 MB body at under 1 Mbit/s
	writeTimeout      = time.Minute
)

// Config sets up a Gateway.
type Config struct {
	Registry *functions.Registry
	Invoker  *invoke.Service
	// Logs receives access logs (nil: none).
	Logs   *logs.Store
	Logger *slog.Logger
	// AccountID appears in events and ARNs; default 000000000000.
	AccountID string
	// MaxBodyBytes bounds request bodies (413 above); default 10 MB.
	MaxBodyBytes int64
	// CompressMinBytes is the smallest response body compressed when the
	// client accepts it; 0 means the default (1 KB), negative disables.
	CompressMinBytes int
	// Timeout is the default integration timeout; default 29 s.
	Timeout time.Duration
	// Domain: services are also served on <service>.<Domain> and function
	// URLs on <function>.lambda-url.<Domain>; default "localhost".
	Domain string
	// PutEvent puts the requests of event routes (serverless-lift webhooks)
	// on their bus; nil answers them 502.
	PutEvent PutEventFunc
	// StartMachine starts the state machines of routes integrated with
	// Step Functions; nil answers them 502.
	StartMachine StartMachineFunc
	// Verify checks the SigV4 signature of a request to a function URL
	// whose authorizer is aws_iam and returns the context Authorize reads
	// the signer from; nil when the platform checks no signatures.
	Verify func(r *http.Request) (context.Context, error)
	// HTTPClient fetches JWKS; default a client with a 5 s timeout.
	HTTPClient *http.Client
	// HeaderReadTimeout, BodyReadTimeout and WriteTimeout bound how long a
	// caller may take to send its headers, to send its body, and to read
	// the answer (slow callers cannot hold connections); defaults 30 s, 2 min
	// and 1 min.
	HeaderReadTimeout, BodyReadTimeout, WriteTimeout time.Duration
	// MaxConns caps the connections open at once (each holds a descriptor of
	// the platform's, which its other listeners and instances need too);
	// default half the process's limit on open files, negative for none.
	MaxConns int
}

// Gateway is an http.Handler serving every deployed API.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	invoker   *invoke.Service
	table     atomic.Pointer[table]
	buildMu   sync.Mutex
	scratch   sync.Pool
	comp      compressors
	jwks      jwksCache
	authCache authCache
	baseURL   atomic.Pointer[string]
	server    *http.Server
	ln        net.Listener
	served    chan error
}

// New returns a Gateway; it serves nothing until it is given a listener.
func New(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = MaxBodyBytes
	}
	if cfg.CompressMinBytes == 0 {
		cfg.CompressMinBytes = DefaultCompressMin
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultIntegrationTimeout
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.HeaderReadTimeout <= 0 {
		cfg.HeaderReadTimeout = headerReadTimeout
	}
	if cfg.BodyReadTimeout <= 0 {
		cfg.BodyReadTimeout = bodyReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = writeTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, invoker: cfg.Invoker}
	g.jwks.client = cfg.HTTPClient
	g.authCache.max = 10000
	g.scratch.New = func() any { return &scratch{} }
	return g
}

// Listen starts serving on addr until Close.
func (g *Gateway) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", addr, err)
	}
	g.ln = ln
	base := "http://" + ln.Addr().String()
	g.baseURL.Store(&base)
	g.server = &http.Server{
		Handler: g,
		// A caller has this long to send its request line and headers, and
		// (set per request, see serve) BodyReadTimeout for the body, so slow
		// senders cannot hold connections open; writes get WriteTimeout.
		ReadHeaderTimeout: g.cfg.HeaderReadTimeout,
		IdleTimeout:       2 * time.Minute,
		// API Gateway refuses more than 10 KB of request line and headers;
		// net/http adds 4 KB of slack to this.
		MaxHeaderBytes: MaxHeaderBytes,
		// Every request reaches ServeHTTP (OPTIONS * included), which keeps
		// the per-connection record of header names in step.
		DisableGeneralOptionsHandler: true,
		ConnContext:                  connContext,
	}
	if limit := g.maxConns(); limit > 0 {
		var last atomic.Int64 // unix nanoseconds of the last warning: one per 10 s
		ln = httpguard.CapConnections(ln, limit, func(open int) {
			now := time.Now().UnixNano()
			if prev := last.Load(); now-prev >= int64(10*time.Second) && last.CompareAndSwap(prev, now) {
				g.log.Warn("gateway: refusing connections: too many open", "open", open, "max", limit)
			}
		})
	}
	ln = trackingListener{ln}
	g.served = make(chan error, 1)
	go func() { g.served <- g.server.Serve(ln) }()
	return nil
}

// maxConns is the cap on open connections: the configured one, or half the
// process's limit on open files.
func (g *Gateway) maxConns() int {
	if g.cfg.MaxConns != 0 {
		return g.cfg.MaxConns
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return 1 << 16
	}
	return int(max(lim.Cur/2, 256))
}

// Addr is the listener's address ("" before Listen).
func (g *Gateway) Addr() string {
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// URL is the listener's base URL ("" before Listen).
func (g *Gateway) URL() string {
	if p := g.baseURL.Load(); p != nil {
		return *p
	}
	return ""
}

// Close stops taking requests and waits for running ones until ctx ends.
func (g *Gateway) Close(ctx context.Context) error {
	if g.server == nil {
		return nil
	}
	err := g.server.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		_ = g.server.Close()
		err = nil
	}
	<-g.served
	return err
}

// table is the routing state derived from the deployed services.
type table struct {
	generation uint64
	all        *router // the shared root: the first owner of a route keeps it
	// byHost routes the host labels before the domain: "<service>" (every
	// stage of it, the oldest first) and "<stage>.<service>" (that stage).
	byHost map[string]*router
	// rootOwner is the stage (Application.ID) serving each route of the
	// shared root, by conflict key.
	rootOwner  map[string]string
	urls       map[string]*route // function URLs by deployed function name
	restStages map[string]bool   // first path segments that are REST stages
}

// current returns the table for the registry's present generation,
// rebuilding it after a deploy.
func (g *Gateway) current() *table {
	gen := g.cfg.Registry.Generation()
	if t := g.table.Load(); t != nil && t.generation == gen {
		return t
	}
	g.buildMu.Lock()
	defer g.buildMu.Unlock()
	if t := g.table.Load(); t != nil && t.generation == gen {
		return t
	}
	t := g.build(gen, g.cfg.Registry.Services())
	g.table.Store(t)
	return t
}

func (g *Gateway) build(gen uint64, apps []appspec.Application) *table {
	t := &table{generation: gen, all: &router{}, byHost: map[string]*router{}, rootOwner: map[string]string{},
		urls: map[string]*route{}, restStages: map[string]bool{}}
	// apps come oldest first: a stage deployed earlier keeps the shared root.
	for i := range apps {
		p, err := parseApp(&apps[i])
		if err != nil {
			// Deploys are checked, so this is a service stored by an older version.
			g.log.Warn("gateway: service routes skipped", "service", apps[i].Service, "err", err)
			continue
		}
		own := &router{}
		t.byHost[strings.ToLower(apps[i].Stage+"."+apps[i].Service)] = own
		svc := t.byHost[strings.ToLower(apps[i].Service)]
		if svc == nil {
			svc = &router{}
			t.byHost[strings.ToLower(apps[i].Service)] = svc
		}
		for _, r := range p.routes {
			if prev := t.all.add(r); prev == nil {
				t.rootOwner[r.conflictKey()] = apps[i].ID()
			}
			svc.add(r)
			own.add(r)
			if r.kind == kindREST {
				t.restStages[r.api.stage] = true
			}
		}
		for _, u := range p.urls {
			t.urls[u.function] = u
		}
	}
	return t
}

// CheckDeploy is a functions.DeployCheck: the application's HTTP events must
// be valid. A route another service (or stage) serves is no conflict: each
// stage has its own host, and on the shared root the first owner keeps it
// (Endpoints says where the other is).
func CheckDeploy(app *appspec.Application, _ []appspec.Application) error {
	_, err := parseApp(app)
	return err
}

// scratch is per-request memory, reused across requests.
type scratch struct {
	body   []byte
	event  []byte
	out    bytes.Buffer
	query  []queryPair
	params params
	req    request
	names  []byte // the caller's spelling of non-canonical header names
	proxy  proxyFields
	resp   []byte // a decoded response body
}

// missingParameters checks the route's required request parameters as
// API Gateway's request validator does (present and not blank), after
// authorization; it returns the 400 answer naming those missing.
func (q *request) missingParameters() *errorResponse {
	var missing []string
	for _, p := range q.rt.required {
		var v string
		switch p.in {
		case "header":
			v = q.r.Header.Get(p.name)
		case "querystring":
			for _, qp := range q.query {
				if qp.key == p.name && qp.value != "" {
					v = qp.value
				}
			}
		case "path":
			for _, pp := range q.params {
				if pp.name == p.name {
					v = pp.value
				}
			}
		}
		if strings.TrimSpace(v) == "" {
			missing = append(missing, p.name)
		}
	}
	if missing == nil {
		return nil
	}
	b := append([]byte(nil), `{"message":`...)
	b = appendString(b, "Missing required request parameters: ["+strings.Join(missing, ", ")+"]")
	b = append(b, '}')
	return &errorResponse{http.StatusBadRequest, string(b), "BadRequestException"}
}

// errorResponse is a gateway-made answer.
type errorResponse struct {
	status int
	body   string
	kind   string // x-amzn-ErrorType
}

var (
	errNotFound        = &errorResponse{http.StatusNotFound, `{"message":"Not Found"}`, "NotFoundException"}
	errMissingToken    = &errorResponse{http.StatusForbidden, `{"message":"Missing Authentication Token"}`, "MissingAuthenticationTokenException"}
	errForbiddenKey    = &errorResponse{http.StatusForbidden, `{"message":"Forbidden"}`, "ForbiddenException"}
	errTooLarge        = &errorResponse{http.StatusRequestEntityTooLarge, `{"message":"Request Entity Too Large"}`, "RequestEntityTooLargeException"}
	errBadGateway      = &errorResponse{http.StatusBadGateway, `{"message":"Internal server error"}`, "InternalServerErrorException"}
	errTimeout         = &errorResponse{http.StatusGatewayTimeout, `{"message":"Endpoint request timed out"}`, "IntegrationTimeout"}
	errThrottled       = &errorResponse{http.StatusTooManyRequests, `{"message":"Too Many Requests"}`, "ThrottlingException"}
	errInternal        = &errorResponse{http.StatusInternalServerError, `{"message":"Internal server error"}`, "InternalServerErrorException"}
	errURLForbidden    = &errorResponse{http.StatusForbidden, `{"Message":"Forbidden"}`, "AccessDeniedException"}
	errBadRequestInput = &errorResponse{http.StatusBadRequest, `{"message":"Bad Request"}`, "BadRequestException"}
)

// ServeHTTP answers one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := uuid.NewString()
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{requestID}
	t := g.current()

	sc := g.scratch.Get().(*scratch)
	conn := connOf(r.Context())
	if conn != nil {
		sc.names = conn.takeNames(r.Method, sc.names[:0])
	}
	if len(r.TransferEncoding) > 0 && (conn == nil || conn.closeAfter()) {
		h["Connection"] = []string{"close"}
	}
	rt, path, pathSet := g.route(t, r, &sc.params)
	if rt != nil && rt.kind == kindHTTP {
		h["Apigw-Requestid"] = h["X-Amzn-Requestid"]
	}
	status, size, reuse := g.serve(w, r, t, sc, rt, path, pathSet, requestID, start, conn)
	g.accessLog(rt, r, status, size, requestID, start)
	if reuse {
		*sc = scratch{body: keepSmall(sc.body), event: keepSmall(sc.event), out: sc.out, query: sc.query[:0], names: sc.names[:0], proxy: sc.proxy, resp: keepSmall(sc.resp)}
		sc.proxy.reset()
		if sc.out.Cap() > maxPooledBuffer {
			sc.out = bytes.Buffer{}
		}
		sc.out.Reset()
		g.scratch.Put(sc)
	}
}

// route finds the route of a request and the path its function sees.
func (g *Gateway) route(t *table, r *http.Request, ps *params) (*route, string, *methodSet) {
	ps.n = 0
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	// Function URLs: <function>.lambda-url.<domain>, or /lambda-url/<function>/...
	if name, ok := strings.CutSuffix(host, ".lambda-url."+g.cfg.Domain); ok {
		return t.urls[name], path, nil
	}
	if rest, ok := strings.CutPrefix(path, urlPathPrefix); ok {
		name, tail, _ := strings.Cut(rest, "/")
		if u := t.urls[name]; u != nil {
			return u, "/" + tail, nil
		}
		return nil, path, nil
	}
	if rest, ok := strings.CutPrefix(path, strings.TrimSuffix(urlPathPrefix, "/")); ok && rest == "" {
		return nil, path, nil
	}
	tree := t.all
	if label, ok := strings.CutSuffix(host, "."+g.cfg.Domain); ok {
		// Host names are case-insensitive; the table's labels are lower case.
		if own := t.byHost[strings.ToLower(label)]; own != nil {
			tree = own
		}
	}
	// Match on the escaped path, so an encoded slash stays inside its segment.
	match := r.URL.EscapedPath()
	if match == "" {
		match = "/"
	}
	if len(match) > 1 && match[len(match)-1] == '/' {
		match = match[:len(match)-1] // API Gateway ignores one trailing slash
	}
	// Under a REST stage the REST API answers; HTTP API catch-alls stay out.
	seg, _, _ := strings.Cut(match[1:], "/")
	useDefault := !t.restStages[seg]
	if r.Method == http.MethodOptions {
		if m := r.Header.Get("Access-Control-Request-Method"); m != "" {
			if own, _ := tree.match(http.MethodOptions, match, ps, false); own != nil && own.method == http.MethodOptions {
				return own, path, nil // an explicit OPTIONS route answers its own preflights
			}
			// A preflight is answered for the route of the method it asks about.
			if rt, set := tree.match(strings.ToUpper(m), match, ps, false); rt != nil && rt.cors != nil {
				return &route{kind: rt.kind, api: rt.api, method: http.MethodOptions, cors: rt.cors, pattern: rt.pattern}, path, set
			}
		}
	}
	rt, set := tree.match(r.Method, match, ps, useDefault)
	return rt, path, set
}

// serve handles a routed request and returns the status and body size
// written, and whether sc can be reused.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, t *table, sc *scratch, rt *route, path string, pathSet *methodSet, requestID string, start time.Time, conn *trackedConn) (status, size int, reuse bool) {
	reuse = true
	// A caller that does not read its answer cannot hold the connection past
	// writeTimeout: the deadline is armed again before each possible write
	// that follows a wait (body, authorizer, function).
	arm := func() {
		if conn != nil {
			conn.setWriteDeadline(g.cfg.WriteTimeout)
		}
	}
	arm()
	origin := r.Header.Get("Origin")
	if hasDotSegment(r.URL.Path) {
		// Method ARNs and events carry the decoded path: /public/../admin
		// would match a policy on GET/public/* and reach /admin in the app.
		status, size = g.writeError(w, nil, origin, errBadRequestInput)
		return
	}
	if rt == nil {
		if seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/"); t.restStages[seg] {
			status, size = g.writeError(w, nil, origin, errMissingToken)
			return
		}
		status, size = g.writeError(w, nil, origin, errNotFound)
		return
	}
	// CORS preflight: answered by the gateway unless the route is an explicit OPTIONS route.
	if rt.function == "" && rt.events == nil && rt.machine == nil || r.Method == http.MethodOptions && rt.method == "ANY" {
		if rt.cors != nil && r.Header.Get("Access-Control-Request-Method") != "" {
			methods := "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"
			if pathSet != nil {
				methods = pathSet.methods()
			}
			status := http.StatusNoContent
			if rt.kind == kindREST {
				status = http.StatusOK
			}
			rt.cors.writePreflight(w, origin, methods, status)
			return status, 0, true
		}
		if rt.function == "" && rt.events == nil && rt.machine == nil {
			status, size = g.writeError(w, rt, origin, errNotFound)
			return
		}
	}

	q := &sc.req
	*q = request{r: r, rt: rt, requestID: requestID, now: start, accountID: g.cfg.AccountID, names: sc.names}
	q.sourceIP = remoteIP(r.RemoteAddr)
	// X-Forwarded-Port is the port the caller connected to, not whatever
	// its Host header claims.
	q.port = "80"
	if conn != nil {
		q.port = conn.port
	} else if i := strings.LastIndexByte(r.Host, ':'); i >= 0 && !strings.Contains(r.Host[i:], "]") {
		q.port = r.Host[i+1:]
	}

	// The path the function sees: without the stage (REST) or the URL prefix.
	q.path = path
	if len(q.path) > 1 && q.path[len(q.path)-1] == '/' && rt.kind != kindURL {
		q.path = q.path[:len(q.path)-1]
	}
	if rt.kind == kindREST {
		q.path = strings.TrimPrefix(path, "/"+rt.api.stage)
		if q.path == "" {
			q.path = "/"
		}
	}
	q.rawPath = r.URL.EscapedPath()
	if rt.kind == kindURL && strings.HasPrefix(q.rawPath, urlPathPrefix) {
		q.rawPath = "/" + strings.TrimPrefix(strings.TrimPrefix(q.rawPath, urlPathPrefix), rt.function+"/")
		if strings.TrimPrefix(r.URL.EscapedPath(), urlPathPrefix) == rt.function {
			q.rawPath = "/"
		}
	}
	q.params = sc.params.slice()

	if rt.private {
		k, ok := rt.api.apiKeys[r.Header.Get("X-Api-Key")]
		if !ok {
			status, size = g.writeError(w, rt, origin, errForbiddenKey)
			return
		}
		q.apiKey = &k
	}

	// The body: at most MaxBodyBytes, within BodyReadTimeout. When the
	// body is refused, reading stops for good (an expired deadline): net/http
	// would otherwise read what is left of it, with no time limit, before
	// closing the connection.
	stopReading := func() {
		if conn != nil {
			conn.expireRead()
		}
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		stopReading()
		status, size = g.writeError(w, rt, origin, errTooLarge)
		return
	}
	if conn != nil && r.ContentLength != 0 {
		conn.setReadDeadline(g.cfg.BodyReadTimeout)
	}
	body, err := readBody(r.Body, sc.body[:0], r.ContentLength, g.cfg.MaxBodyBytes)
	sc.body = body
	if err != nil {
		stopReading()
		arm()
		if errors.Is(err, errBodyTooLarge) {
			status, size = g.writeError(w, rt, origin, errTooLarge)
			return
		}
		status, size = g.writeError(w, rt, origin, errBadRequestInput)
		return
	}
	if conn != nil && r.ContentLength != 0 {
		// Lifted once the body is in: net/http's background read (which
		// notices a caller going away) must not end the request while the
		// function runs.
		conn.setReadDeadline(0)
		arm()
	}
	q.body = body
	sc.query = parseQuery(sc.query, r.URL.RawQuery)
	q.query = sc.query
	q.decideBase64()

	if rt.iam && g.cfg.Verify != nil {
		if !g.signedForURL(r, rt, body) {
			status, size = g.writeError(w, rt, origin, errURLForbidden)
			return
		}
	}

	if rt.auth != nil {
		fail := g.authorize(r.Context(), q)
		arm()
		if fail != nil {
			status, size = g.writeError(w, rt, origin, &errorResponse{status: fail.status, body: fail.body})
			return
		}
	}

	if len(rt.required) > 0 {
		if missing := q.missingParameters(); missing != nil {
			status, size = g.writeError(w, rt, origin, missing)
			return
		}
	}

	if rt.events != nil {
		status, size = g.putEvent(w, q)
		return
	}
	if rt.machine != nil {
		status, size = g.startMachine(w, q)
		return
	}

	if rt.payloadV1 {
		sc.event = q.appendEventV1(sc.event[:0])
	} else {
		sc.event = q.appendEventV2(sc.event[:0])
	}

	res, eresp, done := g.invoke(r.Context(), rt, sc.event)
	arm()
	if !done {
		reuse = false // the invocation still holds the event
	}
	if eresp != nil {
		status, size = g.writeError(w, rt, origin, eresp)
		return
	}
	resp, err := mapResponse(res.Payload, rt.payloadV1, w.Header(), &sc.proxy, &sc.resp)
	if err != nil {
		// API Gateway's execution log line, where the user reads their API's
		// logs (nimbus logs SERVICE.access), and the platform's log.
		msg := "Execution failed due to configuration error: " + strings.ToUpper(err.Error()[:1]) + err.Error()[1:] + " (function " + rt.function + ")"
		if g.cfg.Logs != nil {
			g.cfg.Logs.Append(logs.Record{Time: time.Now(), Function: AccessLogName(rt.api.service), RequestID: requestID, Message: msg})
		}
		g.log.Warn("gateway: "+msg, "route", rt.routeKey)
		h := w.Header()
		closeConn := h["Connection"] // set by ServeHTTP: the connection must close
		clear(h)
		if closeConn != nil {
			h["Connection"] = closeConn
		}
		h["X-Amzn-Requestid"] = []string{requestID}
		if rt.kind == kindHTTP {
			h["Apigw-Requestid"] = h["X-Amzn-Requestid"]
		}
		status, size = g.writeError(w, rt, origin, errBadGateway)
		return
	}
	if rt.cors != nil {
		rt.cors.applyResponse(resp.header, origin)
	}
	min := g.cfg.CompressMinBytes
	if rt.kind == kindREST && rt.api.compressMin >= 0 {
		min = rt.api.compressMin
	}
	g.comp.compress(r, &resp, min, &sc.out)
	resp.header["Content-Length"] = []string{strconv.Itoa(len(resp.body))}
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
	return resp.status, len(resp.body), reuse
}

// maxPooledBuffer bounds the buffers kept for reuse: one large request must
// not pin megabytes in the pool.
const maxPooledBuffer = 256 << 10

func keepSmall(b []byte) []byte {
	if cap(b) > maxPooledBuffer {
		return nil
	}
	return b[:0]
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads at most limit bytes into dst. A declared Content-Length
// sizes the buffer, but only up to maxBodyPrealloc: a caller announcing 10 MB
// and sending nothing must not cost 10 MB.
func readBody(body io.Reader, dst []byte, contentLength, limit int64) ([]byte, error) {
	if body == nil || body == http.NoBody {
		return dst, nil
	}
	if contentLength > 0 && int64(cap(dst)) < contentLength {
		dst = make([]byte, 0, min(contentLength, maxBodyPrealloc))
	}
	for {
		if len(dst) == cap(dst) {
			// Full: probe for the end before growing the buffer.
			var probe [1]byte
			n, err := body.Read(probe[:])
			if n > 0 {
				dst = append(dst, probe[0])
			}
			if int64(len(dst)) > limit {
				return dst, errBodyTooLarge
			}
			if err == io.EOF {
				return dst, nil
			}
			if err != nil {
				return dst, err
			}
			continue
		}
		n, err := body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, errBodyTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

const maxBodyPrealloc = 1 << 20

// invoke runs the function within the route's integration timeout. done is
// false when the gateway stopped waiting while the invocation still runs.
func (g *Gateway) invoke(ctx context.Context, rt *route, event []byte) (res *invoke.Response, eresp *errorResponse, done bool) {
	timeout := rt.timeout
	if timeout == 0 {
		timeout = g.cfg.Timeout
	}
	f, ok := g.cfg.Registry.Get(rt.function)
	if !ok {
		g.log.Warn("gateway: route's function is not deployed", "function", rt.function)
		return nil, errInternal, true
	}
	req := &invoke.Request{Function: rt.function, Payload: event, Source: rt.routeKey}
	if f.Config.Deployment != nil {
		// AutoPublishAlias: routes invoke the alias, as SAM wires them.
		req.Qualifier = g.cfg.Registry.EventQualifier(rt.function)
	}
	start := time.Now()
	if f.Spec.Timeout < timeout {
		// The function's own timeout ends it first once it runs; the deadline
		// bounds the wait for an instance. No goroutine on the hot path.
		ictx := withLazyDeadline(ctx, timeout)
		res, err := g.invoker.Invoke(ictx, req)
		ictx.stop()
		if err == nil && (res.ErrorType == "Runtime.Cancelled" && ctx.Err() == nil || time.Since(start) > timeout) {
			return nil, errTimeout, true
		}
		return g.outcome(rt, res, err)
	}
	type outcome struct {
		res *invoke.Response
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		// A caller that goes away does not stop the function, as in Lambda.
		res, err := g.invoker.Invoke(context.WithoutCancel(ctx), req)
		ch <- outcome{res, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case o := <-ch:
		res, eresp, _ := g.outcome(rt, o.res, o.err)
		return res, eresp, true
	case <-timer.C:
		return nil, errTimeout, false
	case <-ctx.Done():
		return nil, errTimeout, false
	}
}

func (g *Gateway) outcome(rt *route, res *invoke.Response, err error) (*invoke.Response, *errorResponse, bool) {
	if err != nil {
		var throttle *runtime.ThrottleError
		var tooLarge *invoke.PayloadTooLargeError
		switch {
		case errors.As(err, &throttle):
			return nil, errThrottled, true
		case errors.As(err, &tooLarge):
			return nil, errTooLarge, true
		}
		g.log.Warn("gateway: invoke failed", "function", rt.function, "err", err)
		return nil, errInternal, true
	}
	if res.FunctionError != "" {
		g.log.Debug("gateway: function error", "function", rt.function, "type", res.ErrorType)
		return nil, errBadGateway, true
	}
	return res, nil, true
}

// writeError writes a gateway-made answer.
func (g *Gateway) writeError(w http.ResponseWriter, rt *route, origin string, e *errorResponse) (int, int) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	if e.kind != "" {
		h["X-Amzn-Errortype"] = []string{e.kind}
	}
	if rt != nil && rt.cors != nil && rt.cors.overrides {
		rt.cors.applyResponse(h, origin)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(e.body))}
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, e.body)
	return e.status, len(e.body)
}

// AccessLogName is the log name of a service's access logs, for `nimbus logs`.
func AccessLogName(service string) string {
	if service == "" {
		service = unmatchedAccessLogs
	}
	return service + ".access"
}

func (g *Gateway) accessLog(rt *route, r *http.Request, status, size int, requestID string, start time.Time) {
	if g.cfg.Logs == nil {
		return
	}
	var name string
	if rt != nil {
		name = rt.api.accessLog
		if name == "" {
			name = AccessLogName(rt.api.service)
		}
	} else {
		name = AccessLogName("")
	}
	latency := time.Since(start)
	b := make([]byte, 0, 192)
	b = append(b, remoteIP(r.RemoteAddr)...)
	b = append(b, ` "`...)
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.URL.RequestURI()...)
	b = append(b, ' ')
	b = append(b, r.Proto...)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, ' ')
	// Milliseconds with two decimals, rounded, without float formatting.
	hundredths := (latency.Microseconds() + 5) / 10
	b = strconv.AppendInt(b, hundredths/100, 10)
	b = append(b, '.', byte('0'+hundredths%100/10), byte('0'+hundredths%10))
	b = append(b, "ms requestId="...)
	b = append(b, requestID...)
	if rt != nil && rt.function != "" {
		b = append(b, " function="...)
		b = append(b, rt.function...)
		b = append(b, ` route="`...)
		b = append(b, rt.routeKey...)
		b = append(b, '"')
	}
	g.cfg.Logs.Append(logs.Record{Time: start, Function: name, RequestID: requestID, Message: string(b)})
}

// hasDotSegment reports whether a decoded path has a "." or ".." segment
// (sent as such, percent-encoded, or around an encoded slash).
func hasDotSegment(p string) bool {
	if !strings.Contains(p, ".") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
