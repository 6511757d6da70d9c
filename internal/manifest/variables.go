package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Serverless variables: ${source:address, fallback, ...}. The grammar follows
// Serverless v3: a source type starts with a lower-case letter, so
// CloudFormation's ${AWS::Region} or ${LogicalId} inside Fn::Sub are left as
// they are ("foreign").

// segment is a piece of a string: literal text or a variable.
type segment struct {
	text  string
	v     *variable
	start int // byte offset of the variable in the string
}

// variable is one ${...} with its sources tried in order.
type variable struct {
	raw     string
	sources []varSource
}

// varSource is one comma-separated alternative inside ${...}.
type varSource struct {
	nested  *variable   // ${self:a, ${env:B}}
	literal *node       // 'text', 42, true, null
	typ     string      // self, env, opt, sls, file ...
	params  [][]segment // file(./x.yml)
	address []segment   // after the colon; may hold variables itself
}

type templateParser struct {
	s string
	i int
}

// parseTemplate splits s into literal text and variables. It returns nil
// segments when s holds no variable.
func parseTemplate(s string) ([]segment, error) {
	if !strings.Contains(s, "${") {
		return nil, nil
	}
	p := &templateParser{s: s}
	segs, err := p.segments(func(byte) bool { return false }, true)
	if err != nil {
		return nil, err
	}
	for _, sg := range segs {
		if sg.v != nil || sg.text != s { // a variable, or an escaped one
			return segs, nil
		}
	}
	return nil, nil
}

// segments reads text and variables until stop says so (at top level of
// this template). allowForeign keeps ${Foreign} as text.
func (p *templateParser) segments(stop func(byte) bool, allowForeign bool) ([]segment, error) {
	var segs []segment
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			segs = append(segs, segment{text: text.String()})
			text.Reset()
		}
	}
	for p.i < len(p.s) {
		ch := p.s[p.i]
		if stop(ch) {
			break
		}
		if ch == '\\' && strings.HasPrefix(p.s[p.i+1:], "${") {
			text.WriteString("${") // an escaped variable stays literal
			p.i += 3
			continue
		}
		if strings.HasPrefix(p.s[p.i:], "${") {
			start := p.i
			v, foreign, err := p.variable()
			if err != nil {
				return nil, err
			}
			if foreign {
				if !allowForeign {
					return nil, fmt.Errorf("invalid variable %q: a source type starts with a lower-case letter", p.s[start:])
				}
				text.WriteString("${")
				p.i = start + 2
				continue
			}
			flush()
			segs = append(segs, segment{v: v, start: start})
			continue
		}
		text.WriteByte(ch)
		p.i++
	}
	flush()
	return segs, nil
}

