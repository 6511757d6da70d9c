package server

import (
	"context"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/awsapi/stepfunctions"
	"github.com/nimbus-platform/nimbus/internal/workflows"
)

// openWorkflows opens the Step Functions service; RUNNING executions resume.
func (s *Server) openWorkflows(ctx context.Context) error {
	w, err := workflows.Open(ctx, workflows.Config{
		Store: s.store, Tasks: &workflows.LambdaTasks{Invoker: s.Invoker},
		AccountID: appspec.AccountID, Logger: s.log, Node: s.nodeName(),
	})
	if err != nil {
		return err
	}
	s.workflows = w
	s.Registry.OnDeploy(w.DeployHook)
	return nil
}

// stepFunctionsAPI serves Step Functions on the API listener.
func (s *Server) stepFunctionsAPI() http.Handler {
	return &stepfunctions.API{Service: s.workflows, Logger: s.log}
}

// Workflows is the node's Step Functions service.
func (s *Server) Workflows() *workflows.Service { return s.workflows }
