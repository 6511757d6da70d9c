// Package console serves the platform's web console at /console/ on the API
// listener: sign-in (a one-time link from `nimbus console`, or an operator
// access key), and pages on functions, their logs and metrics, invocations
// and the resources services created.
//
// A browser cannot sign SigV4, so the console has sessions of its own: an
// HttpOnly cookie and a token the page keeps in its origin's storage and
// sends as a header. Both are needed for every answer that reveals or
// changes anything: the cookie alone is what a page on the HTTP gateway
// (same host, other port: cookies ignore ports) could receive, and it
// unlocks nothing. See docs/adr/0037-web-console.md.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

//go:embed assets
var assets embed.FS

// Paths.
const (
	// Prefix is where the console is served.
	Prefix = "/console/"
	// LinkPath mints a one-time sign-in link; it is under the deploy API's
	// prefix, so it is signed with SigV4 by an operator like the rest of it.
	LinkPath = "/nimbus/v1/console/link"
	// TokenHeader carries the session's token on every API request.
	TokenHeader = "X-Nimbus-Console-Token"
)

// Defaults.
const (
	DefaultSessionTTL = 8 * time.Hour
	DefaultLinkTTL    = 5 * time.Minute
	maxSessions       = 1024
	maxLinks          = 256
)

// Options tune sessions; zero values take the defaults.
type Options struct {
	SessionTTL time.Duration
	LinkTTL    time.Duration
	// Now is the clock (tests move it to expire sessions and links).
	Now func() time.Time
}

// Config is what the console reads and drives.
type Config struct {
	Registry *functions.Registry
	Logs     *logs.Store
	Metrics  prometheus.Gatherer
	Invoker  *invoke.Service
	// OperatorSecret returns an operator key's secret; nil when the
	// platform checks no signatures (then only links sign in).
	OperatorSecret func(id string) (string, bool)
	// Inventory lists the resources services created; nil: none.
	Inventory func(ctx context.Context) Inventory
	Options
	Logger *slog.Logger
}

// Console is the web console's handler and its sessions.
type Console struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[[32]byte]*session // by SHA-256 of the cookie value
	links    map[[32]byte]link     // by SHA-256 of the token
}

type session struct {
	token   string // sent by the page in TokenHeader
	keyID   string // the operator key that signed in (or minted the link); "" anonymous
	expires time.Time
}

type link struct {
	keyID   string
	expires time.Time
}

// New makes a console.
func New(cfg Config) *Console {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = DefaultLinkTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Console{cfg: cfg, log: cfg.Logger, sessions: map[[32]byte]*session{}, links: map[[32]byte]link{}}
}

// Register adds the console's routes to mux. The server's classify must
// leave Prefix unsigned (the console checks its own sessions) and keep
// LinkPath for operators.
func (c *Console) Register(mux *http.ServeMux) {
	sub := http.NewServeMux()
	sub.HandleFunc("GET /console/{$}", c.page("index.html"))
	sub.HandleFunc("GET /console/login", c.page("login.html"))
	sub.HandleFunc("GET /console/static/{file}", c.static)
	sub.HandleFunc("POST /console/api/login", c.login)
	sub.HandleFunc("POST /console/api/logout", c.api(c.logout))
	sub.HandleFunc("GET /console/api/functions", c.api(c.listFunctions))
	sub.HandleFunc("GET /console/api/functions/{name}/logs", c.api(c.readLogs))
	sub.HandleFunc("POST /console/api/functions/{name}/invoke", c.api(c.invoke))
	sub.HandleFunc("GET /console/api/resources", c.api(c.resources))
	sub.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	mux.Handle(Prefix, secure(sub))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	mux.HandleFunc("POST "+LinkPath, c.mintLink)
}

// secure sets the headers every console answer carries: no script, style
// or frame from anywhere but the console, nothing cached, nothing sniffed.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// page serves a static page: the pages hold no data and no secret, so a
// cookie that reached the gateway's origin reads nothing through them.
func (c *Console) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	}
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	ctype := ""
	switch {
	case strings.HasSuffix(file, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(file, ".css"):
		ctype = "text/css; charset=utf-8"
	}
	b, err := assets.ReadFile("assets/" + file)
	if ctype == "" || strings.Contains(file, "/") || err != nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}