func (p *templateParser) skipSpaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func isWordChar(c byte) bool {
	return c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// variable parses ${...} starting at p.i. foreign reports a ${...} that is
// not a Serverless variable; p.i is then meaningless.
func (p *templateParser) variable() (v *variable, foreign bool, err error) {
	start := p.i
	p.i += 2
	v = &variable{}
	for first := true; ; first = false {
		p.skipSpaces()
		src, isForeign, err := p.source(first)
		if err != nil {
			return nil, false, err
		}
		if isForeign {
			return nil, true, nil
		}
		v.sources = append(v.sources, src)
		p.skipSpaces()
		if p.i >= len(p.s) {
			return nil, false, fmt.Errorf("variable %q has no closing }", p.s[start:])
		}
		switch p.s[p.i] {
		case '}':
			p.i++
			v.raw = p.s[start:p.i]
			return v, false, nil
		case ',':
			p.i++
		default:
			return nil, false, fmt.Errorf("unexpected %q in variable %q", p.s[p.i], p.s[start:])
		}
	}
}

func (p *templateParser) source(first bool) (varSource, bool, error) {
	if p.i >= len(p.s) {
		return varSource{}, false, errors.New("unterminated variable")
	}
	switch c := p.s[p.i]; {
	case strings.HasPrefix(p.s[p.i:], "${"):
		v, foreign, err := p.variable()
		if err != nil {
			return varSource{}, false, err
		}
		if foreign {
			return varSource{}, false, errors.New("invalid nested variable")
		}
		return varSource{nested: v}, false, nil
	case c == '\'' || c == '"':
		s, err := p.quoted()
		if err != nil {
			return varSource{}, false, err
		}
		return varSource{literal: &node{kind: kindString, str: s}}, false, nil
	}
	wordStart := p.i
	for p.i < len(p.s) && isWordChar(p.s[p.i]) {
		p.i++
	}
	word := p.s[wordStart:p.i]
	p.skipSpaces()
	next := byte(0)
	if p.i < len(p.s) {
		next = p.s[p.i]
	}
	isType := word != "" && word[0] >= 'a' && word[0] <= 'z' && !strings.ContainsAny(word, ".-")
	if first && (!isType || (next == ':' && strings.HasPrefix(p.s[p.i+1:], ":"))) && next != ',' {
		// ${AWS::Region}, ${MyResource}: CloudFormation's, not ours.
		return varSource{}, true, nil
	}
	switch next {
	case ':', '(':
		if !isType {
			return varSource{}, false, fmt.Errorf("invalid variable source %q", word)
		}
		src := varSource{typ: word}
		if next == '(' {
			p.i++
			params, err := p.params()
			if err != nil {
				return varSource{}, false, err
			}
			src.params = params
			p.skipSpaces()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return src, false, nil
			}
		}
		p.i++ // the colon
		p.skipSpaces()
		if p.i < len(p.s) && (p.s[p.i] == '\'' || p.s[p.i] == '"') {
			s, err := p.quoted()
			if err != nil {
				return varSource{}, false, err
			}
			src.address = []segment{{text: s}}
			return src, false, nil
		}
		addr, err := p.segments(func(c byte) bool { return c == ',' || c == '}' }, false)
		if err != nil {
			return varSource{}, false, err
		}
		src.address = trimSegments(addr)
		return src, false, nil
	case ',', '}':
		lit, err := literalValue(word)
		if err != nil {
			return varSource{}, false, err
		}
		return varSource{literal: lit}, false, nil
	}
	return varSource{}, false, fmt.Errorf("invalid variable source %q", p.s[wordStart:min(len(p.s), p.i+1)])
}

func (p *templateParser) params() ([][]segment, error) {
	var params [][]segment
	for {
		p.skipSpaces()
		if p.i >= len(p.s) {
			return nil, errors.New("unterminated parameter list")
		}
		if p.s[p.i] == ')' {
			p.i++
			return params, nil
		}
		if p.s[p.i] == '\'' || p.s[p.i] == '"' {
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			params = append(params, []segment{{text: s}})
		} else {
			seg, err := p.segments(func(c byte) bool { return c == ',' || c == ')' || c == '}' }, false)
			if err != nil {
				return nil, err
			}
			params = append(params, trimSegments(seg))
		}
		p.skipSpaces()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
		if p.i < len(p.s) && p.s[p.i] == '}' {
			return nil, errors.New("unterminated parameter list")
		}
	}
}

func (p *templateParser) quoted() (string, error) {
	q := p.s[p.i]
	start := p.i
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '\\' && q == '"' {
			p.i += 2
			continue
		}
		p.i++
		if c == q {
			raw := p.s[start:p.i]
			if q == '\'' {
				return raw[1 : len(raw)-1], nil
			}
			s, err := strconv.Unquote(raw)
			if err != nil {
				return "", fmt.Errorf("invalid string %s: %w", raw, err)
			}
			return s, nil
		}
	}
	return "", fmt.Errorf("unterminated string %s", p.s[start:])
}

func trimSegments(segs []segment) []segment {
	if n := len(segs); n > 0 && segs[n-1].v == nil {
		segs[n-1].text = strings.TrimRight(segs[n-1].text, " ")
	}
	return segs
}

func literalValue(word string) (*node, error) {
	switch word {
	case "true", "false":
		return &node{kind: kindBool, boolean: word == "true"}, nil
	case "null":
		return &node{kind: kindNull}, nil
	}
	if n, err := strconv.ParseInt(word, 10, 64); err == nil {
		return &node{kind: kindInt, num: n}, nil
	}
	if f, err := strconv.ParseFloat(word, 64); err == nil {
		return &node{kind: kindFloat, float: f}, nil
	}
	return nil, fmt.Errorf("invalid literal %q (quote text: '%s')", word, word)
}

