package server

import (
	"context"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/awsapi/ssm"
	"github.com/nimbus-platform/nimbus/internal/params"
)

// openParams opens the parameter store (the SSM API's and ${ssm:}'s).
func (s *Server) openParams(ctx context.Context) error {
	p, err := params.Open(ctx, params.Config{Store: s.store, DataDir: s.cfg.DataDir})
	if err != nil {
		return err
	}
	s.params = p
	return nil
}

// ssmAPI serves Parameter Store on the API listener.
func (s *Server) ssmAPI() http.Handler {
	return &ssm.API{Params: s.params, Logger: s.log}
}

// Params is the node's parameter store.
func (s *Server) Params() *params.Store { return s.params }
