// Package cfn evaluates the CloudFormation intrinsic functions that a
// serverless.yml may use (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select,
// Fn::Split, Fn::ImportValue, Fn::GetAZs, Fn::Base64) against the resources
// nimbus creates. It is the one place where logical ids become names, URLs and
// ARNs, so every part of the platform hands out the same ones.
package cfn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Pseudo parameters.
const (
	PseudoRegion    = "AWS::Region"
	PseudoAccountID = "AWS::AccountId"
	PseudoStackName = "AWS::StackName"
	PseudoStackID   = "AWS::StackId"
	PseudoPartition = "AWS::Partition"
	PseudoURLSuffix = "AWS::URLSuffix"
	PseudoNoValue   = "AWS::NoValue"
)

// Error is an intrinsic function that cannot be evaluated. Path leads from
// the value handed to Resolve to the offending part (map keys and list
// indexes), so callers that know where the value was written can point at it.
type Error struct {
	Path []any
	Msg  string
	// Unsupported is set when the reference is valid CloudFormation that
	// nimbus does not evaluate (a resource type or attribute it does not
	// create), as opposed to a mistake.
	Unsupported bool
}

func (e *Error) Error() string { return e.Msg }

// PathString renders Path as "Fn::Join[1][0]".
func (e *Error) PathString() string {
	var b strings.Builder
	for _, p := range e.Path {
		switch v := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// Resource is one entry of a template's Resources.
type Resource struct {
	Type       string
	Properties map[string]any
}

// Stack is what references resolve against: one deployed service.
type Stack struct {
	Region    string
	AccountID string
	// Name is the stack name; the Serverless Framework names it service-stage.
	Name string
	// Resources by logical id, the template's and the functions'.
	Resources map[string]Resource
	// Conditions are the template's Conditions, by name, as written.
	Conditions map[string]any
	// QueueEndpoint is the base URL queues are served at (their URL is
	// QueueEndpoint/AccountID/name).
	QueueEndpoint string
	// Import returns the value another stack exports under name
	// (Fn::ImportValue); nil refuses every import.
	Import func(name string) (string, error)

	resolving map[string]bool // properties and conditions being evaluated, against cycles
	steps     int             // intrinsic calls evaluated, against blow-ups
	imported  map[string]bool // export names Fn::ImportValue read
	produced  int             // bytes of the strings references produced
}

// Bounds on one stack's evaluation: properties that refer to each other
// twice over would otherwise grow exponentially.
const (
	maxSteps       = 100000
	maxStringBytes = 1 << 20
	maxSplitItems  = 10000
	// maxProduced bounds the bytes of all strings a stack's references
	// produce, so many references to one long name cannot exhaust memory.
	maxProduced = 64 << 20
)

// noValue is what Ref AWS::NoValue evaluates to: the enclosing key or list
// item is dropped.
type noValue struct{}

// IsIntrinsic reports whether v is a single-key map naming an intrinsic
// function ({"Ref": ...}, {"Fn::...": ...}).
func IsIntrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// Contains reports whether an intrinsic function appears anywhere in v.
func Contains(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if IsIntrinsic(x) {
			return true
		}
		for _, e := range x {
			if Contains(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if Contains(e) {
				return true
			}
		}
	}
	return false
}

// Decode reads JSON keeping numbers as written.
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Resolve evaluates every intrinsic function in v and returns the result; v
// is not changed. Keys and list items whose value is Ref AWS::NoValue are
// dropped.
func (s *Stack) Resolve(v any) (any, error) {
	out, err := s.resolve(v, nil)
	if err != nil {
		return nil, err
	}
	if _, ok := out.(noValue); ok {
		return nil, nil
	}
	return out, nil
}

// ResolveJSON is Resolve on JSON text.
func (s *Stack) ResolveJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	v, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	if !Contains(v) {
		return raw, nil
	}
	out, err := s.Resolve(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// String resolves raw (a string or an intrinsic function) to a string.
func (s *Stack) String(raw json.RawMessage) (string, error) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, nil
	}
	v, err := Decode(raw)
	if err != nil {
		return "", err
	}
	out, err := s.Resolve(v)
	if err != nil {
		return "", err
	}
	return scalarText(out, nil)
}

func errAt(path []any, format string, args ...any) *Error {
	return &Error{Path: append([]any(nil), path...), Msg: fmt.Sprintf(format, args...)}
}

func unsupportedAt(path []any, format string, args ...any) *Error {
	e := errAt(path, format, args...)
	e.Unsupported = true
	return e
}

func with(path []any, p any) []any {
	out := make([]any, len(path), len(path)+1)
	copy(out, path)
	return append(out, p)
}

func (s *Stack) resolve(v any, path []any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if IsIntrinsic(x) {
			for k, arg := range x {
				return s.call(k, arg, with(path, k))
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := s.resolve(e, with(path, k))
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			r, err := s.resolve(e, with(path, i))
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (s *Stack) call(fn string, arg any, path []any) (any, error) {
	s.steps++
	if s.steps > maxSteps {
		return nil, errAt(path, "the references take more than %d evaluations; simplify them", maxSteps)
	}
	out, err := s.callFn(fn, arg, path)
	if str, ok := out.(string); ok {
		s.produced += len(str)
		if s.produced > maxProduced {
			return nil, errAt(path, "the references produce more than %d MB of text; simplify them", maxProduced>>20)
		}
	}
	return out, err
}

func (s *Stack) callFn(fn string, arg any, path []any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, errAt(path, "Ref takes the logical id of a resource or a pseudo parameter, not %s", describe(arg))
		}
		return s.ref(name, path)
	case "Fn::GetAtt":
		return s.getAtt(arg, path)
	case "Fn::Sub":
		return s.sub(arg, path)
	case "Fn::Join":
		return s.join(arg, path)
	case "Fn::Select":
		return s.selectFn(arg, path)
	case "Fn::Split":
		return s.split(arg, path)
	case "Fn::ImportValue":
		return s.importValue(arg, path)
	case "Fn::GetAZs":
		return s.getAZs(arg, path)
	case "Fn::If":
		return s.ifFn(arg, path)
	case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not":
		b, err := s.condition(map[string]any{fn: arg}, path[:len(path)-1])
		if err != nil {
			return nil, err
		}
		return strconv.FormatBool(b), nil
	case "Fn::Base64":
		r, err := s.resolve(arg, path)
		if err != nil {
			return nil, err
		}
		str, err := scalarText(r, path)
		if err != nil {
			return nil, errAt(path, "Fn::Base64 takes a string: %v", err)
		}
		return base64.StdEncoding.EncodeToString([]byte(str)), nil
	}
	return nil, unsupportedAt(path, "%s is not supported by nimbus (it evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::ImportValue, Fn::GetAZs, Fn::Base64, Fn::If and the condition functions)", fn)
}

// ifFn is Fn::If [condition name, value if true, value if false].
func (s *Stack) ifFn(arg any, path []any) (any, error) {
	x, ok := arg.([]any)
	if !ok || len(x) != 3 {
		return nil, errAt(path, "Fn::If takes [ConditionName, value if true, value if false], not %s", describe(arg))
	}
	name, ok := x[0].(string)
	if !ok {
		return nil, errAt(with(path, 0), "Fn::If names a condition of the template's Conditions, not %s", describe(x[0]))
	}
	b, err := s.namedCondition(name, with(path, 0))
	if err != nil {
		return nil, err
	}
	if b {
		return s.resolve(x[1], with(path, 1))
	}
	return s.resolve(x[2], with(path, 2))
}

// namedCondition evaluates one of the template's Conditions.
func (s *Stack) namedCondition(name string, path []any) (bool, error) {
	c, ok := s.Conditions[name]
	if !ok {
		return false, errAt(path, "condition %s is not declared in resources.Conditions", name)
	}
	key := "Conditions." + name
	if s.resolving[key] {
		return false, errAt(path, "condition %s refers to itself", name)
	}
	if s.resolving == nil {
		s.resolving = map[string]bool{}
	}
	s.resolving[key] = true
	defer delete(s.resolving, key)
	return s.condition(c, path)
}

// condition evaluates a condition: Fn::Equals, Fn::And, Fn::Or, Fn::Not or
// {Condition: name}.
func (s *Stack) condition(v any, path []any) (bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false, errAt(path, "a condition is Fn::Equals, Fn::And, Fn::Or, Fn::Not or {Condition: name}, not %s", describe(v))
	}
	for fn, arg := range m {
		p := with(path, fn)
		s.steps++
		if s.steps > maxSteps {
			return false, errAt(p, "the references take more than %d evaluations; simplify them", maxSteps)
		}
		switch fn {
		case "Condition":
			name, ok := arg.(string)
			if !ok {
				return false, errAt(p, "Condition names a condition, not %s", describe(arg))
			}
			return s.namedCondition(name, p)
		case "Fn::Equals":
			x, ok := arg.([]any)
			if !ok || len(x) != 2 {
				return false, errAt(p, "Fn::Equals takes [value, value], not %s", describe(arg))
			}
			var texts [2]string
			for i := range x {
				r, err := s.resolve(x[i], with(p, i))
				if err != nil {
					return false, err
				}
				if texts[i], err = scalarText(r, with(p, i)); err != nil {
					return false, errAt(with(p, i), "Fn::Equals compares strings: %v", err)
				}
			}
			return texts[0] == texts[1], nil
		case "Fn::And", "Fn::Or":
			x, ok := arg.([]any)
			if !ok || len(x) < 2 || len(x) > 10 {
				return false, errAt(p, "%s takes 2 to 10 conditions", fn)
			}
			for i, c := range x {
				b, err := s.condition(c, with(p, i))
				if err != nil {
					return false, err
				}
				if fn == "Fn::And" && !b {
					return false, nil
				}
				if fn == "Fn::Or" && b {
					return true, nil
				}
			}
			return fn == "Fn::And", nil
		case "Fn::Not":
			x, ok := arg.([]any)
			if !ok || len(x) != 1 {
				return false, errAt(p, "Fn::Not takes [condition], not %s", describe(arg))
			}
			b, err := s.condition(x[0], with(p, 0))
			return !b, err
		}
		return false, unsupportedAt(p, "%s is not a condition function nimbus evaluates", fn)
	}
	return false, nil
}

// pseudo returns the value of a pseudo parameter.
func (s *Stack) pseudo(name string) (any, bool) {
	switch name {
	case PseudoRegion:
		return s.Region, true
	case PseudoAccountID:
		return s.AccountID, true
	case PseudoStackName:
		return s.Name, true
	case PseudoStackID:
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/nimbus", Partition(s.Region), s.Region, s.AccountID, s.Name), true
	case PseudoPartition:
		return Partition(s.Region), true
	case PseudoURLSuffix:
		return URLSuffix(s.Region), true
	case PseudoNoValue:
		return noValue{}, true
	}
	return nil, false
}

// Partition is the ARN partition of a region.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// URLSuffix is the domain suffix of a region's endpoints.
func URLSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

func (s *Stack) ref(name string, path []any) (any, error) {
	if v, ok := s.pseudo(name); ok {
		return v, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		return nil, unsupportedAt(path, "pseudo parameter %s is not supported by nimbus", name)
	}
	r, ok := s.Resources[name]
	if !ok {
		if frameworkResource(name) {
			return nil, unsupportedAt(path, "Ref %s: the Serverless Framework generates %s; nimbus does not model it", name, name)
		}
		return nil, errAt(path, "Ref %s: no resource %q is declared in resources.Resources (or as a function)%s", name, name, s.suggestion(name))
	}
	t, ok := types[r.Type]
	if !ok {
		return nil, unsupportedAt(path, "Ref %s: resources of type %s are not created by nimbus, so nothing can refer to them", name, r.Type)
	}
	if t.Ref == nil {
		return nil, unsupportedAt(path, "Ref %s: nimbus does not evaluate Ref of a %s", name, r.Type)
	}
	return t.Ref(s, name, path)
}

// frameworkResource reports whether id is a resource the Serverless
// Framework adds to every stack (its bucket, role, APIs, log groups,
// versions), which nimbus does not model.
func frameworkResource(id string) bool {
	switch id {
	case "ServerlessDeploymentBucket", "ServerlessDeploymentBucketPolicy", "IamRoleLambdaExecution",
		"ApiGatewayRestApi", "ApiGatewayDeployment", "HttpApi", "HttpApiStage", "WebsocketsApi",
		"ServiceEndpoint", "HttpApiUrl":
		return true
	}
	return strings.HasSuffix(id, "LogGroup") || strings.Contains(id, "LambdaVersion") ||
		strings.HasSuffix(id, "LambdaFunctionUrl") || strings.HasSuffix(id, "EventSourceMappingSQS")
}

func (s *Stack) suggestion(name string) string {
	ids := make([]string, 0, len(s.Resources))
	for id := range s.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	best, bestD := "", 3
	for _, id := range ids {
		if d := editDistance(strings.ToLower(name), strings.ToLower(id)); d < bestD {
			best, bestD = id, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

func (s *Stack) getAtt(arg any, path []any) (any, error) {
	arg, err := s.resolve(arg, path)
	if err != nil {
		return nil, err
	}
	var id, attr string
	switch x := arg.(type) {
	case string:
		var ok bool
		if id, attr, ok = strings.Cut(x, "."); !ok {
			return nil, errAt(path, "Fn::GetAtt %q must be LogicalId.Attribute", x)
		}
	case []any:
		if len(x) != 2 {
			return nil, errAt(path, "Fn::GetAtt takes [LogicalId, Attribute], not %d items", len(x))
		}
		a, ok1 := x[0].(string)
		b, ok2 := x[1].(string)
		if !ok1 || !ok2 {
			return nil, errAt(path, "Fn::GetAtt takes [LogicalId, Attribute] as strings")
		}
		id, attr = a, b
	default:
		return nil, errAt(path, "Fn::GetAtt takes [LogicalId, Attribute] or \"LogicalId.Attribute\", not %s", describe(arg))
	}
	return s.attribute(id, attr, path)
}

func (s *Stack) attribute(id, attr string, path []any) (string, error) {
	r, ok := s.Resources[id]
	if !ok {
		if frameworkResource(id) {
			return "", unsupportedAt(path, "Fn::GetAtt %s.%s: the Serverless Framework generates %s; nimbus does not model it", id, attr, id)
		}
		return "", errAt(path, "Fn::GetAtt %s.%s: no resource %q is declared in resources.Resources (or as a function)%s", id, attr, id, s.suggestion(id))
	}
	t, ok := types[r.Type]
	if !ok {
		return "", unsupportedAt(path, "Fn::GetAtt %s.%s: resources of type %s are not created by nimbus, so nothing can refer to them", id, attr, r.Type)
	}
	get, ok := t.Attributes[attr]
	if !ok {
		names := make([]string, 0, len(t.Attributes))
		for n := range t.Attributes {
			names = append(names, n)
		}
		sort.Strings(names)
		gives := "nimbus gives " + strings.Join(names, ", ")
		if len(names) == 0 {
			gives = "nimbus gives none of its attributes"
		}
		return "", unsupportedAt(path, "Fn::GetAtt %s.%s: attribute %s of %s is not supported (%s)", id, attr, attr, r.Type, gives)
	}
	return get(s, id, path)
}

// Property resolves a resource's property to a string ("" when it is not
// set).
func (s *Stack) Property(id, name string, path []any) (string, error) {
	raw, ok := s.Resources[id].Properties[name]
	if !ok {
		return "", nil
	}
	key := id + "." + name
	if s.resolving[key] {
		return "", errAt(path, "%s refers to itself", key)
	}
	if s.resolving == nil {
		s.resolving = map[string]bool{}
	}
	s.resolving[key] = true
	defer delete(s.resolving, key)
	v, err := s.resolve(raw, path)
	if err != nil {
		return "", err
	}
	str, err := scalarText(v, path)
	if err != nil {
		return "", errAt(path, "property %s of %s: %v", name, id, err)
	}
	return str, nil
}

func (s *Stack) sub(arg any, path []any) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch x := arg.(type) {
	case string:
		tmpl = x
	case []any:
		if len(x) != 2 {
			return nil, errAt(path, "Fn::Sub takes a string or [string, {variables}], not %d items", len(x))
		}
		t, ok := x[0].(string)
		if !ok {
			return nil, errAt(with(path, 0), "the template of Fn::Sub must be a string, not %s", describe(x[0]))
		}
		tmpl = t
		m, ok := x[1].(map[string]any)
		if !ok {
			return nil, errAt(with(path, 1), "the variables of Fn::Sub must be a map, not %s", describe(x[1]))
		}
		for k, v := range m {
			r, err := s.resolve(v, with(with(path, 1), k))
			if err != nil {
				return nil, err
			}
			vars[k] = r
		}
	default:
		return nil, errAt(path, "Fn::Sub takes a string or [string, {variables}], not %s", describe(arg))
	}
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return nil, errAt(path, "Fn::Sub %q: ${ is not closed", tmpl)
		}
		name := rest[:j]
		rest = rest[j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}") // ${!Literal} stands for ${Literal}
			continue
		}
		val, err := s.subVar(strings.TrimSpace(name), vars, path)
		if err != nil {
			return nil, err
		}
		b.WriteString(val)
		if b.Len() > maxStringBytes {
			return nil, errAt(path, "Fn::Sub makes a string of more than %d bytes", maxStringBytes)
		}
	}
	return b.String(), nil
}