// errNotFound marks a source that has no value, so the next fallback is tried.
var errNotFound = errors.New("value not found")

// unsupportedSources are Serverless sources that need AWS or code execution.
var unsupportedSources = map[string]bool{
	"s3": true, "cf": true, "secretsmanager": true, "strToBool": true,
}

const supportedSources = "self, env, opt, sls, param, file, ssm, construct, aws:region, aws:accountId"

// resolver replaces variables in the tree in place.
type resolver struct {
	root      *node
	dir       string
	opts      Options
	lookupEnv func(string) (string, bool)
	diags     *diagnostics

	stage      string
	instanceID string
	files      map[string]*node
	depth      int // variables being resolved, one inside another

	ssmCache       map[string]Parameter // parameters read, by decrypt and name
	ssmRegionNoted bool
}

// resolveAll resolves every variable under n.
func (r *resolver) resolveAll(n *node) {
	r.resolveNode(n)
	for _, e := range n.entries {
		r.resolveAll(e.val)
	}
	for _, it := range n.items {
		r.resolveAll(it)
	}
}

// resolveNode resolves n itself when it is a string holding variables; its
// children are left alone, which lets self references walk paths lazily.
func (r *resolver) resolveNode(n *node) {
	switch n.state {
	case resolved:
		return
	case resolving:
		n.failed = true
		r.diags.errorf(n.pos, "a value cannot depend on itself; break the chain of ${self:...} references", "variable cycle: %q refers back to itself", n.str)
		return
	}
	if n.kind != kindString {
		n.state = resolved
		return
	}
	segs, err := parseTemplate(n.str)
	if err != nil {
		n.state, n.failed = resolved, true
		r.diags.errorf(n.pos, "variables look like ${source:address} or ${source:address, 'default'}", "%v", err)
		return
	}
	if segs == nil {
		n.state = resolved
		return
	}
	if r.depth >= maxVariableDepth {
		n.state, n.failed = resolved, true
		r.diags.errorf(n.pos, "break the chain of ${self:...} references", "variables nest more than %d levels deep", maxVariableDepth)
		return
	}
	n.state = resolving
	r.depth++
	value, err := r.evalTemplate(n, segs)
	r.depth--
	if err == nil && !n.failed {
		err = r.charge(value)
	}
	if n.failed { // a cycle was reported while evaluating
		n.state = resolved
		return
	}
	if errors.Is(err, errReported) {
		*n = node{kind: kindNull, pos: n.pos, failed: true, state: resolved}
		return
	}
	if err != nil {
		var verr *varError
		pos := n.pos
		if errors.As(err, &verr) && n.contentCol > 0 && verr.offset >= 0 {
			pos.col = n.contentCol + utf8.RuneCountInString(n.str[:verr.offset])
		}
		hint := ""
		if errors.As(err, &verr) {
			hint = verr.hint
		}
		if errors.As(err, new(errTooBig)) {
			hint = tooBigHint
		}
		r.diags.errorf(pos, hint, "%v", err)
		*n = node{kind: kindNull, pos: n.pos, failed: true}
		n.state = resolved
		return
	}
	n.copyFrom(value)
	n.state = resolved
}

// charge counts the copy of a resolved value against the load's limits.
func (r *resolver) charge(v *node) error {
	x := &r.diags.expansion
	if x.exhausted {
		return errReported
	}
	values, bytes := v.measure()
	if err := x.add(values, bytes); err != nil {
		x.exhausted = true
		return err
	}
	return nil
}

// varError places a failure on the variable inside the string.
type varError struct {
	offset int // byte offset of the variable in the string; -1 until known
	hint   string
	err    error
}

// errReported stands for a failure that has already been reported where it
// happened, so values depending on it stay quiet.
var errReported = errors.New("already reported")

func (e *varError) Error() string { return e.err.Error() }
func (e *varError) Unwrap() error { return e.err }

