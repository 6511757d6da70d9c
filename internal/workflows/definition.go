package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State types.
const (
	TypePass     = "Pass"
	TypeTask     = "Task"
	TypeChoice   = "Choice"
	TypeWait     = "Wait"
	TypeSucceed  = "Succeed"
	TypeFail     = "Fail"
	TypeParallel = "Parallel"
	TypeMap      = "Map"
)

// A Definition is a parsed and validated state machine (or a nested one: a
// Parallel branch or a Map's item processor).
type Definition struct {
	Comment        string
	StartAt        string
	States         map[string]*State
	TimeoutSeconds int64 // top level only; 0 = none
}

// A State is one state of a definition. Fields not used by its Type are zero.
type State struct {
	Name    string
	Type    string
	Comment string
	Next    string
	End     bool

	InputPath, OutputPath optPath
	ResultPath            optPath // a reference path
	Parameters            *template
	ResultSelector        *template
	Result                any
	HasResult             bool
	Assign                *template

	// Task
	Resource                             string
	Credentials                          any
	TimeoutSeconds, HeartbeatSeconds     int64
	TimeoutSecondsPath, HeartbeatSecPath *Path

	// Choice
	Choices []*ChoiceRule
	Default string

	// Wait
	Seconds       *int64
	SecondsPath   *Path
	Timestamp     *time.Time
	TimestampPath *Path

	// Fail
	Error, Cause         *string
	ErrorPath, CausePath *valueExpr

	// Parallel
	Branches []*Definition

	// Map
	ItemProcessor                  *Definition
	ItemsPath                      optPath
	ItemSelector                   *template
	MaxConcurrency                 int64
	MaxConcurrencyPath             *Path
	ToleratedFailureCount          *int64
	ToleratedFailureCountPath      *Path
	ToleratedFailurePercentage     *float64
	ToleratedFailurePercentagePath *Path
	distributed                    bool
	itemReader                     bool

	Retry []*Retrier
	Catch []*Catcher
}

// optPath is a path field that may be absent (default $) or null.
type optPath struct {
	set  bool
	null bool
	path *Path
}

// A Retrier is one entry of a Retry field.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds int64
	MaxAttempts     int64
	BackoffRate     float64
	MaxDelaySeconds int64 // 0 = no cap
	JitterFull      bool
}

// A Catcher is one entry of a Catch field.
type Catcher struct {
	ErrorEquals []string
	Next        string
	ResultPath  optPath
	Assign      *template
}

// A ChoiceRule is a Choice state's rule: a comparison or a boolean
// combination. Top-level rules carry Next.
type ChoiceRule struct {
	Variable  *Path
	Op        string // comparison operator without the Path suffix
	ByPath    bool
	Value     any
	ValuePath *Path
	And, Or   []*ChoiceRule
	Not       *ChoiceRule
	Next      string
	Assign    *template
}

// A valueExpr is a "$"-key value: a path or an intrinsic function call.
type valueExpr struct {
	path *Path
	call *intrinsic
}

// A template is a payload template (Parameters, ResultSelector, ItemSelector,
// Assign): JSON where keys ending in ".$" take their value from a path or an
// intrinsic function.
type template struct {
	fields []templateField // objects
	items  []*template     // arrays
	isObj  bool
	isArr  bool
	lit    any
}

type templateField struct {
	key  string
	expr *valueExpr
	sub  *template
}

// A Problem is one reason a definition is refused.
type Problem struct {
	Code     string // SCHEMA_VALIDATION_FAILED, MISSING_TRANSITION_TARGET, ...
	Location string // /States/Name/Field
	Message  string
}

func (p Problem) String() string {
	if p.Location == "" {
		return p.Code + ": " + p.Message
	}
	return p.Code + ": " + p.Message + " at " + p.Location
}

// InvalidDefinitionError lists every problem found in a definition; the API
// maps it to Step Functions' InvalidDefinition.
type InvalidDefinitionError struct{ Problems []Problem }

func (e *InvalidDefinitionError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = "'" + p.String() + "'"
	}
	return "Invalid State Machine Definition: " + strings.Join(parts, ", ")
}

