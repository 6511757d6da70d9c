package cfn

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// LogicalFunctionID is the logical id the Serverless Framework gives a
// function: its key with the first letter upper-cased, '-' spelled Dash and
// '_' Underscore, then LambdaFunction.
func LogicalFunctionID(key string) string {
	var b strings.Builder
	for i, r := range key {
		switch {
		case r == '-':
			b.WriteString("Dash")
		case r == '_':
			b.WriteString("Underscore")
		case i == 0:
			b.WriteString(strings.ToUpper(string(r)))
		default:
			b.WriteRune(r)
		}
	}
	return b.String() + "LambdaFunction"
}

// StackName is the stack the Serverless Framework deploys a service as.
func StackName(app *appspec.Application) string { return app.Service + "-" + app.Stage }

// template is the part of `resources` that references read.
type template struct {
	Resources map[string]struct {
		Type       string         `json:"Type"`
		Properties map[string]any `json:"Properties"`
	} `json:"Resources"`
	Conditions map[string]any `json:"Conditions"`
	Outputs    map[string]struct {
		Value  any `json:"Value"`
		Export *struct {
			Name any `json:"Name"`
		} `json:"Export"`
	} `json:"Outputs"`
}

func parseTemplate(raw json.RawMessage) (*template, error) {
	t := &template{}
	if len(raw) == 0 || string(raw) == "null" {
		return t, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	return t, nil
}

// NewStack is the stack of an application: its resources and its functions.
// queueEndpoint may be empty where queue URLs are not needed.
func NewStack(app *appspec.Application, queueEndpoint string) (*Stack, error) {
	t, err := parseTemplate(app.Resources)
	if err != nil {
		return nil, err
	}
	s := &Stack{
		Region: app.Region, AccountID: appspec.AccountID, Name: StackName(app),
		QueueEndpoint: queueEndpoint, Resources: map[string]Resource{}, Conditions: t.Conditions,
	}
	for id, r := range t.Resources {
		s.Resources[id] = Resource{Type: r.Type, Properties: r.Properties}
	}
	for _, f := range app.Functions {
		id := LogicalFunctionID(f.Key)
		// A resources entry of the same id extends the function in
		// CloudFormation; the function is still what a reference means.
		s.Resources[id] = Resource{Type: TypeFunction, Properties: map[string]any{"FunctionName": f.Name}}
	}
	return s, nil
}

// Exports returns what an application exports (its Outputs with
// Export.Name), resolved. Outputs that refer to resources nimbus does not
// create are left out.
func Exports(app *appspec.Application, queueEndpoint string) (map[string]string, error) {
	t, err := parseTemplate(app.Resources)
	if err != nil {
		return nil, err
	}
	s, err := NewStack(app, queueEndpoint)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	ids := make([]string, 0, len(t.Outputs))
	for id := range t.Outputs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := t.Outputs[id]
		if o.Export == nil {
			continue
		}
		path := []any{"Outputs", id}
		nameV, err := s.resolve(o.Export.Name, with(path, "Export"))
		if err != nil {
			return nil, fmt.Errorf("resources.Outputs.%s.Export.Name: %w", id, err)
		}
		name, err := scalarText(nameV, path)
		if err != nil {
			return nil, fmt.Errorf("resources.Outputs.%s.Export.Name: %w", id, err)
		}
		v, err := s.resolve(o.Value, with(path, "Value"))
		if e, ok := AsError(err); ok && e.Unsupported {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resources.Outputs.%s.Value: %w", id, err)
		}
		val, err := scalarText(v, path)
		if err != nil {
			return nil, fmt.Errorf("resources.Outputs.%s.Value: %w", id, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("resources.Outputs.%s: export name %q is used twice", id, name)
		}
		out[name] = val
	}
	return out, nil
}

// DeployOptions are what the platform knows when it resolves a deploy.
type DeployOptions struct {
	// QueueEndpoint is the base URL the platform serves queues at.
	QueueEndpoint string
}

// ResolveDeploy evaluates every intrinsic function of app in place, as the
// platform does on deploy: environment references become plain variables,
// IAM statements, event definitions and the properties of the resources
// nimbus creates get their names, URLs and ARNs. Fn::ImportValue reads the
// exports of others (the other deployed services). It refuses an app that
// exports a name another service exports, or that drops an export of prev
// (the version it replaces, nil if none) another service imports. It records
// the exports app imports in app.Imports. The warnings name what was left
// unresolved because it refers to resources nimbus does not create.
func ResolveDeploy(app, prev *appspec.Application, others []appspec.Application, opts DeployOptions) ([]string, error) {
	s, err := NewStack(app, opts.QueueEndpoint)
	if err != nil {
		return nil, err
	}
	var warnings []string
	exporters := map[string]string{} // export name -> service
	exports := map[string]string{}
	for i := range others {
		ex, err := Exports(&others[i], opts.QueueEndpoint)
		if err != nil {
			continue // a stored service whose outputs no longer resolve exports nothing
		}
		for name, v := range ex {
			exports[name] = v
			exporters[name] = others[i].Service
		}
	}
	s.Import = func(name string) (string, error) {
		v, ok := exports[name]
		if !ok {
			return "", fmt.Errorf("no deployed service exports %q", name)
		}
		return v, nil
	}
	own, err := Exports(app, opts.QueueEndpoint)
	if err != nil {
		return nil, err
	}
	for name := range own {
		if svc, ok := exporters[name]; ok {
			return nil, fmt.Errorf("export %q is already exported by service %s", name, svc)
		}
	}
	if prev != nil {
		old, _ := Exports(prev, opts.QueueEndpoint)
		for name := range own {
			delete(old, name)
		}
		if err := checkInUse(old, others); err != nil {
			return nil, err
		}
	}

	for i := range app.Functions {
		f := &app.Functions[i]
		where := fmt.Sprintf("function %q", f.Key)
		keys := make([]string, 0, len(f.EnvironmentRefs))
		for k := range f.EnvironmentRefs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, err := resolveEnvValue(s, f.EnvironmentRefs[k])
			if err != nil {
				return nil, fmt.Errorf("%s environment %s: %w", where, k, err)
			}
			if f.Environment == nil {
				f.Environment = map[string]string{}
			}
			if v == nil {
				delete(f.Environment, k)
				continue
			}
			f.Environment[k] = *v
		}
		f.EnvironmentRefs = nil
		if len(f.Environment) == 0 {
			f.Environment = nil
		}
		if len(f.IAMStatements) > 0 {
			out, warns, err := s.resolveStatements(f.IAMStatements)
			if err != nil {
				return nil, fmt.Errorf("%s iam statements: %w", where, err)
			}
			for _, w := range warns {
				warnings = append(warnings, where+" iam statements: "+w)
			}
			f.IAMStatements = out
		}
		for j := range f.Events {
			e := &f.Events[j]
			out, err := s.ResolveJSON(e.Properties)
			if ce, ok := AsError(err); ok && ce.Unsupported {
				// The event source reads the value as written and judges it.
				warnings = append(warnings, fmt.Sprintf("%s event #%d: %v", where, j+1, err))
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s event #%d (%s): %w", where, j+1, e.Type, err)
			}
			e.Properties = out
		}
	}
	app.Imports = nil
	for name := range s.imported {
		app.Imports = append(app.Imports, name)
	}
	sort.Strings(app.Imports)
	return warnings, resolveResources(s, app)
}

