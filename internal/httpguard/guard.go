// Package httpguard protects the platform's own listener (the AWS APIs, the
// deploy API, /metrics, /healthz) from callers it must not serve: web pages
// in a user's browser (cross-origin requests, DNS rebinding) and clients
// that hold connections and memory (slow bodies, idle or unread
// connections, connection floods from one address).
//
// It knows nothing of what it serves: it is a listener wrapper and an
// http.Handler middleware, outermost, so its cheap checks run before any
// signature check or handler.
package httpguard

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Limits bound how long and how many connections a client may hold.
// Zero values take the defaults.
type Limits struct {
	// HeaderTimeout: time to send the request line and headers; default 30 s.
	HeaderTimeout time.Duration
	// BodyTimeout is the grace a request body gets; past it the body must
	// keep arriving at BodyMinRate: a body of n bytes may take BodyTimeout +
	// n/BodyMinRate. A large upload at a steady pace is never cut, a body
	// that stalls is. Default 30 s.
	BodyTimeout time.Duration
	// BodyMinRate in bytes per second; default 16 KiB/s (a 250 MB code
	// package may take 4 h 27 min).
	BodyMinRate int64
	// WriteTimeout: time for the client to take each part of an answer;
	// default 1 min, from every write (a streamed answer is not cut).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long; default 2 min.
	IdleTimeout time.Duration
	// MaxConnsPerClient caps the open connections of one IP address
	// (loopback included); default 256, negative for no cap.
	MaxConnsPerClient int
}

// Defaults.
const (
	DefaultHeaderTimeout     = 30 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultBodyMinRate       = 16 << 10
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxConnsPerClient = 256
	// MaxHeaderBytes bounds a request's line and headers (SigV4 headers
	// and S3 user metadata fit many times over).
	MaxHeaderBytes = 64 << 10
)

func (l *Limits) setDefaults() {
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.BodyMinRate <= 0 {
		l.BodyMinRate = DefaultBodyMinRate
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxConnsPerClient == 0 {
		l.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
}

// Config sets up a Guard.
type Config struct {
	// AllowedHosts are further names (or name:port) the listener may be
	// addressed by, besides localhost, loopback addresses and the address
	// it is bound to; subdomains of each are allowed too.
	AllowedHosts []string
	// Permit, when set, names requests the server serves to web pages (S3's
	// presigned, anonymous and form requests, bucket websites): they skip
	// the Origin and Sec-Fetch checks. The Host check still applies.
	Permit func(*http.Request) bool
	Limits Limits
	// ClientOf, when set, names the client of a connection for the cap on
	// connections per client, given its IP address, once that address has
	// reached its cap: each name then has a cap of its own. It may tell
	// apart the local users behind one address (functions share the host's).
	ClientOf func(c net.Conn, ip string) string
	Logger   *slog.Logger
}

// Guard holds one listener's policy.
type Guard struct {
	cfg     Config
	log     *slog.Logger
	hosts   *hostPolicy
	ln      *limitListener
	lastLog atomic.Int64 // unix nanoseconds of the last refused-connection warning
}

// New guards ln.
func New(ln net.Listener, cfg Config) (*Guard, error) {
	cfg.Limits.setDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	hosts, err := newHostPolicy(ln.Addr(), cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, hosts: hosts}
	g.ln = &limitListener{Listener: ln, max: cfg.Limits.MaxConnsPerClient, perIP: map[string]int{}, refused: g.refusedConn,
		clientOf: cfg.ClientOf}
	return g, nil
}

// Listener is the guarded listener: it caps connections per client.
func (g *Guard) Listener() net.Listener { return g.ln }

// Server returns an http.Server serving h behind the guard, with the
// connection deadlines set.
func (g *Guard) Server(h http.Handler) *http.Server {
	lim := g.cfg.Limits
	return &http.Server{
		Handler:           g.Handler(h),
		ReadHeaderTimeout: lim.HeaderTimeout,
		// No ReadTimeout or WriteTimeout: both would cut a request as a
		// whole (a 250 MB upload, a 15-minute invocation). The handler sets
		// progress-based deadlines on the body and on each write instead.
		IdleTimeout:    lim.IdleTimeout,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
}

// Handler refuses requests from browsers and for names that are not this
// listener's, and puts deadlines on the request body and the answer.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := g.refusal(r); reason != "" {
			g.log.Debug("request refused", "remote", r.RemoteAddr, "host", r.Host, "method", r.Method, "path", r.URL.Path, "reason", reason)
			refuse(w, r, reason)
			return
		}
		// One allocation for the request's deadline keeping.
		ex := &exchange{rc: *http.NewResponseController(w)}
		ex.writer = deadlineWriter{ResponseWriter: w, rc: &ex.rc, timeout: g.cfg.Limits.WriteTimeout}
		if r.Body != nil && r.Body != http.NoBody {
			ex.body.start(r.Body, &ex.rc, g.cfg.Limits.BodyTimeout, g.cfg.Limits.BodyMinRate)
			r.Body = &ex.body
			ex.writer.body = &ex.body
		}
		// Armed now too: a deadline left from an earlier request on the
		// connection must not fail this one's first write (100 Continue).
		ex.writer.arm()
		next.ServeHTTP(&ex.writer, r)
		// net/http writes what the handler left unwritten (headers of an
		// empty answer) after it returns, however long it ran.
		ex.writer.arm()
	})
}

