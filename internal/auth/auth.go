// Package auth is nimbus's identity layer: it verifies AWS Signature Version
// 4 on every request to the AWS-compatible APIs and the deploy API, knows the
// operators' access keys and the functions' short-lived credentials, and
// evaluates IAM policies for the edges (Authorize). Every edge calls the same
// Authorize with IAM's action names and resource ARNs.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// Kind is what sort of identity signed a request.
type Kind int

// Identities.
const (
	// Operator is a person or tool holding an operator access key.
	Operator Kind = iota + 1
	// Function is a function instance's short-lived credentials.
	Function
	// Anonymous is every caller of a platform started with --no-auth.
	Anonymous
)

// Principal is who made a request.
type Principal struct {
	Kind        Kind
	AccessKeyID string
	// ARN names the identity in AccessDenied messages and aws:PrincipalArn.
	ARN string
	// Name is the key's name (operators) or the function's name.
	Name string
	// Version is the function version the credentials were issued to.
	Version string
	// FunctionARN is the function of function credentials
	// (lambda:SourceFunctionArn in conditions).
	FunctionARN string
	// UserID is aws:userid: for function credentials, as for an assumed
	// role, "<role id>:<session name>" — the role's id (RoleID) and the
	// function's name.
	UserID string
	admin  bool
	policy Policy
}

// IsOperator reports whether p holds an operator key (or checking is off).
func (p *Principal) IsOperator() bool {
	return p != nil && (p.Kind == Operator || p.Kind == Anonymous)
}

// FunctionIdentity is what auth needs of a deployed function.
type FunctionIdentity struct {
	Name     string
	Service  string
	Stage    string
	Region   string
	Revision string // changes when the statements may have changed
	// Statements is the execution role's JSON array of IAM statements.
	Statements json.RawMessage
	// ManagedPolicies are managed policy ARNs attached to the role.
	ManagedPolicies []string
	// Version is the published version these statements belong to; empty
	// for $LATEST.
	Version string
}

// Config configures the identity service.
type Config struct {
	Store     *store.Store
	AccountID string
	// Functions looks a deployed function up; a removed function's
	// credentials stop working.
	Functions func(name string) (*FunctionIdentity, bool)
	// FunctionVersion, when set, looks up a published version of a function:
	// its credentials then carry the statements that version was published
	// with, not $LATEST's.
	FunctionVersion func(name, version string) (*FunctionIdentity, bool)
	// CredentialLifetime of function credentials; default 12h.
	CredentialLifetime time.Duration
	Logger             *slog.Logger
	// Now is the clock (tests move it).
	Now func() time.Time
}

// Key is an operator access key.
type Key struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	Name            string    `json:"name"`
	Created         time.Time `json:"created"`
	principal       *Principal
}

// KeyInfo describes a key without its secret.
type KeyInfo struct {
	AccessKeyID string    `json:"accessKeyId"`
	Name        string    `json:"name"`
	Created     time.Time `json:"created"`
}

// Credentials are a function instance's temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// Service verifies requests and evaluates policies.
type Service struct {
	cfg    Config
	log    *slog.Logger
	kv     jetstream.KeyValue
	keys   atomic.Pointer[map[string]*Key]
	keysMu sync.Mutex
	secret []byte // HMAC key of function session tokens, shared through the store

	signingMu   sync.RWMutex
	signingKeys map[string]*signingKeyEntry // key id/date/region/service → key
	policies    sync.Map                    // function name -> *compiledPolicy
	bufs        sync.Pool                   // *[]byte for canonical requests
}

type compiledPolicy struct {
	revision string
	policy   Policy
}

const (
	bucket            = "nimbus_auth"
	keyPrefix         = "key."
	platformSecretKey = "platform-secret"
	tokenPrefix       = "nimbus1."
)

// Open loads the keys and the platform secret (creating it on first start)
// and follows key changes made on other nodes until ctx ends.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CredentialLifetime == 0 {
		cfg.CredentialLifetime = 12 * time.Hour
	}
	kv, err := cfg.Store.KeyValue(ctx, bucket, 1)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, kv: kv}
	empty := map[string]*Key{}
	s.keys.Store(&empty)
	if s.secret, err = s.loadSecret(ctx); err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, keyPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("watch access keys: %w", err)
	}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		s.applyEntry(e)
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					s.applyEntry(e)
				}
			}
		}
	}()
	return s, nil
}