func (s *Stack) subVar(name string, vars map[string]any, path []any) (string, error) {
	if v, ok := vars[name]; ok {
		str, err := scalarText(v, path)
		if err != nil {
			return "", errAt(path, "Fn::Sub variable %s: %v", name, err)
		}
		return str, nil
	}
	if name == "" {
		return "", errAt(path, "Fn::Sub: ${} names nothing")
	}
	if v, ok := s.pseudo(name); ok {
		if _, none := v.(noValue); none {
			return "", errAt(path, "Fn::Sub cannot use ${AWS::NoValue}")
		}
		return v.(string), nil
	}
	if id, attr, ok := strings.Cut(name, "."); ok {
		return s.attribute(id, attr, path)
	}
	v, err := s.ref(name, path)
	if err != nil {
		return "", err
	}
	return scalarText(v, path)
}

func (s *Stack) join(arg any, path []any) (any, error) {
	x, ok := arg.([]any)
	if !ok || len(x) != 2 {
		return nil, errAt(path, "Fn::Join takes [delimiter, [values]], not %s", describe(arg))
	}
	delim, ok := x[0].(string)
	if !ok {
		return nil, errAt(with(path, 0), "the delimiter of Fn::Join must be a string, not %s", describe(x[0]))
	}
	list, err := s.list(x[1], with(path, 1), "Fn::Join")
	if err != nil {
		return nil, err
	}
	parts := make([]string, 0, len(list))
	size := 0
	for i, e := range list {
		str, err := scalarText(e, with(with(path, 1), i))
		if err != nil {
			return nil, errAt(with(with(path, 1), i), "Fn::Join value #%d: %v", i+1, err)
		}
		parts = append(parts, str)
		size += len(str) + len(delim)
		if size > maxStringBytes {
			return nil, errAt(path, "Fn::Join makes a string of more than %d bytes", maxStringBytes)
		}
	}
	return strings.Join(parts, delim), nil
}

