package workflows

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A Path is a parsed JSONPath in the subset ASL allows: a root ($ for the
// state's data, $$ for the context object, $name for a variable) followed by
// field names, indexes, wildcards, slices, unions, deep scans and filters.
// It is our own small, strict implementation (see ADR 0031): ASL needs its
// exact error cases (a missing field fails the state with States.Runtime) and
// the definite/indefinite distinction, which general libraries blur.
type Path struct {
	src  string
	root rootKind
	vr   string // variable name when root is rootVariable
	segs []segment
}

type rootKind int

const (
	rootData rootKind = iota
	rootContext
	rootVariable
)

type segKind int

const (
	segField segKind = iota
	segIndex
	segWild
	segSlice
	segUnionNames
	segUnionIndexes
	segDeep
	segFilter
)

type segment struct {
	kind    segKind
	name    string
	index   int
	names   []string
	indexes []int
	// slice bounds; has* say which were given
	start, end, step       int
	hasStart, hasEnd, hasS bool
	filter                 filterExpr
}

// String returns the path as written.
func (p *Path) String() string { return p.src }

// Definite reports whether the path names at most one value (no wildcard,
// slice, union, deep scan or filter).
func (p *Path) Definite() bool {
	for _, s := range p.segs {
		if s.kind != segField && s.kind != segIndex {
			return false
		}
	}
	return true
}

// ParsePath parses a JSONPath (data, context or variable rooted).
func ParsePath(src string) (*Path, error) {
	p := &Path{src: src}
	if !strings.HasPrefix(src, "$") {
		return nil, fmt.Errorf("path %q must start with $", src)
	}
	rest := src[1:]
	switch {
	case strings.HasPrefix(rest, "$"):
		p.root = rootContext
		rest = rest[1:]
	case rest != "" && isNameStart(rest[0]):
		i := 0
		for i < len(rest) && isNameChar(rest[i]) {
			i++
		}
		p.root = rootVariable
		p.vr = rest[:i]
		rest = rest[i:]
	}
	segs, err := parseSegments(rest)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", src, err)
	}
	p.segs = segs
	return p, nil
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

// fieldChar reports whether c may appear in a dotted field name.
func fieldChar(c byte) bool {
	switch c {
	case '.', '[', ']', '(', ')', ',', ' ', '\t', '\n', '\r', '\'', '"', '$', '@', '=', '<', '>', '!', '&', '|', '?', '*':
		return false
	}
	return true
}

func parseSegments(s string) ([]segment, error) {
	var segs []segment
	for len(s) > 0 {
		switch s[0] {
		case '.':
			if strings.HasPrefix(s, "..") {
				s = s[2:]
				segs = append(segs, segment{kind: segDeep})
				if strings.HasPrefix(s, "[") {
					continue
				}
				if strings.HasPrefix(s, "*") {
					segs = append(segs, segment{kind: segWild})
					s = s[1:]
					continue
				}
				n := fieldLen(s)
				if n == 0 {
					return nil, fmt.Errorf("a field name must follow the deep scan")
				}
				segs = append(segs, segment{kind: segField, name: s[:n]})
				s = s[n:]
				continue
			}
			s = s[1:]
			if strings.HasPrefix(s, "*") {
				segs = append(segs, segment{kind: segWild})
				s = s[1:]
				continue
			}
			n := fieldLen(s)
			if n == 0 {
				return nil, fmt.Errorf("a field name must follow the dot")
			}
			segs = append(segs, segment{kind: segField, name: s[:n]})
			s = s[n:]
		case '[':
			seg, rest, err := parseBracket(s[1:])
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
			s = rest
		default:
			return nil, fmt.Errorf("unexpected %q", s[:1])
		}
	}
	return segs, nil
}

func fieldLen(s string) int {
	n := 0
	for n < len(s) && fieldChar(s[n]) {
		n++
	}
	return n
}

// parseBracket parses what follows '[' up to and including the matching ']'.
func parseBracket(s string) (segment, string, error) {
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return segment{}, "", fmt.Errorf("unterminated [")
	}
	switch {
	case s[0] == '*':
		rest := strings.TrimLeft(s[1:], " ")
		if !strings.HasPrefix(rest, "]") {
			return segment{}, "", fmt.Errorf("expected ] after *")
		}
		return segment{kind: segWild}, rest[1:], nil
	case s[0] == '?':
		rest := strings.TrimLeft(s[1:], " ")
		if !strings.HasPrefix(rest, "(") {
			return segment{}, "", fmt.Errorf("expected ( after ?")
		}
		fp := &filterParser{s: rest[1:]}
		e, err := fp.parseOr()
		if err != nil {
			return segment{}, "", err
		}
		fp.skip()
		if !strings.HasPrefix(fp.s, ")") {
			return segment{}, "", fmt.Errorf("expected ) to close the filter")
		}
		rest = strings.TrimLeft(fp.s[1:], " ")
		if !strings.HasPrefix(rest, "]") {
			return segment{}, "", fmt.Errorf("expected ] after the filter")
		}
		return segment{kind: segFilter, filter: e}, rest[1:], nil
	case s[0] == '\'' || s[0] == '"':
		var names []string
		for {
			name, rest, err := parseQuoted(s)
			if err != nil {
				return segment{}, "", err
			}
			names = append(names, name)
			rest = strings.TrimLeft(rest, " ")
			if strings.HasPrefix(rest, "]") {
				if len(names) == 1 {
					return segment{kind: segField, name: names[0]}, rest[1:], nil
				}
				return segment{kind: segUnionNames, names: names}, rest[1:], nil
			}
			if !strings.HasPrefix(rest, ",") {
				return segment{}, "", fmt.Errorf("expected , or ] after a quoted name")
			}
			s = strings.TrimLeft(rest[1:], " ")
		}
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return segment{}, "", fmt.Errorf("unterminated [")
	}
	body, rest := strings.TrimSpace(s[:end]), s[end+1:]
	if strings.Contains(body, ":") {
		parts := strings.Split(body, ":")
		if len(parts) > 3 {
			return segment{}, "", fmt.Errorf("bad slice [%s]", body)
		}
		seg := segment{kind: segSlice, step: 1}
		for i, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n, err := strconv.Atoi(part)
			if err != nil {
				return segment{}, "", fmt.Errorf("bad slice [%s]", body)
			}
			switch i {
			case 0:
				seg.start, seg.hasStart = n, true
			case 1:
				seg.end, seg.hasEnd = n, true
			case 2:
				if n == 0 {
					return segment{}, "", fmt.Errorf("slice step cannot be 0")
				}
				seg.step, seg.hasS = n, true
			}
		}
		return seg, rest, nil
	}
	var idx []int
	for _, part := range strings.Split(body, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return segment{}, "", fmt.Errorf("bad index [%s]", body)
		}
		idx = append(idx, n)
	}
	if len(idx) == 1 {
		return segment{kind: segIndex, index: idx[0]}, rest, nil
	}
	return segment{kind: segUnionIndexes, indexes: idx}, rest, nil
}