// Parse parses and validates an ASL definition in the JSONPath query
// language, as CreateStateMachine does.
func Parse(data []byte) (*Definition, error) {
	raw, err := decodeJSON(data)
	if err != nil {
		return nil, &InvalidDefinitionError{[]Problem{{Code: "INVALID_JSON_DESCRIPTION", Message: err.Error()}}}
	}
	v := &validator{names: map[string]string{}}
	def := v.machine(raw, "", true)
	if len(v.problems) > 0 {
		return nil, &InvalidDefinitionError{v.problems}
	}
	return def, nil
}

type validator struct {
	problems []Problem
	names    map[string]string // state name -> location, across nested machines
}

func (v *validator) fail(loc, format string, a ...any) {
	v.problems = append(v.problems, Problem{Code: "SCHEMA_VALIDATION_FAILED", Location: loc, Message: fmt.Sprintf(format, a...)})
}

func (v *validator) failCode(code, loc, format string, a ...any) {
	v.problems = append(v.problems, Problem{Code: code, Location: loc, Message: fmt.Sprintf(format, a...)})
}

var topFields = []string{"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}
var nestedFields = []string{"Comment", "StartAt", "States", "ProcessorConfig", "QueryLanguage"}

func (v *validator) machine(raw any, loc string, top bool) *Definition {
	m, ok := raw.(map[string]any)
	if !ok {
		v.fail(loc, "a state machine must be a JSON object")
		return nil
	}
	allowed := nestedFields
	if top {
		allowed = topFields
	}
	v.unknown(m, loc, allowed)
	if ql, ok := m["QueryLanguage"]; ok {
		v.queryLanguage(ql, loc+"/QueryLanguage")
	}
	def := &Definition{States: map[string]*State{}}
	def.Comment, _ = m["Comment"].(string)
	if c, ok := m["Comment"]; ok {
		if _, ok := c.(string); !ok {
			v.fail(loc+"/Comment", "the field \"Comment\" must be a string")
		}
	}
	if top {
		if t, ok := m["TimeoutSeconds"]; ok {
			n, ok := toInt(t)
			if !ok || n < 0 {
				v.fail(loc+"/TimeoutSeconds", "the field \"TimeoutSeconds\" must be a non-negative integer")
			}
			def.TimeoutSeconds = n
		}
		if ver, ok := m["Version"]; ok {
			if _, ok := ver.(string); !ok {
				v.fail(loc+"/Version", "the field \"Version\" must be a string")
			}
		}
	}
	if pc, ok := m["ProcessorConfig"]; ok {
		v.processorConfig(pc, loc+"/ProcessorConfig")
	}
	start, ok := m["StartAt"].(string)
	if !ok {
		v.fail(loc, "the field \"StartAt\" is required and must be a string")
	}
	def.StartAt = start
	states, ok := m["States"].(map[string]any)
	if !ok {
		v.fail(loc, "the field \"States\" is required and must be an object")
		return def
	}
	if len(states) == 0 {
		v.fail(loc+"/States", "\"States\" must name at least one state")
	}
	names := sortedKeys(states)
	for _, name := range names {
		sloc := loc + "/States/" + name
		if len(name) == 0 || len(name) > 80 {
			v.fail(sloc, "a state name must be 1 to 80 characters long")
		}
		if prev, dup := v.names[name]; dup {
			v.failCode("DUPLICATE_STATE_NAME", sloc, "duplicate state name %q (also at %s)", name, prev)
		} else {
			v.names[name] = sloc
		}
		if st := v.state(name, states[name], sloc); st != nil {
			def.States[name] = st
		}
	}
	if start != "" {
		if _, ok := states[start]; !ok {
			v.failCode("MISSING_TRANSITION_TARGET", loc+"/StartAt", "\"StartAt\" names the missing state %q", start)
		}
	}
	v.transitions(def, loc)
	return def
}

func (v *validator) queryLanguage(ql any, loc string) {
	s, _ := ql.(string)
	switch s {
	case "JSONPath":
	case "JSONata":
		v.fail(loc, "the JSONata query language is not supported yet; use JSONPath")
	default:
		v.fail(loc, "\"QueryLanguage\" must be \"JSONPath\" or \"JSONata\"")
	}
}

func (v *validator) processorConfig(raw any, loc string) {
	m, ok := raw.(map[string]any)
	if !ok {
		v.fail(loc, "\"ProcessorConfig\" must be an object")
		return
	}
	v.unknown(m, loc, []string{"Mode", "ExecutionType"})
	if mode, ok := m["Mode"]; ok {
		switch mode {
		case "INLINE", "DISTRIBUTED":
		default:
			v.fail(loc+"/Mode", "\"Mode\" must be INLINE or DISTRIBUTED")
		}
	}
	if et, ok := m["ExecutionType"]; ok && et != "STANDARD" && et != "EXPRESS" {
		v.fail(loc+"/ExecutionType", "\"ExecutionType\" must be STANDARD or EXPRESS")
	}
}

// transitions checks that every target exists in this machine, that every
// state is reachable from StartAt and that the machine can end.
func (v *validator) transitions(def *Definition, loc string) {
	edges := func(st *State) []string {
		var out []string
		if st.Next != "" {
			out = append(out, st.Next)
		}
		if st.Default != "" {
			out = append(out, st.Default)
		}
		for _, c := range st.Choices {
			out = append(out, c.Next)
		}
		for _, c := range st.Catch {
			out = append(out, c.Next)
		}
		return out
	}
	names := make([]string, 0, len(def.States))
	for n := range def.States {
		names = append(names, n)
	}
	slices.Sort(names)
	terminal := false
	for _, n := range names {
		st := def.States[n]
		if st.End || st.Type == TypeSucceed || st.Type == TypeFail {
			terminal = true
		}
		for _, t := range edges(st) {
			if _, ok := def.States[t]; !ok && t != "" {
				v.failCode("MISSING_TRANSITION_TARGET", loc+"/States/"+n, "missing transition target %q", t)
			}
		}
	}
	if len(def.States) > 0 && !terminal {
		v.failCode("MISSING_END_STATE", loc, "the machine has no terminal state (End, Succeed or Fail)")
	}
	if _, ok := def.States[def.StartAt]; !ok {
		return
	}
	seen := map[string]bool{def.StartAt: true}
	queue := []string{def.StartAt}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range edges(def.States[n]) {
			if _, ok := def.States[t]; ok && !seen[t] {
				seen[t] = true
				queue = append(queue, t)
			}
		}
	}
	for _, n := range names {
		if !seen[n] {
			v.failCode("UNREACHABLE_STATE", loc+"/States/"+n, "state %q is not reachable from StartAt", n)
		}
	}
}

