package pattern

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzMatcherAgainstReference builds several rules and one event from the fuzz input, matches them
// with the automaton, and compares with a direct per-rule evaluation over an independently flattened
// event. Deleting rules must leave exactly the remaining rules' matches.
func FuzzMatcherAgainstReference(f *testing.F) {
	for _, seed := range []string{
		"", "\x00", "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c",
		"\x05\x11\x23\x37\x41\x59\x61\x7f\x83\x97\xa1\xb3\xc7\xd9\xe1\xf5",
		strings.Repeat("\x13\x02\x07", 30), strings.Repeat("\xfe\x01\x80\x33\x09", 40),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &generator{data: data}
		event := g.event()
		m := New()
		patterns := map[string]string{}
		for i := range 1 + g.next(6) {
			id := fmt.Sprint("r", i)
			p := g.pattern()
			if err := m.Add(id, []byte(p)); err != nil {
				t.Fatalf("generated pattern %s rejected: %v", p, err)
			}
			patterns[id] += p + "\n"
		}
		check := func(stage string) {
			got, err := m.Match([]byte(event))
			if err != nil {
				t.Fatalf("event %s: %v", event, err)
			}
			slices.Sort(got)
			want := referenceMatches(t, patterns, event)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: event %s\npatterns %v\nautomaton %v, reference %v", stage, event, patterns, got, want)
			}
		}
		check("all rules")
		for id := range patterns {
			if g.next(2) == 0 {
				m.Delete(id)
				delete(patterns, id)
			}
		}
		check("after deletes")
	})
}

// generator turns fuzz bytes into small patterns and events over a shared vocabulary, so that rules
// and events overlap often enough to exercise sharing, arrays and every operator.
type generator struct {
	data []byte
	pos  int
}

func (g *generator) next(n int) int {
	if g.pos >= len(g.data) {
		return 0
	}
	b := int(g.data[g.pos])
	g.pos++
	return b % n
}

func pick[T any](g *generator, options []T) T { return options[g.next(len(options))] }

var (
	fuzzPaths   = []string{"a", "b", "d.x", "d.y", "d.e.z"}
	fuzzStrings = []string{"", "x", "xy", "Xy", "abc", "a*c", "10.0.0.1", "10.0.1.5", "2001:db8::1", "ÉtÉ"}
	fuzzNumbers = []string{"0", "1", "2.5", "-3", "100", "1e2", "1e400"}
)

func (g *generator) scalar() string {
	switch g.next(4) {
	case 0, 1:
		return strconv.Quote(pick(g, fuzzStrings))
	case 2:
		return pick(g, fuzzNumbers)
	default:
		return pick(g, []string{"true", "false", "null"})
	}
}