func (s *Service) loadSecret(ctx context.Context) ([]byte, error) {
	e, err := s.kv.Get(ctx, platformSecretKey)
	if err == nil {
		return e.Value(), nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("read the platform secret: %w", err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if _, err := s.kv.Create(ctx, platformSecretKey, secret); err != nil {
		// Another node made it first: use theirs.
		if e, gerr := s.kv.Get(ctx, platformSecretKey); gerr == nil {
			return e.Value(), nil
		}
		return nil, fmt.Errorf("store the platform secret: %w", err)
	}
	return secret, nil
}

func (s *Service) applyEntry(e jetstream.KeyValueEntry) {
	id := strings.TrimPrefix(e.Key(), keyPrefix)
	if e.Operation() != jetstream.KeyValuePut {
		s.setKey(id, nil)
		return
	}
	var k Key
	if err := json.Unmarshal(e.Value(), &k); err != nil || k.AccessKeyID != id {
		s.log.Error("stored access key is unreadable; skipped", "accessKeyId", id)
		return
	}
	s.setKey(id, &k)
}

// setKey installs (or with nil removes) a key in a new copy of the table, so
// Verify reads it without a lock.
func (s *Service) setKey(id string, k *Key) {
	if k != nil {
		// Requests share one immutable principal per key.
		k.principal = &Principal{Kind: Operator, AccessKeyID: k.AccessKeyID, Name: k.Name, admin: true,
			ARN: fmt.Sprintf("arn:aws:iam::%s:user/%s", s.cfg.AccountID, k.Name)}
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	old := *s.keys.Load()
	next := make(map[string]*Key, len(old)+1)
	for kid, v := range old {
		next[kid] = v
	}
	if k == nil {
		delete(next, id)
	} else {
		next[id] = k
	}
	s.keys.Store(&next)
}

// CreateKey makes a new operator access key.
func (s *Service) CreateKey(ctx context.Context, name string) (*Key, error) {
	if name == "" {
		name = "operator"
	}
	k := &Key{AccessKeyID: newKeyID("AKIA"), SecretAccessKey: newSecret(), Name: name, Created: s.cfg.Now().UTC()}
	data, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	if _, err := s.kv.Create(ctx, keyPrefix+k.AccessKeyID, data); err != nil {
		return nil, fmt.Errorf("store access key: %w", err)
	}
	s.setKey(k.AccessKeyID, k)
	s.log.Info("access key created", "accessKeyId", k.AccessKeyID, "name", name)
	return k, nil
}

// ErrNoSuchKey means the access key id is not known.
var ErrNoSuchKey = errors.New("no such access key")

// RevokeKey deletes an operator key; requests signed with it fail at once.
func (s *Service) RevokeKey(ctx context.Context, id string) error {
	if _, ok := (*s.keys.Load())[id]; !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchKey, id)
	}
	if err := s.kv.Delete(ctx, keyPrefix+id); err != nil {
		return fmt.Errorf("revoke access key: %w", err)
	}
	s.setKey(id, nil)
	s.log.Info("access key revoked", "accessKeyId", id)
	return nil
}

// Key returns an operator key with its secret.
func (s *Service) Key(id string) (*Key, bool) {
	k, ok := (*s.keys.Load())[id]
	return k, ok
}

// ListKeys describes every operator key, oldest first.
func (s *Service) ListKeys() []KeyInfo {
	keys := *s.keys.Load()
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyInfo{AccessKeyID: k.AccessKeyID, Name: k.Name, Created: k.Created})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].AccessKeyID < out[j].AccessKeyID
	})
	return out
}

func newKeyID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return prefix + base32.StdEncoding.EncodeToString(b) // 16 characters, A-Z and 2-7
}

func newSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) // 40 characters, as AWS's
}

// FunctionCredentials issues short-lived credentials bound to a function
// version. They are stateless: the session token carries the key id, the
// function, the version and the expiry under the platform secret's HMAC, and
// the secret key is derived from the token, so any node can check them.
func (s *Service) FunctionCredentials(function, version string) (Credentials, error) {
	if strings.ContainsAny(function+version, "\n") {
		return Credentials{}, fmt.Errorf("invalid function name %q", function)
	}
	exp := s.cfg.Now().Add(s.cfg.CredentialLifetime).UTC().Truncate(time.Second)
	id := newKeyID("ASIA")
	payload := id + "\n" + function + "\n" + version + "\n" + strconv.FormatInt(exp.Unix(), 10)
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(s.mac("token\n"+payload))
	return Credentials{AccessKeyID: id, SecretAccessKey: s.derivedSecret(payload), SessionToken: token, Expiration: exp}, nil
}