func parseQuoted(s string) (string, string, error) {
	if s == "" || s[0] != '\'' && s[0] != '"' {
		return "", "", fmt.Errorf("expected a quoted name")
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			b.WriteByte(s[i])
			continue
		}
		if c == q {
			return b.String(), s[i+1:], nil
		}
		b.WriteByte(c)
	}
	return "", "", fmt.Errorf("unterminated quoted name")
}

// errPathMissing is returned when a definite path names nothing.
type pathMissingError struct{ path string }

func (e *pathMissingError) Error() string {
	return fmt.Sprintf("the JSONPath %s could not be found in the input", e.path)
}

// Get evaluates the path on doc. A definite path returns the one value it
// names, or a *pathMissingError; an indefinite path returns the list of
// matches (possibly empty).
func (p *Path) Get(doc any) (any, error) {
	return p.get(doc, doc)
}

func (p *Path) get(doc, root any) (any, error) {
	if p.Definite() {
		cur := doc
		for _, s := range p.segs {
			switch s.kind {
			case segField:
				m, ok := cur.(map[string]any)
				if !ok {
					return nil, &pathMissingError{p.src}
				}
				v, ok := m[s.name]
				if !ok {
					return nil, &pathMissingError{p.src}
				}
				cur = v
			case segIndex:
				a, ok := cur.([]any)
				if !ok {
					return nil, &pathMissingError{p.src}
				}
				i := s.index
				if i < 0 {
					i += len(a)
				}
				if i < 0 || i >= len(a) {
					return nil, &pathMissingError{p.src}
				}
				cur = a[i]
			}
		}
		return cur, nil
	}
	cur := []any{doc}
	for _, s := range p.segs {
		var next []any
		for _, v := range cur {
			next = s.apply(v, root, next)
		}
		cur = next
	}
	if cur == nil {
		cur = []any{}
	}
	return cur, nil
}