// cookieName carries the listener's port: cookies ignore ports, and two
// platforms on one host must not overwrite each other's sessions.
func cookieName(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return "nimbus_console_" + port
	}
	return "nimbus_console"
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// sameOrigin reports whether a state-changing request comes from a page
// of this listener: browsers send Origin on every POST a page makes. The
// scheme is not compared (a TLS proxy in front serves the page over https
// and talks http to the listener); a missing port is the scheme's default.
func sameOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path != "" {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	oh, op := hostPort(u.Host, def)
	hh, hp := hostPort(r.Host, def)
	return strings.EqualFold(oh, hh) && op == hp
}

func hostPort(hostport, def string) (string, string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h, p = hostport, ""
	}
	if p == "" {
		p = def
	}
	return h, p
}

// secureOrigin: the page was served over TLS, here or by a proxy in front.
func secureOrigin(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(r.Header.Get("Origin"), "https://")
}

func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// LinkResponse is the answer of LinkPath.
type LinkResponse struct {
	// URL is the link as this listener sees itself; clients behind a proxy
	// put Path after the address they reach the platform by.
	URL     string    `json:"url"`
	Path    string    `json:"path"`
	Expires time.Time `json:"expires"`
}

// mintLink makes a one-time sign-in link for the operator who signed the
// request; the token travels in the URL's fragment, which browsers do not
// send to servers or in Referer headers.
func (c *Console) mintLink(w http.ResponseWriter, r *http.Request) {
	p := auth.PrincipalFrom(r.Context())
	if p == nil || !p.IsOperator() {
		writeError(w, http.StatusForbidden, "only operators may sign in to the console")
		return
	}
	token := random()
	now := c.cfg.Now()
	c.mu.Lock()
	for k, l := range c.links {
		if !now.Before(l.expires) {
			delete(c.links, k)
		}
	}
	if len(c.links) >= maxLinks {
		c.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, "too many unused sign-in links; wait for some to expire")
		return
	}
	expires := now.Add(c.cfg.LinkTTL)
	c.links[digest(token)] = link{keyID: operatorKey(p), expires: expires}
	c.mu.Unlock()
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	path := "/console/login#token=" + token
	writeJSON(w, http.StatusOK, LinkResponse{URL: scheme + r.Host + path, Path: path, Expires: expires})
}

func operatorKey(p *auth.Principal) string {
	if p.Kind == auth.Operator {
		return p.AccessKeyID
	}
	return ""
}

// LoginRequest signs in with a link's token or an operator key.
type LoginRequest struct {
	Token           string `json:"token,omitempty"`
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
}

// LoginResponse carries the token the page sends in TokenHeader.
type LoginResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

const signInFailed = "sign-in failed: the link was used or expired, or the key is not an operator key"

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "sign-in is accepted only from the console's own page")
		return
	}
	if !jsonBody(r) {
		writeError(w, http.StatusUnsupportedMediaType, "sign-in takes application/json")
		return
	}
	var req LoginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "sign-in takes {\"token\": ...} or {\"accessKeyId\": ..., \"secretAccessKey\": ...}")
		return
	}
	keyID, ok := c.check(req)
	if !ok {
		// Not the typed key id: a secret pasted into the wrong field would be logged.
		c.log.Info("console sign-in refused", "remote", r.RemoteAddr, "withLink", req.Token != "")
		writeError(w, http.StatusUnauthorized, signInFailed)
		return
	}
	now := c.cfg.Now()
	id, s := random(), &session{token: random(), keyID: keyID, expires: now.Add(c.cfg.SessionTTL)}
	c.mu.Lock()
	// A cookie the browser held before is dropped: sign-in always starts a
	// fresh session.
	for _, old := range r.CookiesNamed(cookieName(r)) {
		delete(c.sessions, digest(old.Value))
	}
	for k, o := range c.sessions {
		if !now.Before(o.expires) {
			delete(c.sessions, k)
		}
	}
	if len(c.sessions) >= maxSessions {
		c.evictOldest()
	}
	c.sessions[digest(id)] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: id, Path: "/console", MaxAge: int(c.cfg.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureOrigin(r)})
	c.log.Info("console sign-in", "remote", r.RemoteAddr, "accessKeyId", keyID)
	writeJSON(w, http.StatusOK, LoginResponse{Token: s.token, Expires: s.expires})
}

