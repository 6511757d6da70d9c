package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-platform/nimbus/internal/auth"
)

// Resources of the Step Functions integration (nested executions).
const (
	StartExecutionResource      = "arn:aws:states:::states:startExecution"
	StartExecutionSyncResource  = StartExecutionResource + ".sync"
	StartExecutionSync2Resource = StartExecutionResource + ".sync:2"
)

// NestedTasks runs the Step Functions integration (a Task that starts
// another state machine) through the service's own StartExecution, and
// hands every other resource to Next. Service is set with SetService once
// the service is open; tasks resumed before that wait for it.
type NestedTasks struct {
	Next TaskRunner

	once  sync.Once
	ready chan struct{}
	svc   *Service
	// Poll is the longest wait between two reads of a .sync task's child
	// (the first reads come sooner, so short children end quickly); default
	// 1 s.
	Poll time.Duration
}

func (n *NestedTasks) init() { n.once.Do(func() { n.ready = make(chan struct{}) }) }

// SetService gives the runner the service it starts executions on.
func (n *NestedTasks) SetService(s *Service) {
	n.init()
	n.svc = s
	close(n.ready)
}

func (n *NestedTasks) service(ctx context.Context) (*Service, error) {
	n.init()
	select {
	case <-n.ready:
		return n.svc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// RunTask starts a nested execution, or passes the task on.
func (n *NestedTasks) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	switch req.Resource {
	case StartExecutionResource, StartExecutionSyncResource, StartExecutionSync2Resource:
	default:
		if n.Next == nil {
			return nil, &Failure{Name: ErrRuntime, Cause: "no task runner for " + req.Resource}
		}
		return n.Next.RunTask(ctx, req)
	}
	s, err := n.service(ctx)
	if err != nil {
		return nil, err
	}
	var p struct {
		StateMachineArn string          `json:"StateMachineArn"`
		Name            string          `json:"Name"`
		Input           json.RawMessage `json:"Input"`
	}
	if err := json.Unmarshal(req.Input, &p); err != nil || p.StateMachineArn == "" {
		return nil, &Failure{Name: ErrRuntime, Cause: "states:startExecution needs Parameters with a StateMachineArn"}
	}
	// Input is a JSON object or a JSON text, as on AWS.
	input := "{}"
	if len(p.Input) > 0 && string(p.Input) != "null" {
		input = string(p.Input)
		var text string
		if json.Unmarshal(p.Input, &text) == nil {
			input = text
		}
	}
	if err := s.mayStart(ctx, req.Execution, p.StateMachineArn); err != nil {
		return nil, err
	}
	child, err := s.StartExecution(ctx, Start{StateMachineARN: p.StateMachineArn, Name: p.Name, Input: input})
	if err != nil {
		return nil, nestedFailure(err)
	}
	if req.Resource == StartExecutionResource {
		return json.Marshal(map[string]any{
			"ExecutionArn": child.ARN, "StartDate": child.Start.UnixMilli(),
			"SdkHttpMetadata":     map[string]any{"HttpStatusCode": 200},
			"SdkResponseMetadata": map[string]any{"RequestId": newID()},
		})
	}
	done, err := n.wait(ctx, s, child.ARN)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"ExecutionArn": done.ARN, "StateMachineArn": done.StateMachineARN, "Name": done.Name, "Status": done.Status,
		"Input": done.Input, "InputDetails": map[string]any{"Included": true},
		"StartDate": done.Start.UnixMilli(), "StopDate": done.Stop.UnixMilli(),
	}
	if done.Status == StatusSucceeded {
		out["Output"] = done.Output
		out["OutputDetails"] = map[string]any{"Included": true}
		if req.Resource == StartExecutionSync2Resource && json.Valid([]byte(done.Output)) {
			out["Output"] = json.RawMessage(done.Output) // :2 gives the output as JSON, not text
		}
		return json.Marshal(out)
	}
	// A child that did not succeed fails the task with its description as
	// the cause.
	if done.Error != "" {
		out["Error"] = done.Error
	}
	if done.Cause != "" {
		out["Cause"] = done.Cause
	}
	cause, _ := json.Marshal(out)
	return nil, &Failure{Name: ErrTaskFailed, Cause: string(cause)}
}

