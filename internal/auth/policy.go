package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Statement is one IAM policy statement.
type Statement struct {
	Sid         string     `json:"Sid,omitempty"`
	Effect      string     `json:"Effect"`
	Action      stringList `json:"Action,omitempty"`
	NotAction   stringList `json:"NotAction,omitempty"`
	Resource    stringList `json:"Resource,omitempty"`
	NotResource stringList `json:"NotResource,omitempty"`
	// Condition is operator → condition key → values.
	Condition map[string]map[string]stringList `json:"Condition,omitempty"`
}

// stringList is IAM's "a string or an array of strings" (numbers and
// booleans in conditions are read as their text).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	items, ok := raw.([]any)
	if !ok {
		items = []any{raw}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, v)
		case bool, float64:
			out = append(out, fmt.Sprint(v))
		default:
			return fmt.Errorf("expected a string or an array of strings, got %s", b)
		}
	}
	*l = out
	return nil
}

// Policy is a set of statements evaluated together.
type Policy []Statement

// ParseStatements reads a JSON array of statements (or one statement, or a
// policy document with a Statement member).
func ParseStatements(data []byte) (Policy, error) {
	data = []byte(strings.TrimSpace(string(data)))
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	var p Policy
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("IAM statements: %w", err)
		}
	case '{':
		var doc struct {
			Statement json.RawMessage `json:"Statement"`
		}
		if err := json.Unmarshal(data, &doc); err == nil && len(doc.Statement) > 0 {
			return ParseStatements(doc.Statement)
		}
		var st Statement
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("IAM statement: %w", err)
		}
		p = Policy{st}
	default:
		return nil, fmt.Errorf("IAM statements must be a JSON array")
	}
	for i, st := range p {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("IAM statement %d: Effect must be Allow or Deny, not %q", i+1, st.Effect)
		}
		if len(st.Action) == 0 == (len(st.NotAction) == 0) {
			return nil, fmt.Errorf("IAM statement %d: exactly one of Action and NotAction is required", i+1)
		}
		if len(st.Resource) == 0 == (len(st.NotResource) == 0) {
			return nil, fmt.Errorf("IAM statement %d: exactly one of Resource and NotResource is required", i+1)
		}
	}
	return p, nil
}

// Decision is the outcome of evaluating policies.
type Decision int

// IAM's three outcomes.
const (
	ImplicitDeny Decision = iota
	Allow
	ExplicitDeny
)

// Request is what a policy is evaluated against.
type Request struct {
	Action   string // e.g. "sqs:SendMessage"
	Resource string // an ARN, or "*"
	// Context holds condition keys (aws:SourceArn, aws:PrincipalArn, ...).
	Context map[string]string
	// Multi holds multi-valued condition keys (dynamodb:LeadingKeys: the
	// partition keys a request touches), evaluated as sets by ForAllValues
	// and ForAnyValue.
	Multi map[string][]string
	// Unknowable names keys the request cannot supply (a Scan's leading
	// keys): a statement conditioned on one does not allow the request, and
	// a Deny conditioned on one applies.
	Unknowable []string
}

