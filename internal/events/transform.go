package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Predefined input transformer variables.
const (
	varRuleARN       = "aws.events.rule-arn"
	varRuleName      = "aws.events.rule-name"
	varIngestionTime = "aws.events.event.ingestion-time"
	varEvent         = "aws.events.event"
	varEventJSON     = "aws.events.event.json"
)

var (
	placeholderRE = regexp.MustCompile(`<([A-Za-z0-9_.\-]+)>`)
	pathKeyRE     = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,256}$`)
	// jsonPathRE accepts what EventBridge evaluates: $ then .name, .*, [n] or [*] steps.
	jsonPathRE = regexp.MustCompile(`^\$((\.[^.\[\]]+)|(\[(\d+|\*)\]))*$`)
)

func predefined(name string) bool {
	switch name {
	case varRuleARN, varRuleName, varIngestionTime, varEvent, varEventJSON:
		return true
	}
	return false
}

// ValidJSONPath reports whether p is a JSON path EventBridge accepts.
func ValidJSONPath(p string) bool { return len(p) <= MaxInputPathLen && jsonPathRE.MatchString(p) }

// validateTarget checks a target as PutTargets does.
func validateTarget(t *Target) error {
	n := 0
	if t.Input != "" {
		n++
	}
	if t.InputPath != "" {
		n++
	}
	if t.InputTransformer != nil {
		n++
	}
	if n > 1 {
		return errorf(CodeValidation, "Only one of Input, InputPath, or InputTransformer must be provided for target %s.", t.ID)
	}
	if !ruleNameRE.MatchString(t.ID) {
		return errorf(CodeValidation, "1 validation error detected: Value '%s' at 'targets.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ and have length between 1 and 64", t.ID)
	}
	if t.Arn == "" || len(t.Arn) > 1600 || !strings.HasPrefix(t.Arn, "arn:") {
		return errorf(CodeValidation, "Parameter %s is not valid. Reason: Provided Arn is not in correct format.", t.Arn)
	}
	if t.Input != "" {
		if len(t.Input) > MaxInputLen {
			return errorf(CodeValidation, "Input for target %s is longer than %d characters.", t.ID, MaxInputLen)
		}
		if !json.Valid([]byte(t.Input)) {
			return errorf(CodeValidation, "Input for target %s is not valid JSON text.", t.ID)
		}
	}
	if t.InputPath != "" && !ValidJSONPath(t.InputPath) {
		return errorf(CodeValidation, "InputPath for target %s is not a valid JSON path: %q (use dot notation such as $.detail.id).", t.ID, t.InputPath)
	}
	if tr := t.InputTransformer; tr != nil {
		if tr.InputTemplate == "" {
			return errorf(CodeValidation, "InputTemplate for target %s must not be empty.", t.ID)
		}
		if len(tr.InputTemplate) > MaxInputTemplateLen {
			return errorf(CodeValidation, "InputTemplate for target %s is longer than %d characters.", t.ID, MaxInputTemplateLen)
		}
		if len(tr.InputPathsMap) > MaxInputPathsMap {
			return errorf(CodeValidation, "InputPathsMap for target %s has %d entries; at most %d are allowed.", t.ID, len(tr.InputPathsMap), MaxInputPathsMap)
		}
		for k, p := range tr.InputPathsMap {
			if !pathKeyRE.MatchString(k) {
				return errorf(CodeValidation, "InputPathsMap key %q for target %s may contain only letters, digits, '.', '-' and '_'.", k, t.ID)
			}
			if strings.HasPrefix(strings.ToLower(k), "aws.") {
				return errorf(CodeValidation, "InputPathsMap key %q for target %s is reserved: keys starting with \"aws.\" are predefined variables.", k, t.ID)
			}
			if !ValidJSONPath(p) {
				return errorf(CodeValidation, "InputPathsMap value %q of key %q for target %s is not a valid JSON path.", p, k, t.ID)
			}
		}
		for _, m := range placeholderRE.FindAllStringSubmatch(tr.InputTemplate, -1) {
			if _, ok := tr.InputPathsMap[m[1]]; !ok && !predefined(m[1]) {
				return errorf(CodeValidation, "InputTemplate for target %s contains invalid placeholder %s.", t.ID, m[1])
			}
		}
	}
	if t.RetryPolicy != nil {
		if a := t.RetryPolicy.MaximumRetryAttempts; a != nil && (*a < 0 || *a > MaxRetryAttempts) {
			return errorf(CodeValidation, "RetryPolicy.MaximumRetryAttempts %d for target %s must be between 0 and %d.", *a, t.ID, MaxRetryAttempts)
		}
		if a := t.RetryPolicy.MaximumEventAgeInSeconds; a != nil && (*a < MinEventAgeSeconds || *a > MaxEventAgeSeconds) {
			return errorf(CodeValidation, "RetryPolicy.MaximumEventAgeInSeconds %d for target %s must be between %d and %d.", *a, t.ID, MinEventAgeSeconds, MaxEventAgeSeconds)
		}
	}
	if t.DeadLetterConfig != nil && t.DeadLetterConfig.Arn != "" {
		switch arnService(t.DeadLetterConfig.Arn) {
		case "sqs", "lambda":
		default:
			return errorf(CodeValidation, "DeadLetterConfig.Arn %q for target %s must be an SQS queue ARN (or, in nimbus, a Lambda function ARN).", t.DeadLetterConfig.Arn, t.ID)
		}
	}
	return nil
}

// RenderContext is what the predefined variables of an input template refer to.
type RenderContext struct {
	RuleARN       string
	RuleName      string
	IngestionTime string // RFC 3339, as the event's time
}

// Render computes what a target receives for event: the event itself, the
// constant Input, the part selected by InputPath, or the InputTransformer's
// template filled in. It follows EventBridge:
//
//   - InputPath selects a value; it is sent as JSON (a string keeps its quotes).
//   - An InputTemplate that starts with '{' or '[' is JSON: a placeholder outside a
//     JSON string becomes the value's JSON (strings quoted, objects as they are);
//     inside a string it becomes the value's text, not escaped (EventBridge does not
//     escape values it inserts, so a value holding a quote breaks the JSON).
//   - Any other template is text: every placeholder becomes the value's text, and
//     the template is sent as written (a template "…" keeps its quotes).
//   - A path that selects nothing gives the empty text (null outside a JSON string).
//   - <aws.events.event> is the event without detail and with detailType for
//     detail-type; <aws.events.event.json> is the whole event.
func Render(t *Target, event []byte, rc RenderContext) ([]byte, error) {
	switch {
	case t.Input != "":
		return []byte(t.Input), nil
	case t.InputPath != "":
		v, ok, err := selectPath(event, t.InputPath)
		if err != nil {
			return nil, err
		}
		if !ok {
			return []byte("null"), nil
		}
		return v, nil
	case t.InputTransformer != nil:
		return renderTemplate(t.InputTransformer, event, rc)
	}
	return event, nil
}

func renderTemplate(tr *InputTransformer, event []byte, rc RenderContext) ([]byte, error) {
	values := make(map[string][]byte, len(tr.InputPathsMap)+5)
	for k, p := range tr.InputPathsMap {
		v, ok, err := selectPath(event, p)
		if err != nil {
			return nil, err
		}
		if ok {
			values[k] = v
		}
	}
	values[varRuleARN] = jsonString(rc.RuleARN)
	values[varRuleName] = jsonString(rc.RuleName)
	values[varIngestionTime] = jsonString(rc.IngestionTime)
	tmpl := tr.InputTemplate
	if strings.Contains(tmpl, "<"+varEvent+">") {
		ev, err := eventWithoutDetail(event, rc.IngestionTime)
		if err != nil {
			return nil, err
		}
		values[varEvent] = ev
	}
	values[varEventJSON] = event

	trimmed := strings.TrimSpace(tmpl)
	jsonMode := strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")
	var out bytes.Buffer
	out.Grow(len(tmpl) + 64)
	inString, escaped := false, false
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c == '<' {
			if m := placeholderRE.FindStringSubmatchIndex(tmpl[i:]); m != nil && m[0] == 0 {
				name := tmpl[i+m[2] : i+m[3]]
				v, ok := values[name]
				if _, declared := tr.InputPathsMap[name]; declared || predefined(name) {
					quoted := !jsonMode || inString
					switch {
					case !ok && quoted:
					case !ok:
						out.WriteString("null")
					case quoted:
						out.Write(valueText(v))
					default:
						out.Write(v)
					}
					i += m[1] - 1
					escaped = false
					continue
				}
			}
		}
		out.WriteByte(c)
		if !jsonMode {
			continue
		}
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		}
	}
	return out.Bytes(), nil
}

// valueText is how a value reads inside a string: a string's characters
// (unescaped), anything else its JSON.
func valueText(v []byte) []byte {
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return []byte(s)
		}
	}
	return v
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// eventWithoutDetail is <aws.events.event>: the envelope without detail,
// detail-type renamed detailType, time the ingestion time.
func eventWithoutDetail(event []byte, ingestion string) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(event, &fields); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	add := func(key string, v json.RawMessage) {
		if v == nil {
			return
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(jsonString(key))
		b.WriteByte(':')
		b.Write(v)
	}
	add("id", fields["id"])
	add("account", fields["account"])
	add("detailType", fields["detail-type"])
	if ingestion != "" {
		add("time", jsonString(ingestion))
	} else {
		add("time", fields["time"])
	}
	add("source", fields["source"])
	add("region", fields["region"])
	add("resources", fields["resources"])
	add("version", fields["version"])
	b.WriteByte('}')
	return b.Bytes(), nil
}

// pathStep is one step of a JSON path: a member name, an index, or * (all).
type pathStep struct {
	name  string
	index int // -1: name step; -2: wildcard
}

func parsePath(p string) ([]pathStep, error) {
	if !jsonPathRE.MatchString(p) {
		return nil, fmt.Errorf("invalid JSON path %q", p)
	}
	var steps []pathStep
	rest := p[1:]
	for rest != "" {
		if rest[0] == '.' {
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : end+1]
			if name == "*" {
				steps = append(steps, pathStep{index: -2})
			} else {
				steps = append(steps, pathStep{name: name, index: -1})
			}
			rest = rest[end+1:]
			continue
		}
		end := strings.IndexByte(rest, ']')
		inner := rest[1:end]
		if inner == "*" {
			steps = append(steps, pathStep{index: -2})
		} else {
			n, err := strconv.Atoi(inner)
			if err != nil {
				return nil, fmt.Errorf("invalid JSON path %q", p)
			}
			steps = append(steps, pathStep{index: n})
		}
		rest = rest[end+1:]
	}
	return steps, nil
}

// selectPath returns the compact JSON of what path selects in doc, and false
// when it selects nothing. A wildcard step collects its matches in an array.
func selectPath(doc []byte, path string) ([]byte, bool, error) {
	steps, err := parsePath(path)
	if err != nil {
		return nil, false, err
	}
	vals := [][]byte{doc}
	wild := false
	for _, st := range steps {
		var next [][]byte
		for _, v := range vals {
			found, err := children(v, st)
			if err != nil {
				return nil, false, err
			}
			next = append(next, found...)
		}
		if st.index == -2 {
			wild = true
		}
		vals = next
		if len(vals) == 0 {
			break
		}
	}
	var out bytes.Buffer
	if wild {
		if len(vals) == 0 {
			return nil, false, nil
		}
		out.WriteByte('[')
		for i, v := range vals {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := json.Compact(&out, v); err != nil {
				return nil, false, err
			}
		}
		out.WriteByte(']')
		return out.Bytes(), true, nil
	}
	if len(vals) != 1 {
		return nil, false, nil
	}
	if err := json.Compact(&out, vals[0]); err != nil {
		return nil, false, err
	}
	return out.Bytes(), true, nil
}

// children returns the raw values one step selects in v.
func children(v []byte, st pathStep) ([][]byte, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out [][]byte
	if v[0] == '{' {
		if st.index >= 0 {
			return nil, nil
		}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			if st.index == -2 || kt.(string) == st.name {
				out = append(out, raw)
				if st.index != -2 {
					return out, nil
				}
			}
		}
		return out, nil
	}
	if st.index == -1 {
		return nil, nil
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if st.index == -2 || i == st.index {
			out = append(out, raw)
			if st.index != -2 {
				return out, nil
			}
		}
	}
	return out, nil
}