var commonFields = []string{"Type", "Comment", "QueryLanguage"}

var stateFields = map[string][]string{
	TypePass:     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign"},
	TypeTask:     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign"},
	TypeChoice:   {"Choices", "Default", "InputPath", "OutputPath", "Assign"},
	TypeWait:     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"},
	TypeSucceed:  {"InputPath", "OutputPath"},
	TypeFail:     {"Error", "ErrorPath", "Cause", "CausePath"},
	TypeParallel: {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Branches", "Assign"},
	TypeMap:      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Iterator", "ItemProcessor", "ItemsPath", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath", "ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "Label", "Assign"},
}

func (v *validator) unknown(m map[string]any, loc string, allowed ...[]string) {
	for _, k := range sortedKeys(m) {
		found := false
		for _, a := range allowed {
			if slices.Contains(a, k) {
				found = true
				break
			}
		}
		if !found {
			v.fail(loc+"/"+k, "the field %q is not supported by Step Functions here", k)
		}
	}
}

func (v *validator) exclusive(m map[string]any, loc string, fields ...string) {
	var have []string
	for _, f := range fields {
		if _, ok := m[f]; ok {
			have = append(have, f)
		}
	}
	if len(have) > 1 {
		q := make([]string, len(fields))
		for i, f := range fields {
			q[i] = `"` + f + `"`
		}
		v.fail(loc, "a state may have only one of [%s]", strings.Join(q, ", "))
	}
}

func (v *validator) state(name string, raw any, loc string) *State {
	m, ok := raw.(map[string]any)
	if !ok {
		v.fail(loc, "a state must be a JSON object")
		return nil
	}
	typ, _ := m["Type"].(string)
	fields, ok := stateFields[typ]
	if !ok {
		v.fail(loc+"/Type", "\"Type\" must be one of Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map")
		return nil
	}
	st := &State{Name: name, Type: typ}
	st.Comment, _ = m["Comment"].(string)
	v.unknown(m, loc, commonFields, fields)
	if ql, ok := m["QueryLanguage"]; ok {
		v.queryLanguage(ql, loc+"/QueryLanguage")
	}

	// transitions
	switch typ {
	case TypePass, TypeTask, TypeWait, TypeParallel, TypeMap:
		next, hasNext := m["Next"]
		end, hasEnd := m["End"]
		if hasNext {
			s, ok := next.(string)
			if !ok || s == "" {
				v.fail(loc+"/Next", "\"Next\" must be a state name")
			}
			st.Next = s
		}
		if hasEnd {
			b, ok := end.(bool)
			if !ok {
				v.fail(loc+"/End", "\"End\" must be a boolean")
			}
			st.End = b
		}
		switch {
		case hasNext && st.End:
			v.fail(loc, "a state may have only one of [\"Next\", \"End\"]")
		case !hasNext && !st.End:
			v.fail(loc, "a state needs \"Next\" or \"End\": true")
		}
	}

	v.optPath(m, "InputPath", loc, &st.InputPath, false)
	v.optPath(m, "OutputPath", loc, &st.OutputPath, false)
	v.optPath(m, "ResultPath", loc, &st.ResultPath, true)
	if p, ok := m["Parameters"]; ok {
		st.Parameters = v.template(p, loc+"/Parameters")
	}
	if p, ok := m["ResultSelector"]; ok {
		st.ResultSelector = v.template(p, loc+"/ResultSelector")
	}
	if p, ok := m["Assign"]; ok {
		if _, ok := p.(map[string]any); !ok {
			v.fail(loc+"/Assign", "\"Assign\" must be an object")
		} else {
			st.Assign = v.template(p, loc+"/Assign")
		}
	}
	if r, ok := m["Result"]; ok {
		st.Result, st.HasResult = r, true
	}
	if r, ok := m["Retry"]; ok {
		st.Retry = v.retry(r, loc+"/Retry")
	}
	if c, ok := m["Catch"]; ok {
		st.Catch = v.catch(c, loc+"/Catch")
	}

	switch typ {
	case TypeTask:
		v.task(st, m, loc)
	case TypeChoice:
		v.choice(st, m, loc)
	case TypeWait:
		v.wait(st, m, loc)
	case TypeFail:
		v.failState(st, m, loc)
	case TypeParallel:
		br, ok := m["Branches"].([]any)
		if !ok || len(br) == 0 {
			v.fail(loc+"/Branches", "\"Branches\" must be a non-empty array of state machines")
		}
		for i, b := range br {
			st.Branches = append(st.Branches, v.machine(b, fmt.Sprintf("%s/Branches[%d]", loc, i), false))
		}
	case TypeMap:
		v.mapState(st, m, loc)
	}
	return st
}

func (v *validator) optPath(m map[string]any, field, loc string, dst *optPath, reference bool) {
	raw, ok := m[field]
	if !ok {
		return
	}
	dst.set = true
	if raw == nil {
		dst.null = true
		return
	}
	s, ok := raw.(string)
	if !ok {
		v.fail(loc+"/"+field, "the field %q must be a JSONPath string or null", field)
		return
	}
	p, err := ParsePath(s)
	if err != nil {
		v.fail(loc+"/"+field, "the value of %q is not a valid JSONPath: %v", field, err)
		return
	}
	if reference && (!p.Definite() || p.root != rootData) {
		v.fail(loc+"/"+field, "the value of %q must be a reference path (fields and indexes under $)", field)
		return
	}
	dst.path = p
}

func (v *validator) pathField(m map[string]any, field, loc string, reference bool) *Path {
	raw, ok := m[field]
	if !ok {
		return nil
	}
	var op optPath
	v.optPath(map[string]any{field: raw}, field, loc, &op, reference)
	if op.null {
		v.fail(loc+"/"+field, "the field %q cannot be null", field)
	}
	return op.path
}

// valueExprOf parses a "$"-key value: a path or an intrinsic function.
func parseValueExpr(s string) (*valueExpr, error) {
	if isIntrinsic(s) {
		c, err := parseIntrinsic(s)
		if err != nil {
			return nil, err
		}
		return &valueExpr{call: c}, nil
	}
	if strings.HasPrefix(s, "$") {
		p, err := ParsePath(s)
		if err != nil {
			return nil, err
		}
		return &valueExpr{path: p}, nil
	}
	return nil, fmt.Errorf("%q is not a JSONPath or intrinsic function expression", s)
}

func (v *validator) template(raw any, loc string) *template {
	switch x := raw.(type) {
	case map[string]any:
		t := &template{isObj: true}
		for _, k := range sortedKeys(x) {
			if strings.HasSuffix(k, ".$") {
				s, ok := x[k].(string)
				if !ok {
					v.fail(loc+"/"+k, "the value of %q is not a JSONPath or intrinsic function expression", k)
					continue
				}
				e, err := parseValueExpr(s)
				if err != nil {
					v.fail(loc+"/"+k, "the value of %q is not a JSONPath or intrinsic function expression: %v", k, err)
					continue
				}
				t.fields = append(t.fields, templateField{key: strings.TrimSuffix(k, ".$"), expr: e})
				continue
			}
			t.fields = append(t.fields, templateField{key: k, sub: v.template(x[k], loc+"/"+k)})
		}
		return t
	case []any:
		t := &template{isArr: true}
		for i, e := range x {
			t.items = append(t.items, v.template(e, fmt.Sprintf("%s[%d]", loc, i)))
		}
		return t
	}
	return &template{lit: raw}
}

func (v *validator) errorEquals(m map[string]any, loc string) []string {
	raw, ok := m["ErrorEquals"].([]any)
	if !ok || len(raw) == 0 {
		v.fail(loc+"/ErrorEquals", "\"ErrorEquals\": non-empty required array of error names")
		return nil
	}
	out := make([]string, 0, len(raw))
	for _, e := range raw {
		s, ok := e.(string)
		if !ok {
			v.fail(loc+"/ErrorEquals", "\"ErrorEquals\" must hold strings")
			continue
		}
		out = append(out, s)
	}
	if slices.Contains(out, ErrALL) && len(out) > 1 {
		v.fail(loc+"/ErrorEquals", "%q must appear alone in \"ErrorEquals\"", ErrALL)
	}
	return out
}

func (v *validator) retry(raw any, loc string) []*Retrier {
	list, ok := raw.([]any)
	if !ok {
		v.fail(loc, "\"Retry\" must be an array")
		return nil
	}
	var out []*Retrier
	for i, e := range list {
		eloc := fmt.Sprintf("%s[%d]", loc, i)
		m, ok := e.(map[string]any)
		if !ok {
			v.fail(eloc, "a retrier must be an object")
			continue
		}
		v.unknown(m, eloc, []string{"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"})
		r := &Retrier{ErrorEquals: v.errorEquals(m, eloc), IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2}
		if x, ok := m["IntervalSeconds"]; ok {
			n, ok := toInt(x)
			if !ok || n < 1 || n > 99999999 {
				v.fail(eloc+"/IntervalSeconds", "\"IntervalSeconds\" must be an integer, allowed minimum is 1")
			}
			r.IntervalSeconds = n
		}
		if x, ok := m["MaxAttempts"]; ok {
			n, ok := toInt(x)
			if !ok || n < 0 || n > 99999999 {
				v.fail(eloc+"/MaxAttempts", "\"MaxAttempts\" must be an integer, allowed minimum is 0")
			}
			r.MaxAttempts = n
		}
		if x, ok := m["BackoffRate"]; ok {
			f, ok := toFloat(x)
			if !ok || f < 1 {
				v.fail(eloc+"/BackoffRate", "\"BackoffRate\" must be a number, allowed minimum is 1")
			}
			r.BackoffRate = f
		}
		if x, ok := m["MaxDelaySeconds"]; ok {
			n, ok := toInt(x)
			if !ok || n <= 0 || n > 31622400 {
				v.fail(eloc+"/MaxDelaySeconds", "\"MaxDelaySeconds\" must be a positive integer, allowed floor is 0 (exclusive)")
			}
			r.MaxDelaySeconds = n
		}
		if x, ok := m["JitterStrategy"]; ok {
			switch x {
			case "FULL":
				r.JitterFull = true
			case "NONE":
			default:
				v.fail(eloc+"/JitterStrategy", "\"JitterStrategy\" is not one of the allowed values [\"FULL\", \"NONE\"]")
			}
		}
		if slices.Contains(r.ErrorEquals, ErrALL) && i != len(list)-1 {
			v.fail(eloc+"/ErrorEquals", "a retrier with %q must be the last one", ErrALL)
		}
		out = append(out, r)
	}
	return out
}

func (v *validator) catch(raw any, loc string) []*Catcher {
	list, ok := raw.([]any)
	if !ok {
		v.fail(loc, "\"Catch\" must be an array")
		return nil
	}
	var out []*Catcher
	for i, e := range list {
		eloc := fmt.Sprintf("%s[%d]", loc, i)
		m, ok := e.(map[string]any)
		if !ok {
			v.fail(eloc, "a catcher must be an object")
			continue
		}
		v.unknown(m, eloc, []string{"ErrorEquals", "Next", "ResultPath", "Comment", "Assign"})
		c := &Catcher{ErrorEquals: v.errorEquals(m, eloc)}
		next, ok := m["Next"].(string)
		if !ok || next == "" {
			v.fail(eloc+"/Next", "a catcher needs \"Next\"")
		}
		c.Next = next
		v.optPath(m, "ResultPath", eloc, &c.ResultPath, true)
		if a, ok := m["Assign"]; ok {
			c.Assign = v.template(a, eloc+"/Assign")
		}
		if slices.Contains(c.ErrorEquals, ErrALL) && i != len(list)-1 {
			v.fail(eloc+"/ErrorEquals", "a catcher with %q must be the last one", ErrALL)
		}
		out = append(out, c)
	}
	return out
}

func (v *validator) positiveInt(m map[string]any, field, loc string) int64 {
	x, ok := m[field]
	if !ok {
		return 0
	}
	n, ok := toInt(x)
	if !ok || n < 1 || n > 99999999 {
		v.fail(loc+"/"+field, "%q must be a positive integer", field)
	}
	return n
}

func (v *validator) task(st *State, m map[string]any, loc string) {
	res, ok := m["Resource"].(string)
	if !ok || res == "" {
		v.fail(loc+"/Resource", "a Task needs \"Resource\" (a URI)")
	}
	st.Resource = res
	if c, ok := m["Credentials"]; ok {
		if _, ok := c.(map[string]any); !ok {
			v.fail(loc+"/Credentials", "\"Credentials\" must be an object")
		}
		st.Credentials = c
	}
	v.exclusive(m, loc, "TimeoutSeconds", "TimeoutSecondsPath")
	v.exclusive(m, loc, "HeartbeatSeconds", "HeartbeatSecondsPath")
	st.TimeoutSeconds = v.positiveInt(m, "TimeoutSeconds", loc)
	st.HeartbeatSeconds = v.positiveInt(m, "HeartbeatSeconds", loc)
	st.TimeoutSecondsPath = v.pathField(m, "TimeoutSecondsPath", loc, true)
	st.HeartbeatSecPath = v.pathField(m, "HeartbeatSecondsPath", loc, true)
	if st.TimeoutSeconds > 0 && st.HeartbeatSeconds >= st.TimeoutSeconds {
		v.fail(loc+"/HeartbeatSeconds", "\"HeartbeatSeconds\" must be smaller than \"TimeoutSeconds\"")
	}
}

func (v *validator) wait(st *State, m map[string]any, loc string) {
	n := 0
	for _, f := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
		if _, ok := m[f]; ok {
			n++
		}
	}
	if n != 1 {
		v.fail(loc, "a Wait state needs exactly one of [\"Seconds\", \"SecondsPath\", \"Timestamp\", \"TimestampPath\"]")
	}
	if x, ok := m["Seconds"]; ok {
		s, ok := toInt(x)
		if !ok || s < 0 || s > 99999999 {
			v.fail(loc+"/Seconds", "\"Seconds\" must be a non-negative integer")
		}
		st.Seconds = &s
	}
	if x, ok := m["Timestamp"]; ok {
		s, _ := x.(string)
		t, err := parseTimestamp(s)
		if err != nil {
			v.fail(loc+"/Timestamp", "\"Timestamp\" must be an RFC 3339 timestamp")
		}
		st.Timestamp = &t
	}
	st.SecondsPath = v.pathField(m, "SecondsPath", loc, false)
	st.TimestampPath = v.pathField(m, "TimestampPath", loc, false)
}

