package tables

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// MaxPageBytes is DynamoDB's limit on the data one Query or Scan page reads.
const MaxPageBytes = 1 << 20

// Select values.
const (
	SelectAllAttributes      = "ALL_ATTRIBUTES"
	SelectAllProjected       = "ALL_PROJECTED_ATTRIBUTES"
	SelectSpecificAttributes = "SPECIFIC_ATTRIBUTES"
	SelectCount              = "COUNT"
)

// ReadInput is what Query and Scan share.
type ReadInput struct {
	Table             string
	Index             string
	Filter            string
	Projection        string
	Names             map[string]string
	Values            map[string]Value
	Limit             int
	ExclusiveStartKey Item
	Select            string
	ConsistentRead    bool
}

// QueryInput is a Query request.
type QueryInput struct {
	ReadInput
	KeyCondition string
	Backward     bool // ScanIndexForward false
	// Authorize, when set, is called with the partition key value of the
	// key condition before anything is read (dynamodb:LeadingKeys).
	Authorize func(partition Value) error
}

// ScanInput is a Scan request.
type ScanInput struct {
	ReadInput
	Segment       *int
	TotalSegments *int
}

// Page is one page of a Query or Scan.
type Page struct {
	Items            []Item
	Count            int
	ScannedCount     int
	LastEvaluatedKey Item
	// ReadBytes is the size of the items read, before any filter (what
	// capacity is counted on).
	ReadBytes int
}

// readPlan is a validated Query or Scan.
type readPlan struct {
	t          *Table
	ix         *Index
	filter     cond
	paths      []docPath
	count      bool
	fetchTable bool  // LSI with ALL_ATTRIBUTES: read the table's item
	partition  Value // a Query's partition key value
	lower      []byte
	upper      []byte
	backward   bool
	limit      int
}

func (s *Service) planRead(in *ReadInput, ex *Expressions, keyCond string) (*readPlan, cond, error) {
	t, err := s.table(in.Table)
	if err != nil {
		return nil, nil, err
	}
	p := &readPlan{t: t, limit: in.Limit}
	if in.Index != "" {
		if p.ix = t.Index(in.Index); p.ix == nil {
			return nil, nil, validationf("The table does not have the specified index: %s", in.Index)
		}
		if p.ix.Creating {
			return nil, nil, validationf("Cannot read from backfilling global secondary index: %s", in.Index)
		}
		if p.ix.Global && in.ConsistentRead {
			return nil, nil, validationf("Consistent reads are not supported on global secondary indexes")
		}
	}
	if in.Limit < 0 {
		return nil, nil, validationf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", in.Limit)
	}
	var kc cond
	if keyCond != "" {
		if kc, err = parseCondition("KeyConditionExpression", keyCond, ex); err != nil {
			return nil, nil, err
		}
	}
	if in.Filter != "" {
		if p.filter, err = parseCondition("FilterExpression", in.Filter, ex); err != nil {
			return nil, nil, err
		}
	}
	if in.Projection != "" {
		if p.paths, err = parseProjection(in.Projection, ex); err != nil {
			return nil, nil, err
		}
	}
	if err := ex.Check(); err != nil {
		return nil, nil, err
	}
	switch in.Select {
	case "", SelectAllProjected:
		if in.Select == SelectAllProjected && p.ix == nil {
			return nil, nil, validationf("One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is not supported for the table")
		}
	case SelectAllAttributes:
		if p.paths != nil {
			return nil, nil, validationf("One or more parameter values were invalid: Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Select} Expression parameters: {ProjectionExpression}")
		}
		if p.ix != nil && p.ix.Projection.ProjectionType != "ALL" {
			if p.ix.Global {
				return nil, nil, validationf("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", p.ix.IndexName)
			}
			p.fetchTable = true
		}
	case SelectCount:
		p.count = true
	case SelectSpecificAttributes:
		if p.paths == nil {
			return nil, nil, validationf("One or more parameter values were invalid: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
		}
	default:
		return nil, nil, validationf("1 validation error detected: Value '%s' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]", in.Select)
	}
	return p, kc, nil
}

func (p *readPlan) indexID() byte {
	if p.ix == nil {
		return 0
	}
	return p.ix.ID
}

// kind is the declared type of a key attribute of the table or the index read.
func (p *readPlan) kind(name string) Kind {
	if k, ok := p.t.types[name]; ok && (name == p.t.hash || name == p.t.rng) {
		return k
	}
	if p.ix != nil {
		return p.ix.kind(name)
	}
	return p.t.types[name]
}

func (p *readPlan) keyNames() (hash, rng string) {
	if p.ix == nil {
		return p.t.hash, p.t.rng
	}
	return p.ix.hash, p.ix.rng
}

// startAfter narrows the range to what follows ExclusiveStartKey.
func (p *readPlan) startAfter(esk Item) error {
	if esk == nil {
		return nil
	}
	names := p.t.keyNames()
	if p.ix != nil {
		names = append(names, p.ix.hash)
		if p.ix.rng != "" {
			names = append(names, p.ix.rng)
		}
	}
	for _, n := range names {
		if v, ok := esk[n]; !ok || v.Kind != p.kind(n) {
			return validationf("The provided starting key is invalid: The provided key element does not match the schema")
		}
	}
	var key []byte
	if p.ix == nil {
		if len(esk) != len(names) {
			return validationf("The provided starting key is invalid: The provided key element does not match the schema")
		}
		key = p.t.itemKey(esk)
	} else {
		key = p.ix.entryKey(p.t, esk)
	}
	if p.backward {
		if p.upper == nil || bytes.Compare(key, p.upper) < 0 {
			p.upper = key
		}
		return nil
	}
	after := append(append([]byte(nil), key...), 0)
	if bytes.Compare(after, p.lower) > 0 {
		p.lower = after
	}
	return nil
}

// run reads one page.
func (s *Service) run(ctx context.Context, p *readPlan) (*Page, error) {
	page := &Page{}
	if p.upper != nil && bytes.Compare(p.lower, p.upper) >= 0 {
		return page, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p.lower, UpperBound: p.upper})
	if err != nil {
		return nil, fmt.Errorf("read table: %w", err)
	}
	defer it.Close()
	valid := it.First()
	if p.backward {
		valid = it.Last()
	}
	bytesRead := 0
	var last Item
	for ; valid; valid = step(it, p.backward) {
		if page.ScannedCount%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if (p.limit > 0 && page.ScannedCount >= p.limit) || bytesRead >= MaxPageBytes {
			page.LastEvaluatedKey = p.positionOf(last)
			break
		}
		item, err := decodeItem(it.Value())
		if err != nil {
			return nil, err
		}
		page.ScannedCount++
		bytesRead += item.Size()
		last = item
		if p.fetchTable {
			full, err := s.read(p.t.itemKey(item))
			if err != nil {
				return nil, err
			}
			if full == nil {
				continue
			}
			item = full
		}
		if p.filter != nil && !evalCond(item, p.filter) {
			continue
		}
		page.Count++
		if p.count {
			continue
		}
		if p.paths != nil {
			item = project(item, p.paths)
		}
		page.Items = append(page.Items, item)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("read table: %w", err)
	}
	page.ReadBytes = bytesRead
	return page, nil
}

