package tables

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
)

// StatementInput is one PartiQL statement with its parameters.
type StatementInput struct {
	Statement      string
	Parameters     []Value
	ConsistentRead bool
	Limit          int
	NextToken      string
	// ReturnOldOnFailure asks for the item in a failed condition's error.
	ReturnOldOnFailure bool
}

// StatementOutput is what ExecuteStatement answers.
type StatementOutput struct {
	Items     []Item
	NextToken string
	// LastEvaluatedKey is set with NextToken (for a SELECT that stopped
	// at Limit or at the 1 MB page).
	LastEvaluatedKey Item
	// Table and ReadBytes say what a SELECT read, for consumed capacity.
	Table     string
	Index     string
	ReadBytes int
}

// MaxStatementLength is DynamoDB's limit on a PartiQL statement.
const MaxStatementLength = 8192

// errDuplicateItem is INSERT's answer when the item exists.
var errDuplicateItem = &Error{Kind: KindDuplicateItem, Message: "Duplicate primary key exists in table"}

// pqRender turns parsed conditions, paths and values into expression text
// with their names and values.
type pqRender struct {
	names  map[string]string
	byName map[string]string
	values map[string]Value
}

func newRender() *pqRender {
	return &pqRender{names: map[string]string{}, byName: map[string]string{}, values: map[string]Value{}}
}

func (r *pqRender) path(p pqPath) string {
	var b strings.Builder
	for i, e := range p {
		if e.isIndex {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		ph, ok := r.byName[e.name]
		if !ok {
			ph = fmt.Sprintf("#p%d", len(r.byName))
			r.byName[e.name], r.names[ph] = ph, e.name
		}
		b.WriteString(ph)
	}
	return b.String()
}

func (r *pqRender) value(v Value) string {
	ph := fmt.Sprintf(":v%d", len(r.values))
	r.values[ph] = v
	return ph
}

func (r *pqRender) operand(o pqOperand) string {
	if o.value != nil {
		return r.value(*o.value)
	}
	return r.path(o.path)
}

func (r *pqRender) cond(c *pqCond) string {
	switch c.op {
	case "and", "or":
		return "(" + r.cond(c.kids[0]) + ") " + strings.ToUpper(c.op) + " (" + r.cond(c.kids[1]) + ")"
	case "not":
		return "NOT (" + r.cond(c.kids[0]) + ")"
	case "cmp":
		return r.operand(c.args[0]) + " " + c.cmp + " " + r.operand(c.args[1])
	case "between":
		return r.operand(c.args[0]) + " BETWEEN " + r.operand(c.args[1]) + " AND " + r.operand(c.args[2])
	case "in":
		parts := make([]string, 0, len(c.args)-1)
		for _, a := range c.args[1:] {
			parts = append(parts, r.operand(a))
		}
		return r.operand(c.args[0]) + " IN (" + strings.Join(parts, ", ") + ")"
	default: // func
		parts := make([]string, 0, len(c.args))
		for _, a := range c.args {
			parts = append(parts, r.operand(a))
		}
		return c.fname + "(" + strings.Join(parts, ", ") + ")"
	}
}

func (r *pqRender) conds(cs []*pqCond) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, "("+r.cond(c)+")")
	}
	return strings.Join(parts, " AND ")
}

// namesOrNil and valuesOrNil give nil for nothing, as the expression checks want.
func (r *pqRender) namesOrNil() map[string]string {
	if len(r.names) == 0 {
		return nil
	}
	return r.names
}

func (r *pqRender) valuesOrNil() map[string]Value {
	if len(r.values) == 0 {
		return nil
	}
	return r.values
}

// conjuncts flattens a WHERE's top-level ANDs.
func conjuncts(c *pqCond) []*pqCond {
	if c == nil {
		return nil
	}
	if c.op == "and" {
		return append(conjuncts(c.kids[0]), conjuncts(c.kids[1])...)
	}
	return []*pqCond{c}
}

// topName is the attribute a single-name path names ("" otherwise).
func topName(o pqOperand) string {
	if o.value != nil || len(o.path) != 1 || o.path[0].isIndex {
		return ""
	}
	return o.path[0].name
}

// keyEquality returns the value c sets key name to, if c is "name = value".
func keyEquality(c *pqCond, name string) (Value, bool) {
	if c.op != "cmp" || c.cmp != "=" {
		return Value{}, false
	}
	for i := 0; i < 2; i++ {
		if topName(c.args[i]) == name && c.args[1-i].value != nil {
			return *c.args[1-i].value, true
		}
	}
	return Value{}, false
}

