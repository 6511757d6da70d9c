// Package invoke is the one call every edge and event source ends in: invoke
// a function with an event. It resolves names, ARNs and qualifiers, enforces
// payload limits, and hands the invocation to the runtime.
package invoke

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/runtime"
)

// Limits from Lambda.
const (
	MaxSyncPayloadBytes = 6 * 1024 * 1024
)

// NotFoundError means the function (or the qualifier) does not exist.
type NotFoundError struct{ Name, Qualifier string }

func (e *NotFoundError) Error() string {
	if e.Qualifier != "" && e.Qualifier != "$LATEST" {
		return fmt.Sprintf("Function not found: %s:%s", e.Name, e.Qualifier)
	}
	return "Function not found: " + e.Name
}

// InvalidParameterError means a parameter of the request is wrong.
type InvalidParameterError struct{ Message string }

func (e *InvalidParameterError) Error() string { return e.Message }

// PayloadTooLargeError means the request payload is over the limit.
type PayloadTooLargeError struct{ Size, Limit int }

func (e *PayloadTooLargeError) Error() string {
	return fmt.Sprintf("%d byte payload is too large for the RequestResponse invocation type (%d byte maximum)", e.Size, e.Limit)
}

// Request is a synchronous invocation.
type Request struct {
	// Function is a name, a full or partial ARN, optionally with ":qualifier".
	Function      string
	Qualifier     string
	Payload       []byte
	ClientContext string // decoded JSON
	TraceID       string
	LogTail       bool
	// RequestID is kept when set (an asynchronous invocation keeps its id
	// across retries); otherwise a new one is made.
	RequestID string
	// Source says what caused the invocation, for watchers: "GET /hello",
	// "sqs orders", "rule nightly", "async", "lambda api" ...
	Source string
}

// Record describes one finished invocation, for watchers such as `nimbus dev`.
type Record struct {
	Time      time.Time // when it ended
	Function  string
	Source    string
	RequestID string
	Result    *runtime.Result // nil when Err is set
	Err       error           // the invoke itself failed: not found, throttled ...
}

// Response is the outcome of an invocation.
type Response struct {
	runtime.Result
	RequestID       string
	ExecutedVersion string
	Function        *functions.Function
}

// Service invokes functions.
type Service struct {
	registry *functions.Registry
	runtime  *runtime.Manager
	watcher  atomic.Pointer[func(Record)]
}

// Watch calls fn after every invocation (nil stops it). While a watcher is
// set, every invocation's log tail is captured for it.
func (s *Service) Watch(fn func(Record)) {
	if fn == nil {
		s.watcher.Store(nil)
		return
	}
	s.watcher.Store(&fn)
}

// New returns a Service.
func New(registry *functions.Registry, rt *runtime.Manager) *Service {
	uuid.EnableRandPool() // request ids are made on the hot path
	return &Service{registry: registry, runtime: rt}
}

// Resolve finds the function version a name and qualifier designate: the
// version itself, $LATEST, or the version an alias routes this invocation
// to (a weighted alias chooses at random). It returns that version's number.
func (s *Service) Resolve(name, qualifier string) (*functions.Function, string, error) {
	f, _, err := s.resolve(name, qualifier, mrand.Float64)
	if err != nil {
		return nil, "", err
	}
	return f, f.Version, nil
}

// Lookup is Resolve without the weighted choice: an alias designates its
// primary version. It also returns the alias.
func (s *Service) Lookup(name, qualifier string) (*functions.Function, *functions.Alias, error) {
	return s.resolve(name, qualifier, nil)
}

func (s *Service) resolve(name, qualifier string, random func() float64) (*functions.Function, *functions.Alias, error) {
	fn, q, err := ParseName(name)
	if err != nil {
		return nil, nil, err
	}
	if q != "" && qualifier != "" && q != qualifier {
		return nil, nil, &InvalidParameterError{Message: fmt.Sprintf("The derived qualifier from the function name (%s) does not match the specified qualifier (%s).", q, qualifier)}
	}
	if qualifier == "" {
		qualifier = q
	}
	f, ok := s.registry.Get(fn)
	if !ok {
		return nil, nil, &NotFoundError{Name: fn, Qualifier: qualifier}
	}
	if foreignARN(name, f.ARN) {
		// An ARN of another partition, region or account names a function
		// that is not here, whoever asks: the Lambda API, an event source
		// or a destination.
		return nil, nil, &NotFoundError{Name: name, Qualifier: qualifier}
	}
	if qualifier == "" || qualifier == functions.Latest {
		return f, nil, nil
	}
	version := qualifier
	var alias *functions.Alias
	if !IsVersion(qualifier) {
		if alias, ok = s.registry.Alias(fn, qualifier); !ok {
			return nil, nil, &NotFoundError{Name: fn, Qualifier: qualifier}
		}
		version = alias.FunctionVersion
		if random != nil {
			version = Route(alias, random())
		}
	}
	v, ok := s.registry.Version(fn, version)
	if !ok {
		return nil, nil, &NotFoundError{Name: fn, Qualifier: qualifier}
	}
	return v, alias, nil
}

// Route chooses the version of a weighted alias for a draw r in [0, 1):
// the additional version takes the draws below its weight.
func Route(a *functions.Alias, r float64) string {
	for v, w := range a.Weights {
		if r < w {
			return v
		}
	}
	return a.FunctionVersion
}