func (s *segment) apply(v, root any, out []any) []any {
	switch s.kind {
	case segField:
		if m, ok := v.(map[string]any); ok {
			if x, ok := m[s.name]; ok {
				out = append(out, x)
			}
		}
	case segIndex:
		if a, ok := v.([]any); ok {
			i := s.index
			if i < 0 {
				i += len(a)
			}
			if i >= 0 && i < len(a) {
				out = append(out, a[i])
			}
		}
	case segWild:
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				out = append(out, x[k])
			}
		case []any:
			out = append(out, x...)
		}
	case segUnionNames:
		if m, ok := v.(map[string]any); ok {
			for _, n := range s.names {
				if x, ok := m[n]; ok {
					out = append(out, x)
				}
			}
		}
	case segUnionIndexes:
		if a, ok := v.([]any); ok {
			for _, i := range s.indexes {
				if i < 0 {
					i += len(a)
				}
				if i >= 0 && i < len(a) {
					out = append(out, a[i])
				}
			}
		}
	case segSlice:
		a, ok := v.([]any)
		if !ok {
			break
		}
		n := len(a)
		norm := func(i int) int {
			if i < 0 {
				i += n
			}
			return min(max(i, 0), n)
		}
		if s.step > 0 {
			start, end := 0, n
			if s.hasStart {
				start = norm(s.start)
			}
			if s.hasEnd {
				end = norm(s.end)
			}
			for i := start; i < end; i += s.step {
				out = append(out, a[i])
			}
		} else {
			start, end := n-1, -1
			if s.hasStart {
				start = min(norm(s.start), n-1)
			}
			if s.hasEnd {
				end = norm(s.end)
			}
			for i := start; i > end; i += s.step {
				out = append(out, a[i])
			}
		}
	case segDeep:
		out = deepCollect(v, out)
	case segFilter:
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if s.filter.test(e, root) {
					out = append(out, e)
				}
			}
		case map[string]any:
			for _, k := range sortedKeys(x) {
				if s.filter.test(x[k], root) {
					out = append(out, x[k])
				}
			}
		}
	}
	return out
}

// deepCollect lists v and every value nested in it, parents first.
func deepCollect(v any, out []any) []any {
	out = append(out, v)
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			out = deepCollect(x[k], out)
		}
	case []any:
		for _, e := range x {
			out = deepCollect(e, out)
		}
	}
	return out
}

// A filterExpr is a predicate inside [?( )].
type filterExpr interface {
	test(cur, root any) bool
}

type filterOr struct{ l, r filterExpr }
type filterAnd struct{ l, r filterExpr }
type filterNot struct{ e filterExpr }
type filterExists struct{ op operand }
type filterCmp struct {
	op   string
	l, r operand
}

func (f filterOr) test(c, r any) bool  { return f.l.test(c, r) || f.r.test(c, r) }
func (f filterAnd) test(c, r any) bool { return f.l.test(c, r) && f.r.test(c, r) }
func (f filterNot) test(c, r any) bool { return !f.e.test(c, r) }
func (f filterExists) test(c, r any) bool {
	_, ok := f.op.value(c, r)
	return ok
}

func (f filterCmp) test(c, r any) bool {
	a, ok1 := f.l.value(c, r)
	b, ok2 := f.r.value(c, r)
	if !ok1 || !ok2 {
		return f.op == "!=" && ok1 != ok2
	}
	switch f.op {
	case "==":
		return jsonEqual(a, b)
	case "!=":
		return !jsonEqual(a, b)
	}
	if x, ok := toFloat(a); ok {
		if y, ok := toFloat(b); ok {
			switch f.op {
			case "<":
				return x < y
			case "<=":
				return x <= y
			case ">":
				return x > y
			case ">=":
				return x >= y
			}
		}
		return false
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			switch f.op {
			case "<":
				return x < y
			case "<=":
				return x <= y
			case ">":
				return x > y
			case ">=":
				return x >= y
			}
		}
	}
	return false
}

// An operand is a literal or a path relative to @ (the current element) or $.
type operand struct {
	lit   any
	isLit bool
	rel   bool
	path  *Path
}

func (o operand) value(cur, root any) (any, bool) {
	if o.isLit {
		return o.lit, true
	}
	base := root
	if o.rel {
		base = cur
	}
	v, err := o.path.get(base, root)
	if err != nil {
		return nil, false
	}
	if !o.path.Definite() {
		l, _ := v.([]any)
		if len(l) == 0 {
			return nil, false
		}
		v = l[0]
	}
	return v, true
}

type filterParser struct{ s string }

func (p *filterParser) skip() { p.s = strings.TrimLeft(p.s, " \t") }

func (p *filterParser) parseOr() (filterExpr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !strings.HasPrefix(p.s, "||") {
			return l, nil
		}
		p.s = p.s[2:]
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = filterOr{l, r}
	}
}