func (g *generator) leafValue() string {
	if g.next(4) == 0 {
		var items []string
		for range g.next(4) {
			items = append(items, g.scalar())
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	return g.scalar()
}

func (g *generator) event() string {
	obj := func(keys ...string) string {
		var members []string
		for _, k := range keys {
			if g.next(3) != 0 {
				members = append(members, strconv.Quote(k)+":"+g.leafValue())
			}
		}
		return "{" + strings.Join(members, ",") + "}"
	}
	inner := func() string {
		z := obj("z")
		if g.next(2) == 0 {
			return "[" + z + "," + obj("z") + "]"
		}
		return z
	}
	dElement := func() string {
		var members []string
		for _, k := range []string{"x", "y"} {
			if g.next(3) != 0 {
				members = append(members, strconv.Quote(k)+":"+g.leafValue())
			}
		}
		if g.next(2) == 0 {
			members = append(members, `"e":`+inner())
		}
		return "{" + strings.Join(members, ",") + "}"
	}
	var d string
	if g.next(2) == 0 {
		d = dElement()
	} else {
		var items []string
		for range 1 + g.next(3) {
			items = append(items, dElement())
		}
		d = "[" + strings.Join(items, ",") + "]"
	}
	top := strings.TrimSuffix(obj("a", "b"), "}")
	if len(top) > 1 {
		top += ","
	}
	return top + `"d":` + d + "}"
}

func (g *generator) condition() string {
	q := strconv.Quote
	switch g.next(16) {
	case 0:
		return q(pick(g, fuzzStrings))
	case 1:
		return pick(g, fuzzNumbers[:6])
	case 2:
		return pick(g, []string{"true", "false", "null"})
	case 3:
		return `{"prefix":` + q(pick(g, []string{"", "x", "a", "10."})) + `}`
	case 4:
		return `{"suffix":` + q(pick(g, []string{"y", "c", ".1"})) + `}`
	case 5:
		return `{"equals-ignore-case":` + q(pick(g, []string{"xy", "XY", "été"})) + `}`
	case 6:
		op := pick(g, []string{"prefix", "suffix"})
		return `{"` + op + `":{"equals-ignore-case":` + q(pick(g, []string{"x", "Y", "AB"})) + `}}`
	case 7:
		return `{"wildcard":` + q(pick(g, []string{"*", "x*", "*y", "a*c", `a\\*c`, "*b*", ""})) + `}`
	case 8:
		ops := []string{`["=",1]`, `["<",2.5]`, `["<=",1]`, `[">",0]`, `[">=",100]`, `[">",-3,"<=",1]`, `[">=",0,"<",100]`}
		return `{"numeric":` + pick(g, ops) + `}`
	case 9:
		return `{"exists":` + pick(g, []string{"true", "false"}) + `}`
	case 10:
		return `{"cidr":` + q(pick(g, []string{"10.0.0.0/24", "10.0.0.0/8", "2001:db8::/32"})) + `}`
	case 11:
		return `{"anything-but":` + pick(g, []string{`"x"`, `["x","abc"]`, `1`, `[0,100]`}) + `}`
	case 12:
		return `{"anything-but":{"prefix":` + pick(g, []string{`"x"`, `["a","1"]`}) + `}}`
	case 13:
		return `{"anything-but":{"suffix":` + pick(g, []string{`"y"`, `["c","1"]`}) + `}}`
	case 14:
		return `{"anything-but":{"equals-ignore-case":` + pick(g, []string{`"XY"`, `["abc","x"]`}) + `}}`
	default:
		return `{"anything-but":{"wildcard":` + pick(g, []string{`"*y"`, `["a*","*1"]`}) + `}}`
	}
}

func (g *generator) fields() map[string]string {
	fields := map[string]string{}
	for range 1 + g.next(3) {
		var conds []string
		for range 1 + g.next(2) {
			conds = append(conds, g.condition())
		}
		fields[pick(g, fuzzPaths)] = "[" + strings.Join(conds, ",") + "]"
	}
	return fields
}

// nest renders dotted paths as nested objects; "$or" alternatives are rendered at the top.
func nest(fields map[string]string) string {
	tree := map[string]any{}
	for path, value := range fields {
		node := tree
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			child, ok := node[p].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[p] = child
			}
			node = child
		}
		node[parts[len(parts)-1]] = json.RawMessage(value)
	}
	var render func(map[string]any) string
	render = func(m map[string]any) string {
		var members []string
		for k, v := range m {
			var s string
			switch v := v.(type) {
			case json.RawMessage:
				s = string(v)
			case map[string]any:
				s = render(v)
			}
			members = append(members, strconv.Quote(k)+":"+s)
		}
		slices.Sort(members)
		return "{" + strings.Join(members, ",") + "}"
	}
	return render(tree)
}

func (g *generator) pattern() string {
	if g.next(4) == 0 {
		return `{"$or":[` + nest(g.fields()) + "," + nest(g.fields()) + "]}"
	}
	return nest(g.fields())
}

// referenceLeaf is an event leaf flattened independently of the scanner in event.go.
type referenceLeaf struct {
	path       string
	value      any // string, json.Number, bool or nil
	membership map[int]int
}

func referenceFlatten(t *testing.T, event string) []referenceLeaf {
	dec := json.NewDecoder(strings.NewReader(event))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("generated event %s: %v", event, err)
	}
	var leaves []referenceLeaf
	arrays := 0
	var walk func(v any, path string, membership map[int]int)
	walk = func(v any, path string, membership map[int]int) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(child, p, membership)
			}
		case []any:
			id := arrays
			arrays++
			for i, child := range v {
				switch child.(type) {
				case map[string]any, []any:
					m := maps(membership)
					m[id] = i
					walk(child, path, m)
				default:
					walk(child, path, membership)
				}
			}
		default:
			leaves = append(leaves, referenceLeaf{path: path, value: v, membership: membership})
		}
	}
	walk(root, "", map[int]int{})
	return leaves
}