// evalTemplate computes a string's value: a single variable keeps the type
// of what it refers to, several pieces make a string.
func (r *resolver) evalTemplate(owner *node, segs []segment) (*node, error) {
	if len(segs) == 1 && segs[0].v != nil {
		v, err := r.evalVariable(owner, segs[0].v)
		if err != nil {
			return nil, wrapVarError(err, segs[0].start)
		}
		return v, nil
	}
	var b strings.Builder
	for _, sg := range segs {
		if sg.v == nil {
			b.WriteString(sg.text)
			continue
		}
		v, err := r.evalVariable(owner, sg.v)
		if err != nil {
			return nil, wrapVarError(err, sg.start)
		}
		s, ok := v.scalarString()
		if !ok || v.kind == kindNull {
			return nil, &varError{offset: sg.start, err: fmt.Errorf("variable %s is %s and cannot be part of a string", sg.v.raw, v.kind),
				hint: "only strings, numbers and booleans can be embedded in text; use the variable as the whole value instead"}
		}
		if b.Len()+len(s) > maxStringBytes {
			return nil, &varError{offset: sg.start, err: errTooBig{fmt.Sprintf("the string would be over %d MB", maxStringBytes>>20)}, hint: tooBigHint}
		}
		b.WriteString(s)
	}
	return &node{kind: kindString, str: b.String()}, nil
}

func wrapVarError(err error, offset int) error {
	var verr *varError
	if errors.As(err, &verr) {
		if verr.offset < 0 {
			verr.offset = offset
		}
		return err
	}
	if errors.Is(err, errReported) {
		return err
	}
	return &varError{offset: offset, err: err}
}

func (r *resolver) evalString(owner *node, segs []segment) (string, error) {
	if len(segs) == 0 {
		return "", nil
	}
	v, err := r.evalTemplate(owner, segs)
	if err != nil {
		return "", err
	}
	s, ok := v.scalarString()
	if !ok {
		return "", fmt.Errorf("a variable address must be text, not %s", v.kind)
	}
	return s, nil
}

func (r *resolver) evalVariable(owner *node, v *variable) (*node, error) {
	var notFound []string
	for _, src := range v.sources {
		val, err := r.evalSource(owner, src)
		if errors.Is(err, errNotFound) {
			notFound = append(notFound, err.Error())
			continue
		}
		if err != nil {
			return nil, err
		}
		if val.kind == kindNull && src.literal == nil {
			notFound = append(notFound, "value is null")
			continue
		}
		return val, nil
	}
	if len(v.sources) > 0 && v.sources[len(v.sources)-1].literal != nil {
		return &node{kind: kindNull}, nil // an explicit null default
	}
	return nil, &varError{offset: -1, err: fmt.Errorf("cannot resolve variable %s: %s", v.raw, strings.Join(notFound, "; ")),
		hint: "set the value, or give a default: ${source:address, 'default'}"}
}

