package server

import (
	"context"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/httpguard"
)

// serveAPI serves h on the API listener behind the guard: only requests
// for this listener's names and not from web pages, with deadlines on
// slow clients and a cap on connections per client.
func (s *Server) serveAPI(h http.Handler) error {
	cfg := httpguard.Config{
		AllowedHosts: s.cfg.AllowedHosts,
		Limits:       s.cfg.APILimits,
		Logger:       s.log,
		Permit:       s.S3Browser,
	}
	if s.sandbox != nil {
		// Functions share the host's address: each uid has its own cap.
		cfg.ClientOf = s.sandbox.ClientOf
	}
	guard, err := httpguard.New(s.ln, cfg)
	if err != nil {
		_ = s.ln.Close()
		return err
	}
	// Simple requests are served without net/http's per-request
	// machinery; the rest go to net/http (ADR 0034).
	fast := guard.Fast(h)
	s.http = fast
	go func() { s.served <- fast.Serve() }()
	return nil
}

// apiServer is what serves the API listener: stopped gracefully or at once.
type apiServer interface {
	Shutdown(context.Context) error
	Close() error
}