func (s *Service) mac(data string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func (s *Service) derivedSecret(payload string) string {
	return base64.StdEncoding.EncodeToString(s.mac("secret\n" + payload))[:40]
}

// tokenClaims are the parts of a function session token.
type tokenClaims struct {
	accessKeyID, function, version string
	expires                        time.Time
	secret                         string
}

// parseToken checks a session token's MAC and returns its claims.
func (s *Service) parseToken(token string) (*tokenClaims, bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return nil, false
	}
	p64, m64, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac("token\n"+string(payload))) {
		return nil, false
	}
	parts := strings.Split(string(payload), "\n")
	if len(parts) != 4 {
		return nil, false
	}
	unix, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return nil, false
	}
	return &tokenClaims{accessKeyID: parts[0], function: parts[1], version: parts[2],
		expires: time.Unix(unix, 0), secret: s.derivedSecret(string(payload))}, true
}

// VerifyOptions say what a listener accepts.
type VerifyOptions struct {
	// Services are the signing names the endpoint serves (e.g. "sqs", "sns");
	// empty accepts any.
	Services []string
	// AllowUnsignedPayload accepts UNSIGNED-PAYLOAD in the header form (S3).
	AllowUnsignedPayload bool
	// SingleEncodePath is S3's canonical URI rule.
	SingleEncodePath bool
	// MaxBody is the largest body buffered to hash it; larger bodies must
	// declare X-Amz-Content-Sha256 and are checked as they stream.
	MaxBody int64
}

// Verify checks r's signature and returns who signed it. It may replace
// r.Body with an in-memory copy of the bytes it hashed.
func (s *Service) Verify(r *http.Request, opts VerifyOptions) (*Principal, error) {
	p, _, err := s.verify(r, opts)
	return p, err
}

// verify is Verify that also returns, for a signed aws-chunked upload, the
// signer its chunks' signatures chain from.
func (s *Service) verify(r *http.Request, opts VerifyOptions) (*Principal, *ChunkSigner, error) {
	var srv signedRequest // on the stack: nothing below keeps it
	sr := &srv
	if err := parseRequestInto(r, sr); err != nil {
		return nil, nil, err
	}
	if len(opts.Services) > 0 && !contains(opts.Services, sr.service) {
		return nil, nil, newError(ErrSignatureMismatch, "Credential should be scoped to correct service: '"+strings.Join(opts.Services, "' or '")+"'. ")
	}
	if err := sr.checkTime(s.cfg.Now()); err != nil {
		return nil, nil, err
	}
	principal, secret, err := s.identify(sr)
	if err != nil {
		return nil, nil, err
	}
	// The payload hash: declared (and then checked against the body), or
	// computed from the body.
	declared := headerValue(r.Header, "X-Amz-Content-Sha256")
	var candidates [2]string
	var computed [2 * sha256.Size]byte
	n := 1
	switch {
	case declared == UnsignedPayload:
		if !opts.AllowUnsignedPayload && !sr.presigned {
			return nil, nil, newError(ErrSignatureMismatch, "UNSIGNED-PAYLOAD is accepted only by S3 and in presigned URLs.")
		}
		candidates[0] = UnsignedPayload
	case strings.HasPrefix(declared, "STREAMING-") && opts.AllowUnsignedPayload:
		// S3's aws-chunked uploads: the seed signature covers this literal;
		// the edge decodes the chunks and checks their signatures with the
		// ChunkSigner the middleware hands it.
		candidates[0] = declared
	case declared != "":
		if err := checkDeclaredHash(r, declared, opts.MaxBody); err != nil {
			return nil, nil, err
		}
		candidates[0] = declared
	default:
		body, err := readBody(r, opts.MaxBody)
		if errors.Is(err, errBodyTooLarge) {
			return nil, nil, newError(ErrBodyTooLarge, fmt.Sprintf("A request body over %d bytes must be signed with an x-amz-content-sha256 header.", opts.MaxBody))
		} else if err != nil {
			return nil, nil, newError(ErrIncompleteSignature, err.Error())
		}
		// candidates[0] "" stands for the hash computed into computed, used
		// as bytes: no string per request.
		if len(body) == 0 {
			copy(computed[:], emptyPayloadHash)
		} else {
			sum := sha256.Sum256(body)
			hex.Encode(computed[:], sum[:])
		}
		if sr.presigned {
			candidates[0], n = UnsignedPayload, 2
		}
	}
	key := s.signingHMACKey(sr, secret)
	buf := s.canonicalBuf()
	defer s.bufs.Put(buf)
	for i := range n {
		var ok bool
		var err error
		if candidates[i] == "" { // the hash computed from the body
			ok, err = signatureMatchesRequest(buf, key, r, sr, computed[:], opts.SingleEncodePath)
		} else {
			ok, err = signatureMatchesRequest(buf, key, r, sr, candidates[i], opts.SingleEncodePath)
		}
		if err != nil {
			return nil, nil, err
		}
		if ok {
			var cs *ChunkSigner
			if strings.HasPrefix(candidates[i], "STREAMING-AWS4-HMAC-SHA256-") {
				cs = &ChunkSigner{key: key.key, amzDate: sr.amzDateRaw, scope: sr.date + "/" + sr.region + "/" + sr.service + "/aws4_request", prev: sr.signature}
			}
			return principal, cs, nil
		}
	}
	return nil, nil, newError(ErrSignatureMismatch, "")
}