// Evaluate applies IAM's logic over every policy: an explicit Deny wins,
// then an Allow, else the request is implicitly denied.
func Evaluate(req *Request, policies ...Policy) Decision {
	allowed := false
	for _, p := range policies {
		for i := range p {
			st := &p[i]
			if !st.applies(req) {
				continue
			}
			if st.Effect == "Deny" {
				return ExplicitDeny
			}
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

func (st *Statement) applies(req *Request) bool {
	if len(st.Action) > 0 && !anyMatch(st.Action, req.Action, true) {
		return false
	}
	if len(st.NotAction) > 0 && anyMatch(st.NotAction, req.Action, true) {
		return false
	}
	if len(st.Resource) > 0 && !anyResource(st.Resource, req.Resource, req.Context) {
		return false
	}
	// unsure: something the statement depends on cannot be evaluated (an
	// unknown operator, a key the request cannot supply, a NotResource
	// variable it lacks). Decided after every other part, so a part that is
	// surely false keeps the statement from applying whatever the map's
	// iteration order: an Allow then does not apply, a Deny does (failing
	// closed either way).
	unsure := false
	if len(st.NotResource) > 0 {
		if anyResource(st.NotResource, req.Resource, req.Context) {
			return false
		}
		// A pattern whose variable names a key the request lacks matches
		// nothing, which would make NotResource cover every resource.
		if !allResolve(st.NotResource, req.Context) {
			unsure = true
		}
	}
	for op, keys := range st.Condition {
		for key, values := range keys {
			if containsFold(req.Unknowable, key) {
				unsure = true
				continue
			}
			values, resolved := substituteAll(values, req.Context, patternOperator(op))
			if !resolved {
				// A policy variable names a key the request does not have:
				// the condition is false, as IAM's.
				return false
			}
			var ok, known bool
			if set, multi := lookupMulti(req.Multi, key); multi {
				ok, known = evalSet(op, key, values, set, st.Effect == "Deny")
			} else {
				ok, known = evalCondition(op, key, values, req.Context)
			}
			if !known {
				unsure = true
				continue
			}
			if !ok {
				return false
			}
		}
	}
	if unsure {
		return st.Effect == "Deny"
	}
	return true
}

func anyMatch(patterns []string, s string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			if wildcardMatchFold(p, s) {
				return true
			}
		} else if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// anyResource matches ARNs as IAM does: case-sensitively, each of the six
// colon-separated parts on its own, after the policy variables in a pattern
// are replaced from ctx (a pattern naming a missing key matches nothing).
func anyResource(patterns []string, resource string, ctx map[string]string) bool {
	for _, p := range patterns {
		if p == "*" {
			return true
		}
		if p, ok := substitute(p, ctx, true); ok && arnMatch(p, resource) {
			return true
		}
	}
	return false
}

// allResolve says every policy variable in patterns names a key of ctx
// (or has a default).
func allResolve(patterns []string, ctx map[string]string) bool {
	for _, p := range patterns {
		if strings.Contains(p, "${") {
			if _, ok := substitute(p, ctx, true); !ok {
				return false
			}
		}
	}
	return true
}

// literal marks the next byte of a pattern as itself, not a wildcard: it
// is how ${*}, ${?} and a variable's value reach the matcher.
const literal = '\x00'

// substitute replaces IAM policy variables in s — ${aws:userid}, or
// ${key, 'default'} used when the key is missing — with the request's
// condition keys (names case-insensitive), and the special variables ${*},
// ${?} and ${$} with the character they name. In a pattern (a Resource, or
// a value of a *Like or Arn* condition) what a variable gives is matched
// literally: ${*} is an asterisk, not a wildcard, and so is an asterisk in
// a key's value, so no request can widen a policy through its own values.
// It reports false when a variable names a key the request lacks and gives
// no default. Text without "${" is returned as it is, without allocating.
func substitute(s string, ctx map[string]string, pattern bool) (string, bool) {
	i := strings.Index(s, "${")
	if i < 0 {
		return s, true
	}
	var b strings.Builder
	for i >= 0 {
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			break // not a variable: the rest is literal
		}
		b.WriteString(s[:i])
		inner := s[i+2 : i+end]
		var v string
		switch inner {
		case "*", "?", "$":
			v = inner
		default:
			name, def, hasDef := strings.Cut(inner, ",")
			name = strings.TrimSpace(name)
			var ok bool
			v, ok = lookupKey(ctx, name)
			if !ok && hasDef {
				def = strings.TrimSpace(def)
				if len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\'' {
					v, ok = def[1:len(def)-1], true
				}
			}
			if !ok {
				return "", false
			}
		}
		if pattern {
			for j := range len(v) {
				if c := v[j]; c == '*' || c == '?' || c == literal {
					b.WriteByte(literal)
				}
				b.WriteByte(v[j])
			}
		} else {
			b.WriteString(v)
		}
		s = s[i+end+1:]
		i = strings.Index(s, "${")
	}
	b.WriteString(s)
	return b.String(), true
}

// patternOperator says a condition operator matches wildcards.
func patternOperator(op string) bool {
	if _, rest, found := strings.Cut(op, ":"); found {
		op = rest // ForAnyValue:, ForAllValues:
	}
	op = strings.TrimSuffix(op, "IfExists")
	return op == "StringLike" || op == "StringNotLike" || strings.HasPrefix(op, "Arn")
}

// substituteAll is substitute over a condition's values; the slice is
// copied only when a value holds a variable.
func substituteAll(values []string, ctx map[string]string, pattern bool) ([]string, bool) {
	var out []string
	for i, v := range values {
		if !strings.Contains(v, "${") {
			if out != nil {
				out[i] = v
			}
			continue
		}
		sv, ok := substitute(v, ctx, pattern)
		if !ok {
			return nil, false
		}
		if out == nil {
			out = make([]string, len(values))
			copy(out, values[:i])
		}
		out[i] = sv
	}
	if out == nil {
		return values, true
	}
	return out, true
}

func arnMatch(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return wildcardMatch(pattern, arn)
	}
	for i := range pp {
		if !wildcardMatch(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// wildcardMatch matches s against p where '*' is any run of characters,
// '?' any one character, and a byte after the literal mark only itself.
func wildcardMatch(p, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		if px < len(p) {
			switch c := p[px]; {
			case c == literal && px+1 < len(p):
				if p[px+1] == s[sx] {
					px += 2
					sx++
					continue
				}
			case c == '*':
				star, mark = px, sx
				px++
				continue
			case c == '?' || c == s[sx]:
				px++
				sx++
				continue
			}
		}
		if star < 0 {
			return false
		}
		px = star + 1
		mark++
		sx = mark
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

func wildcardMatchFold(p, s string) bool {
	return wildcardMatch(strings.ToLower(p), strings.ToLower(s))
}

// evalCondition evaluates one operator on one key: values are OR'd. known is
// false for operators nimbus does not implement.
func evalCondition(op, key string, values []string, ctx map[string]string) (ok, known bool) {
	// The keys nimbus supplies are single-valued: ForAnyValue is the plain
	// operator, and ForAllValues also holds for a missing key.
	if rest, found := strings.CutPrefix(op, "ForAnyValue:"); found {
		// An absent key is an empty set: no value of it satisfies the
		// operator, negated ones included (IfExists still holds).
		if _, present := lookupKey(ctx, key); !present && !strings.HasSuffix(rest, "IfExists") && rest != "Null" {
			return false, isKnownOperator(rest)
		}
		op = rest
	} else if rest, found := strings.CutPrefix(op, "ForAllValues:"); found {
		if _, present := lookupKey(ctx, key); !present {
			return true, isKnownOperator(strings.TrimSuffix(rest, "IfExists"))
		}
		op = rest
	}
	ifExists := strings.HasSuffix(op, "IfExists")
	base := strings.TrimSuffix(op, "IfExists")
	actual, present := lookupKey(ctx, key)
	if base == "Null" {
		want := len(values) > 0 && strings.EqualFold(values[0], "true")
		return want == !present, true
	}
	if !present {
		if ifExists {
			return true, isKnownOperator(base)
		}
		negated := strings.Contains(base, "Not")
		return negated, isKnownOperator(base)
	}
	var match func(want string) bool
	negate := false
	switch base {
	case "StringEquals", "ArnEquals":
		match = func(w string) bool { return w == actual }
		if base == "ArnEquals" {
			match = func(w string) bool { return arnMatch(w, actual) }
		}
	case "StringNotEquals", "ArnNotEquals":
		match, negate = func(w string) bool { return w == actual }, true
		if base == "ArnNotEquals" {
			match = func(w string) bool { return arnMatch(w, actual) }
		}
	case "StringEqualsIgnoreCase":
		match = func(w string) bool { return strings.EqualFold(w, actual) }
	case "StringNotEqualsIgnoreCase":
		match, negate = func(w string) bool { return strings.EqualFold(w, actual) }, true
	case "StringLike":
		match = func(w string) bool { return wildcardMatch(w, actual) }
	case "StringNotLike":
		match, negate = func(w string) bool { return wildcardMatch(w, actual) }, true
	case "ArnLike":
		match = func(w string) bool { return arnMatch(w, actual) }
	case "ArnNotLike":
		match, negate = func(w string) bool { return arnMatch(w, actual) }, true
	case "Bool":
		match = func(w string) bool { return strings.EqualFold(w, actual) }
	case "IpAddress":
		match = func(w string) bool { return ipMatch(w, actual) }
	case "NotIpAddress":
		match, negate = func(w string) bool { return ipMatch(w, actual) }, true
	case "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals":
		return dateCondition(base, actual, values), true
	default:
		return false, false
	}
	hit := false
	for _, v := range values {
		if match(v) {
			hit = true
			break
		}
	}
	return hit != negate, true
}

// evalSet evaluates an operator on a multi-valued key: ForAllValues holds
// when every value of the set satisfies it (an empty set included),
// ForAnyValue when one does. A plain operator on a set of one value is the
// single-valued test; on more, IAM's answer is not defined, so it fails
// closed for the statement's effect: an Allow needs every value, a Deny
// applies when one value satisfies it (needing every value let a Deny on
// one partition key pass a batch that also named another).
func evalSet(op, key string, values []string, set []string, deny bool) (ok, known bool) {
	all := true
	if rest, found := strings.CutPrefix(op, "ForAnyValue:"); found {
		op, all = rest, false
	} else if rest, found := strings.CutPrefix(op, "ForAllValues:"); found {
		op = rest
	} else if len(set) == 0 {
		return evalCondition(op, key, values, nil)
	} else {
		all = !deny
	}
	if !isKnownOperator(strings.TrimSuffix(op, "IfExists")) {
		return false, false
	}
	for _, v := range set {
		hit, _ := evalCondition(op, key, values, map[string]string{key: v})
		if hit != all {
			return hit, true
		}
	}
	return all, true
}

func lookupMulti(m map[string][]string, key string) ([]string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func isKnownOperator(op string) bool {
	_, known := evalCondition(op, "k", nil, map[string]string{"k": ""})
	return known
}

// lookupKey finds a condition key; IAM's key names are case-insensitive.
func lookupKey(ctx map[string]string, key string) (string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func parseIAMTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func dateCondition(op, actual string, values []string) bool {
	at, ok := parseIAMTime(actual)
	if !ok {
		return false
	}
	matched := false
	for _, v := range values {
		vt, ok := parseIAMTime(v)
		if !ok {
			continue
		}
		var m bool
		switch op {
		case "DateEquals", "DateNotEquals":
			m = at.Equal(vt)
		case "DateLessThan":
			m = at.Before(vt)
		case "DateLessThanEquals":
			m = !at.After(vt)
		case "DateGreaterThan":
			m = at.After(vt)
		case "DateGreaterThanEquals":
			m = !at.Before(vt)
		}
		if m {
			matched = true
			break
		}
	}
	if op == "DateNotEquals" {
		return !matched
	}
	return matched
}

// managedPolicies are the AWS managed policies nimbus knows, by name, reduced
// to the services nimbus serves.
var managedPolicies = map[string]Policy{
	"AdministratorAccess":             {{Effect: "Allow", Action: stringList{"*"}, Resource: stringList{"*"}}},
	"AmazonSQSFullAccess":             {{Effect: "Allow", Action: stringList{"sqs:*"}, Resource: stringList{"*"}}},
	"AmazonSNSFullAccess":             {{Effect: "Allow", Action: stringList{"sns:*"}, Resource: stringList{"*"}}},
	"AmazonEventBridgeFullAccess":     {{Effect: "Allow", Action: stringList{"events:*", "schemas:*", "scheduler:*", "pipes:*"}, Resource: stringList{"*"}}},
	"AWSLambda_FullAccess":            {{Effect: "Allow", Action: stringList{"lambda:*", "logs:*", "events:*", "sqs:ListQueues", "sns:ListTopics", "sns:ListSubscriptions"}, Resource: stringList{"*"}}},
	"AWSLambdaBasicExecutionRole":     {{Effect: "Allow", Action: stringList{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, Resource: stringList{"*"}}},
	"AmazonSQSReadOnlyAccess":         {{Effect: "Allow", Action: stringList{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListDeadLetterSourceQueues", "sqs:ListQueues", "sqs:ListMessageMoveTasks", "sqs:ListQueueTags"}, Resource: stringList{"*"}}},
	"AmazonSNSReadOnlyAccess":         {{Effect: "Allow", Action: stringList{"sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:List*", "sns:CheckIfPhoneNumberIsOptedOut", "sns:GetEndpointAttributes", "sns:GetPlatformApplicationAttributes", "sns:GetSMSAttributes"}, Resource: stringList{"*"}}},
	"AmazonEventBridgeReadOnlyAccess": {{Effect: "Allow", Action: stringList{"events:Describe*", "events:List*", "events:TestEventPattern"}, Resource: stringList{"*"}}},
	"AWSLambda_ReadOnlyAccess":        {{Effect: "Allow", Action: stringList{"lambda:Get*", "lambda:List*"}, Resource: stringList{"*"}}},
}

// ManagedPolicy returns the managed policy an ARN names
// (arn:aws:iam::aws:policy/[path/]Name), if nimbus knows it.
func ManagedPolicy(arn string) (Policy, bool) {
	name := arn[strings.LastIndexByte(arn, '/')+1:]
	p, ok := managedPolicies[name]
	return p, ok
}
