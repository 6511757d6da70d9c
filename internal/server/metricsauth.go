package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsTokenFile holds the bearer token that reads /metrics, in the data
// directory, readable by its owner only. Metrics name functions and count
// their calls: any local process (a function too) could read them if they
// were open.
const MetricsTokenFile = "metrics-token"

// ReadMetricsToken reads the /metrics bearer token of a data directory.
func ReadMetricsToken(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, MetricsTokenFile))
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("%s is empty", filepath.Join(dataDir, MetricsTokenFile))
	}
	return token, nil
}

// ensureMetricsToken reads the /metrics token, creating it on first start.
func (s *Server) ensureMetricsToken() error {
	token, err := ReadMetricsToken(s.cfg.DataDir)
	if err == nil {
		s.metricsToken = token
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read the metrics token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("make the metrics token: %w", err)
	}
	token = hex.EncodeToString(b)
	path := filepath.Join(s.cfg.DataDir, MetricsTokenFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the metrics token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the metrics token: %w", err)
	}
	s.metricsToken = token
	return nil
}

// metricsBearer reports whether r carries the /metrics bearer token.
func (s *Server) metricsBearer(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.metricsToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.metricsToken)) == 1
}

// metricsRoute is /metrics on the API listener: open to the bearer token,
// else signed (metricsHandler then wants an operator key).
func (s *Server) metricsRoute(r *http.Request) auth.Route {
	if s.metricsBearer(r) {
		return auth.Route{Open: true}
	}
	return auth.Route{Protocol: auth.ProtocolNimbus, Verify: auth.VerifyOptions{MaxBody: maxSignedBody}}
}

// metricsHandler serves Prometheus metrics to the bearer token or an
// operator's signature; function credentials are refused.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Auth != nil && !s.metricsBearer(r) {
			if p := auth.PrincipalFrom(r.Context()); p == nil || !p.IsOperator() {
				http.Error(w, "metrics are read with the bearer token in the data directory's "+MetricsTokenFile+
					" (shown by `nimbus info`) or an operator key", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