func (p *filterParser) parseAnd() (filterExpr, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		p.skip()
		if !strings.HasPrefix(p.s, "&&") {
			return l, nil
		}
		p.s = p.s[2:]
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = filterAnd{l, r}
	}
}

func (p *filterParser) parseUnary() (filterExpr, error) {
	p.skip()
	if strings.HasPrefix(p.s, "!") && !strings.HasPrefix(p.s, "!=") {
		p.s = p.s[1:]
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return filterNot{e}, nil
	}
	if strings.HasPrefix(p.s, "(") {
		p.s = p.s[1:]
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skip()
		if !strings.HasPrefix(p.s, ")") {
			return nil, fmt.Errorf("expected ) in filter")
		}
		p.s = p.s[1:]
		return e, nil
	}
	l, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	p.skip()
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(p.s, op) {
			p.s = p.s[len(op):]
			r, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			return filterCmp{op: op, l: l, r: r}, nil
		}
	}
	if l.isLit {
		return nil, fmt.Errorf("a filter needs a comparison or a path")
	}
	return filterExists{l}, nil
}

func (p *filterParser) parseOperand() (operand, error) {
	p.skip()
	if p.s == "" {
		return operand{}, fmt.Errorf("unterminated filter")
	}
	switch c := p.s[0]; {
	case c == '@' || c == '$':
		// the path runs until an operator, space or closing parenthesis at depth 0
		depth, i := 0, 1
		for ; i < len(p.s); i++ {
			ch := p.s[i]
			if ch == '[' {
				depth++
			} else if ch == ']' {
				depth--
			} else if depth == 0 && strings.IndexByte(" )=!<>&|", ch) >= 0 {
				break
			}
		}
		src := p.s[:i]
		p.s = p.s[i:]
		path, err := ParsePath("$" + src[1:])
		if err != nil {
			return operand{}, err
		}
		if path.root != rootData {
			return operand{}, fmt.Errorf("bad path %q in filter", src)
		}
		return operand{rel: c == '@', path: path}, nil
	case c == '\'' || c == '"':
		s, rest, err := parseQuoted(p.s)
		if err != nil {
			return operand{}, err
		}
		p.s = rest
		return operand{lit: s, isLit: true}, nil
	default:
		i := 0
		for i < len(p.s) && strings.IndexByte(" )=!<>&|", p.s[i]) < 0 {
			i++
		}
		tok := p.s[:i]
		p.s = p.s[i:]
		switch tok {
		case "true":
			return operand{lit: true, isLit: true}, nil
		case "false":
			return operand{lit: false, isLit: true}, nil
		case "null":
			return operand{lit: nil, isLit: true}, nil
		}
		if _, err := strconv.ParseFloat(tok, 64); err == nil {
			return operand{lit: json.Number(tok), isLit: true}, nil
		}
		return operand{}, fmt.Errorf("bad filter operand %q", tok)
	}
}

// SetPath writes val at the reference path p (fields and indexes only)
// inside doc, creating objects on the way, and returns the new document.
// doc is not modified; the containers on the way are copied.
func (p *Path) Set(doc, val any) (any, error) {
	if !p.Definite() || p.root != rootData {
		return nil, fmt.Errorf("%s is not a valid reference path", p.src)
	}
	return setSegs(doc, p.segs, val, p.src)
}

func setSegs(doc any, segs []segment, val any, src string) (any, error) {
	if len(segs) == 0 {
		return val, nil
	}
	s := segs[0]
	switch s.kind {
	case segField:
		var m map[string]any
		switch x := doc.(type) {
		case map[string]any:
			m = make(map[string]any, len(x)+1)
			for k, v := range x {
				m[k] = v
			}
		case nil:
			m = map[string]any{}
		default:
			return nil, fmt.Errorf("unable to set %s: the value at %q is not an object", src, s.name)
		}
		child, err := setSegs(m[s.name], segs[1:], val, src)
		if err != nil {
			return nil, err
		}
		m[s.name] = child
		return m, nil
	case segIndex:
		a, ok := doc.([]any)
		if !ok {
			return nil, fmt.Errorf("unable to set %s: not an array", src)
		}
		i := s.index
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, fmt.Errorf("unable to set %s: index out of range", src)
		}
		c := append([]any(nil), a...)
		child, err := setSegs(c[i], segs[1:], val, src)
		if err != nil {
			return nil, err
		}
		c[i] = child
		return c, nil
	}
	return nil, fmt.Errorf("%s is not a valid reference path", src)
}