// sortKeyCondition reports whether c can be part of a key condition on the
// sort key name.
func sortKeyCondition(c *pqCond, name string) bool {
	switch c.op {
	case "cmp":
		return c.cmp != "<>" && topName(c.args[0]) == name && c.args[1].value != nil
	case "between":
		return topName(c.args[0]) == name && c.args[1].value != nil && c.args[2].value != nil
	case "func":
		return c.fname == "begins_with" && topName(c.args[0]) == name && c.args[1].value != nil
	}
	return false
}

// mentions reports whether c reads attribute name at its top level.
func mentions(c *pqCond, name string) bool {
	for _, k := range c.kids {
		if mentions(k, name) {
			return true
		}
	}
	for _, a := range c.args {
		if a.value == nil && len(a.path) > 0 && a.path[0].name == name {
			return true
		}
	}
	return false
}

// fullKey extracts the primary key from a WHERE's equalities and returns
// the other conjuncts; ok is false when a key attribute has no equality.
func (t *Table) fullKey(where *pqCond) (key Item, rest []*pqCond, ok bool) {
	key = Item{}
	for _, c := range conjuncts(where) {
		taken := false
		for _, name := range t.keyNames() {
			if _, dup := key[name]; dup {
				continue
			}
			if v, is := keyEquality(c, name); is {
				key[name] = v
				taken = true
				break
			}
		}
		if !taken {
			rest = append(rest, c)
		}
	}
	return key, rest, len(key) == len(t.keyNames())
}

var errWhereKey = validationf("Where clause does not contain a mandatory equality on all key attributes")

// ExecuteStatement runs one PartiQL statement.
func (s *Service) ExecuteStatement(ctx context.Context, in StatementInput) (*StatementOutput, error) {
	st, err := parseStatement(in)
	if err != nil {
		return nil, err
	}
	switch st.verb {
	case "SELECT":
		return s.pqSelect(ctx, st, in)
	case "INSERT":
		put, err := s.pqInsert(st)
		if err != nil {
			return nil, err
		}
		if _, err := s.PutItem(ctx, *put); err != nil {
			if IsKind(err, KindConditionFailed) {
				return nil, errDuplicateItem
			}
			return nil, err
		}
		return &StatementOutput{}, nil
	case "UPDATE":
		up, err := s.pqUpdate(st, in)
		if err != nil {
			return nil, err
		}
		item, err := s.UpdateItem(ctx, *up)
		if err != nil {
			return nil, err
		}
		return returned(st, item), nil
	default:
		del, err := s.pqDelete(st, in)
		if err != nil {
			return nil, err
		}
		item, err := s.DeleteItem(ctx, *del)
		if err != nil {
			return nil, err
		}
		return returned(st, item), nil
	}
}

func returned(st *pqStatement, item Item) *StatementOutput {
	if st.returning == "" || item == nil {
		return &StatementOutput{}
	}
	return &StatementOutput{Items: []Item{item}}
}

func parseStatement(in StatementInput) (*pqStatement, error) {
	if in.Statement == "" {
		return nil, validationf("1 validation error detected: Value null at 'statement' failed to satisfy constraint: Member must not be null")
	}
	if len(in.Statement) > MaxStatementLength {
		return nil, validationf("1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length less than or equal to %d", MaxStatementLength)
	}
	return parsePartiQL(in.Statement, in.Parameters)
}

