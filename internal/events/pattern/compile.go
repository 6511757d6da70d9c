package pattern

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PatternError says why a pattern was rejected and where in it.
type PatternError struct {
	Path   string // dotted field path inside the pattern, empty for the document itself
	Reason string
}

func (e *PatternError) Error() string {
	if e.Path == "" {
		return "invalid event pattern: " + e.Reason
	}
	return fmt.Sprintf("invalid event pattern at %q: %s", e.Path, e.Reason)
}

func patternErr(path, format string, args ...any) error {
	return &PatternError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// numericLimit is the magnitude EventBridge documents for numeric matching; event-ruler accepts any double,
// nimbus follows the documentation so a rule accepted here is accepted by AWS too.
const numericLimit = 5e9

// matchKind is one kind of condition on a single value.
type matchKind uint8

const (
	matchExactString   matchKind = iota // string equal to text
	matchExactLiteral                   // number literal, true, false or null written exactly as text
	matchNumericEquals                  // number equal to num
	matchRange                          // number inside rng
	matchPrefix
	matchSuffix
	matchEqualsIgnoreCase
	matchPrefixIgnoreCase
	matchSuffixIgnoreCase
	matchWildcard
	matchCIDR
	matchExists
	matchAbsent
	matchAnythingButStrings // none of set (strings)
	matchAnythingButNumbers // none of nums
	matchAnythingButIgnoreCase
	matchAnythingButPrefix
	matchAnythingButSuffix
	matchAnythingButWildcard
)

// numRange is a numeric interval; infinite bounds stand for a missing side.
type numRange struct {
	low, high         float64
	lowOpen, highOpen bool
}

func (r numRange) contains(x float64) bool {
	if x < r.low || (r.lowOpen && x == r.low) {
		return false
	}
	if x > r.high || (r.highOpen && x == r.high) {
		return false
	}
	return true
}

// condition is one alternative of a field's list in a pattern, e.g. {"prefix": "a"}.
type condition struct {
	kind   matchKind
	text   string // operand of string conditions; already case-folded for the ignore-case kinds
	num    float64
	rng    numRange
	prefix netip.Prefix
	set    []string   // operands of anything-but lists (sorted, deduplicated)
	nums   []float64  // numeric anything-but operands
	globs  []wildcard // wildcard operands (one for matchWildcard)
}

// key identifies the condition so equal conditions of different rules share automaton transitions.
func (c *condition) key() string {
	var b strings.Builder
	b.WriteByte(byte('a' + c.kind))
	switch c.kind {
	case matchNumericEquals:
		b.WriteString(strconv.FormatFloat(c.num, 'g', -1, 64))
	case matchRange:
		fmt.Fprintf(&b, "%t%g,%g%t", c.rng.lowOpen, c.rng.low, c.rng.high, c.rng.highOpen)
	case matchCIDR:
		b.WriteString(c.prefix.String())
	case matchAnythingButNumbers:
		for _, n := range c.nums {
			b.WriteString(strconv.FormatFloat(n, 'g', -1, 64))
			b.WriteByte(0)
		}
	case matchAnythingButStrings, matchAnythingButIgnoreCase, matchAnythingButPrefix,
		matchAnythingButSuffix, matchAnythingButWildcard:
		for _, s := range c.set {
			b.WriteString(strconv.Quote(s))
		}
	default:
		b.WriteString(c.text)
	}
	return b.String()
}

// step is one field of a sub-rule: the field's path and its alternatives (OR-ed).
type step struct {
	path       string
	conditions []condition
	key        string // path and condition keys: steps with equal keys are the same transition
}

func (s *step) hasAbsence() bool {
	for i := range s.conditions {
		if s.conditions[i].kind == matchAbsent {
			return true
		}
	}
	return false
}

// subRule is one conjunction of a pattern after $or was expanded, its steps in orderSteps order.
type subRule []step

// compilePattern validates a pattern and expands it into the conjunctions whose union it means.
func compilePattern(patternJSON []byte) ([]subRule, error) {
	root, err := parseJSONTree(patternJSON)
	if err != nil {
		return nil, &PatternError{Reason: err.Error()}
	}
	if root.kind != jsonObject {
		return nil, patternErr("", "a pattern must be a JSON object, not %s", root.kind)
	}
	partials := []map[string][]condition{{}}
	partials, err = compileObject(root, "", partials)
	if err != nil {
		return nil, err
	}
	rules := make([]subRule, 0, len(partials))
	for _, fields := range partials {
		rule := make(subRule, 0, len(fields))
		for path, conds := range fields {
			rule = append(rule, newStep(path, conds))
		}
		orderSteps(rule)
		rules = append(rules, rule)
	}
	return rules, nil
}

// orderSteps puts the steps in the order the automaton tests them. Steps checked by hash lookup come
// first, so a rule's most selective fields (source, detail-type) prune the automaton before its costly
// ones (anything-but, exists) are looked at. The order is a function of each step alone, so rules
// with equal steps still share states. Without exists:false the result does not depend on the order;
// with it, event-ruler's path order decides which array elements the absence is checked against, so
// such sub-rules keep plain path order.
func orderSteps(rule subRule) {
	byPath := func(a, b step) int { return strings.Compare(a.path, b.path) }
	if slices.ContainsFunc(rule, func(s step) bool { return s.hasAbsence() }) {
		slices.SortFunc(rule, byPath)
		return
	}
	slices.SortFunc(rule, func(a, b step) int {
		if ca, cb := a.costClass(), b.costClass(); ca != cb {
			return ca - cb
		}
		if pa, pb := envelopeRank(a.path), envelopeRank(b.path); pa != pb {
			return pa - pb
		}
		return byPath(a, b)
	})
}

// envelopeRank puts the envelope fields nearly every EventBridge rule names, and which split rule sets
// most finely, ahead of the others among equally cheap steps: with source first, an event only
// reaches the rules of its own source.
func envelopeRank(path string) int {
	switch path {
	case "source":
		return 0
	case "detail-type":
		return 1
	case "account", "region":
		return 2
	default:
		return 3
	}
}

// costClass ranks a step by how it is looked up: 0 hash only, 1 indexed, 2 scanned or always true.
func (s *step) costClass() int {
	class := 0
	for i := range s.conditions {
		switch s.conditions[i].kind {
		case matchExactString, matchExactLiteral, matchNumericEquals, matchEqualsIgnoreCase:
		case matchPrefix, matchSuffix, matchPrefixIgnoreCase, matchSuffixIgnoreCase, matchRange, matchCIDR, matchWildcard:
			class = max(class, 1)
		default:
			class = 2
		}
	}
	return class
}

func newStep(path string, conds []condition) step {
	keys := make([]string, len(conds))
	for i := range conds {
		keys[i] = conds[i].key()
	}
	// Order and repeats inside a field's list do not change its meaning; normalise so they share states.
	slices.Sort(keys)
	keys = slices.Compact(keys)
	unique := make([]condition, 0, len(keys))
	seen := make(map[string]bool, len(conds))
	for i := range conds {
		k := conds[i].key()
		if !seen[k] {
			seen[k] = true
			unique = append(unique, conds[i])
		}
	}
	return step{path: path, conditions: unique, key: path + "\x00" + strings.Join(keys, "\x00")}
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// compileObject adds the fields of obj (at path prefix) to every partial conjunction.
func compileObject(obj *jsonNode, prefix string, partials []map[string][]condition) ([]map[string][]condition, error) {
	if len(obj.members) == 0 {
		return nil, patternErr(prefix, "empty objects are not allowed; list the fields to match")
	}
	var err error
	for _, member := range obj.members {
		if member.key == "$or" {
			partials, err = compileOr(member.value, prefix, partials)
			if err != nil {
				return nil, err
			}
			continue
		}
		path := joinPath(prefix, member.key)
		switch member.value.kind {
		case jsonObject:
			partials, err = compileObject(member.value, path, partials)
			if err != nil {
				return nil, err
			}
		case jsonArray:
			conds, err := compileValueList(member.value, path)
			if err != nil {
				return nil, err
			}
			// A repeated path replaces the earlier one (also from inside $or), as event-ruler's default
			// rule-overriding mode does.
			for _, fields := range partials {
				fields[path] = conds
			}
		default:
			return nil, patternErr(path, "a field must hold an object or an array of values, not %s (write [%s])",
				member.value.kind, describeScalar(member.value))
		}
	}
	return partials, nil
}

func describeScalar(n *jsonNode) string {
	switch n.kind {
	case jsonString:
		return strconv.Quote(n.text)
	case jsonNumber:
		return n.text
	case jsonBool:
		return strconv.FormatBool(n.boolean)
	default:
		return "null"
	}
}

// compileOr expands {"$or": [A, B, ...]}: every partial conjunction forks into one copy per alternative.
func compileOr(value *jsonNode, prefix string, partials []map[string][]condition) ([]map[string][]condition, error) {
	where := joinPath(prefix, "$or")
	if value.kind != jsonArray {
		return nil, patternErr(where, "$or must be an array of at least two objects")
	}
	if len(value.items) < 2 {
		return nil, patternErr(where, "$or needs at least two alternatives, got %d", len(value.items))
	}
	var out []map[string][]condition
	for _, alt := range value.items {
		if alt.kind != jsonObject {
			return nil, patternErr(where, "each alternative of $or must be an object, not %s", alt.kind)
		}
		forks := make([]map[string][]condition, len(partials))
		for i, fields := range partials {
			forks[i] = make(map[string][]condition, len(fields)+len(alt.members))
			for k, v := range fields {
				forks[i][k] = v
			}
		}
		forks, err := compileObject(alt, prefix, forks)
		if err != nil {
			return nil, err
		}
		out = append(out, forks...)
		if len(out) > maxSubRules {
			return nil, patternErr(where, "the $or alternatives expand to more than %d combinations", maxSubRules)
		}
	}
	return out, nil
}

// maxSubRules bounds the product of nested $or lists, which grows multiplicatively.
const maxSubRules = 1000

// compileValueList compiles the list of alternatives of one field.
func compileValueList(list *jsonNode, path string) ([]condition, error) {
	if len(list.items) == 0 {
		return nil, patternErr(path, "empty arrays are not allowed; give at least one value to match")
	}
	conds := make([]condition, 0, len(list.items))
	for _, item := range list.items {
		switch item.kind {
		case jsonString:
			if addr, err := netip.ParseAddr(item.text); err == nil && addr.Zone() == "" {
				// An IP address matches the same address however the event spells it, as in event-ruler.
				conds = append(conds, condition{kind: matchCIDR, prefix: netip.PrefixFrom(addr, addr.BitLen())})
				conds = append(conds, condition{kind: matchExactString, text: item.text})
				continue
			}
			conds = append(conds, condition{kind: matchExactString, text: item.text})
		case jsonNumber:
			conds = append(conds, numberConditions(item.text)...)
		case jsonBool, jsonNull:
			conds = append(conds, condition{kind: matchExactLiteral, text: describeScalar(item)})
		case jsonObject:
			c, err := compileOperator(item, path)
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		default:
			return nil, patternErr(path, "values to match must be strings, numbers, booleans, null or operator objects, not %s", item.kind)
		}
	}
	return conds, nil
}

// numberConditions matches a number by value (3.0e2 equals 300) and by its literal, which is all that
// is left for numbers a float64 cannot hold exactly (long integers such as account ids).
func numberConditions(literal string) []condition {
	conds := []condition{{kind: matchExactLiteral, text: literal}}
	f, err := strconv.ParseFloat(literal, 64)
	if err == nil && !math.IsInf(f, 0) && !isLongInteger(literal) {
		conds = append(conds, condition{kind: matchNumericEquals, num: normalizeZero(f)})
	}
	return conds
}

// isLongInteger reports integers with more digits than a float64 keeps exactly.
func isLongInteger(literal string) bool {
	digits := strings.TrimLeft(strings.TrimPrefix(literal, "-"), "0")
	if strings.ContainsAny(digits, ".eE") {
		return false
	}
	return len(digits) > 15
}

func normalizeZero(f float64) float64 {
	if f == 0 {
		return 0 // -0 and 0 are the same number
	}
	return f
}

func onlyMember(obj *jsonNode, path string) (jsonMember, error) {
	if len(obj.members) == 0 {
		return jsonMember{}, patternErr(path, "an operator object needs exactly one key, e.g. {\"prefix\": \"abc\"}")
	}
	if len(obj.members) > 1 {
		return jsonMember{}, patternErr(path, "an operator object takes exactly one key, got %d (%q and %q)",
			len(obj.members), obj.members[0].key, obj.members[1].key)
	}
	return obj.members[0], nil
}

func requireString(n *jsonNode, path, operator string) (string, error) {
	if n.kind != jsonString {
		return "", patternErr(path, "%s takes a string, not %s", operator, n.kind)
	}
	return n.text, nil
}

// compileOperator compiles an operator object such as {"prefix": "a"}.
func compileOperator(obj *jsonNode, path string) (condition, error) {
	member, err := onlyMember(obj, path)
	if err != nil {
		return condition{}, err
	}
	op, arg := member.key, member.value
	switch op {
	case "exactly":
		s, err := requireString(arg, path, op)
		return condition{kind: matchExactString, text: s}, err
	case "prefix", "suffix":
		return compilePrefixSuffix(op, arg, path)
	case "equals-ignore-case":
		s, err := requireString(arg, path, op)
		return condition{kind: matchEqualsIgnoreCase, text: foldCase(s)}, err
	case "wildcard":
		s, err := requireString(arg, path, op)
		if err != nil {
			return condition{}, err
		}
		w, err := parseWildcard(s)
		if err != nil {
			return condition{}, patternErr(path, "wildcard %q: %v", s, err)
		}
		return condition{kind: matchWildcard, text: s, globs: []wildcard{w}}, nil
	case "numeric":
		return compileNumeric(arg, path)
	case "exists":
		if arg.kind != jsonBool {
			return condition{}, patternErr(path, "exists takes true or false, not %s", arg.kind)
		}
		if arg.boolean {
			return condition{kind: matchExists}, nil
		}
		return condition{kind: matchAbsent}, nil
	case "cidr":
		s, err := requireString(arg, path, op)
		if err != nil {
			return condition{}, err
		}
		prefix, err := parseCIDR(s)
		if err != nil {
			return condition{}, patternErr(path, "cidr %q: %v", s, err)
		}
		return condition{kind: matchCIDR, prefix: prefix}, nil
	case "anything-but":
		return compileAnythingBut(arg, path)
	default:
		return condition{}, patternErr(path, "unknown operator %q; use one of prefix, suffix, equals-ignore-case, "+
			"wildcard, anything-but, numeric, exists, cidr", op)
	}
}

func compilePrefixSuffix(op string, arg *jsonNode, path string) (condition, error) {
	plain, folded := matchPrefix, matchPrefixIgnoreCase
	if op == "suffix" {
		plain, folded = matchSuffix, matchSuffixIgnoreCase
	}
	switch arg.kind {
	case jsonString:
		return condition{kind: plain, text: arg.text}, nil
	case jsonObject:
		inner, err := onlyMember(arg, path)
		if err != nil {
			return condition{}, err
		}
		if inner.key != "equals-ignore-case" {
			return condition{}, patternErr(path, "%s takes a string or {\"equals-ignore-case\": string}, not %q", op, inner.key)
		}
		s, err := requireString(inner.value, path, op+"/equals-ignore-case")
		return condition{kind: folded, text: foldCase(s)}, err
	default:
		return condition{}, patternErr(path, "%s takes a string or {\"equals-ignore-case\": string}, not %s", op, arg.kind)
	}
}

// parseNumericOperand reads a number of a numeric or anything-but operator, within EventBridge's range.
func parseNumericOperand(n *jsonNode, path, what string) (float64, error) {
	if n == nil || n.kind != jsonNumber {
		return 0, patternErr(path, "%s must be followed by a number", what)
	}
	f, err := strconv.ParseFloat(n.text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, patternErr(path, "%s: %q is not a number", what, n.text)
	}
	if math.IsInf(f, 0) || math.Abs(f) > numericLimit {
		return 0, patternErr(path, "%s: %s is outside the range EventBridge compares numerically (-5e9 to 5e9)", what, n.text)
	}
	if f == 0 && !isZeroLiteral(n.text) {
		return 0, patternErr(path, "%s: %s is too small to compare (it rounds to zero)", what, n.text)
	}
	return normalizeZero(f), nil
}

func isZeroLiteral(literal string) bool {
	mantissa, _, _ := strings.Cut(strings.ToLower(literal), "e")
	return strings.Trim(mantissa, "-+0.") == ""
}

func compileNumeric(arg *jsonNode, path string) (condition, error) {
	if arg.kind != jsonArray {
		return condition{}, patternErr(path, "numeric takes an array such as [\">\", 0, \"<=\", 5], not %s", arg.kind)
	}
	items := arg.items
	operand := func(i int, op string) (float64, error) {
		var n *jsonNode
		if i < len(items) {
			n = items[i]
		}
		return parseNumericOperand(n, path, "numeric operator "+strconv.Quote(op))
	}
	if len(items) == 0 || items[0].kind != jsonString {
		return condition{}, patternErr(path, "numeric must start with an operator: one of =, <, <=, >, >=")
	}
	first := items[0].text
	r := numRange{low: math.Inf(-1), high: math.Inf(1)}
	switch first {
	case "=":
		v, err := operand(1, first)
		if err != nil {
			return condition{}, err
		}
		if len(items) > 2 {
			return condition{}, patternErr(path, "numeric [\"=\", n] takes no further terms")
		}
		return condition{kind: matchNumericEquals, num: v}, nil
	case "<", "<=":
		v, err := operand(1, first)
		if err != nil {
			return condition{}, err
		}
		if len(items) > 2 {
			return condition{}, patternErr(path, "numeric: write the lower bound first, e.g. [\">\", 0, \"<\", 10]")
		}
		r.high, r.highOpen = v, first == "<"
		return condition{kind: matchRange, rng: r}, nil
	case ">", ">=":
		v, err := operand(1, first)
		if err != nil {
			return condition{}, err
		}
		r.low, r.lowOpen = v, first == ">"
		if len(items) == 2 {
			return condition{kind: matchRange, rng: r}, nil
		}
		if items[2].kind != jsonString || (items[2].text != "<" && items[2].text != "<=") {
			return condition{}, patternErr(path, "numeric: after a lower bound only \"<\" or \"<=\" may follow")
		}
		second := items[2].text
		top, err := operand(3, second)
		if err != nil {
			return condition{}, err
		}
		if len(items) > 4 {
			return condition{}, patternErr(path, "numeric takes at most two bounds, got %d terms", len(items))
		}
		if top <= v {
			return condition{}, patternErr(path, "numeric: the lower bound %g must be less than the upper bound %g", v, top)
		}
		r.high, r.highOpen = top, second == "<"
		return condition{kind: matchRange, rng: r}, nil
	default:
		return condition{}, patternErr(path, "numeric: unknown operator %q; use one of =, <, <=, >, >=", first)
	}
}

// stringOrStrings reads an operand that may be one string or a non-empty list of strings.
func stringOrStrings(n *jsonNode, path, what string) ([]string, error) {
	switch n.kind {
	case jsonString:
		return []string{n.text}, nil
	case jsonArray:
		if len(n.items) == 0 {
			return nil, patternErr(path, "%s needs at least one string", what)
		}
		out := make([]string, 0, len(n.items))
		for _, item := range n.items {
			if item.kind != jsonString {
				return nil, patternErr(path, "%s takes strings only, not %s", what, item.kind)
			}
			out = append(out, item.text)
		}
		return out, nil
	default:
		return nil, patternErr(path, "%s takes a string or a list of strings, not %s", what, n.kind)
	}
}

func sortedUnique(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}

func compileAnythingBut(arg *jsonNode, path string) (condition, error) {
	switch arg.kind {
	case jsonString:
		return condition{kind: matchAnythingButStrings, set: []string{arg.text}}, nil
	case jsonNumber:
		v, err := parseNumericOperand(arg, path, "anything-but")
		return condition{kind: matchAnythingButNumbers, nums: []float64{v}}, err
	case jsonArray:
		return compileAnythingButList(arg, path)
	case jsonObject:
		inner, err := onlyMember(arg, path)
		if err != nil {
			return condition{}, err
		}
		what := "anything-but/" + inner.key
		switch inner.key {
		case "prefix", "suffix":
			values, err := stringOrStrings(inner.value, path, what)
			if err != nil {
				return condition{}, err
			}
			if slices.Contains(values, "") {
				return condition{}, patternErr(path, "%s: an empty string would exclude every string; remove it", what)
			}
			kind := matchAnythingButPrefix
			if inner.key == "suffix" {
				kind = matchAnythingButSuffix
			}
			return condition{kind: kind, set: sortedUnique(values)}, nil
		case "equals-ignore-case":
			values, err := stringOrStrings(inner.value, path, what)
			if err != nil {
				return condition{}, err
			}
			for i := range values {
				values[i] = foldCase(values[i])
			}
			return condition{kind: matchAnythingButIgnoreCase, set: sortedUnique(values)}, nil
		case "wildcard":
			values, err := stringOrStrings(inner.value, path, what)
			if err != nil {
				return condition{}, err
			}
			values = sortedUnique(values)
			globs := make([]wildcard, len(values))
			for i, v := range values {
				if globs[i], err = parseWildcard(v); err != nil {
					return condition{}, patternErr(path, "%s %q: %v", what, v, err)
				}
			}
			return condition{kind: matchAnythingButWildcard, set: values, globs: globs}, nil
		default:
			return condition{}, patternErr(path, "anything-but takes a value, a list, or one of prefix, suffix, "+
				"equals-ignore-case, wildcard; not %q", inner.key)
		}
	default:
		return condition{}, patternErr(path, "anything-but takes strings or numbers, not %s", arg.kind)
	}
}

func compileAnythingButList(arg *jsonNode, path string) (condition, error) {
	var strs []string
	var nums []float64
	for _, item := range arg.items {
		switch item.kind {
		case jsonString:
			strs = append(strs, item.text)
		case jsonNumber:
			v, err := parseNumericOperand(item, path, "anything-but")
			if err != nil {
				return condition{}, err
			}
			nums = append(nums, v)
		default:
			return condition{}, patternErr(path, "anything-but lists take strings or numbers, not %s", item.kind)
		}
	}
	switch {
	case len(strs) > 0 && len(nums) > 0:
		return condition{}, patternErr(path, "anything-but lists must be all strings or all numbers, not mixed")
	case len(strs) > 0:
		return condition{kind: matchAnythingButStrings, set: sortedUnique(strs)}, nil
	case len(nums) > 0:
		slices.Sort(nums)
		return condition{kind: matchAnythingButNumbers, nums: slices.Compact(nums)}, nil
	default:
		return condition{}, patternErr(path, "anything-but needs at least one value")
	}
}

// parseCIDR accepts IPv4 and IPv6 networks; host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8).
func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		return netip.Prefix{}, errors.New("a CIDR needs a prefix length, e.g. 10.0.0.0/24")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IPv4 or IPv6 network in CIDR notation")
	}
	return p.Masked(), nil
}