// IsVersion reports whether a qualifier is a version number rather than an
// alias name.
func IsVersion(q string) bool {
	if q == "" {
		return false
	}
	for i := 0; i < len(q); i++ {
		if q[i] < '0' || q[i] > '9' {
			return false
		}
	}
	return true
}

// Invoke runs a synchronous invocation. Function errors are in the Response;
// a Go error means the invoke itself failed (not found, throttled, too large).
func (s *Service) Invoke(ctx context.Context, req *Request) (*Response, error) {
	if w := s.watcher.Load(); w != nil {
		return s.watched(ctx, req, *w)
	}
	return s.invoke(ctx, req)
}

// watched runs an invocation and tells fn about it, with the log tail the
// caller sees only if it asked for it.
func (s *Service) watched(ctx context.Context, req *Request, fn func(Record)) (*Response, error) {
	asked := req.LogTail
	r := *req
	r.LogTail = true
	resp, err := s.invoke(ctx, &r)
	rec := Record{Time: time.Now(), Function: req.Function, Source: req.Source, Err: err}
	if resp != nil {
		res := resp.Result
		rec.RequestID, rec.Result = resp.RequestID, &res
		if resp.Function != nil {
			rec.Function = resp.Function.Spec.FunctionName
		}
		if !asked {
			resp.LogTail = nil
		}
	}
	fn(rec)
	return resp, err
}

func (s *Service) invoke(ctx context.Context, req *Request) (*Response, error) {
	f, alias, err := s.resolve(req.Function, req.Qualifier, mrand.Float64)
	if err != nil {
		return nil, err
	}
	if len(req.Payload) > MaxSyncPayloadBytes {
		return nil, &PayloadTooLargeError{Size: len(req.Payload), Limit: MaxSyncPayloadBytes}
	}
	payload := req.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	id := req.RequestID
	if id == "" {
		id = NewRequestID()
	}
	inv := &runtime.Invocation{RequestID: id, Payload: payload, ClientContext: req.ClientContext, TraceID: req.TraceID, TailLog: req.LogTail}
	if inv.TraceID == "" {
		inv.TraceID = traceID()
	}
	if alias != nil {
		inv.InvokedARN = f.ARN + ":" + alias.Name
	}
	res, err := s.runtime.Invoke(ctx, f.Spec, inv)
	if err != nil {
		return nil, err
	}
	return &Response{Result: *res, RequestID: id, ExecutedVersion: f.Version, Function: f}, nil
}

// NewRequestID makes a Lambda-style request id (a random UUID).
func NewRequestID() string { return uuid.NewString() }

func traceID() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return string(appendTraceID(make([]byte, 0, 74), uint32(time.Now().Unix()), &r))
}

// appendTraceID appends Root=1-<time, 8 hex digits>-<r in hex>;Parent=<r[:8]
// in hex>;Sampled=0: built without fmt, as it is once per invoke.
func appendTraceID(b []byte, unix uint32, r *[12]byte) []byte {
	var t [4]byte
	binary.BigEndian.PutUint32(t[:], unix)
	b = append(b, "Root=1-"...)
	b = hex.AppendEncode(b, t[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, r[:])
	b = append(b, ";Parent="...)
	b = hex.AppendEncode(b, r[:8])
	return append(b, ";Sampled=0"...)
}

var (
	nameRE = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*):lambda:([a-z]{2}(-gov)?-[a-z]+-\d{1}):(\d{12}):function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)
	partRE = regexp.MustCompile(`^(\d{12}):function:([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)
)

// ParseName accepts a function name, a partial ARN (123456789012:function:name)
// or a full ARN, each optionally with a qualifier suffix.
func ParseName(s string) (name, qualifier string, err error) {
	if len(s) == 0 || len(s) > 170 {
		return "", "", &InvalidParameterError{Message: "1 validation error detected: Value at 'functionName' failed to satisfy constraint: Member must have length between 1 and 170"}
	}
	if plainName(s) {
		return s, "", nil // the common case, without the regular expressions
	}
	if m := partRE.FindStringSubmatch(s); m != nil {
		return m[2], m[4], nil
	}
	m := nameRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", &InvalidParameterError{Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", s)}
	}
	if len(m[6]) > 64 {
		return "", "", &InvalidParameterError{Message: "function name is longer than 64 characters"}
	}
	return m[6], m[8], nil
}

// foreignARN reports whether name is an ARN that does not belong to the
// function whose ARN is own: another partition, region or account.
func foreignARN(name, own string) bool {
	const marker = ":function:"
	i := strings.Index(own, marker)
	if i < 0 {
		return false
	}
	prefix := own[:i+len(marker)] // arn:aws:lambda:REGION:ACCOUNT:function:
	switch {
	case strings.HasPrefix(name, "arn:"):
		return !strings.HasPrefix(name, prefix)
	case strings.Contains(name, marker):
		// A partial ARN, ACCOUNT:function:NAME.
		account := prefix[strings.LastIndexByte(prefix[:i], ':')+1 : i]
		return !strings.HasPrefix(name, account+marker)
	}
	return false
}

// plainName reports whether s is a bare function name of at most 64 characters.
func plainName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsThrottle reports whether err is a throttle.
func IsThrottle(err error) bool {
	var te *runtime.ThrottleError
	return errors.As(err, &te)
}

// ValidQualifier reports whether q has the shape of a version or alias.
func ValidQualifier(q string) bool {
	if q == "$LATEST" {
		return true
	}
	if q == "" || len(q) > 128 {
		return false
	}
	return !strings.ContainsAny(q, ":/ ")
}