// signatureMatchesRequest builds r's canonical request with payloadHash in
// buf and compares the signature it yields under key with the request's.
func signatureMatchesRequest[T string | []byte](buf *[]byte, key *hmacKey, r *http.Request, sr *signedRequest, payloadHash T, singleEncode bool) (bool, error) {
	canonical, err := appendCanonicalRequest((*buf)[:0], r, sr, payloadHash, singleEncode)
	if err != nil {
		return false, err
	}
	*buf = canonical[:0]
	sum := sha256.Sum256(canonical)
	var stack [256]byte
	return key.matches(appendStringToSign(stack[:0], sr, &sum), sr.signature), nil
}

// canonicalBuf is a reusable buffer for canonical requests.
func (s *Service) canonicalBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

// checkDeclaredHash makes sure the body is the one the declared hash names:
// small bodies at once, larger ones as they stream to the handler.
func checkDeclaredHash(r *http.Request, declared string, limit int64) error {
	if len(declared) != 64 {
		return newError(ErrSignatureMismatch, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a hex SHA-256.")
	}
	if r.ContentLength >= 0 && r.ContentLength <= limit {
		body, err := readBody(r, limit)
		if err != nil {
			return newError(ErrIncompleteSignature, err.Error())
		}
		if got := hexSHA256(body); got != strings.ToLower(declared) {
			return newError(ErrSignatureMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		return nil
	}
	r.Body = &hashingBody{ReadCloser: r.Body, h: sha256.New(), want: strings.ToLower(declared)}
	return nil
}

// identify finds the principal and secret of the access key sr names.
func (s *Service) identify(sr *signedRequest) (*Principal, string, error) {
	if strings.HasPrefix(sr.accessKeyID, "ASIA") || sr.securityToken != "" {
		if sr.securityToken == "" {
			return nil, "", newError(ErrUnknownKey, "")
		}
		c, ok := s.parseToken(sr.securityToken)
		if !ok || c.accessKeyID != sr.accessKeyID {
			return nil, "", newError(ErrUnknownKey, "")
		}
		if !s.cfg.Now().Before(c.expires) {
			return nil, "", newError(ErrExpiredToken, "")
		}
		fn, ok := s.lookupFunction(c.function, c.version)
		if !ok {
			// The function was removed: its credentials die with it.
			return nil, "", newError(ErrUnknownKey, "")
		}
		role := fmt.Sprintf("%s-%s-%s-lambdaRole", fn.Service, fn.Stage, fn.Region)
		return &Principal{Kind: Function, AccessKeyID: c.accessKeyID, Name: c.function, Version: c.version,
			FunctionARN: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", fn.Region, s.cfg.AccountID, fn.Name),
			ARN:         fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.cfg.AccountID, role, fn.Name),
			UserID:      RoleID(s.cfg.AccountID, role) + ":" + fn.Name,
			policy:      s.functionPolicy(fn)}, c.secret, nil
	}
	k, ok := (*s.keys.Load())[sr.accessKeyID]
	if !ok {
		return nil, "", newError(ErrUnknownKey, "")
	}
	return k.principal, k.SecretAccessKey, nil
}

func (s *Service) lookupFunction(name, version string) (*FunctionIdentity, bool) {
	if version != "" && version != "$LATEST" && s.cfg.FunctionVersion != nil {
		return s.cfg.FunctionVersion(name, version)
	}
	if s.cfg.Functions == nil {
		return nil, false
	}
	return s.cfg.Functions(name)
}

// functionPolicy is the function's statements and managed policies, parsed
// once per revision.
func (s *Service) functionPolicy(fn *FunctionIdentity) Policy {
	key := fn.Name
	if fn.Version != "" {
		key += ":" + fn.Version
	}
	if c, ok := s.policies.Load(key); ok && c.(*compiledPolicy).revision == fn.Revision {
		return c.(*compiledPolicy).policy
	}
	policy, err := ParseStatements(fn.Statements)
	if err != nil {
		// Deploys validate statements; one that is unreadable grants nothing.
		s.log.Error("function's IAM statements are unreadable; it is allowed nothing", "function", fn.Name, "err", err)
		policy = nil
	}
	for _, arn := range fn.ManagedPolicies {
		if p, ok := ManagedPolicy(arn); ok {
			policy = append(policy, p...)
		} else {
			s.log.Warn("managed policy unknown to nimbus grants nothing", "function", fn.Name, "policy", arn)
		}
	}
	s.policies.Store(key, &compiledPolicy{revision: fn.Revision, policy: policy})
	return policy
}

// signingKey derives (or reuses) the signing key of sr's scope.
func (s *Service) signingKey(sr *signedRequest, secret string) []byte {
	return s.signingHMACKey(sr, secret).key
}

// signingHMACKey is signingKey with its HMAC pads.
func (s *Service) signingHMACKey(sr *signedRequest, secret string) *hmacKey {
	var stack [128]byte
	scope := append(stack[:0], sr.accessKeyID...)
	for _, part := range [...]string{sr.date, sr.region, sr.service} {
		scope = append(scope, '/')
		scope = append(scope, part...)
	}
	s.signingMu.RLock()
	entry := s.signingKeys[string(scope)] // no string made for the lookup
	s.signingMu.RUnlock()
	if entry != nil && entry.secret == secret {
		return entry.key
	}
	key := newHMACKey(SigningKey(secret, sr.date, sr.region, sr.service))
	s.signingMu.Lock()
	defer s.signingMu.Unlock()
	// Bound the cache: function credentials are many and short-lived.
	if s.signingKeys == nil || len(s.signingKeys) >= 4096 {
		s.signingKeys = make(map[string]*signingKeyEntry)
	}
	s.signingKeys[string(scope)] = &signingKeyEntry{secret: secret, key: key}
	return key
}

type signingKeyEntry struct {
	secret string
	key    *hmacKey
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// requestInfo is what Authorize needs of the request.
type requestInfo struct {
	principal *Principal
	secure    bool
	time      time.Time
	remote    string // the connection's peer, host:port, for aws:SourceIp
}

// requestValues is a request context that takes one value after it was
// made (httpguard's fast path): the principal then needs no copy of the
// request.
type requestValues interface {
	SetRequestValue(key, val any) bool
}

// attachPrincipal gives r's handlers the principal: in r's own context when
// it takes a value, else in a copy of r with a derived context.
func attachPrincipal(r *http.Request, p *Principal, now time.Time) *http.Request {
	if rv, ok := r.Context().(requestValues); ok {
		if rv.SetRequestValue(ctxKey{}, &requestInfo{principal: p, secure: r.TLS != nil, time: now, remote: r.RemoteAddr}) {
			return r
		}
	}
	ctx := WithPrincipal(r.Context(), p, r.TLS != nil, now)
	withRemote(ctx, r.RemoteAddr)
	return r.WithContext(ctx)
}

// WithPrincipal returns ctx carrying the request's principal.
func WithPrincipal(ctx context.Context, p *Principal, secureTransport bool, now time.Time) context.Context {
	return &principalCtx{Context: ctx, info: requestInfo{principal: p, secure: secureTransport, time: now}}
}

// principalCtx is context.WithValue(ctx, ctxKey{}, &info) in one allocation
// instead of two: every signed request makes one.
type principalCtx struct {
	context.Context
	info requestInfo
}

func (c *principalCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// PrincipalFrom returns the principal of the request ctx belongs to, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	if ri, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return ri.principal
	}
	return nil
}

// AnonymousPrincipal is every caller when checking is off.
func AnonymousPrincipal(accountID string) *Principal {
	return &Principal{Kind: Anonymous, Name: "anonymous", admin: true, ARN: "arn:aws:iam::" + accountID + ":root"}
}

// Authorize decides whether the request's principal may perform action on
// resource (an ARN, or "*"); extra condition keys (aws:SourceArn ...) join
// the ones nimbus supplies. It returns nil or an *Error of ErrAccessDenied.
func Authorize(ctx context.Context, action, resource string, extra map[string]string) error {
	return AuthorizeKeys(ctx, action, resource, extra, nil)
}

// MultiKeys are a request's multi-valued condition keys.
type MultiKeys struct {
	// Values: key → the request's values (dynamodb:LeadingKeys → the
	// partition key values it reads or writes).
	Values map[string][]string
	// Unknowable: keys the request cannot supply (a Scan's leading keys).
	Unknowable []string
}

// AuthorizeKeys is Authorize with multi-valued condition keys.
func AuthorizeKeys(ctx context.Context, action, resource string, extra map[string]string, keys *MultiKeys) error {
	ri, _ := ctx.Value(ctxKey{}).(*requestInfo)
	if ri == nil || ri.principal == nil {
		return newError(ErrAccessDenied, "User: anonymous is not authorized to perform: "+action+" on resource: "+resource)
	}
	p := ri.principal
	if p.admin {
		return nil
	}
	conds := map[string]string{
		"aws:PrincipalArn":     p.ARN,
		"aws:SecureTransport":  strconv.FormatBool(ri.secure),
		"aws:CurrentTime":      ri.time.UTC().Format(time.RFC3339),
		"aws:PrincipalAccount": accountOf(p.ARN),
	}
	if p.FunctionARN != "" {
		conds["lambda:SourceFunctionArn"] = p.FunctionARN
	}
	if p.UserID != "" {
		conds["aws:userid"] = p.UserID
	}
	if ip := SourceIP(ri.remote); ip != "" {
		conds["aws:SourceIp"] = ip
	}
	for k, v := range extra {
		conds[k] = v
	}
	req := &Request{Action: action, Resource: resource, Context: conds}
	if keys != nil {
		req.Multi, req.Unknowable = keys.Values, keys.Unknowable
	}
	switch Evaluate(req, p.policy) {
	case Allow:
		return nil
	case ExplicitDeny:
		e := newError(ErrAccessDenied, "User: "+p.ARN+" is not authorized to perform: "+action+" on resource: "+resource+" with an explicit deny in an identity-based policy")
		e.ExplicitDeny = true
		return e
	}
	return newError(ErrAccessDenied, "User: "+p.ARN+" is not authorized to perform: "+action+" on resource: "+resource+" because no identity-based policy allows the "+action+" action")
}

// RoleID is the unique id nimbus gives an execution role, shaped as IAM's
// ("AROA" and 17 characters): derived from the account and role name, so
// every node and restart agrees on it without storing it.
func RoleID(account, role string) string {
	sum := sha256.Sum256([]byte("role\x00" + account + "\x00" + role))
	return "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}

// SignURL adds an expiring signature to a platform URL (GetFunction's code
// download link), made with the platform secret so no caller's key is needed.
func (s *Service) SignURL(raw string, ttl time.Duration) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	exp := strconv.FormatInt(s.cfg.Now().Add(ttl).Unix(), 10)
	q := u.Query()
	q.Set("Expires", exp)
	q.Set("Signature", base64.RawURLEncoding.EncodeToString(s.mac("url\n"+u.Path+"\n"+exp)))
	u.RawQuery = q.Encode()
	return u.String()
}

// CheckURL reports whether u carries a valid, unexpired SignURL signature.
func (s *Service) CheckURL(u *url.URL) bool {
	q := u.Query()
	exp, sig := q.Get("Expires"), q.Get("Signature")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.cfg.Now().Unix() > unix {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, s.mac("url\n"+u.Path+"\n"+exp))
}

// Unrestricted reports whether the request's principal may do anything
// (operators), so an edge can skip work that only Authorize needs.
func Unrestricted(ctx context.Context) bool {
	ri, _ := ctx.Value(ctxKey{}).(*requestInfo)
	return ri != nil && ri.principal != nil && ri.principal.admin
}

// RolePrincipal is a session of an IAM role that nimbus itself assumes (a
// state machine's role, for its service integrations): its ARN is the
// assumed-role session's, as for function credentials, and it may do what
// policy allows.
func RolePrincipal(account, role, session string, policy Policy) *Principal {
	return &Principal{Kind: Function, Name: session, policy: policy,
		ARN:    "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session,
		UserID: RoleID(account, role) + ":" + session}
}
