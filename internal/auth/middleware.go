package auth

import (
	"context"
	"net/http"
	"time"
)

// Route is how a listener treats one request.
type Route struct {
	// Open routes need no signature (health checks).
	Open     bool
	Protocol Protocol
	Verify   VerifyOptions
	// OperatorsOnly refuses function credentials (the deploy API).
	OperatorsOnly bool
}

// Middleware verifies every request that classify does not call open and
// puts its principal in the request's context for the edges' Authorize. A
// nil s turns checking off: every caller is an anonymous administrator.
func Middleware(s *Service, accountID string, next http.Handler, classify func(*http.Request) Route) http.Handler {
	if s == nil {
		anon := AnonymousPrincipal(accountID)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), anon, r.TLS != nil, time.Now())))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := classify(r)
		if route.Open {
			next.ServeHTTP(w, r)
			return
		}
		p, chunks, err := s.verify(r, route.Verify)
		if err != nil {
			e, ok := AsError(err)
			if !ok {
				e = newError(ErrIncompleteSignature, err.Error())
			}
			if e.Reason != ErrMissingToken {
				s.log.Debug("request refused", "reason", e.Code(ProtocolJSON), "path", r.URL.Path, "remote", r.RemoteAddr)
			}
			WriteError(w, route.Protocol, e)
			return
		}
		if route.OperatorsOnly && !p.IsOperator() {
			WriteError(w, route.Protocol, newError(ErrAccessDenied, "User: "+p.ARN+" is not authorized to use the nimbus deploy API: it accepts operator keys only"))
			return
		}
		if chunks != nil {
			ctx := WithPrincipal(r.Context(), p, r.TLS != nil, s.cfg.Now())
			withRemote(ctx, r.RemoteAddr)
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, chunkKey{}, chunks)))
			return
		}
		next.ServeHTTP(w, attachPrincipal(r, p, s.cfg.Now()))
	})
}