func (s *Service) pqSelect(ctx context.Context, st *pqStatement, in StatementInput) (*StatementOutput, error) {
	t, err := s.table(st.table)
	if err != nil {
		return nil, err
	}
	hash, rng := t.hash, t.rng
	if st.index != "" {
		ix := t.Index(st.index)
		if ix == nil {
			return nil, validationf("The table does not have the specified index: %s", st.index)
		}
		hash, rng = ix.hash, ix.rng
	}
	r := newRender()
	read := ReadInput{Table: st.table, Index: st.index, Limit: in.Limit, ConsistentRead: in.ConsistentRead}
	if in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, validationf("Invalid NextToken")
		}
		if read.ExclusiveStartKey, err = decodeItem(raw); err != nil {
			return nil, validationf("Invalid NextToken")
		}
	}
	if st.projection != nil {
		parts := make([]string, len(st.projection))
		for i, p := range st.projection {
			parts[i] = r.path(p)
		}
		read.Projection = strings.Join(parts, ", ")
	}
	// A WHERE with an equality on the partition key is a Query (with what
	// it says of the sort key); anything else is a Scan with a filter.
	var keyConds, rest []*pqCond
	all := conjuncts(st.where)
	for i, c := range all {
		if _, ok := keyEquality(c, hash); ok && keyConds == nil {
			keyConds = append(keyConds, c)
			rest = append(append(rest, all[:i]...), all[i+1:]...)
			break
		}
	}
	if keyConds != nil && rng != "" {
		for i, c := range rest {
			if sortKeyCondition(c, rng) {
				keyConds = append(keyConds, c)
				rest = append(rest[:i:i], rest[i+1:]...)
				break
			}
		}
	}
	for _, c := range rest {
		if mentions(c, hash) || (rng != "" && mentions(c, rng)) {
			keyConds = nil // a key attribute in a filter: Query refuses it, Scan does not
		}
	}
	var page *Page
	if keyConds != nil {
		q := QueryInput{ReadInput: read, KeyCondition: r.conds(keyConds)}
		if len(rest) > 0 {
			q.Filter = r.conds(rest)
		}
		q.Names, q.Values = r.namesOrNil(), r.valuesOrNil()
		page, err = s.Query(ctx, q)
	} else {
		sc := ScanInput{ReadInput: read}
		if st.where != nil {
			sc.Filter = r.cond(st.where)
		}
		sc.Names, sc.Values = r.namesOrNil(), r.valuesOrNil()
		page, err = s.Scan(ctx, sc)
	}
	if err != nil {
		return nil, err
	}
	out := &StatementOutput{Items: page.Items, Table: st.table, Index: st.index, ReadBytes: page.ReadBytes}
	if out.Items == nil {
		out.Items = []Item{}
	}
	if page.LastEvaluatedKey != nil {
		enc, err := encodeItem(page.LastEvaluatedKey)
		if err != nil {
			return nil, err
		}
		out.NextToken = base64.RawURLEncoding.EncodeToString(enc)
		out.LastEvaluatedKey = page.LastEvaluatedKey
	}
	return out, nil
}

// pqInsert is an INSERT as a PutItem that fails when the item exists.
func (s *Service) pqInsert(st *pqStatement) (*PutInput, error) {
	t, err := s.table(st.table)
	if err != nil {
		return nil, err
	}
	return &PutInput{Table: st.table, Item: st.item.M, Condition: Condition{Expression: "attribute_not_exists(#k)"},
		Names: map[string]string{"#k": t.hash}}, nil
}

// pqUpdate is an UPDATE as an UpdateItem of an item that must exist.
func (s *Service) pqUpdate(st *pqStatement, in StatementInput) (*UpdateInput, error) {
	t, err := s.table(st.table)
	if err != nil {
		return nil, err
	}
	key, rest, ok := t.fullKey(st.where)
	if !ok {
		return nil, errWhereKey
	}
	r := newRender()
	var sets []string
	for _, set := range st.sets {
		rhs := r.operand(set.value)
		if set.arith != "" {
			rhs += " " + set.arith + " " + r.operand(set.rhs)
		}
		sets = append(sets, r.path(set.path)+" = "+rhs)
	}
	var expr []string
	if len(sets) > 0 {
		expr = append(expr, "SET "+strings.Join(sets, ", "))
	}
	if len(st.removes) > 0 {
		parts := make([]string, len(st.removes))
		for i, p := range st.removes {
			parts[i] = r.path(p)
		}
		expr = append(expr, "REMOVE "+strings.Join(parts, ", "))
	}
	cond := "attribute_exists(" + r.path(pqPath{{name: t.hash}}) + ")"
	if len(rest) > 0 {
		cond += " AND " + r.conds(rest)
	}
	return &UpdateInput{Table: st.table, Key: key, Update: strings.Join(expr, " "), Condition: Condition{Expression: cond, ReturnOldOnFailure: in.ReturnOldOnFailure},
		Names: r.namesOrNil(), Values: r.valuesOrNil(), ReturnValues: st.returning}, nil
}

// pqDelete is a DELETE as a DeleteItem (of nothing, when the item is absent).
func (s *Service) pqDelete(st *pqStatement, in StatementInput) (*DeleteInput, error) {
	t, err := s.table(st.table)
	if err != nil {
		return nil, err
	}
	key, rest, ok := t.fullKey(st.where)
	if !ok {
		return nil, errWhereKey
	}
	r := newRender()
	del := &DeleteInput{Table: st.table, Key: key, ReturnValues: st.returning}
	if len(rest) > 0 {
		del.Condition = Condition{Expression: r.conds(rest), ReturnOldOnFailure: in.ReturnOldOnFailure}
		del.Names, del.Values = r.namesOrNil(), r.valuesOrNil()
	}
	return del, nil
}

// MaxBatchStatements is BatchExecuteStatement's limit.
const MaxBatchStatements = 25

// StatementResult is one answer of BatchExecuteStatement: an item (for a
// SELECT that found one) or an error.
type StatementResult struct {
	Table string
	Item  Item
	Err   error
}

