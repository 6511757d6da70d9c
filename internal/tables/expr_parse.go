package tables

import (
	"fmt"
	"strconv"
	"strings"
)

// Expressions holds a request's ExpressionAttributeNames and Values and
// records which of them the request's expressions use: DynamoDB rejects
// unused ones.
type Expressions struct {
	Names     map[string]string
	Values    map[string]Value
	usedNames map[string]bool
	usedVals  map[string]bool
	any       bool // some expression was parsed
	// tops, when set, collects the top-level attribute names of every
	// document path parsed (AttributeNames).
	tops map[string]bool
}

// NewExpressions starts the expression context of one request.
func NewExpressions(names map[string]string, values map[string]Value) *Expressions {
	return &Expressions{Names: names, Values: values} // the used sets are made on first use
}

// Check reports names or values no expression used, and names or values
// given without any expression, with DynamoDB's messages. Call it after
// parsing every expression of the request.
func (e *Expressions) Check() error {
	if e == nil {
		return nil
	}
	if e.Names != nil && len(e.Names) == 0 {
		return validationf("ExpressionAttributeNames must not be empty")
	}
	if e.Values != nil && len(e.Values) == 0 {
		return validationf("ExpressionAttributeValues must not be empty")
	}
	if !e.any {
		if len(e.Names) > 0 {
			return validationf("ExpressionAttributeNames can only be specified when using expressions")
		}
		if len(e.Values) > 0 {
			return validationf("ExpressionAttributeValues can only be specified when using expressions")
		}
		return nil
	}
	var unused []string
	for _, k := range sortedKeys(e.Names) {
		if !e.usedNames[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		return validationf("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(unused, ", "))
	}
	for _, k := range sortedKeys(e.Values) {
		if !e.usedVals[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		return validationf("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(unused, ", "))
	}
	return nil
}

// token kinds
const (
	tEOF = iota
	tIdent
	tName  // #name
	tValue // :value
	tNumber
	tPunct
)

type token struct {
	kind int
	text string
	pos  int
}

type parser struct {
	what   string // ConditionExpression, UpdateExpression ...
	src    string
	toks   []token
	i      int
	ex     *Expressions
	nested int
}

func newParser(what, src string, ex *Expressions) (*parser, error) {
	p := &parser{what: what, src: src, ex: ex}
	if strings.TrimSpace(src) == "" {
		return nil, validationf("Invalid %s: The expression can not be empty;", what)
	}
	ex.any = true
	if len(src) > 4096 {
		return nil, validationf("Invalid %s: Expression size has exceeded the maximum allowed size; expression size: %d", what, len(src))
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			if j == i+1 {
				return nil, p.syntaxAt(token{tPunct, string(c), i})
			}
			kind := tName
			if c == ':' {
				kind = tValue
			}
			p.toks = append(p.toks, token{kind, src[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			p.toks = append(p.toks, token{tNumber, src[i:j], i})
			i = j
		case isIdentChar(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			p.toks = append(p.toks, token{tIdent, src[i:j], i})
			i = j
		case c == '<' && i+1 < len(src) && (src[i+1] == '=' || src[i+1] == '>'):
			p.toks = append(p.toks, token{tPunct, src[i : i+2], i})
			i += 2
		case c == '>' && i+1 < len(src) && src[i+1] == '=':
			p.toks = append(p.toks, token{tPunct, ">=", i})
			i += 2
		case strings.IndexByte("()[],.=<>+-", c) >= 0:
			p.toks = append(p.toks, token{tPunct, string(c), i})
			i++
		default:
			return nil, validationf("Invalid %s: Invalid character encountered in the expression; character: %c", what, c)
		}
	}
	p.toks = append(p.toks, token{tEOF, "<EOF>", len(src)})
	return p, nil
}

func isIdentChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKeyword(word string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, word)
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) expectPunct(s string) error {
	if !p.isPunct(s) {
		return p.syntax()
	}
	p.i++
	return nil
}

func (p *parser) syntax() error { return p.syntaxAt(p.peek()) }

func (p *parser) syntaxAt(t token) error {
	end := t.pos + len(t.text)
	if t.kind == tEOF {
		end = len(p.src)
	}
	// DynamoDB shows the offending token and its neighbourhood.
	start := t.pos
	for k := range p.toks {
		if p.toks[k].pos == t.pos && k > 0 {
			start = p.toks[k-1].pos
		}
	}
	if k := p.indexOf(t); k >= 0 && k+1 < len(p.toks) && p.toks[k+1].kind != tEOF {
		end = p.toks[k+1].pos + len(p.toks[k+1].text)
	}
	if start > len(p.src) {
		start = len(p.src)
	}
	if end > len(p.src) {
		end = len(p.src)
	}
	return validationf("Invalid %s: Syntax error; token: \"%s\", near: \"%s\"", p.what, t.text, p.src[start:end])
}

func (p *parser) indexOf(t token) int {
	for k := range p.toks {
		if p.toks[k].pos == t.pos {
			return k
		}
	}
	return -1
}

// pathElem is one step of a document path: an attribute name or a list index.
type pathElem struct {
	name    string
	index   int
	isIndex bool
}

type docPath []pathElem

func (d docPath) String() string {
	var b strings.Builder
	for i, e := range d {
		if e.isIndex {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.name)
	}
	return b.String()
}

func (p *parser) resolveName(t token) (string, error) {
	if t.kind == tName {
		v, ok := p.ex.Names[t.text]
		if !ok {
			return "", validationf("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", p.what, t.text)
		}
		if p.ex.usedNames == nil {
			p.ex.usedNames = map[string]bool{}
		}
		p.ex.usedNames[t.text] = true
		return v, nil
	}
	if t.kind != tIdent || !(t.text[0] < '0' || t.text[0] > '9') {
		return "", p.syntaxAt(t)
	}
	if isReserved(t.text) {
		return "", validationf("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", p.what, t.text)
	}
	return t.text, nil
}

func (p *parser) value(t token) (Value, error) {
	v, ok := p.ex.Values[t.text]
	if !ok {
		return Value{}, validationf("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", p.what, t.text)
	}
	if p.ex.usedVals == nil {
		p.ex.usedVals = map[string]bool{}
	}
	p.ex.usedVals[t.text] = true
	return v, nil
}

func (p *parser) parsePath() (docPath, error) {
	t := p.next()
	name, err := p.resolveName(t)
	if err != nil {
		return nil, err
	}
	if p.ex.tops != nil {
		p.ex.tops[name] = true
	}
	path := docPath{{name: name}}
	for {
		switch {
		case p.isPunct("."):
			p.i++
			name, err := p.resolveName(p.next())
			if err != nil {
				return nil, err
			}
			path = append(path, pathElem{name: name})
		case p.isPunct("["):
			p.i++
			t := p.next()
			if t.kind != tNumber {
				return nil, p.syntaxAt(t)
			}
			n, err := strconv.Atoi(t.text)
			if err != nil {
				return nil, p.syntaxAt(t)
			}
			if err := p.expectPunct("]"); err != nil {
				return nil, err
			}
			path = append(path, pathElem{index: n, isIndex: true})
		default:
			return path, nil
		}
	}
}

// ---- condition expressions ----

type operand interface{}

type (
	pathOp  struct{ path docPath }
	valueOp struct{ v Value }
	sizeOp  struct{ path docPath }
	arithOp struct {
		left, right operand
		minus       bool
	}
	ifNotOp struct {
		path docPath
		def  operand
	}
	appendOp struct{ a, b operand }
)

type cond interface{}

type (
	andCond struct{ a, b cond }
	orCond  struct{ a, b cond }
	notCond struct{ c cond }
	cmpCond struct {
		op   string
		a, b operand
	}
	betweenCond struct{ x, lo, hi operand }
	inCond      struct {
		x    operand
		list []operand
	}
	funcCond struct {
		name string
		path docPath
		arg  operand
	}
)

// parseCondition parses a condition (ConditionExpression, FilterExpression,
// KeyConditionExpression).
func parseCondition(what, src string, ex *Expressions) (cond, error) {
	p, err := newParser(what, src, ex)
	if err != nil {
		return nil, err
	}
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, p.syntax()
	}
	return c, nil
}

func (p *parser) parseOr() (cond, error) {
	c, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("OR") {
		p.i++
		d, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		c = orCond{c, d}
	}
	return c, nil
}

func (p *parser) parseAnd() (cond, error) {
	c, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("AND") {
		p.i++
		d, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		c = andCond{c, d}
	}
	return c, nil
}

func (p *parser) parseNot() (cond, error) {
	if p.isKeyword("NOT") {
		p.i++
		c, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	return p.parsePrimary()
}

var conditionFunctions = map[string]bool{"attribute_exists": true, "attribute_not_exists": true, "attribute_type": true, "begins_with": true, "contains": true}

func (p *parser) parsePrimary() (cond, error) {
	if p.isPunct("(") {
		p.i++
		p.nested++
		if p.nested > 100 {
			return nil, validationf("Invalid %s: The expression has redundant parentheses;", p.what)
		}
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.nested--
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return c, nil
	}
	t := p.peek()
	if t.kind == tIdent && p.toks[p.i+1].text == "(" {
		if conditionFunctions[t.text] {
			return p.parseFunction()
		}
		if t.text != "size" {
			return nil, validationf("Invalid %s: Invalid function name; function: %s", p.what, t.text)
		}
	}
	x, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.isKeyword("BETWEEN"):
		p.i++
		lo, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if !p.isKeyword("AND") {
			return nil, p.syntax()
		}
		p.i++
		hi, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if a, ok := lo.(valueOp); ok {
			if b, ok := hi.(valueOp); ok && a.v.Kind == b.v.Kind {
				if c, ok := compareValues(a.v, b.v); ok && c > 0 {
					return nil, validationf("Invalid %s: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: {%s:%s}", p.what, a.v.Kind, scalarText(a.v), b.v.Kind, scalarText(b.v))
				}
			}
		}
		return betweenCond{x, lo, hi}, nil
	case p.isKeyword("IN"):
		p.i++
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		var list []operand
		for {
			o, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			list = append(list, o)
			if p.isPunct(",") {
				p.i++
				continue
			}
			break
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		if len(list) > 100 {
			return nil, validationf("Invalid %s: The IN operator is provided with too many operands; number of operands: %d", p.what, len(list))
		}
		return inCond{x, list}, nil
	}
	t = p.peek()
	if t.kind == tPunct {
		switch t.text {
		case "=", "<>", "<", "<=", ">", ">=":
			p.i++
			y, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			return cmpCond{t.text, x, y}, nil
		}
	}
	return nil, p.syntax()
}

func (p *parser) parseFunction() (cond, error) {
	name := p.next().text
	p.i++ // (
	path, err := p.parsePath()
	if err != nil {
		if t := p.toks[p.i-1]; t.kind == tValue {
			return nil, validationf("Invalid %s: Incorrect operand type for operator or function; operator or function: %s, operand type: %s", p.what, name, p.operandType(t))
		}
		return nil, err
	}
	f := funcCond{name: name, path: path}
	switch name {
	case "attribute_type", "begins_with", "contains":
		if err := p.expectPunct(","); err != nil {
			return nil, err
		}
		if f.arg, err = p.parseOperand(); err != nil {
			return nil, err
		}
		if name == "attribute_type" {
			v, ok := f.arg.(valueOp)
			if !ok || v.v.Kind != KindS {
				return nil, validationf("Invalid %s: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: %s", p.what, operandKind(f.arg))
			}
			if ParseKind(v.v.S) == 0 {
				return nil, validationf("Invalid %s: Invalid attribute type name found; type: %s, valid types: { B, NULL, SS, BOOL, L, BS, N, NS, S, M }", p.what, v.v.S)
			}
		}
	}
	if err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	return f, nil
}

func (p *parser) operandType(t token) string {
	if v, ok := p.ex.Values[t.text]; ok {
		return v.Kind.String()
	}
	return "?"
}

func operandKind(o operand) string {
	if v, ok := o.(valueOp); ok {
		return v.v.Kind.String()
	}
	return "PATH"
}

// parseOperand: a path, a :value or size(path).
func (p *parser) parseOperand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		p.i++
		v, err := p.value(t)
		if err != nil {
			return nil, err
		}
		return valueOp{v}, nil
	case t.kind == tIdent && t.text == "size" && p.toks[p.i+1].text == "(":
		p.i += 2
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return sizeOp{path}, nil
	case t.kind == tIdent && p.toks[p.i+1].text == "(":
		return nil, validationf("Invalid %s: The function is not allowed to be used this way in an expression; function: %s", p.what, t.text)
	case t.kind == tIdent || t.kind == tName:
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		return pathOp{path}, nil
	}
	return nil, p.syntax()
}

// ---- projection expressions ----

func parseProjection(src string, ex *Expressions) ([]docPath, error) {
	p, err := newParser("ProjectionExpression", src, ex)
	if err != nil {
		return nil, err
	}
	var paths []docPath
	for {
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		paths = append(paths, path)
		if p.isPunct(",") {
			p.i++
			continue
		}
		if p.peek().kind != tEOF {
			return nil, p.syntax()
		}
		break
	}
	if err := checkOverlap("ProjectionExpression", paths); err != nil {
		return nil, err
	}
	return paths, nil
}

// checkOverlap rejects two paths where one is the other or a prefix of it.
func checkOverlap(what string, paths []docPath) error {
	for i := range paths {
		for j := i + 1; j < len(paths); j++ {
			a, b := paths[i], paths[j]
			n := min(len(a), len(b))
			same := true
			for k := 0; k < n; k++ {
				if a[k] != b[k] {
					same = false
					break
				}
			}
			if !same {
				continue
			}
			if len(a) == len(b) {
				return validationf("Invalid %s: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", what, pathList(a), pathList(b))
			}
			return validationf("Invalid %s: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", what, pathList(a), pathList(b))
		}
	}
	return nil
}

func pathList(d docPath) string {
	parts := make([]string, len(d))
	for i, e := range d {
		if e.isIndex {
			parts[i] = "[" + strconv.Itoa(e.index) + "]"
		} else {
			parts[i] = e.name
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ---- update expressions ----

type updateAction struct {
	kind  string // SET, REMOVE, ADD, DELETE
	path  docPath
	value operand // SET: the value; ADD/DELETE: the :value
}

func parseUpdate(src string, ex *Expressions) ([]updateAction, error) {
	p, err := newParser("UpdateExpression", src, ex)
	if err != nil {
		return nil, err
	}
	var actions []updateAction
	seen := map[string]bool{}
	for p.peek().kind != tEOF {
		t := p.next()
		clause := strings.ToUpper(t.text)
		if t.kind != tIdent || (clause != "SET" && clause != "REMOVE" && clause != "ADD" && clause != "DELETE") {
			return nil, p.syntaxAt(t)
		}
		if seen[clause] {
			return nil, validationf("Invalid UpdateExpression: The \"%s\" section can only be used once in an update expression;", clause)
		}
		seen[clause] = true
		for {
			path, err := p.parsePath()
			if err != nil {
				return nil, err
			}
			a := updateAction{kind: clause, path: path}
			switch clause {
			case "SET":
				if err := p.expectPunct("="); err != nil {
					return nil, err
				}
				if a.value, err = p.parseSetValue(); err != nil {
					return nil, err
				}
			case "ADD", "DELETE":
				vt := p.next()
				if vt.kind != tValue {
					return nil, p.syntaxAt(vt)
				}
				v, err := p.value(vt)
				if err != nil {
					return nil, err
				}
				a.value = valueOp{v}
			}
			actions = append(actions, a)
			if p.isPunct(",") {
				p.i++
				continue
			}
			break
		}
	}
	paths := make([]docPath, len(actions))
	for i, a := range actions {
		paths[i] = a.path
	}
	if err := checkOverlap("UpdateExpression", paths); err != nil {
		return nil, err
	}
	return actions, nil
}

// parseSetValue: operand [+|- operand].
func (p *parser) parseSetValue() (operand, error) {
	a, err := p.parseSetOperand()
	if err != nil {
		return nil, err
	}
	if p.isPunct("+") || p.isPunct("-") {
		minus := p.next().text == "-"
		b, err := p.parseSetOperand()
		if err != nil {
			return nil, err
		}
		return arithOp{a, b, minus}, nil
	}
	return a, nil
}

func (p *parser) parseSetOperand() (operand, error) {
	t := p.peek()
	if t.kind == tIdent && p.toks[p.i+1].text == "(" {
		p.i += 2
		switch t.text {
		case "if_not_exists":
			path, err := p.parsePath()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(","); err != nil {
				return nil, err
			}
			def, err := p.parseSetOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return ifNotOp{path, def}, nil
		case "list_append":
			a, err := p.parseSetOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(","); err != nil {
				return nil, err
			}
			b, err := p.parseSetOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return appendOp{a, b}, nil
		default:
			return nil, validationf("Invalid UpdateExpression: Invalid function name; function: %s", t.text)
		}
	}
	if t.kind == tValue {
		p.i++
		v, err := p.value(t)
		if err != nil {
			return nil, err
		}
		return valueOp{v}, nil
	}
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	return pathOp{path}, nil
}

func scalarText(v Value) string {
	switch v.Kind {
	case KindS, KindN:
		return v.S
	case KindB:
		return string(v.B)
	}
	return v.Kind.String()
}

// RequestExpressions are the expressions of one request, by kind.
type RequestExpressions struct {
	Names                                 map[string]string
	Values                                map[string]Value
	Projection, Condition, Update, Filter string
	KeyCondition                          string
}

// AttributeNames returns the top-level attribute names the request's
// expressions name (IAM's dynamodb:Attributes), sorted. It fails as the
// request itself would when an expression is invalid.
func AttributeNames(r RequestExpressions) ([]string, error) {
	ex := NewExpressions(r.Names, r.Values)
	ex.tops = map[string]bool{}
	if r.Projection != "" {
		if _, err := parseProjection(r.Projection, ex); err != nil {
			return nil, err
		}
	}
	if r.Update != "" {
		if _, err := parseUpdate(r.Update, ex); err != nil {
			return nil, err
		}
	}
	for _, c := range [...][2]string{{"KeyConditionExpression", r.KeyCondition}, {"ConditionExpression", r.Condition}, {"FilterExpression", r.Filter}} {
		if c[1] != "" {
			if _, err := parseCondition(c[0], c[1], ex); err != nil {
				return nil, err
			}
		}
	}
	return sortedKeys(ex.tops), nil
}
