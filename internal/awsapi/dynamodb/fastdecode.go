package dynamodb

import (
	"encoding/base64"

	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// The item-carrying requests (PutItem, GetItem, DeleteItem, UpdateItem,
// Query, BatchWriteItem, BatchGetItem, TransactWriteItems, TransactGetItems) are read in one pass by a hand-written reader instead of
// encoding/json, which checks the whole body, then reflects over the
// request, then hands each item's bytes to wireItem, which scans them again.
// The reader takes only the members it knows, exactly spelled and once
// each, and no nulls; for anything else (legacy parameters, unknown members,
// syntax errors ...) the request is decoded by encoding/json as before, so
// answers do not change (FuzzFastDecode checks that).

// fastRequest is a request type the reader can fill: field reads the value
// of member key, returning false when it does not know the member.
type fastRequest interface {
	field(r *reader, key string) bool
}

// reader is a jsonproto.Decoder with DynamoDB's AttributeValue and the first
// validation error of the request, in document order (encoding/json stops at
// the first error an item's UnmarshalJSON returns).
type reader struct {
	jsonproto.Decoder
	err  error
	seen [16]string
	n    int
}

// decodeFast decodes body into a T through the fast reader, or through
// encoding/json when the reader declines.
func decodeFast[T any, PT interface {
	*T
	fastRequest
}](body []byte) (*T, error) {
	v, err, ok := readFast[T, PT](body)
	if !ok {
		return decode[T](body)
	}
	return v, err
}

// readFast is the reader alone; ok is false when it declines the body.
func readFast[T any, PT interface {
	*T
	fastRequest
}](body []byte) (*T, error, bool) {
	var v T
	var r reader
	r.Reset(body)
	ok := r.Object(func(key []byte) bool {
		k := string(key)
		if !r.once(k) {
			return false
		}
		return PT(&v).field(&r, k)
	}) && r.End()
	if !ok {
		return nil, nil, false
	}
	if r.err != nil {
		return nil, r.err, true
	}
	return &v, nil, true
}

// once records a top-level member, refusing a repeated one (encoding/json
// merges or overwrites; the fallback keeps its rules).
func (r *reader) once(k string) bool {
	for _, s := range r.seen[:r.n] {
		if s == k {
			return false
		}
	}
	if r.n == len(r.seen) {
		return false
	}
	r.seen[r.n] = k
	r.n++
	return true
}

func (r *reader) str(dst *string) bool {
	s, ok := r.String()
	*dst = s
	return ok
}

func (r *reader) boolean(dst *bool) bool {
	b, ok := r.Bool()
	*dst = b
	return ok
}

// keep records the first validation error.
func (r *reader) keep(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

// item reads an item (or key) as wireItem's UnmarshalJSON would.
func (r *reader) item(dst *wireItem) bool {
	m, err, ok := r.valueMap(0)
	if !ok {
		return false
	}
	r.keep(err)
	*dst = wireItem(m)
	return true
}

// values reads ExpressionAttributeValues.
func (r *reader) values(dst *map[string]wireValue) bool {
	out := map[string]wireValue{}
	ok := r.Object(func(key []byte) bool {
		k := string(key)
		if _, dup := out[k]; dup {
			return r.Fail()
		}
		v, err, ok := r.value(0)
		if !ok {
			return false
		}
		r.keep(err)
		out[k] = wireValue(v)
		return true
	})
	*dst = out
	return ok
}

// names reads ExpressionAttributeNames.
func (r *reader) names(dst *map[string]string) bool {
	out := map[string]string{}
	ok := r.Object(func(key []byte) bool {
		k := string(key)
		if _, dup := out[k]; dup {
			return r.Fail()
		}
		v, ok := r.String()
		out[k] = v
		return ok
	})
	*dst = out
	return ok
}

// valueMap reads a map of attribute values at depth; err is the first
// validation error among them.
func (r *reader) valueMap(depth int) (map[string]tables.Value, error, bool) {
	out := map[string]tables.Value{}
	var first error
	ok := r.Object(func(key []byte) bool {
		k := string(key)
		if _, dup := out[k]; dup {
			return r.Fail()
		}
		v, err, ok := r.value(depth)
		if err != nil && first == nil {
			first = err
		}
		out[k] = v
		return ok
	})
	return out, first, ok
}

// Members of an AttributeValue, as bits.
const (
	avS = 1 << iota
	avN
	avB
	avBOOL
	avNULL
	avM
	avL
	avSS
	avNS
	avBS
)

// value reads one AttributeValue and validates it as rawValue.convert does,
// in the same order.
func (r *reader) value(depth int) (tables.Value, error, bool) {
	var (
		set           int
		count         int
		s, n          string
		b             []byte
		boolean, null bool
		m             map[string]tables.Value
		mErr, lErr    error
		l             []tables.Value
		ss, ns        []string
		bs            [][]byte
	)
	ok := r.Object(func(key []byte) bool {
		var bit int
		switch string(key) {
		case "S":
			bit = avS
		case "N":
			bit = avN
		case "B":
			bit = avB
		case "BOOL":
			bit = avBOOL
		case "NULL":
			bit = avNULL
		case "M":
			bit = avM
		case "L":
			bit = avL
		case "SS":
			bit = avSS
		case "NS":
			bit = avNS
		case "BS":
			bit = avBS
		default:
			return false // unknown members are ignored by encoding/json
		}
		if set&bit != 0 {
			return false
		}
		set |= bit
		count++
		switch bit {
		case avS:
			return r.str(&s)
		case avN:
			return r.str(&n)
		case avB:
			var ok bool
			b, ok = r.base64()
			return ok
		case avBOOL:
			return r.boolean(&boolean)
		case avNULL:
			return r.boolean(&null)
		case avM:
			var ok bool
			m, mErr, ok = r.valueMap(depth + 1)
			return ok
		case avL:
			l = []tables.Value{}
			return r.Array(func() bool {
				v, err, ok := r.value(depth + 1)
				if err != nil && lErr == nil {
					lErr = err
				}
				l = append(l, v)
				return ok
			})
		case avSS, avNS:
			list := []string{}
			ok := r.Array(func() bool {
				e, ok := r.String()
				list = append(list, e)
				return ok
			})
			if bit == avSS {
				ss = list
			} else {
				ns = list
			}
			return ok
		default:
			bs = [][]byte{}
			return r.Array(func() bool {
				e, ok := r.base64()
				bs = append(bs, e)
				return ok
			})
		}
	})
	if !ok {
		return tables.Value{}, nil, false
	}
	if count == 0 {
		return tables.Value{}, validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"), true
	}
	if count > 1 {
		return tables.Value{}, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"), true
	}
	switch set {
	case avS:
		return tables.S(s), nil, true
	case avN:
		num, err := tables.ParseNumber(n)
		return tables.N(num), err, true
	case avB:
		return tables.B(b), nil, true
	case avBOOL:
		return tables.Bool(boolean), nil, true
	case avNULL:
		if !null {
			return tables.Value{}, validation("One or more parameter values were invalid: Null attribute value types must have the value of true"), true
		}
		return tables.Null(), nil, true
	case avM:
		if depth >= maxNesting {
			return tables.Value{}, validation("Nesting Levels have exceeded supported limits"), true
		}
		return tables.M(m), mErr, true
	case avL:
		if depth >= maxNesting {
			return tables.Value{}, validation("Nesting Levels have exceeded supported limits"), true
		}
		return tables.L(l...), lErr, true
	case avSS:
		v := tables.Value{Kind: tables.KindSS, SS: ss}
		return v, checkSet(&v), true
	case avNS:
		v := tables.Value{Kind: tables.KindNS, SS: ns}
		return v, checkSet(&v), true
	default:
		v := tables.Value{Kind: tables.KindBS, BS: bs}
		return v, checkSet(&v), true
	}
}

// base64 reads a binary value as encoding/json decodes a []byte.
func (r *reader) base64() ([]byte, bool) {
	s, ok := r.String()
	if !ok {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, []byte(s))
	if err != nil {
		return nil, r.Fail()
	}
	return out[:n], true
}

// The requests the reader fills. Each knows its members; the rest go to
// encoding/json.

// writeFields are the members PutItem, DeleteItem and UpdateItem share.
type writeFields struct {
	table, condition, returnValues, returnOnFailure, capacity *string
	expr                                                      *exprParams
}

func (f writeFields) field(r *reader, k string) bool {
	switch k {
	case "TableName":
		return r.str(f.table)
	case "ConditionExpression":
		return r.str(f.condition)
	case "ReturnValues":
		return r.str(f.returnValues)
	case "ReturnValuesOnConditionCheckFailure":
		return r.str(f.returnOnFailure)
	case "ReturnConsumedCapacity":
		return r.str(f.capacity)
	}
	return f.expr.field(r, k)
}

func (in *putItemIn) field(r *reader, k string) bool {
	if k == "Item" {
		return r.item(&in.Item)
	}
	return writeFields{&in.TableName, &in.ConditionExpression, &in.ReturnValues, &in.ReturnValuesOnConditionCheckFailure, &in.ReturnConsumedCapacity, &in.exprParams}.field(r, k)
}

func (p *exprParams) field(r *reader, k string) bool {
	switch k {
	case "ExpressionAttributeNames":
		return r.names(&p.ExpressionAttributeNames)
	case "ExpressionAttributeValues":
		return r.values(&p.ExpressionAttributeValues)
	}
	return false
}

func (in *getItemIn) field(r *reader, k string) bool {
	switch k {
	case "TableName":
		return r.str(&in.TableName)
	case "Key":
		return r.item(&in.Key)
	case "ProjectionExpression":
		return r.str(&in.ProjectionExpression)
	case "ExpressionAttributeNames":
		return r.names(&in.ExpressionAttributeNames)
	case "ConsistentRead":
		return r.boolean(&in.ConsistentRead)
	case "ReturnConsumedCapacity":
		return r.str(&in.ReturnConsumedCapacity)
	}
	return false
}

func (in *deleteItemIn) field(r *reader, k string) bool {
	if k == "Key" {
		return r.item(&in.Key)
	}
	return writeFields{&in.TableName, &in.ConditionExpression, &in.ReturnValues, &in.ReturnValuesOnConditionCheckFailure, &in.ReturnConsumedCapacity, &in.exprParams}.field(r, k)
}

func (in *updateItemIn) field(r *reader, k string) bool {
	switch k {
	case "Key":
		return r.item(&in.Key)
	case "UpdateExpression":
		return r.str(&in.UpdateExpression)
	}
	return writeFields{&in.TableName, &in.ConditionExpression, &in.ReturnValues, &in.ReturnValuesOnConditionCheckFailure, &in.ReturnConsumedCapacity, &in.exprParams}.field(r, k)
}

func (in *queryIn) field(r *reader, k string) bool {
	switch k {
	case "TableName":
		return r.str(&in.TableName)
	case "IndexName":
		return r.str(&in.IndexName)
	case "KeyConditionExpression":
		return r.str(&in.KeyConditionExpression)
	case "FilterExpression":
		return r.str(&in.FilterExpression)
	case "ProjectionExpression":
		return r.str(&in.ProjectionExpression)
	case "Select":
		return r.str(&in.Select)
	case "ReturnConsumedCapacity":
		return r.str(&in.ReturnConsumedCapacity)
	case "ConsistentRead":
		return r.boolean(&in.ConsistentRead)
	case "ScanIndexForward":
		b, ok := r.Bool()
		in.ScanIndexForward = &b
		return ok
	case "Limit":
		n, ok := r.Int()
		in.Limit = &n
		return ok
	case "ExclusiveStartKey":
		return r.item(&in.ExclusiveStartKey)
	}
	return in.exprParams.field(r, k)
}

func (in *batchWriteIn) field(r *reader, k string) bool {
	switch k {
	case "ReturnConsumedCapacity":
		return r.str(&in.ReturnConsumedCapacity)
	case "RequestItems":
		in.RequestItems = map[string][]writeRequestIn{}
		return r.Object(func(key []byte) bool {
			table := string(key)
			if _, dup := in.RequestItems[table]; dup {
				return r.Fail()
			}
			list := []writeRequestIn{}
			ok := r.Array(func() bool {
				var w writeRequestIn
				ok := r.Object(func(key []byte) bool { return w.field(r, string(key)) })
				list = append(list, w)
				return ok
			})
			in.RequestItems[table] = list
			return ok
		})
	}
	return false
}

// field reads a PutRequest or DeleteRequest of a BatchWriteItem; a
// repeated one goes to encoding/json (which merges them).
func (w *writeRequestIn) field(r *reader, k string) bool {
	switch k {
	case "PutRequest":
		if w.PutRequest != nil {
			return false
		}
		w.PutRequest = &struct{ Item wireItem }{}
		return r.Object(func(key []byte) bool {
			if string(key) != "Item" || w.PutRequest.Item != nil {
				return false
			}
			return r.item(&w.PutRequest.Item)
		})
	case "DeleteRequest":
		if w.DeleteRequest != nil {
			return false
		}
		w.DeleteRequest = &struct{ Key wireItem }{}
		return r.Object(func(key []byte) bool {
			if string(key) != "Key" || w.DeleteRequest.Key != nil {
				return false
			}
			return r.item(&w.DeleteRequest.Key)
		})
	}
	return false
}

func (in *transactWriteIn) field(r *reader, k string) bool {
	switch k {
	case "ClientRequestToken":
		return r.str(&in.ClientRequestToken)
	case "ReturnConsumedCapacity":
		return r.str(&in.ReturnConsumedCapacity)
	case "TransactItems":
		in.TransactItems = []transactWriteItemIn{}
		return r.Array(func() bool {
			var ti transactWriteItemIn
			ok := r.Object(func(key []byte) bool { return ti.field(r, string(key)) })
			in.TransactItems = append(in.TransactItems, ti)
			return ok
		})
	}
	return false
}

// field reads one action of a transaction; a repeated one goes to
// encoding/json (which merges them).
func (ti *transactWriteItemIn) field(r *reader, k string) bool {
	switch k {
	case "ConditionCheck":
		if ti.ConditionCheck != nil {
			return false
		}
		ti.ConditionCheck = &txKeyed{}
		return txFields{base: &ti.ConditionCheck.txBase, key: &ti.ConditionCheck.Key}.read(r)
	case "Put":
		if ti.Put != nil {
			return false
		}
		ti.Put = &txPut{}
		return txFields{base: &ti.Put.txBase, item: &ti.Put.Item}.read(r)
	case "Delete":
		if ti.Delete != nil {
			return false
		}
		ti.Delete = &txKeyed{}
		return txFields{base: &ti.Delete.txBase, key: &ti.Delete.Key}.read(r)
	case "Update":
		if ti.Update != nil {
			return false
		}
		ti.Update = &txUpdate{}
		return txFields{base: &ti.Update.txBase, key: &ti.Update.Key, update: &ti.Update.UpdateExpression}.read(r)
	}
	return false
}

// txFields are the members of one transaction action: txBase's, and the
// key, item or update expression of those that have one (nil otherwise).
type txFields struct {
	base      *txBase
	key, item *wireItem
	update    *string
}

func (f txFields) read(r *reader) bool {
	var seen uint
	return r.Object(func(key []byte) bool {
		k := string(key)
		var bit uint
		switch {
		case k == "TableName":
			bit = 1
		case k == "ConditionExpression":
			bit = 2
		case k == "ReturnValuesOnConditionCheckFailure":
			bit = 4
		case k == "ExpressionAttributeNames":
			bit = 8
		case k == "ExpressionAttributeValues":
			bit = 16
		case k == "Key" && f.key != nil:
			bit = 32
		case k == "Item" && f.item != nil:
			bit = 64
		case k == "UpdateExpression" && f.update != nil:
			bit = 128
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case 1:
			return r.str(&f.base.TableName)
		case 2:
			return r.str(&f.base.ConditionExpression)
		case 4:
			return r.str(&f.base.ReturnValuesOnConditionCheckFailure)
		case 8:
			return r.names(&f.base.ExpressionAttributeNames)
		case 16:
			return r.values(&f.base.ExpressionAttributeValues)
		case 32:
			return r.item(f.key)
		case 64:
			return r.item(f.item)
		default:
			return r.str(f.update)
		}
	})
}

func (in *batchGetIn) field(r *reader, k string) bool {
	switch k {
	case "ReturnConsumedCapacity":
		return r.str(&in.ReturnConsumedCapacity)
	case "RequestItems":
		in.RequestItems = map[string]keysAndProjectionIn{}
		return r.Object(func(key []byte) bool {
			table := string(key)
			if _, dup := in.RequestItems[table]; dup {
				return r.Fail()
			}
			var kp keysAndProjectionIn
			ok := kp.read(r)
			in.RequestItems[table] = kp
			return ok
		})
	}
	return false
}

// read reads one table's keys; AttributesToGet (legacy) and repeated
// members go to encoding/json.
func (kp *keysAndProjectionIn) read(r *reader) bool {
	var seen uint
	return r.Object(func(key []byte) bool {
		var bit uint
		switch string(key) {
		case "Keys":
			bit = 1
		case "ProjectionExpression":
			bit = 2
		case "ExpressionAttributeNames":
			bit = 4
		case "ConsistentRead":
			bit = 8
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case 1:
			kp.Keys = []wireItem{}
			return r.Array(func() bool {
				var k wireItem
				ok := r.item(&k)
				kp.Keys = append(kp.Keys, k)
				return ok
			})
		case 2:
			return r.str(&kp.ProjectionExpression)
		case 4:
			return r.names(&kp.ExpressionAttributeNames)
		default:
			return r.boolean(&kp.ConsistentRead)
		}
	})
}

func (in *transactGetIn) field(r *reader, k string) bool {
	switch k {
	case "ReturnConsumedCapacity":
		return r.str(&in.ReturnConsumedCapacity)
	case "TransactItems":
		in.TransactItems = []transactGetItemIn{}
		return r.Array(func() bool {
			var ti transactGetItemIn
			seen := false
			ok := r.Object(func(key []byte) bool {
				if string(key) != "Get" || seen {
					return false // a repeated Get is merged by encoding/json
				}
				seen = true
				return ti.Get.read(r)
			})
			in.TransactItems = append(in.TransactItems, ti)
			return ok
		})
	}
	return false
}

// read reads one Get of a TransactGetItems; repeated members go to
// encoding/json.
func (g *txGet) read(r *reader) bool {
	var seen uint
	return r.Object(func(key []byte) bool {
		var bit uint
		switch string(key) {
		case "TableName":
			bit = 1
		case "Key":
			bit = 2
		case "ProjectionExpression":
			bit = 4
		case "ExpressionAttributeNames":
			bit = 8
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case 1:
			return r.str(&g.TableName)
		case 2:
			return r.item(&g.Key)
		case 4:
			return r.str(&g.ProjectionExpression)
		default:
			return r.names(&g.ExpressionAttributeNames)
		}
	})
}
