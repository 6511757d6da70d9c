package tables

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A small hand-written parser for the PartiQL subset DynamoDB runs
// (SELECT, INSERT, UPDATE, DELETE on one table). Statements are compiled to
// the expressions the rest of the package already evaluates.

type pqTokKind int

const (
	pqEOF pqTokKind = iota
	pqIdent
	pqQuoted // "identifier"
	pqString // 'text'
	pqNumber
	pqPunct
	pqParam // ?
)

type pqTok struct {
	kind pqTokKind
	text string
	pos  int
}

func pqLex(src string) ([]pqTok, error) {
	var out []pqTok
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, pqSyntax("unterminated quoted text at %d", i)
				}
				if src[j] == c {
					if j+1 < len(src) && src[j+1] == c {
						b.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			kind := pqString
			if c == '"' {
				kind = pqQuoted
			}
			out = append(out, pqTok{kind, b.String(), i})
			i = j + 1
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9'):
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				j++
				if j < len(src) && (src[j] == '+' || src[j] == '-') {
					j++
				}
				for j < len(src) && src[j] >= '0' && src[j] <= '9' {
					j++
				}
			}
			out = append(out, pqTok{pqNumber, src[i:j], i})
			i = j
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= '0' && src[j] <= '9' || unicode.IsLetter(rune(src[j]))) {
				j++
			}
			out = append(out, pqTok{pqIdent, src[i:j], i})
			i = j
		case c == '?':
			out = append(out, pqTok{pqParam, "?", i})
			i++
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "<=", ">=", "<>", "!=", "<<", ">>":
				out = append(out, pqTok{pqPunct, two, i})
				i += 2
				continue
			}
			if !strings.ContainsRune("*,.[](){}:=<>+-", rune(c)) {
				return nil, pqSyntax("unexpected character '%c' at %d", c, i)
			}
			out = append(out, pqTok{pqPunct, string(c), i})
			i++
		}
	}
	return append(out, pqTok{pqEOF, "", len(src)}), nil
}

func pqSyntax(format string, args ...any) error {
	return validationf("Statement wasn't well formed, can't be processed: %s", fmt.Sprintf(format, args...))
}

// pqPath is an attribute path: names and list indexes.
type pqPath []pathElem

// pqOperand is a path or a value.
type pqOperand struct {
	path  pqPath
	value *Value
}

// pqCond is a WHERE condition.
type pqCond struct {
	op    string // and, or, not, cmp, between, in, func, missing, notmissing
	kids  []*pqCond
	cmp   string
	args  []pqOperand
	fname string
}

// pqStatement is a parsed statement.
type pqStatement struct {
	verb       string // SELECT, INSERT, UPDATE, DELETE
	table      string
	index      string
	projection []pqPath // nil: *
	where      *pqCond
	item       Value // INSERT's VALUE (a map)
	sets       []pqSet
	removes    []pqPath
	returning  string // ReturnValues for RETURNING
}

type pqSet struct {
	path  pqPath
	value pqOperand
	arith string // "+" or "-": path = value arith value2
	rhs   pqOperand
}

type pqParser struct {
	toks   []pqTok
	i      int
	params []Value
	used   int
}

func (p *pqParser) peek() pqTok { return p.toks[p.i] }
func (p *pqParser) next() pqTok {
	t := p.toks[p.i]
	if t.kind != pqEOF {
		p.i++
	}
	return t
}

// isWord reports whether the next token is keyword w (case-insensitive).
func (p *pqParser) isWord(w string) bool {
	t := p.peek()
	return t.kind == pqIdent && strings.EqualFold(t.text, w)
}

func (p *pqParser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == pqPunct && t.text == s
}

func (p *pqParser) expectWord(w string) error {
	if !p.isWord(w) {
		return p.unexpected("keyword " + w)
	}
	p.next()
	return nil
}

