package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/awsapi/codedeploy"
	"github.com/nimbus-platform/nimbus/internal/deployments"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
)

// openDeployments starts the traffic-shifting engine (docs/adr/0038).
func (s *Server) openDeployments(ctx context.Context) error {
	e, err := deployments.Open(ctx, deployments.Config{Store: s.store, Registry: s.Registry, Logger: s.log,
		Now: s.cfg.DeploymentClock, TimeScale: s.cfg.DeploymentTimeScale, HookTimeout: s.cfg.DeploymentHookTimeout,
		Tick: s.cfg.DeploymentTick,
		Invoke: func(ctx context.Context, function string, payload []byte) error {
			resp, err := s.Invoker.Invoke(ctx, &invoke.Request{Function: function, Payload: payload, Source: "codedeploy hook"})
			if err != nil {
				return err
			}
			if resp.FunctionError != "" {
				return fmt.Errorf("the hook function failed: %s", resp.Payload)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	s.deployments = e
	return nil
}

// startShift is the registry's Shift: nil until the engine runs.
func (s *Server) startShift(ctx context.Context, req functions.ShiftRequest) (string, error) {
	if s.deployments == nil {
		return "", errors.New("traffic shifting is not running")
	}
	return s.deployments.Start(ctx, req)
}

// codeDeployAPI serves the CodeDeploy operations traffic hooks use.
func (s *Server) codeDeployAPI() http.Handler {
	return &codedeploy.API{Engine: s.deployments, AccountID: appspec.AccountID, RegionOf: func(function string) string {
		if f, ok := s.Registry.Get(function); ok {
			return f.Region
		}
		return "us-east-1"
	}}
}

// Deployments is the node's traffic-shifting engine.
func (s *Server) Deployments() *deployments.Engine { return s.deployments }