// BatchExecuteStatement runs up to 25 statements, all reads (each a
// SELECT of one item by its full key) or all writes, each on its own:
// one failing does not stop the others.
func (s *Service) BatchExecuteStatement(ctx context.Context, in []StatementInput) ([]StatementResult, error) {
	if len(in) == 0 || len(in) > MaxBatchStatements {
		return nil, validationf("1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to 25 and greater than or equal to 1")
	}
	parsed := make([]*pqStatement, len(in))
	reads := 0
	out := make([]StatementResult, len(in))
	for i, si := range in {
		st, err := parseStatement(si)
		if err != nil {
			out[i].Err = err
			continue
		}
		parsed[i] = st
		out[i].Table = st.table
		if st.verb == "SELECT" {
			reads++
		}
	}
	if reads > 0 && reads != countParsed(parsed) {
		return nil, validationf("Unsupported operation: A batch must contain either all read statements or all write statements")
	}
	for i, st := range parsed {
		if st == nil {
			continue
		}
		out[i].Item, out[i].Err = s.batchStatement(ctx, st, in[i])
	}
	return out, nil
}

func countParsed(ps []*pqStatement) int {
	n := 0
	for _, p := range ps {
		if p != nil {
			n++
		}
	}
	return n
}

func (s *Service) batchStatement(ctx context.Context, st *pqStatement, in StatementInput) (Item, error) {
	if st.verb != "SELECT" {
		_, err := s.ExecuteStatement(ctx, in)
		return nil, err
	}
	get, err := s.pqGet(st)
	if err != nil {
		return nil, err
	}
	get.ConsistentRead = in.ConsistentRead
	return s.GetItem(ctx, *get)
}

// pqGet is a SELECT of one item by its full key, as BatchExecuteStatement
// and ExecuteTransaction need.
func (s *Service) pqGet(st *pqStatement) (*GetInput, error) {
	t, err := s.table(st.table)
	if err != nil {
		return nil, err
	}
	key, rest, ok := t.fullKey(st.where)
	if st.index != "" || !ok || len(rest) > 0 {
		return nil, validationf("Select statements within BatchExecuteStatement or ExecuteTransaction must specify the full primary key with equality conditions and nothing else")
	}
	get := &GetInput{Table: st.table, Key: key}
	if st.projection != nil {
		r := newRender()
		parts := make([]string, len(st.projection))
		for i, p := range st.projection {
			parts[i] = r.path(p)
		}
		get.Projection, get.Names = strings.Join(parts, ", "), r.namesOrNil()
	}
	return get, nil
}

// ExecuteTransaction runs up to 100 statements all together or not at all:
// all writes (a TransactWriteItems) or all SELECTs of single items (a
// TransactGetItems). token is the ClientRequestToken with the request's
// fingerprint.
func (s *Service) ExecuteTransaction(ctx context.Context, in []StatementInput, token string, fingerprint []byte) ([]Item, error) {
	if len(in) == 0 || len(in) > MaxTransactItems {
		return nil, validationf("1 validation error detected: Value at 'transactStatements' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
	}
	var gets []TransactGet
	var writes []TransactWriteItem
	for _, si := range in {
		st, err := parseStatement(si)
		if err != nil {
			return nil, err
		}
		switch st.verb {
		case "SELECT":
			g, err := s.pqGet(st)
			if err != nil {
				return nil, err
			}
			gets = append(gets, TransactGet{Table: g.Table, Key: g.Key, Projection: g.Projection, Names: g.Names})
		case "INSERT":
			put, err := s.pqInsert(st)
			if err != nil {
				return nil, err
			}
			writes = append(writes, TransactWriteItem{Put: put})
		case "UPDATE":
			up, err := s.pqUpdate(st, si)
			if err != nil {
				return nil, err
			}
			up.ReturnValues = ""
			writes = append(writes, TransactWriteItem{Update: up})
		default:
			del, err := s.pqDelete(st, si)
			if err != nil {
				return nil, err
			}
			del.ReturnValues = ""
			writes = append(writes, TransactWriteItem{Delete: del})
		}
	}
	if len(gets) > 0 && len(writes) > 0 {
		return nil, validationf("Unsupported operation: A transaction must contain either all read statements or all write statements")
	}
	if len(gets) > 0 {
		return s.TransactGetItems(ctx, gets)
	}
	return nil, s.TransactWriteItems(ctx, TransactWriteInput{Items: writes, ClientRequestToken: token, Fingerprint: fingerprint})
}

// StatementTarget parses a statement and says what it does and to which
// table (and index), for authorization before it runs.
func StatementTarget(in StatementInput) (verb, table, index string, err error) {
	st, err := parseStatement(in)
	if err != nil {
		return "", "", "", err
	}
	return st.verb, st.table, st.index, nil
}