func (p *pqParser) expectPunct(s string) error {
	if !p.isPunct(s) {
		return p.unexpected("'" + s + "'")
	}
	p.next()
	return nil
}

func (p *pqParser) unexpected(want string) error {
	t := p.peek()
	if t.kind == pqEOF {
		return pqSyntax("unexpected end of statement, expected %s", want)
	}
	return pqSyntax("unexpected token '%s' at %d, expected %s", t.text, t.pos, want)
}

// parsePartiQL parses one statement with its parameters.
func parsePartiQL(src string, params []Value) (*pqStatement, error) {
	toks, err := pqLex(src)
	if err != nil {
		return nil, err
	}
	p := &pqParser{toks: toks, params: params}
	var st *pqStatement
	switch {
	case p.isWord("SELECT"):
		st, err = p.selectStmt()
	case p.isWord("INSERT"):
		st, err = p.insertStmt()
	case p.isWord("UPDATE"):
		st, err = p.updateStmt()
	case p.isWord("DELETE"):
		st, err = p.deleteStmt()
	default:
		return nil, p.unexpected("SELECT, INSERT, UPDATE or DELETE")
	}
	if err != nil {
		return nil, err
	}
	if p.peek().kind != pqEOF {
		return nil, p.unexpected("the end of the statement")
	}
	if p.used != len(params) {
		return nil, validationf("Number of parameters in request and statement don't match.")
	}
	return st, nil
}

// name reads an identifier, quoted or not.
func (p *pqParser) name() (string, error) {
	t := p.peek()
	if t.kind != pqIdent && t.kind != pqQuoted {
		return "", p.unexpected("an identifier")
	}
	p.next()
	return t.text, nil
}

// tableRef reads table or "table"."index".
func (p *pqParser) tableRef(st *pqStatement, index bool) error {
	var err error
	if st.table, err = p.name(); err != nil {
		return err
	}
	if index && p.isPunct(".") {
		p.next()
		if st.index, err = p.name(); err != nil {
			return err
		}
	}
	return nil
}