// wait polls the child until it ends. If the task ends first (a timeout,
// the parent stopped), the child is stopped, as AWS does for .sync; a
// platform shutdown leaves it running to resume.
func (n *NestedTasks) wait(ctx context.Context, s *Service, arn string) (*Execution, error) {
	longest := n.Poll
	if longest <= 0 {
		longest = time.Second
	}
	poll := 20 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if s.ctx.Err() == nil {
				if _, err := s.StopExecution(context.WithoutCancel(ctx), arn, "States.Aborted", "the parent's task ended"); err != nil {
					s.log.Warn("stop a nested execution", "execution", arn, "err", err)
				}
			}
			return nil, ctx.Err()
		case <-t.C:
		}
		ex, err := s.DescribeExecution(ctx, arn)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return nil, fmt.Errorf("nested execution %s: %w", arn, err)
		}
		if ex.Status != StatusRunning {
			return ex, nil
		}
		t.Reset(poll)
		poll = min(2*poll, longest)
	}
}

// nestedFailure names a refused start as the Step Functions integration
// does: StepFunctions.<AWS error code>.
func nestedFailure(err error) error {
	var we *Error
	if !errors.As(err, &we) {
		return err
	}
	code := map[Kind]string{
		KindInvalid: "ValidationException", KindInvalidName: "InvalidName", KindInvalidArn: "InvalidArn",
		KindMachineNotFound: "StateMachineDoesNotExistException", KindExecutionExists: "ExecutionAlreadyExistsException",
	}[we.Kind]
	if code == "" {
		code = "SfnException"
	}
	return &Failure{Name: "StepFunctions." + code, Cause: we.Message}
}

// mayStart decides whether the execution parent may start the machine
// child. A machine's role is the statements its deploy declared (SAM
// Policies), else modelled as serverless-step-functions writes it from the
// definition: states:StartExecution (and the .sync calls) on
// every StateMachineArn a startExecution task names, or on every machine
// when a task reads the ARN from its input (StateMachineArn.$). The policy
// is evaluated by the platform's IAM evaluator; a denial fails the task
// with StepFunctions.AccessDeniedException.
func (s *Service) mayStart(ctx context.Context, parent ExecutionInfo, child string) error {
	m, err := s.DescribeStateMachine(ctx, parent.StateMachineARN)
	if err != nil {
		return fmt.Errorf("parent state machine: %w", err)
	}
	policy, declared, err := s.rolePolicy(ctx, m.Name)
	if err != nil {
		return err
	}
	if !declared {
		var def any
		if err := json.Unmarshal([]byte(m.Definition), &def); err != nil {
			return fmt.Errorf("parent state machine definition: %w", err)
		}
		resources := startedMachines(def, nil)
		if len(resources) == 0 {
			resources = []string{"arn:aws:states:::none"}
		}
		if policy, err = auth.ParseStatements(mustJSON([]map[string]any{{
			"Effect": "Allow", "Action": []string{"states:StartExecution"}, "Resource": resources,
		}})); err != nil {
			return err
		}
	}
	req := &auth.Request{Action: "states:StartExecution", Resource: child, Context: map[string]string{
		"aws:PrincipalArn": parent.RoleARN, "aws:SourceArn": parent.ARN,
	}}
	if auth.Evaluate(req, policy) != auth.Allow {
		return &Failure{Name: "StepFunctions.AccessDeniedException", Cause: fmt.Sprintf(
			"User: %s is not authorized to perform: states:StartExecution on resource: %s because no identity-based policy allows the states:StartExecution action",
			parent.RoleARN, child)}
	}
	return nil
}

// startedMachines lists the StateMachineArn values of the startExecution
// tasks of a definition, "*" for one given by a path.
func startedMachines(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		if r, _ := x["Resource"].(string); strings.HasPrefix(r, StartExecutionResource) {
			if p, ok := x["Parameters"].(map[string]any); ok {
				if arn, ok := p["StateMachineArn"].(string); ok {
					out = append(out, arn)
				} else if _, ok := p["StateMachineArn.$"]; ok {
					out = append(out, "*")
				}
			}
		}
		for _, e := range x {
			out = startedMachines(e, out)
		}
	case []any:
		for _, e := range x {
			out = startedMachines(e, out)
		}
	}
	return out
}

func mustJSON(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}