// list resolves a value that must be a list (written as one, or an
// intrinsic function that returns one).
func (s *Stack) list(v any, path []any, fn string) ([]any, error) {
	r, err := s.resolve(v, path)
	if err != nil {
		return nil, err
	}
	l, ok := r.([]any)
	if !ok {
		return nil, errAt(path, "%s needs a list here, not %s", fn, describe(r))
	}
	return l, nil
}

func (s *Stack) selectFn(arg any, path []any) (any, error) {
	x, ok := arg.([]any)
	if !ok || len(x) != 2 {
		return nil, errAt(path, "Fn::Select takes [index, [values]], not %s", describe(arg))
	}
	iv, err := s.resolve(x[0], with(path, 0))
	if err != nil {
		return nil, err
	}
	text, err := scalarText(iv, with(path, 0))
	if err != nil {
		return nil, errAt(with(path, 0), "the index of Fn::Select must be a number")
	}
	idx, err := strconv.Atoi(text)
	if err != nil {
		return nil, errAt(with(path, 0), "the index of Fn::Select must be a whole number, not %q", text)
	}
	list, err := s.list(x[1], with(path, 1), "Fn::Select")
	if err != nil {
		return nil, err
	}
	if idx < 0 || idx >= len(list) {
		return nil, errAt(path, "Fn::Select index %d is out of range for a list of %d", idx, len(list))
	}
	return list[idx], nil
}