func (v *validator) failState(st *State, m map[string]any, loc string) {
	v.exclusive(m, loc, "Error", "ErrorPath")
	v.exclusive(m, loc, "Cause", "CausePath")
	str := func(f string) *string {
		x, ok := m[f]
		if !ok {
			return nil
		}
		s, ok := x.(string)
		if !ok {
			v.fail(loc+"/"+f, "%q must be a string", f)
		}
		return &s
	}
	st.Error, st.Cause = str("Error"), str("Cause")
	expr := func(f string) *valueExpr {
		x, ok := m[f]
		if !ok {
			return nil
		}
		s, _ := x.(string)
		e, err := parseValueExpr(s)
		if err != nil {
			v.fail(loc+"/"+f, "%q: %v", f, err)
		}
		return e
	}
	st.ErrorPath, st.CausePath = expr("ErrorPath"), expr("CausePath")
}

func (v *validator) mapState(st *State, m map[string]any, loc string) {
	_, hasIP := m["ItemProcessor"]
	_, hasIt := m["Iterator"]
	switch {
	case hasIP && hasIt:
		v.fail(loc, "a Map state may have only one of [\"ItemProcessor\", \"Iterator\"]")
	case hasIP:
		if pm, ok := m["ItemProcessor"].(map[string]any); ok {
			// machine() validates ProcessorConfig; only the mode matters here
			if pc, ok := pm["ProcessorConfig"].(map[string]any); ok {
				st.distributed = pc["Mode"] == "DISTRIBUTED"
			}
		}
		st.ItemProcessor = v.machine(m["ItemProcessor"], loc+"/ItemProcessor", false)
	case hasIt:
		st.ItemProcessor = v.machine(m["Iterator"], loc+"/Iterator", false)
	default:
		v.fail(loc, "a Map state needs \"ItemProcessor\" (or the older \"Iterator\")")
	}
	v.exclusive(m, loc, "Parameters", "ItemSelector")
	if p, ok := m["ItemSelector"]; ok {
		st.ItemSelector = v.template(p, loc+"/ItemSelector")
	}
	v.optPath(m, "ItemsPath", loc, &st.ItemsPath, false)
	if st.ItemsPath.null {
		v.fail(loc+"/ItemsPath", "\"ItemsPath\" cannot be null")
	}
	v.exclusive(m, loc, "MaxConcurrency", "MaxConcurrencyPath")
	if x, ok := m["MaxConcurrency"]; ok {
		n, ok := toInt(x)
		if !ok || n < 0 {
			v.fail(loc+"/MaxConcurrency", "\"MaxConcurrency\" must be a non-negative integer")
		}
		st.MaxConcurrency = n
	}
	st.MaxConcurrencyPath = v.pathField(m, "MaxConcurrencyPath", loc, true)
	v.exclusive(m, loc, "ToleratedFailureCount", "ToleratedFailureCountPath")
	v.exclusive(m, loc, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
	if x, ok := m["ToleratedFailureCount"]; ok {
		n, ok := toInt(x)
		if !ok || n < 0 {
			v.fail(loc+"/ToleratedFailureCount", "\"ToleratedFailureCount\" must be a non-negative integer")
		}
		st.ToleratedFailureCount = &n
	}
	if x, ok := m["ToleratedFailurePercentage"]; ok {
		f, ok := toFloat(x)
		if !ok || f < 0 || f > 100 {
			v.fail(loc+"/ToleratedFailurePercentage", "\"ToleratedFailurePercentage\" must be a number from 0 to 100")
		}
		st.ToleratedFailurePercentage = &f
	}
	st.ToleratedFailureCountPath = v.pathField(m, "ToleratedFailureCountPath", loc, true)
	st.ToleratedFailurePercentagePath = v.pathField(m, "ToleratedFailurePercentagePath", loc, true)
	if _, ok := m["ItemReader"]; ok {
		st.itemReader = true
	}
	if l, ok := m["Label"]; ok {
		if _, ok := l.(string); !ok {
			v.fail(loc+"/Label", "\"Label\" must be a string")
		}
	}
}

var comparisonOps = []string{
	"StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals", "StringMatches",
	"NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals",
	"BooleanEquals",
	"TimestampEquals", "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals", "TimestampGreaterThanEquals",
	"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp",
}

func (v *validator) choice(st *State, m map[string]any, loc string) {
	list, ok := m["Choices"].([]any)
	if !ok || len(list) == 0 {
		v.fail(loc+"/Choices", "\"Choices\" must be a non-empty array of rules")
	}
	for i, r := range list {
		st.Choices = append(st.Choices, v.rule(r, fmt.Sprintf("%s/Choices[%d]", loc, i), true))
	}
	if d, ok := m["Default"]; ok {
		s, ok := d.(string)
		if !ok || s == "" {
			v.fail(loc+"/Default", "\"Default\" must be a state name")
		}
		st.Default = s
	}
}

func (v *validator) rule(raw any, loc string, top bool) *ChoiceRule {
	m, ok := raw.(map[string]any)
	if !ok {
		v.fail(loc, "a choice rule must be an object")
		return &ChoiceRule{}
	}
	r := &ChoiceRule{}
	allowed := []string{"Variable", "And", "Or", "Not", "Comment"}
	if top {
		allowed = append(allowed, "Next", "Assign")
		next, ok := m["Next"].(string)
		if !ok || next == "" {
			v.fail(loc+"/Next", "a top-level choice rule needs \"Next\"")
		}
		r.Next = next
		if a, ok := m["Assign"]; ok {
			r.Assign = v.template(a, loc+"/Assign")
		}
	}
	var ops []string
	for _, k := range sortedKeys(m) {
		base := strings.TrimSuffix(k, "Path")
		if slices.Contains(comparisonOps, k) || (strings.HasSuffix(k, "Path") && slices.Contains(comparisonOps, base) && !strings.HasPrefix(k, "Is") && base != "StringMatches") {
			ops = append(ops, k)
			continue
		}
		if !slices.Contains(allowed, k) {
			v.fail(loc+"/"+k, "the field %q is not supported in a choice rule", k)
		}
	}
	_, hasAnd := m["And"]
	_, hasOr := m["Or"]
	_, hasNot := m["Not"]
	kinds := len(ops)
	for _, b := range []bool{hasAnd, hasOr, hasNot} {
		if b {
			kinds++
		}
	}
	if kinds != 1 {
		v.fail(loc, "a choice rule needs exactly one comparison operator or one of And, Or, Not")
		return r
	}
	sub := func(f string) []*ChoiceRule {
		list, ok := m[f].([]any)
		if !ok || len(list) == 0 {
			v.fail(loc+"/"+f, "%q must be a non-empty array of rules", f)
			return nil
		}
		var out []*ChoiceRule
		for i, e := range list {
			out = append(out, v.rule(e, fmt.Sprintf("%s/%s[%d]", loc, f, i), false))
		}
		return out
	}
	switch {
	case hasAnd:
		r.And = sub("And")
	case hasOr:
		r.Or = sub("Or")
	case hasNot:
		r.Not = v.rule(m["Not"], loc+"/Not", false)
	}
	if _, ok := m["Variable"]; ok && (hasAnd || hasOr || hasNot) {
		v.fail(loc+"/Variable", "\"Variable\" is not allowed with And, Or or Not")
	}
	if len(ops) == 0 {
		return r
	}
	op := ops[0]
	vs, ok := m["Variable"].(string)
	if !ok {
		v.fail(loc+"/Variable", "a comparison needs \"Variable\" (a JSONPath)")
	} else if p, err := ParsePath(vs); err != nil {
		v.fail(loc+"/Variable", "\"Variable\": %v", err)
	} else {
		r.Variable = p
	}
	val := m[op]
	if strings.HasSuffix(op, "Path") && !slices.Contains(comparisonOps, op) {
		r.Op, r.ByPath = strings.TrimSuffix(op, "Path"), true
		s, ok := val.(string)
		p, err := ParsePath(s)
		if !ok || err != nil {
			v.fail(loc+"/"+op, "%q must be a JSONPath", op)
		}
		r.ValuePath = p
		return r
	}
	r.Op, r.Value = op, val
	bad := false
	switch {
	case strings.HasPrefix(op, "Is"), op == "BooleanEquals":
		_, isBool := val.(bool)
		bad = !isBool
	case strings.HasPrefix(op, "String"):
		_, isStr := val.(string)
		bad = !isStr
	case strings.HasPrefix(op, "Numeric"):
		_, isNum := val.(json.Number)
		bad = !isNum
	case strings.HasPrefix(op, "Timestamp"):
		// a literal that is no timestamp is accepted and never matches
		_, isStr := val.(string)
		bad = !isStr
	}
	if bad {
		v.fail(loc+"/"+op, "the value of %q has the wrong type", op)
	}
	return r
}

// parseTimestamp parses an RFC 3339 timestamp as Step Functions accepts it
// (an uppercase T and a zone: Z or an offset).
func parseTimestamp(s string) (time.Time, error) {
	if strings.Contains(s, "t") || strings.Contains(s, "z") {
		return time.Time{}, fmt.Errorf("timestamp %q must use uppercase T and Z", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}