func (p *pqParser) selectStmt() (*pqStatement, error) {
	p.next()
	st := &pqStatement{verb: "SELECT"}
	if p.isPunct("*") {
		p.next()
	} else {
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			st.projection = append(st.projection, path)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	if err := p.expectWord("FROM"); err != nil {
		return nil, err
	}
	if err := p.tableRef(st, true); err != nil {
		return nil, err
	}
	if p.isWord("WHERE") {
		p.next()
		var err error
		if st.where, err = p.cond(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (p *pqParser) insertStmt() (*pqStatement, error) {
	p.next()
	st := &pqStatement{verb: "INSERT"}
	if err := p.expectWord("INTO"); err != nil {
		return nil, err
	}
	if err := p.tableRef(st, false); err != nil {
		return nil, err
	}
	if err := p.expectWord("VALUE"); err != nil {
		return nil, err
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if v.Kind != KindM {
		return nil, validationf("Unsupported operation: Inserting a value that is not a tuple is not supported")
	}
	st.item = v
	return st, nil
}

func (p *pqParser) updateStmt() (*pqStatement, error) {
	p.next()
	st := &pqStatement{verb: "UPDATE"}
	if err := p.tableRef(st, false); err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isWord("SET"):
			p.next()
			for {
				s, err := p.setClause()
				if err != nil {
					return nil, err
				}
				st.sets = append(st.sets, s)
				if !p.isPunct(",") {
					break
				}
				p.next()
			}
			continue
		case p.isWord("REMOVE"):
			p.next()
			for {
				path, err := p.path()
				if err != nil {
					return nil, err
				}
				st.removes = append(st.removes, path)
				if !p.isPunct(",") {
					break
				}
				p.next()
			}
			continue
		}
		break
	}
	if len(st.sets) == 0 && len(st.removes) == 0 {
		return nil, p.unexpected("SET or REMOVE")
	}
	if err := p.whereRequired(st); err != nil {
		return nil, err
	}
	return st, p.returning(st)
}

func (p *pqParser) setClause() (pqSet, error) {
	var s pqSet
	var err error
	if s.path, err = p.path(); err != nil {
		return s, err
	}
	if err := p.expectPunct("="); err != nil {
		return s, err
	}
	if s.value, err = p.operand(); err != nil {
		return s, err
	}
	if p.isPunct("+") || p.isPunct("-") {
		s.arith = p.next().text
		if s.rhs, err = p.operand(); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (p *pqParser) deleteStmt() (*pqStatement, error) {
	p.next()
	st := &pqStatement{verb: "DELETE"}
	if err := p.expectWord("FROM"); err != nil {
		return nil, err
	}
	if err := p.tableRef(st, false); err != nil {
		return nil, err
	}
	if err := p.whereRequired(st); err != nil {
		return nil, err
	}
	return st, p.returning(st)
}

func (p *pqParser) whereRequired(st *pqStatement) error {
	if err := p.expectWord("WHERE"); err != nil {
		return err
	}
	var err error
	st.where, err = p.cond()
	return err
}

// returning reads RETURNING ALL|MODIFIED OLD|NEW *.
func (p *pqParser) returning(st *pqStatement) error {
	if !p.isWord("RETURNING") {
		return nil
	}
	p.next()
	var scope, age string
	for _, w := range []string{"ALL", "MODIFIED"} {
		if p.isWord(w) {
			scope = w
		}
	}
	if scope == "" {
		return p.unexpected("ALL or MODIFIED")
	}
	p.next()
	for _, w := range []string{"OLD", "NEW"} {
		if p.isWord(w) {
			age = w
		}
	}
	if age == "" {
		return p.unexpected("OLD or NEW")
	}
	p.next()
	if err := p.expectPunct("*"); err != nil {
		return err
	}
	st.returning = map[string]string{"ALLOLD": ReturnAllOld, "ALLNEW": ReturnAllNew, "MODIFIEDOLD": ReturnUpdatedOld, "MODIFIEDNEW": ReturnUpdatedNew}[scope+age]
	if st.verb == "DELETE" && st.returning != ReturnAllOld {
		return validationf("Unsupported operation: DELETE supports only RETURNING ALL OLD *")
	}
	return nil
}

// path reads name ('.' name | '[' n ']')*.
func (p *pqParser) path() (pqPath, error) {
	first, err := p.name()
	if err != nil {
		return nil, err
	}
	path := pqPath{{name: first}}
	for {
		switch {
		case p.isPunct("."):
			p.next()
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			path = append(path, pathElem{name: n})
		case p.isPunct("["):
			p.next()
			t := p.next()
			i, err := strconv.Atoi(t.text)
			if t.kind != pqNumber || err != nil || i < 0 {
				return nil, pqSyntax("a list index must be a non-negative integer, got '%s'", t.text)
			}
			if err := p.expectPunct("]"); err != nil {
				return nil, err
			}
			path = append(path, pathElem{index: i, isIndex: true})
		default:
			return path, nil
		}
	}
}

var pqValueWords = map[string]bool{"TRUE": true, "FALSE": true, "NULL": true, "MISSING": true}

// operand reads a path or a value.
func (p *pqParser) operand() (pqOperand, error) {
	t := p.peek()
	if t.kind == pqQuoted || (t.kind == pqIdent && !pqValueWords[strings.ToUpper(t.text)]) {
		path, err := p.path()
		return pqOperand{path: path}, err
	}
	v, err := p.value()
	if err != nil {
		return pqOperand{}, err
	}
	return pqOperand{value: &v}, nil
}

// value reads a literal, a parameter, a tuple, a list or a set.
func (p *pqParser) value() (Value, error) {
	t := p.peek()
	switch t.kind {
	case pqString:
		p.next()
		return S(t.text), nil
	case pqNumber:
		p.next()
		return pqNumberValue(t.text)
	case pqParam:
		p.next()
		if p.used >= len(p.params) {
			p.used++
			return Value{}, validationf("Number of parameters in request and statement don't match.")
		}
		p.used++
		return p.params[p.used-1], nil
	case pqIdent:
		switch strings.ToUpper(t.text) {
		case "TRUE", "FALSE":
			p.next()
			return Bool(strings.EqualFold(t.text, "TRUE")), nil
		case "NULL":
			p.next()
			return Null(), nil
		}
	case pqPunct:
		switch t.text {
		case "-":
			p.next()
			n := p.next()
			if n.kind != pqNumber {
				return Value{}, pqSyntax("a number must follow '-' at %d", t.pos)
			}
			return pqNumberValue("-" + n.text)
		case "{":
			return p.tuple()
		case "[":
			p.next()
			var list []Value
			for !p.isPunct("]") {
				v, err := p.value()
				if err != nil {
					return Value{}, err
				}
				list = append(list, v)
				if !p.isPunct(",") {
					break
				}
				p.next()
			}
			if err := p.expectPunct("]"); err != nil {
				return Value{}, err
			}
			return Value{Kind: KindL, L: list}, nil
		case "<<":
			p.next()
			var elems []Value
			for !p.isPunct(">>") {
				v, err := p.value()
				if err != nil {
					return Value{}, err
				}
				elems = append(elems, v)
				if !p.isPunct(",") {
					break
				}
				p.next()
			}
			if err := p.expectPunct(">>"); err != nil {
				return Value{}, err
			}
			return pqSetValue(elems)
		}
	}
	return Value{}, p.unexpected("a value")
}

func pqNumberValue(text string) (Value, error) {
	n, err := ParseNumber(text)
	if err != nil {
		return Value{}, pqSyntax("invalid number %s", text)
	}
	return N(n), nil
}

// pqSetValue makes a string, number or binary set of elems.
func pqSetValue(elems []Value) (Value, error) {
	if len(elems) == 0 {
		return Value{}, validationf("One or more parameter values were invalid: An number set  may not be empty")
	}
	k := elems[0].Kind
	out := Value{}
	switch k {
	case KindS:
		out.Kind = KindSS
	case KindN:
		out.Kind = KindNS
	case KindB:
		out.Kind = KindBS
	default:
		return Value{}, validationf("Unsupported operation: a set holds strings, numbers or binaries")
	}
	seen := map[string]bool{}
	for _, e := range elems {
		if e.Kind != k {
			return Value{}, validationf("Unsupported operation: a set's elements must all have one type")
		}
		key := e.S
		if k == KindB {
			key = string(e.B)
		}
		if seen[key] {
			return Value{}, validationf("One or more parameter values were invalid: Input collection contains duplicates")
		}
		seen[key] = true
		if k == KindB {
			out.BS = append(out.BS, e.B)
		} else {
			out.SS = append(out.SS, e.S)
		}
	}
	return out, nil
}

// tuple reads {'name': value, ...}.
func (p *pqParser) tuple() (Value, error) {
	p.next()
	m := map[string]Value{}
	for !p.isPunct("}") {
		t := p.next()
		if t.kind != pqString && t.kind != pqQuoted {
			return Value{}, pqSyntax("a tuple's attribute name must be quoted text, got '%s' at %d", t.text, t.pos)
		}
		if err := p.expectPunct(":"); err != nil {
			return Value{}, err
		}
		v, err := p.value()
		if err != nil {
			return Value{}, err
		}
		m[t.text] = v
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if err := p.expectPunct("}"); err != nil {
		return Value{}, err
	}
	return M(m), nil
}

// cond parses OR of ANDs of NOTs of predicates.
func (p *pqParser) cond() (*pqCond, error) {
	left, err := p.andCond()
	if err != nil {
		return nil, err
	}
	for p.isWord("OR") {
		p.next()
		right, err := p.andCond()
		if err != nil {
			return nil, err
		}
		left = &pqCond{op: "or", kids: []*pqCond{left, right}}
	}
	return left, nil
}

func (p *pqParser) andCond() (*pqCond, error) {
	left, err := p.notCond()
	if err != nil {
		return nil, err
	}
	for p.isWord("AND") {
		p.next()
		right, err := p.notCond()
		if err != nil {
			return nil, err
		}
		left = &pqCond{op: "and", kids: []*pqCond{left, right}}
	}
	return left, nil
}

func (p *pqParser) notCond() (*pqCond, error) {
	if p.isWord("NOT") {
		p.next()
		c, err := p.notCond()
		if err != nil {
			return nil, err
		}
		return &pqCond{op: "not", kids: []*pqCond{c}}, nil
	}
	return p.predicate()
}

var pqFuncs = map[string]int{"begins_with": 2, "contains": 2, "attribute_type": 2, "attribute_exists": 1, "attribute_not_exists": 1}

func (p *pqParser) predicate() (*pqCond, error) {
	if p.isPunct("(") {
		p.next()
		c, err := p.cond()
		if err != nil {
			return nil, err
		}
		return c, p.expectPunct(")")
	}
	if t := p.peek(); t.kind == pqIdent && p.toks[p.i+1].kind == pqPunct && p.toks[p.i+1].text == "(" {
		name := strings.ToLower(t.text)
		arity, ok := pqFuncs[name]
		if !ok {
			return nil, validationf("Unsupported operation: function %s is not supported", t.text)
		}
		p.next()
		p.next()
		c := &pqCond{op: "func", fname: name}
		for i := 0; i < arity; i++ {
			if i > 0 {
				if err := p.expectPunct(","); err != nil {
					return nil, err
				}
			}
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, o)
		}
		return c, p.expectPunct(")")
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.isWord("BETWEEN"):
		p.next()
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if err := p.expectWord("AND"); err != nil {
			return nil, err
		}
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		return &pqCond{op: "between", args: []pqOperand{left, lo, hi}}, nil
	case p.isWord("IN"):
		p.next()
		closeWith := "]"
		if p.isPunct("(") {
			closeWith = ")"
		} else if !p.isPunct("[") {
			return nil, p.unexpected("'[' or '('")
		}
		p.next()
		c := &pqCond{op: "in", args: []pqOperand{left}}
		for !p.isPunct(closeWith) {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, o)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
		if len(c.args) < 2 {
			return nil, pqSyntax("IN needs at least one value")
		}
		return c, p.expectPunct(closeWith)
	case p.isWord("IS"):
		p.next()
		not := false
		if p.isWord("NOT") {
			p.next()
			not = true
		}
		switch {
		case p.isWord("MISSING"):
			p.next()
			if not {
				return &pqCond{op: "func", fname: "attribute_exists", args: []pqOperand{left}}, nil
			}
			return &pqCond{op: "func", fname: "attribute_not_exists", args: []pqOperand{left}}, nil
		case p.isWord("NULL"):
			p.next()
			c := &pqCond{op: "func", fname: "attribute_type", args: []pqOperand{left, {value: &Value{Kind: KindS, S: "NULL"}}}}
			if not {
				return &pqCond{op: "not", kids: []*pqCond{c}}, nil
			}
			return c, nil
		}
		return nil, p.unexpected("MISSING or NULL")
	}
	t := p.peek()
	if t.kind == pqPunct {
		switch t.text {
		case "=", "<>", "!=", "<", "<=", ">", ">=":
			p.next()
			right, err := p.operand()
			if err != nil {
				return nil, err
			}
			op := t.text
			if op == "!=" {
				op = "<>"
			}
			return &pqCond{op: "cmp", cmp: op, args: []pqOperand{left, right}}, nil
		}
	}
	return nil, p.unexpected("a comparison")
}