func (s *Stack) split(arg any, path []any) (any, error) {
	x, ok := arg.([]any)
	if !ok || len(x) != 2 {
		return nil, errAt(path, "Fn::Split takes [delimiter, string], not %s", describe(arg))
	}
	delim, ok := x[0].(string)
	if !ok || delim == "" {
		return nil, errAt(with(path, 0), "the delimiter of Fn::Split must be a non-empty string")
	}
	sv, err := s.resolve(x[1], with(path, 1))
	if err != nil {
		return nil, err
	}
	str, err := scalarText(sv, with(path, 1))
	if err != nil {
		return nil, errAt(with(path, 1), "Fn::Split splits a string: %v", err)
	}
	if n := strings.Count(str, delim) + 1; n > maxSplitItems {
		return nil, errAt(path, "Fn::Split makes %d values, more than %d", n, maxSplitItems)
	}
	parts := strings.Split(str, delim)
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func (s *Stack) importValue(arg any, path []any) (any, error) {
	v, err := s.resolve(arg, path)
	if err != nil {
		return nil, err
	}
	name, err := scalarText(v, path)
	if err != nil {
		return nil, errAt(path, "Fn::ImportValue takes the name of an export: %v", err)
	}
	if s.Import == nil {
		return nil, errAt(path, "Fn::ImportValue %s: no other service's exports are known here", name)
	}
	out, err := s.Import(name)
	if err != nil {
		return nil, errAt(path, "Fn::ImportValue %s: %v", name, err)
	}
	if s.imported == nil {
		s.imported = map[string]bool{}
	}
	s.imported[name] = true
	return out, nil
}

func (s *Stack) getAZs(arg any, path []any) (any, error) {
	v, err := s.resolve(arg, path)
	if err != nil {
		return nil, err
	}
	region, err := scalarText(v, path)
	if err != nil {
		return nil, errAt(path, "Fn::GetAZs takes a region name: %v", err)
	}
	if region == "" {
		region = s.Region
	}
	return []any{region + "a", region + "b", region + "c"}, nil
}

// scalarText renders a resolved scalar as CloudFormation would in a string.
func scalarText(v any, path []any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case noValue:
		return "", errAt(path, "AWS::NoValue cannot be used as a value here")
	}
	return "", fmt.Errorf("want a string, not %s", describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "a map"
	case []any:
		return fmt.Sprintf("a list of %d", len(x))
	case noValue:
		return "AWS::NoValue"
	}
	return fmt.Sprint(v)
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent letters that turn a into b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