// CheckRemove refuses to remove a service whose exports other services
// import, as CloudFormation refuses to delete such a stack.
func CheckRemove(app *appspec.Application, others []appspec.Application) error {
	// Only the names matter: any queue endpoint will do.
	exports, err := Exports(app, "http://nimbus.invalid")
	if err != nil {
		return nil // nothing it exports resolves, so nothing can be in use
	}
	return checkInUse(exports, others)
}

// checkInUse fails when another service imports one of the exports.
func checkInUse(exports map[string]string, others []appspec.Application) error {
	for _, o := range others {
		for _, name := range o.Imports {
			if _, ok := exports[name]; ok {
				return fmt.Errorf("export %q is imported by service %s; deploy that service without it first", name, o.Service)
			}
		}
	}
	return nil
}

// resolveEnvValue resolves one environment value; nil means AWS::NoValue.
func resolveEnvValue(s *Stack, raw json.RawMessage) (*string, error) {
	v, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	out, err := s.resolve(v, nil)
	if err != nil {
		return nil, err
	}
	if _, none := out.(noValue); none {
		return nil, nil
	}
	str, err := scalarText(out, nil)
	if err != nil {
		return nil, fmt.Errorf("an environment variable must be a string: %w", err)
	}
	return &str, nil
}

// resolveResources evaluates the properties of the resources nimbus creates;
// others stay as written (the manifest warned about them).
func resolveResources(s *Stack, app *appspec.Application) error {
	if len(app.Resources) == 0 || string(app.Resources) == "null" {
		return nil
	}
	top, err := Decode(app.Resources)
	if err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	m, ok := top.(map[string]any)
	if !ok {
		return fmt.Errorf("resources must be a map")
	}
	res, _ := m["Resources"].(map[string]any)
	changed := false
	ids := make([]string, 0, len(res))
	for id := range res {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r, ok := res[id].(map[string]any)
		if !ok {
			continue
		}
		if cond, ok := r["Condition"].(string); ok {
			create, err := s.namedCondition(cond, []any{"Resources", id, "Condition"})
			if err != nil {
				return fmt.Errorf("resources.Resources.%s.Condition: %w", id, err)
			}
			if !create {
				// Not created: the parts that create resources never see it.
				delete(res, id)
				changed = true
				continue
			}
		}
		typ, _ := r["Type"].(string)
		props, ok := r["Properties"]
		if !ok || !Supported(typ) || !Contains(props) {
			continue
		}
		out, err := s.resolve(props, []any{"Resources", id, "Properties"})
		if err != nil {
			return fmt.Errorf("resources.Resources.%s: %w", id, err)
		}
		r["Properties"] = out
		changed = true
	}
	if !changed {
		return nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	app.Resources = data
	return nil
}