// evictOldest drops the session closest to its end; c.mu is held.
func (c *Console) evictOldest() {
	var oldest [32]byte
	var at time.Time
	for k, s := range c.sessions {
		if at.IsZero() || s.expires.Before(at) {
			oldest, at = k, s.expires
		}
	}
	delete(c.sessions, oldest)
}

// check tells who a sign-in request is: a link's token is used up here,
// whatever follows.
func (c *Console) check(req LoginRequest) (keyID string, ok bool) {
	now := c.cfg.Now()
	if req.Token != "" {
		d := digest(req.Token)
		c.mu.Lock()
		l, found := c.links[d]
		delete(c.links, d)
		c.mu.Unlock()
		if !found || !now.Before(l.expires) {
			return "", false
		}
		if l.keyID != "" && !c.operator(l.keyID) {
			return "", false // its key was revoked since
		}
		return l.keyID, true
	}
	if c.cfg.OperatorSecret == nil || req.AccessKeyID == "" || req.SecretAccessKey == "" {
		return "", false
	}
	// Only operator keys are in this table: function credentials (ASIA…)
	// are derived tokens and never found here.
	secret, found := c.cfg.OperatorSecret(req.AccessKeyID)
	if !found || subtle.ConstantTimeCompare([]byte(secret), []byte(req.SecretAccessKey)) != 1 {
		return "", false
	}
	return req.AccessKeyID, true
}

func (c *Console) operator(keyID string) bool {
	if c.cfg.OperatorSecret == nil {
		return true
	}
	_, ok := c.cfg.OperatorSecret(keyID)
	return ok
}

// errUnauthorized answers requests without a valid session.
var errUnauthorized = errors.New("not signed in, or the session ended: sign in again (`nimbus console` prints a link)")

// session finds the request's session: the cookie and the token header
// must both match, and the key that signed in must still exist. Every
// cookie of the name is tried: a page on the gateway (same host, other
// port) can set one with a longer path, which browsers send first.
func (c *Console) session(r *http.Request) (*session, [32]byte, error) {
	got := r.Header.Get(TokenHeader)
	if got == "" {
		return nil, [32]byte{}, errUnauthorized
	}
	for _, ck := range r.CookiesNamed(cookieName(r)) {
		if ck.Value == "" {
			continue
		}
		d := digest(ck.Value)
		c.mu.Lock()
		s, ok := c.sessions[d]
		if ok && !c.cfg.Now().Before(s.expires) {
			delete(c.sessions, d)
			ok = false
		}
		c.mu.Unlock()
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			continue
		}
		if s.keyID != "" && !c.operator(s.keyID) {
			c.mu.Lock()
			delete(c.sessions, d)
			c.mu.Unlock()
			return nil, d, errUnauthorized
		}
		return s, d, nil
	}
	return nil, [32]byte{}, errUnauthorized
}

// api wraps the JSON endpoints: a session, and for POSTs a same-origin
// page and a JSON body.
func (c *Console) api(h func(w http.ResponseWriter, r *http.Request, id [32]byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "state-changing requests are accepted only from the console's own page")
				return
			}
			if !jsonBody(r) {
				writeError(w, http.StatusUnsupportedMediaType, "the console's API takes application/json")
				return
			}
		} else if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			writeError(w, http.StatusForbidden, "the console's API answers only the console's own page")
			return
		}
		_, id, err := c.session(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		h(w, r, id)
	}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, id [32]byte) {
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureOrigin(r)})
	writeJSON(w, http.StatusOK, map[string]bool{"signedOut": true})
}

// Error is the body of every error answer.
type Error struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
