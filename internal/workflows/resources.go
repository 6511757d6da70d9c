package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// Declared is a state machine of a manifest's stepFunctions section.
type Declared struct {
	Key        string
	Name       string
	Type       string
	Definition string // resolved JSON
	RoleARN    string
	// Policy is the role's IAM statements (SAM Policies, resolved); nil
	// when the machine's role is the one its definition implies (roles.go).
	Policy json.RawMessage
}

// DeclaredMachines reads the AWS::StepFunctions::StateMachine resources and
// the serverless-step-functions section of an
// application: definitions have their Fn::GetAtt, Ref and Fn::Sub resolved
// (a function's key stands for its logical id, as the plugin allows) and
// are validated.
func DeclaredMachines(app *appspec.Application) ([]Declared, error) {
	out, err := resourceMachines(app)
	if err != nil {
		return nil, err
	}
	if len(app.StepFunctions) == 0 || string(app.StepFunctions) == "null" {
		return out, nil
	}
	var sec struct {
		StateMachines map[string]struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Role       any    `json:"role"`
			Definition any    `json:"definition"`
		} `json:"stateMachines"`
	}
	if err := json.Unmarshal(app.StepFunctions, &sec); err != nil {
		return nil, fmt.Errorf("stepFunctions: %w", err)
	}
	stack, err := cfn.NewStack(app, queueEndpoint(app))
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, f := range app.Functions {
		keys[f.Key] = cfn.LogicalFunctionID(f.Key)
	}
	for key, m := range sec.StateMachines {
		where := "stepFunctions.stateMachines." + key
		if m.Definition == nil {
			return nil, fmt.Errorf("%s: definition is required", where)
		}
		m.Name = app.StateMachineName(key, m.Name)
		def, err := stack.Resolve(functionKeys(m.Definition, keys))
		if err != nil {
			return nil, fmt.Errorf("%s.definition: %w", where, err)
		}
		text, ok := def.(string) // a definition may be written as a JSON string
		if !ok {
			data, err := json.Marshal(def)
			if err != nil {
				return nil, fmt.Errorf("%s.definition: %w", where, err)
			}
			text = string(data)
		}
		if _, err := Parse([]byte(text)); err != nil {
			return nil, fmt.Errorf("%s.definition: %w", where, err)
		}
		d := Declared{Key: key, Name: m.Name, Type: m.Type, Definition: text}
		if d.Type == "" {
			d.Type = TypeStandard
		}
		if m.Role != nil {
			arn, policy, isRole, err := roleResource(app, stack, m.Role)
			if err != nil {
				return nil, fmt.Errorf("%s.role: %w", where, err)
			}
			if isRole {
				d.RoleARN, d.Policy = arn, policy
			} else {
				role, err := stack.Resolve(m.Role)
				if err != nil {
					return nil, fmt.Errorf("%s.role: %w", where, err)
				}
				d.RoleARN, _ = role.(string)
			}
		}
		if d.RoleARN == "" {
			d.RoleARN = fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-%s-role", appspec.AccountID, app.Service, app.Stage, key)
		}
		if err := checkName("state machine", d.Name); err != nil {
			return nil, fmt.Errorf("%s.name: %w", where, err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// functionKeys rewrites Fn::GetAtt [key, Arn] and Ref key, where key is a
// function's key in the manifest, to the function's logical id.
func functionKeys(v any, keys map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
				if k, ok := ga[0].(string); ok && keys[k] != "" {
					return map[string]any{"Fn::GetAtt": []any{keys[k], ga[1]}}
				}
			}
			if r, ok := x["Ref"].(string); ok && keys[r] != "" {
				return map[string]any{"Ref": keys[r]}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = functionKeys(e, keys)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = functionKeys(e, keys)
		}
		return out
	}
	return v
}

// DeployHook creates or updates the state machines an application declares
// (a functions.PrepareHook). Machines a redeploy no longer declares stay.
func (s *Service) DeployHook(ctx context.Context, app *appspec.Application) error {
	declared, err := DeclaredMachines(app)
	if err != nil {
		return err
	}
	for _, d := range declared {
		if err := s.putRolePolicy(ctx, d.Name, d.Policy); err != nil {
			return fmt.Errorf("state machine %s: %w", d.Name, err)
		}
		_, err := s.CreateStateMachine(ctx, StateMachine{Name: d.Name, Type: d.Type, Definition: d.Definition, RoleARN: d.RoleARN})
		var se *Error
		if errors.As(err, &se) && se.Kind == KindMachineExists {
			def, role := d.Definition, d.RoleARN
			_, err = s.UpdateStateMachine(ctx, s.MachineARN(d.Name), Update{Definition: &def, RoleARN: &role})
		}
		if err != nil {
			return fmt.Errorf("stepFunctions.stateMachines.%s: %w", d.Key, err)
		}
	}
	return nil
}

// resourceMachines reads AWS::StepFunctions::StateMachine resources:
// Definition (an object) or DefinitionString, with DefinitionSubstitutions'
// ${name} placeholders replaced.
func resourceMachines(app *appspec.Application) ([]Declared, error) {
	if len(app.Resources) == 0 || string(app.Resources) == "null" {
		return nil, nil
	}
	var top struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(app.Resources, &top); err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	stack, err := cfn.NewStack(app, queueEndpoint(app))
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, f := range app.Functions {
		keys[f.Key] = cfn.LogicalFunctionID(f.Key)
	}
	var out []Declared
	for id, r := range top.Resources {
		sam := r.Type == cfn.TypeServerlessStateMachine
		if r.Type != cfn.TypeStateMachine && !sam {
			continue
		}
		where := "resources.Resources." + id + ".Properties"
		name, err := stack.StateMachineName(id)
		if err != nil {
			return nil, fmt.Errorf("%s.StateMachineName: %w", where, err)
		}
		var text string
		switch {
		case sam && r.Properties["DefinitionUri"] != nil:
			// The CLI reads a local DefinitionUri into Definition.
			return nil, fmt.Errorf("%s.DefinitionUri: only a local file is supported (the deploy reads it into Definition)", where)
		case r.Properties["Definition"] != nil:
			def, err := stack.Resolve(functionKeys(r.Properties["Definition"], keys))
			if err != nil {
				return nil, fmt.Errorf("%s.Definition: %w", where, err)
			}
			data, _ := json.Marshal(def)
			text = string(data)
		case r.Properties["DefinitionString"] != nil:
			def, err := stack.Resolve(r.Properties["DefinitionString"])
			if err != nil {
				return nil, fmt.Errorf("%s.DefinitionString: %w", where, err)
			}
			var ok bool
			if text, ok = def.(string); !ok {
				return nil, fmt.Errorf("%s.DefinitionString must be a string", where)
			}
		default:
			return nil, fmt.Errorf("%s: Definition or DefinitionString is required", where)
		}
		if subs, ok := r.Properties["DefinitionSubstitutions"]; ok {
			resolved, err := stack.Resolve(functionKeys(subs, keys))
			if err != nil {
				return nil, fmt.Errorf("%s.DefinitionSubstitutions: %w", where, err)
			}
			m, _ := resolved.(map[string]any)
			for k, v := range m {
				text = strings.ReplaceAll(text, "${"+k+"}", fmt.Sprint(v))
			}
		}
		if _, err := Parse([]byte(text)); err != nil {
			return nil, fmt.Errorf("%s.Definition: %w", where, err)
		}
		d := Declared{Key: id, Name: name, Type: TypeStandard, Definition: text}
		typeProp, roleProp := "StateMachineType", "RoleArn"
		if sam {
			typeProp, roleProp = "Type", "Role"
			if p, ok := r.Properties["Policies"]; ok {
				resolved, err := stack.Resolve(functionKeys(p, keys))
				if err != nil {
					return nil, fmt.Errorf("%s.Policies: %w", where, err)
				}
				if d.Policy, err = samPolicies(app, resolved); err != nil {
					return nil, fmt.Errorf("%s.Policies: %w", where, err)
				}
			}
		}
		if t, _ := r.Properties[typeProp].(string); t != "" {
			d.Type = t
		}
		if role, ok := r.Properties[roleProp]; ok {
			arn, policy, isRole, err := roleResource(app, stack, role)
			switch {
			case err != nil:
				return nil, fmt.Errorf("%s.%s: %w", where, roleProp, err)
			case isRole:
				d.RoleARN = arn
				if d.Policy == nil {
					d.Policy = policy
				}
			default:
				v, err := stack.Resolve(role)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", where, roleProp, err)
				}
				d.RoleARN, _ = v.(string)
			}
		}
		if d.RoleARN == "" {
			d.RoleARN = fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-role", appspec.AccountID, cfn.StackName(app), id)
		}
		if err := checkName("state machine", d.Name); err != nil {
			return nil, fmt.Errorf("%s.StateMachineName: %w", where, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// queueEndpoint is the base of the queue URLs a definition's Ref gives: the
// one AWS would, since the platform's address is not known here and the SQS
// integration reads only the URL's last part (the queue's name).
func queueEndpoint(app *appspec.Application) string {
	return "https://sqs." + app.Region + ".amazonaws.com"
}