// refusal says why a request is refused, or "".
func (g *Guard) refusal(r *http.Request) string {
	if !g.hosts.allows(r.Host) {
		return fmt.Sprintf("the Host %q is not an address of this nimbus (it answers to %s); "+
			"if you reach it by that name on purpose, start nimbus with --allowed-host %s",
			r.Host, g.hosts.description, hostOnly(r.Host))
	}
	// Permit is asked only about what would be refused: SDK calls skip it.
	if reason := pageRefusal(r); reason != "" && (g.cfg.Permit == nil || !g.cfg.Permit(r)) {
		return reason
	}
	return ""
}

// pageRefusal says why a request that comes from a web page is refused.
func pageRefusal(r *http.Request) string {
	// AWS SDKs, the AWS CLI and the nimbus CLI send none of these headers;
	// browsers send them with every request a page makes.
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return fmt.Sprintf("requests from web pages are not accepted (Origin %q)", o)
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "cross-site", "same-site":
		return fmt.Sprintf("requests from web pages are not accepted (Sec-Fetch-Site %q)", site)
	}
	if !safeMethod(r.Method) {
		switch mode := r.Header.Get("Sec-Fetch-Mode"); mode {
		case "navigate", "no-cors":
			return fmt.Sprintf("%s requests from web pages are not accepted (Sec-Fetch-Mode %q)", r.Method, mode)
		}
	}
	return ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func hostOnly(hostport string) string {
	h, _ := splitHostPort(hostport)
	if h == "" {
		return "NAME"
	}
	return h
}

// Refused is the JSON body of a refused request.
type Refused struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RefusedCode is the error code of refused requests (AWS's, so SDKs show it).
const RefusedCode = "AccessDeniedException"

func refuse(w http.ResponseWriter, r *http.Request, reason string) {
	body, _ := json.Marshal(Refused{Code: RefusedCode, Message: "request refused: " + reason})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", RefusedCode)
	// The body was not read: do not keep a connection whose next request
	// would start inside it.
	if r.Body != nil && r.Body != http.NoBody {
		h.Set("Connection", "close")
	}
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(body)
}

// refusedConn logs (at most every 10 s) that a client reached its cap.
func (g *Guard) refusedConn(ip string, open int) {
	now := time.Now().UnixNano()
	last := g.lastLog.Load()
	if now-last < int64(10*time.Second) || !g.lastLog.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn("connection refused: the client has too many open connections", "client", ip, "open", open, "max", g.cfg.Limits.MaxConnsPerClient)
}
