package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
)

// rolesBucket keeps the IAM statements a deploy declared for a state
// machine's role (SAM Policies), by machine name. A machine without an
// entry has the role its definition implies (nested.go).
const rolesBucket = "workflow-roles"

func (s *Service) roles(ctx context.Context) (jetstream.KeyValue, error) {
	return s.st.KeyValue(ctx, rolesBucket, 1)
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
// policy documents and statements, and the policy templates that concern
// what nimbus authorizes for a machine (LambdaInvokePolicy,
// StepFunctionsExecutionPolicy). Managed policy names and other templates
// add nothing.
func samPolicies(app *appspec.Application, v any) (json.RawMessage, error) {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	statements := []any{}
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue // a managed policy name or ARN
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