func (r *resolver) evalSource(owner *node, src varSource) (*node, error) {
	if src.nested != nil {
		return r.evalVariable(owner, src.nested)
	}
	if src.literal != nil {
		return src.literal.clone(), nil
	}
	address, err := r.evalString(owner, src.address)
	if err != nil {
		return nil, err
	}
	switch src.typ {
	case "self":
		return r.lookupPath(r.root, address, fmt.Sprintf("self:%s", address))
	case "env":
		if v, ok := r.lookupEnv(address); ok {
			return &node{kind: kindString, str: v}, nil
		}
		return nil, fmt.Errorf("environment variable %q is not set: %w", address, errNotFound)
	case "opt":
		switch address {
		case "stage":
			if r.opts.Stage != "" {
				return &node{kind: kindString, str: r.opts.Stage}, nil
			}
		case "region":
			if r.opts.Region != "" {
				return &node{kind: kindString, str: r.opts.Region}, nil
			}
		}
		return nil, fmt.Errorf("option --%s was not given: %w", address, errNotFound)
	case "sls":
		switch address {
		case "stage":
			return &node{kind: kindString, str: r.currentStage()}, nil
		case "instanceId":
			return &node{kind: kindString, str: r.instanceID}, nil
		}
		return nil, fmt.Errorf("unknown sls variable %q (known: stage, instanceId)", address)
	case "aws":
		switch address {
		case "region":
			return &node{kind: kindString, str: r.currentRegion()}, nil
		case "accountId":
			// The one account every nimbus ARN carries.
			return &node{kind: kindString, str: appspec.AccountID}, nil
		}
		return nil, fmt.Errorf("variable ${aws:%s} is not supported by nimbus (supported: %s)", address, supportedSources)
	case "param":
		stage := r.currentStage()
		if v, err := r.lookupPath(r.root, "params."+stage+"."+address, ""); err == nil {
			return v, nil
		}
		if v, err := r.lookupPath(r.root, "params.default."+address, ""); err == nil {
			return v, nil
		}
		return nil, fmt.Errorf("parameter %q is not set in params.%s or params.default: %w", address, stage, errNotFound)
	case "file":
		return r.fileSource(owner, src, address)
	case "ssm":
		return r.ssmSource(owner, src, address) // ssm.go
	case "construct": // serverless-lift (lift.go)
		return r.constructSource(address)
	}
	if unsupportedSources[src.typ] {
		return nil, fmt.Errorf("variable source %q is not supported by nimbus (supported: %s)", src.typ, supportedSources)
	}
	return nil, fmt.Errorf("unknown variable source %q (supported: %s)", src.typ, supportedSources)
}

func (r *resolver) fileSource(owner *node, src varSource, address string) (*node, error) {
	if len(src.params) != 1 {
		return nil, errors.New("file() takes one path, as in ${file(./config.yml):key}")
	}
	rel, err := r.evalString(owner, src.params[0])
	if err != nil {
		return nil, err
	}
	path := rel
	if !filepath.IsAbs(path) {
		path = filepath.Join(r.dir, rel)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml", ".json":
	default:
		return nil, fmt.Errorf("file(%s): only YAML and JSON files are supported by nimbus", rel)
	}
	root, ok := r.files[path]
	if !ok {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("file %s does not exist: %w", rel, errNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("file(%s): %w", rel, err)
		}
		name := path
		if r.diags.file != "" {
			name = filepath.Join(filepath.Dir(r.diags.file), rel)
		}
		root = parseYAML(newSource(name, data), data, r.diags)
		if root == nil {
			return nil, fmt.Errorf("file %s is not valid YAML or JSON", rel)
		}
		r.files[path] = root
	}
	if address == "" {
		r.resolveAll(root)
		return root, nil
	}
	return r.lookupPath(root, address, fmt.Sprintf("file(%s):%s", rel, address))
}

// lookupPath walks a dotted path from root, resolving variables on the way
// only where the walk goes, then fully resolves what it finds.
func (r *resolver) lookupPath(root *node, path, what string) (*node, error) {
	cur := root
	if path != "" {
		for _, key := range strings.Split(path, ".") {
			r.resolveNode(cur)
			next := cur.child(key)
			if next == nil {
				return nil, fmt.Errorf("%s is not set: %w", what, errNotFound)
			}
			cur = next
		}
	}
	r.resolveAll(cur)
	if cur.failed || hasFailed(cur) {
		return nil, errReported
	}
	return cur, nil
}

func hasFailed(n *node) bool {
	if n.failed {
		return true
	}
	for _, e := range n.entries {
		if hasFailed(e.val) {
			return true
		}
	}
	for _, it := range n.items {
		if hasFailed(it) {
			return true
		}
	}
	return false
}

// currentStage is --stage, else provider.stage, else dev.
func (r *resolver) currentStage() string {
	if r.opts.Stage != "" {
		return r.opts.Stage
	}
	if r.stage == "" {
		r.stage = "dev"
		if v, err := r.lookupPath(r.root, "provider.stage", "provider.stage"); err == nil && v.kind == kindString && v.str != "" {
			r.stage = v.str
		}
	}
	return r.stage
}

func (r *resolver) currentRegion() string {
	if r.opts.Region != "" {
		return r.opts.Region
	}
	if v, err := r.lookupPath(r.root, "provider.region", "provider.region"); err == nil && v.kind == kindString && v.str != "" {
		return v.str
	}
	return defaultRegion
}