func maps(m map[int]int) map[int]int {
	out := make(map[int]int, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func referenceMatches(t *testing.T, patterns map[string]string, event string) []string {
	leaves := referenceFlatten(t, event)
	var matched []string
	for id, text := range patterns {
		for _, p := range strings.Split(strings.TrimSpace(text), "\n") {
			subRules, err := compilePattern([]byte(p))
			if err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(subRules, func(sr subRule) bool { return referenceSubRule(sr, leaves) }) {
				matched = append(matched, id)
				break
			}
		}
	}
	slices.Sort(matched)
	return matched
}

// referenceSubRule tries every choice of leaves for the steps, in path order, keeping array
// positions consistent; exists:false holds when no leaf of the path fits the positions chosen so far.
func referenceSubRule(sr subRule, leaves []referenceLeaf) bool {
	var try func(i int, chosen map[int]int) bool
	try = func(i int, chosen map[int]int) bool {
		if i == len(sr) {
			return true
		}
		st := sr[i]
		for _, c := range st.conditions {
			if c.kind == matchAbsent {
				present := slices.ContainsFunc(leaves, func(l referenceLeaf) bool {
					return l.path == st.path && fits(chosen, l.membership)
				})
				if !present && try(i+1, chosen) {
					return true
				}
				continue
			}
			for _, l := range leaves {
				if l.path == st.path && fits(chosen, l.membership) && referenceCondition(&c, l.value) {
					merged := maps(chosen)
					for k, v := range l.membership {
						merged[k] = v
					}
					if try(i+1, merged) {
						return true
					}
				}
			}
		}
		return false
	}
	return try(0, map[int]int{})
}

func fits(chosen, membership map[int]int) bool {
	for k, v := range membership {
		if w, ok := chosen[k]; ok && w != v {
			return false
		}
	}
	return true
}

func referenceCondition(c *condition, value any) bool {
	s, isString := value.(string)
	var num float64
	isNumber := false
	literal := "null"
	switch v := value.(type) {
	case json.Number:
		literal = v.String()
		if f, err := strconv.ParseFloat(literal, 64); err == nil {
			num, isNumber = f, true
		}
	case bool:
		literal = strconv.FormatBool(v)
	}
	_, isJSONNumber := value.(json.Number)
	folded := foldCase(s)
	wildcardMatch := func(w wildcard) bool {
		parts := make([]string, len(w.segments))
		for i, seg := range w.segments {
			parts[i] = regexp.QuoteMeta(seg)
		}
		return regexp.MustCompile(`^(?s:` + strings.Join(parts, ".*") + `)$`).MatchString(s)
	}
	switch c.kind {
	case matchExactString:
		return isString && s == c.text
	case matchExactLiteral:
		return !isString && literal == c.text
	case matchNumericEquals:
		return isNumber && num == c.num
	case matchRange:
		return isNumber && !math.IsInf(num, 0) && c.rng.contains(num)
	case matchPrefix:
		return isString && strings.HasPrefix(s, c.text)
	case matchSuffix:
		return isString && strings.HasSuffix(s, c.text)
	case matchEqualsIgnoreCase:
		return isString && folded == c.text
	case matchPrefixIgnoreCase:
		return isString && strings.HasPrefix(folded, c.text)
	case matchSuffixIgnoreCase:
		return isString && strings.HasSuffix(folded, c.text)
	case matchWildcard:
		return isString && wildcardMatch(c.globs[0])
	case matchCIDR:
		addr, ok := parseAddrForReference(s)
		return isString && ok && c.prefix.Contains(addr)
	case matchExists:
		return true
	case matchAnythingButStrings:
		return !isString || !slices.Contains(c.set, s)
	case matchAnythingButNumbers:
		return !isJSONNumber || !isNumber || !slices.Contains(c.nums, num)
	case matchAnythingButIgnoreCase:
		return !isString || !slices.Contains(c.set, folded)
	case matchAnythingButPrefix:
		return !isString || !slices.ContainsFunc(c.set, func(p string) bool { return strings.HasPrefix(s, p) })
	case matchAnythingButSuffix:
		return !isString || !slices.ContainsFunc(c.set, func(p string) bool { return strings.HasSuffix(s, p) })
	case matchAnythingButWildcard:
		return !isString || !slices.ContainsFunc(c.globs, wildcardMatch)
	}
	panic(fmt.Sprintf("reference: unhandled condition kind %d", c.kind))
}

func parseAddrForReference(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == ""
}