func step(it *pebble.Iterator, backward bool) bool {
	if backward {
		return it.Prev()
	}
	return it.Next()
}

// positionOf is the LastEvaluatedKey for a page that ended after item.
func (p *readPlan) positionOf(item Item) Item {
	if p.ix != nil {
		return p.ix.keyOf(p.t, item)
	}
	return p.t.primaryKey(item)
}

// Query reads the items of one partition, in sort key order.
func (s *Service) Query(ctx context.Context, in QueryInput) (*Page, error) {
	ex := NewExpressions(in.Names, in.Values)
	if in.KeyCondition == "" {
		return nil, validationf("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	p, kc, err := s.planRead(&in.ReadInput, ex, in.KeyCondition)
	if err != nil {
		return nil, err
	}
	p.backward = in.Backward
	if err := p.keyRange(kc); err != nil {
		return nil, err
	}
	if in.Authorize != nil {
		if err := in.Authorize(p.partition); err != nil {
			return nil, err
		}
	}
	if p.filter != nil {
		hash, rng := p.keyNames()
		for _, name := range condAttrs(p.filter) {
			if name == hash || name == rng {
				return nil, validationf("Filter Expression can only contain non-primary key attributes: Primary key attribute: %s", name)
			}
		}
	}
	if err := p.startAfter(in.ExclusiveStartKey); err != nil {
		return nil, err
	}
	return s.run(ctx, p)
}

// keyRange turns a key condition into the range of storage keys to read.
func (p *readPlan) keyRange(kc cond) error {
	hash, rng := p.keyNames()
	var parts []cond
	var flatten func(c cond) bool
	flatten = func(c cond) bool {
		if a, ok := c.(andCond); ok {
			return flatten(a.a) && flatten(a.b)
		}
		parts = append(parts, c)
		return true
	}
	flatten(kc)
	if len(parts) > 2 {
		return validationf("Conditions can be of length 1 or 2 only")
	}
	var hashVal *Value
	var rangeCond cond
	for _, c := range parts {
		name, ok := condAttr(c)
		if !ok {
			return validationf("Invalid operator used in KeyConditionExpression: %s", condOperator(c))
		}
		switch name {
		case hash:
			cmp, ok := c.(cmpCond)
			if !ok || cmp.op != "=" || hashVal != nil {
				return validationf("Query key condition not supported")
			}
			v := cmp.b.(valueOp).v
			hashVal = &v
		case rng:
			if rng == "" || rangeCond != nil {
				return validationf("Query key condition not supported")
			}
			rangeCond = c
		default:
			return validationf("Query condition missed key schema element: %s", hash)
		}
	}
	if hashVal == nil {
		return validationf("Query condition missed key schema element: %s", hash)
	}
	if hashVal.Kind != p.kind(hash) {
		return validationf("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	p.partition = *hashVal
	prefix := partitionPrefix(p.t.ID, p.indexID(), *hashVal)
	p.lower, p.upper = prefix, prefixEnd(prefix)
	if rangeCond == nil {
		return nil
	}
	want := p.kind(rng)
	val := func(o operand) ([]byte, error) {
		v := o.(valueOp).v
		if v.Kind != want {
			return nil, validationf("One or more parameter values were invalid: Condition parameter type does not match schema type")
		}
		return appendKeyValue(append([]byte(nil), prefix...), v), nil
	}
	switch c := rangeCond.(type) {
	case cmpCond:
		k, err := val(c.b)
		if err != nil {
			return err
		}
		switch c.op {
		case "=":
			p.lower, p.upper = k, prefixEnd(k)
		case "<":
			p.upper = k
		case "<=":
			p.upper = prefixEnd(k)
		case ">":
			p.lower = prefixEnd(k)
		case ">=":
			p.lower = k
		default:
			return validationf("Unsupported operator in KeyConditionExpression: %s", c.op)
		}
	case betweenCond:
		lo, err := val(c.lo)
		if err != nil {
			return err
		}
		hi, err := val(c.hi)
		if err != nil {
			return err
		}
		p.lower, p.upper = lo, prefixEnd(hi)
	case funcCond:
		v := c.arg.(valueOp).v
		if v.Kind != want || want == KindN {
			return validationf("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", v.Kind)
		}
		k := appendKeyPrefix(append([]byte(nil), prefix...), v)
		p.lower, p.upper = k, prefixEnd(k)
	}
	return nil
}

// condAttr returns the key attribute a key condition part constrains, when
// the part has a form a key condition allows (path op :value).
func condAttr(c cond) (string, bool) {
	single := func(o operand) (string, bool) {
		po, ok := o.(pathOp)
		if !ok || len(po.path) != 1 {
			return "", false
		}
		return po.path[0].name, true
	}
	isVal := func(o operand) bool { _, ok := o.(valueOp); return ok }
	switch c := c.(type) {
	case cmpCond:
		if c.op == "<>" || !isVal(c.b) {
			return "", false
		}
		return single(c.a)
	case betweenCond:
		if !isVal(c.lo) || !isVal(c.hi) {
			return "", false
		}
		return single(c.x)
	case funcCond:
		if c.name != "begins_with" || len(c.path) != 1 || !isVal(c.arg) {
			return "", false
		}
		return c.path[0].name, true
	}
	return "", false
}

// condAttrs lists the top-level attributes a condition reads.
func condAttrs(c cond) []string {
	var names []string
	op := func(o operand) {
		switch o := o.(type) {
		case pathOp:
			names = append(names, o.path[0].name)
		case sizeOp:
			names = append(names, o.path[0].name)
		}
	}
	var walk func(c cond)
	walk = func(c cond) {
		switch c := c.(type) {
		case andCond:
			walk(c.a)
			walk(c.b)
		case orCond:
			walk(c.a)
			walk(c.b)
		case notCond:
			walk(c.c)
		case cmpCond:
			op(c.a)
			op(c.b)
		case betweenCond:
			op(c.x)
			op(c.lo)
			op(c.hi)
		case inCond:
			op(c.x)
			for _, o := range c.list {
				op(o)
			}
		case funcCond:
			names = append(names, c.path[0].name)
			op(c.arg)
		}
	}
	walk(c)
	return names
}

func condOperator(c cond) string {
	switch c := c.(type) {
	case orCond:
		return "OR"
	case notCond:
		return "NOT"
	case inCond:
		return "IN"
	case cmpCond:
		return c.op
	case funcCond:
		return c.name
	}
	return "?"
}

// Scan reads a table or index (or one segment of it) in storage order.
func (s *Service) Scan(ctx context.Context, in ScanInput) (*Page, error) {
	ex := NewExpressions(in.Names, in.Values)
	p, _, err := s.planRead(&in.ReadInput, ex, "")
	if err != nil {
		return nil, err
	}
	prefix := indexPrefix(p.t.ID, p.indexID())
	p.lower, p.upper = prefix, prefixEnd(prefix)
	switch {
	case in.Segment != nil && in.TotalSegments == nil:
		return nil, validationf("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	case in.Segment == nil && in.TotalSegments != nil:
		return nil, validationf("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
	case in.Segment != nil:
		seg, total := *in.Segment, *in.TotalSegments
		if total < 1 || total > 1000000 {
			return nil, validationf("1 validation error detected: Value '%d' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000", total)
		}
		if seg < 0 || seg >= total {
			return nil, validationf("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is out of bounds for TotalSegments: %d", seg, total)
		}
		// Segments are contiguous ranges of the partition key hash.
		lo := uint64(seg) << 32 / uint64(total)
		hi := uint64(seg+1) << 32 / uint64(total)
		p.lower = binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), uint32(lo))
		if hi < 1<<32 {
			p.upper = binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), uint32(hi))
		}
	}
	if err := p.startAfter(in.ExclusiveStartKey); err != nil {
		return nil, err
	}
	return s.run(ctx, p)
}
