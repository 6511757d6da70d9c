package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// rolesBucket keeps the IAM statements a deploy declared for a state
// machine's role (SAM Policies), by machine name. A machine without an
// entry has the role its definition implies (nested.go).
const rolesBucket = "workflow-roles"

func (s *Service) roles(context.Context) (jetstream.KeyValue, error) {
	return s.rolesKV, nil // opened once: every Lambda task reads it
}

// putRolePolicy records (or, for nil, clears) a machine's role statements.
func (s *Service) putRolePolicy(ctx context.Context, machine string, statements json.RawMessage) error {
	kv, err := s.roles(ctx)
	if err != nil {
		return err
	}
	if statements == nil {
		if err := kv.Delete(ctx, machine); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("clear role policy: %w", err)
		}
		return nil
	}
	if _, err := kv.Put(ctx, machine, statements); err != nil {
		return fmt.Errorf("store role policy: %w", err)
	}
	return nil
}

// rolePolicy returns a machine's recorded role statements, or false.
func (s *Service) rolePolicy(ctx context.Context, machine string) (auth.Policy, bool, error) {
	kv, err := s.roles(ctx)
	if err != nil {
		return nil, false, err
	}
	e, err := kv.Get(ctx, machine)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read role policy: %w", err)
	}
	p, err := auth.ParseStatements(e.Value())
	return p, err == nil, err
}

// samPolicies turns SAM's Policies (resolved) into IAM statements: inline
// policy documents and statements, and the policy templates LambdaInvokePolicy
// and StepFunctionsExecutionPolicy. A managed policy or another template
// grants what nimbus does not know, so with one the role is not modelled
// from Policies at all (nil: the definition's implied role applies).
func samPolicies(app *appspec.Application, v any) (json.RawMessage, error) {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	statements := []any{}
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, nil // a managed policy name or ARN
		}
		if st, ok := m["Statement"]; ok {
			if list, ok := st.([]any); ok {
				statements = append(statements, list...)
			} else {
				statements = append(statements, st)
			}
			continue
		}
		for name, params := range m {
			p, _ := params.(map[string]any)
			str := func(k string) string { s, _ := p[k].(string); return s }
			switch name {
			case "LambdaInvokePolicy":
				arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", app.Region, appspec.AccountID, str("FunctionName"))
				statements = append(statements, map[string]any{"Effect": "Allow", "Action": []string{"lambda:InvokeFunction"},
					"Resource": []string{arn, arn + ":*"}})
			case "StepFunctionsExecutionPolicy":
				statements = append(statements, map[string]any{"Effect": "Allow", "Action": []string{"states:StartExecution"},
					"Resource": app.StateMachineARN(str("StateMachineName"))})
			default:
				return nil, nil
			}
		}
	}
	data, err := json.Marshal(statements)
	if err != nil {
		return nil, err
	}
	if _, err := auth.ParseStatements(data); err != nil {
		return nil, err
	}
	return data, nil
}

// roleResource reads a machine's role given as a reference to an
// AWS::IAM::Role of the application's resources (Fn::GetAtt [Id, Arn], Ref
// Id): its ARN and, when the role has inline Policies and no managed ones,
// their statements as the machine's declared policy. ok is false when v is
// not such a reference.
func roleResource(app *appspec.Application, stack *cfn.Stack, v any) (arn string, policy json.RawMessage, ok bool, err error) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", nil, false, nil
	}
	var id string
	if ga, isList := m["Fn::GetAtt"].([]any); isList && len(ga) == 2 && ga[1] == "Arn" {
		id, _ = ga[0].(string)
	} else if ga, isText := m["Fn::GetAtt"].(string); isText && strings.HasSuffix(ga, ".Arn") {
		id = strings.TrimSuffix(ga, ".Arn")
	} else if r, isText := m["Ref"].(string); isText {
		id = r
	}
	resources, err := app.ParsedResources()
	if err != nil || id == "" || resources[id].Type != "AWS::IAM::Role" {
		return "", nil, false, err
	}
	props := resources[id].Properties
	name := stack.Name + "-" + id
	if raw, has := props["RoleName"]; has {
		if n, err := stack.String(raw); err == nil && n != "" {
			name = n
		}
	}
	arn = fmt.Sprintf("arn:aws:iam::%s:role/%s", appspec.AccountID, name)
	if len(props["ManagedPolicyArns"]) > 0 || len(props["Policies"]) == 0 {
		return arn, nil, true, nil // what managed policies allow is not known here
	}
	var policies []struct {
		PolicyDocument json.RawMessage `json:"PolicyDocument"`
	}
	if err := json.Unmarshal(props["Policies"], &policies); err != nil {
		return "", nil, true, fmt.Errorf("role %s: Policies must be a list of {PolicyName, PolicyDocument}", id)
	}
	var docs []any
	for _, p := range policies {
		var doc any
		if err := json.Unmarshal(p.PolicyDocument, &doc); err != nil {
			return "", nil, true, fmt.Errorf("role %s: %w", id, err)
		}
		resolved, err := stack.Resolve(doc)
		if err != nil {
			return "", nil, true, fmt.Errorf("role %s: %w", id, err)
		}
		docs = append(docs, resolved)
	}
	policy, err = samPolicies(app, docs)
	return arn, policy, true, err
}

// mayInvoke checks a Lambda task against the statements its machine's
// deploy declared, as mayStart does for nested executions: a denial fails
// the task as Step Functions reports a role without lambda:InvokeFunction.
// A machine without declared statements has the role its definition
// implies, which allows the functions it calls.
func (s *Service) mayInvoke(ctx context.Context, req TaskRequest) error {
	var fn string
	switch {
	case req.Resource == LambdaInvokeResource:
		var p struct {
			FunctionName string `json:"FunctionName"`
			Qualifier    string `json:"Qualifier"`
		}
		if json.Unmarshal(req.Input, &p) != nil || p.FunctionName == "" {
			return nil // the task itself reports it
		}
		fn = p.FunctionName
		if p.Qualifier != "" {
			fn += ":" + p.Qualifier
		}
	case strings.HasPrefix(req.Resource, "arn:aws:lambda:"):
		fn = req.Resource
	default:
		return nil
	}
	if req.Execution.StateMachineName == "" {
		return nil
	}
	policy, declared, err := s.rolePolicy(ctx, req.Execution.StateMachineName)
	if err != nil || !declared {
		return err
	}
	arn := fn
	if !strings.HasPrefix(fn, "arn:") {
		arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.cfg.Region, s.cfg.AccountID, fn)
	}
	ar := &auth.Request{Action: "lambda:InvokeFunction", Resource: arn, Context: map[string]string{
		"aws:PrincipalArn": req.Execution.RoleARN, "aws:SourceArn": req.Execution.ARN,
	}}
	if auth.Evaluate(ar, policy) != auth.Allow {
		return &Failure{Name: "Lambda.AWSLambdaException", Cause: fmt.Sprintf(
			"User: %s is not authorized to perform: lambda:InvokeFunction on resource: %s because no identity-based policy allows the lambda:InvokeFunction action (Service: Lambda, Status Code: 403, Error Code: AccessDeniedException)",
			req.Execution.RoleARN, arn)}
	}
	return nil
}
