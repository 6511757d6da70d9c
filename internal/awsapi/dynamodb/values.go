package dynamodb

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

func validation(msg string) error { return &tables.Error{Kind: tables.KindValidation, Message: msg} }

// wireValue is an AttributeValue in DynamoDB's JSON form ({"S": "x"}).
type wireValue tables.Value

// wireItem is an item (or key) in DynamoDB's JSON form.
type wireItem tables.Item

// rawValue is an AttributeValue as the JSON decoder reads it in one pass;
// convert validates it.
type rawValue struct {
	S    *string
	N    *string
	B    []byte
	BOOL *bool
	NULL *bool
	M    map[string]rawValue
	L    []rawValue
	SS   []string
	NS   []string
	BS   [][]byte
}

func (w *wireItem) UnmarshalJSON(b []byte) error {
	var raw map[string]rawValue
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*w = nil
		return nil
	}
	it, err := convertMap(raw, 0)
	*w = wireItem(it)
	return err
}

func (w *wireValue) UnmarshalJSON(b []byte) error {
	var raw rawValue
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	v, err := raw.convert(0)
	*w = wireValue(v)
	return err
}

// maxNesting is DynamoDB's limit on nested maps and lists.
const maxNesting = 32

func convertMap(raw map[string]rawValue, depth int) (map[string]tables.Value, error) {
	out := make(map[string]tables.Value, len(raw))
	for k, r := range raw {
		v, err := r.convert(depth)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// convert checks that exactly one type is set and validates the value as
// DynamoDB does.
func (r *rawValue) convert(depth int) (tables.Value, error) {
	set := 0
	for _, present := range []bool{r.S != nil, r.N != nil, r.B != nil, r.BOOL != nil, r.NULL != nil, r.M != nil, r.L != nil, r.SS != nil, r.NS != nil, r.BS != nil} {
		if present {
			set++
		}
	}
	if set == 0 {
		return tables.Value{}, validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	if set > 1 {
		return tables.Value{}, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	switch {
	case r.S != nil:
		return tables.S(*r.S), nil
	case r.N != nil:
		n, err := tables.ParseNumber(*r.N)
		return tables.N(n), err
	case r.B != nil:
		return tables.B(r.B), nil
	case r.BOOL != nil:
		return tables.Bool(*r.BOOL), nil
	case r.NULL != nil:
		if !*r.NULL {
			return tables.Value{}, validation("One or more parameter values were invalid: Null attribute value types must have the value of true")
		}
		return tables.Null(), nil
	case r.M != nil:
		if depth >= maxNesting {
			return tables.Value{}, validation("Nesting Levels have exceeded supported limits")
		}
		m, err := convertMap(r.M, depth+1)
		return tables.M(m), err
	case r.L != nil:
		if depth >= maxNesting {
			return tables.Value{}, validation("Nesting Levels have exceeded supported limits")
		}
		l := make([]tables.Value, len(r.L))
		for i := range r.L {
			v, err := r.L[i].convert(depth + 1)
			if err != nil {
				return tables.Value{}, err
			}
			l[i] = v
		}
		return tables.L(l...), nil
	case r.SS != nil:
		v := tables.Value{Kind: tables.KindSS, SS: r.SS}
		return v, checkSet(&v)
	case r.NS != nil:
		v := tables.Value{Kind: tables.KindNS, SS: r.NS}
		return v, checkSet(&v)
	default:
		v := tables.Value{Kind: tables.KindBS, BS: r.BS}
		return v, checkSet(&v)
	}
}

func checkSet(v *tables.Value) error {
	word := map[tables.Kind]string{tables.KindSS: "string", tables.KindNS: "number", tables.KindBS: "binary"}[v.Kind]
	if v.SetLen() == 0 {
		return validation("One or more parameter values were invalid: An " + word + " set  may not be empty")
	}
	seen := map[string]bool{}
	var shown []string
	dup := false
	for i := 0; i < v.SetLen(); i++ {
		var key string
		switch v.Kind {
		case tables.KindNS:
			n, err := tables.ParseNumber(v.SS[i])
			if err != nil {
				return err
			}
			v.SS[i] = n
			key, shown = n, append(shown, n)
		case tables.KindSS:
			key, shown = v.SS[i], append(shown, v.SS[i])
		default:
			key, shown = string(v.BS[i]), append(shown, base64.StdEncoding.EncodeToString(v.BS[i]))
		}
		if seen[key] {
			dup = true
		}
		seen[key] = true
	}
	if dup {
		return validation("One or more parameter values were invalid: Input collection [" + strings.Join(shown, ", ") + "] contains duplicates.")
	}
	return nil
}

func (w wireValue) MarshalJSON() ([]byte, error) {
	return appendValue(nil, tables.Value(w)), nil
}

func (w wireItem) MarshalJSON() ([]byte, error) {
	return appendItem(nil, tables.Item(w)), nil
}

func appendItem(b []byte, it tables.Item) []byte {
	b = append(b, '{')
	first := true
	for k, v := range it {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonproto.AppendString(b, k)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	return append(b, '}')
}

func appendBase64(b []byte, data []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, '"')
}

func appendValue(b []byte, v tables.Value) []byte {
	b = append(b, `{"`...)
	b = append(b, v.Kind.String()...)
	b = append(b, `":`...)
	switch v.Kind {
	case tables.KindS, tables.KindN:
		b = jsonproto.AppendString(b, v.S)
	case tables.KindB:
		b = appendBase64(b, v.B)
	case tables.KindBOOL, tables.KindNULL:
		b = strconv.AppendBool(b, v.Bool)
	case tables.KindM:
		b = appendItem(b, v.M)
	case tables.KindL:
		b = append(b, '[')
		for i, e := range v.L {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		b = append(b, ']')
	case tables.KindSS, tables.KindNS:
		b = append(b, '[')
		for i, s := range v.SS {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonproto.AppendString(b, s)
		}
		b = append(b, ']')
	case tables.KindBS:
		b = append(b, '[')
		for i, e := range v.BS {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendBase64(b, e)
		}
		b = append(b, ']')
	default:
		b = append(b, "null"...)
	}
	return append(b, '}')
}

func items(in []tables.Item) []wireItem {
	out := make([]wireItem, len(in))
	for i, it := range in {
		out[i] = wireItem(it)
	}
	return out
}

func valuesMap(in map[string]wireValue) map[string]tables.Value {
	if in == nil {
		return nil
	}
	out := make(map[string]tables.Value, len(in))
	for k, v := range in {
		out[k] = tables.Value(v)
	}
	return out
}

// MarshalItem encodes an item in DynamoDB's JSON ({"name":{"S":"..."}}),
// for the stream records other packages deliver.
func MarshalItem(it tables.Item) json.RawMessage {
	return appendItem(nil, it)
}
