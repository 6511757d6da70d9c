package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/awsapi/stepfunctions"
	"github.com/nimbus-platform/nimbus/internal/events"
	"github.com/nimbus-platform/nimbus/internal/workflows"
)

// openWorkflows opens the Step Functions service; RUNNING executions resume.
func (s *Server) openWorkflows(ctx context.Context) error {
	// Tasks that start other machines run through the service itself.
	tasks := &workflows.NestedTasks{Next: &workflows.LambdaTasks{Invoker: s.Invoker}}
	w, err := workflows.Open(ctx, workflows.Config{
		Store: s.store, Tasks: tasks,
		AccountID: appspec.AccountID, Logger: s.log, Node: s.nodeName(),
	})
	if err != nil {
		return err
	}
	tasks.SetService(w)
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

// startMachine starts an execution for a gateway route integrated with Step
// Functions (gateway.Config.StartMachine).
func (s *Server) startMachine(ctx context.Context, arn, input string, sync bool) ([]byte, string, string, error) {
	if s.workflows == nil {
		return nil, "", "", fmt.Errorf("step functions are not running")
	}
	start, answer := s.workflows.StartExecution, stepfunctions.StartAnswer
	if sync {
		start, answer = s.workflows.StartSyncExecution, stepfunctions.SyncAnswer
	}
	ex, err := start(ctx, workflows.Start{StateMachineARN: arn, Input: input})
	if err != nil {
		if code, msg, ok := stepfunctions.ErrorCode(err); ok {
			return nil, code, msg, nil
		}
		return nil, "", "", err
	}
	return answer(ex), "", "", nil
}

// machineSink starts an execution for an event rule or schedule whose target
// is a state machine (an events.Sink): the event is the input. A machine
// that does not exist or refuses the input is not retried.
func (s *Server) machineSink(ctx context.Context, arn string, body []byte, _ map[string]string) error {
	if s.workflows == nil {
		return fmt.Errorf("step functions are not running")
	}
	_, err := s.workflows.StartExecution(ctx, workflows.Start{StateMachineARN: arn, Input: string(body)})
	if code, msg, ok := stepfunctions.ErrorCode(err); ok {
		kind := events.CodeValidation
		if code == "StateMachineDoesNotExist" {
			kind = events.CodeNotFound
		}
		return &events.Error{Code: kind, Message: code + ": " + msg}
	}
	return err
}
