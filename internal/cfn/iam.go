package cfn

import (
	"encoding/json"
	"fmt"
)

// unresolvedARN stands for a resource nimbus does not create; no ARN matches it.
const unresolvedARN = "arn:aws:nimbus:::unresolved-reference"

// resolveStatements evaluates the intrinsic functions of a JSON array of IAM
// statements. A Resource or NotResource entry that refers to a resource
// nimbus does not create cannot name anything on the platform, so it is
// dropped where that grants less, never more: from an Allow's Resource (the
// statement goes when none is left), replaced by an ARN nothing has in a Deny's NotResource; an Allow
// with such a NotResource is dropped whole. Anything else that does not
// resolve is an error.
func (s *Stack) resolveStatements(raw json.RawMessage) (json.RawMessage, []string, error) {
	v, err := Decode(raw)
	if err != nil {
		return nil, nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, nil, fmt.Errorf("statements must be a list")
	}
	if !Contains(list) {
		return raw, nil, nil
	}
	var warnings []string
	out := make([]any, 0, len(list))
	for i, st := range list {
		m, ok := st.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("statement #%d is not a map", i+1)
		}
		allow := m["Effect"] == "Allow"
		keep := true
		next := make(map[string]any, len(m))
		for k, val := range m {
			if k != "Resource" && k != "NotResource" {
				r, err := s.resolve(val, []any{i, k})
				if err != nil {
					return nil, nil, fmt.Errorf("statement #%d %s: %w", i+1, k, err)
				}
				next[k] = r
				continue
			}
			items, single := val.([]any)
			if !single {
				items = []any{val}
			}
			var kept []any
			for _, it := range items {
				r, err := s.resolve(it, []any{i, k})
				if ce, ok := AsError(err); ok && ce.Unsupported {
					warnings = append(warnings, fmt.Sprintf("statement #%d %s: %v; left out", i+1, k, err))
					switch {
					case allow && k == "NotResource":
						keep = false
					case !allow && k == "NotResource":
						// Excluding an ARN no resource has denies more, never less.
						kept = append(kept, unresolvedARN)
					}
					continue
				}
				if err != nil {
					return nil, nil, fmt.Errorf("statement #%d %s: %w", i+1, k, err)
				}
				if l, ok := r.([]any); ok {
					kept = append(kept, l...)
				} else if _, none := r.(noValue); !none {
					kept = append(kept, r)
				}
			}
			if len(kept) == 0 {
				keep = false
			}
			next[k] = kept
		}
		if keep {
			out = append(out, next)
		}
	}
	data, err := json.Marshal(out)
	return data, warnings, err
}
