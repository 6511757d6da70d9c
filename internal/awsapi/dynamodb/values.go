package dynamodb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

func validation(msg string) error { return &tables.Error{Kind: tables.KindValidation, Message: msg} }

// wireValue is an AttributeValue in DynamoDB's JSON form ({"S": "x"}).
type wireValue tables.Value

// wireItem is an item (or key) in DynamoDB's JSON form.
type wireItem tables.Item

func (w *wireItem) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*w = nil
		return nil
	}
	it := make(wireItem, len(raw))
	for k, r := range raw {
		v, err := decodeValue(r)
		if err != nil {
			return err
		}
		it[k] = v
	}
	*w = it
	return nil
}

func (w *wireValue) UnmarshalJSON(b []byte) error {
	v, err := decodeValue(b)
	if err != nil {
		return err
	}
	*w = wireValue(v)
	return nil
}

// decodeValue reads one AttributeValue and validates it as DynamoDB does.
func decodeValue(b []byte) (tables.Value, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return tables.Value{}, err
	}
	for k, r := range raw {
		if bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			delete(raw, k)
		}
	}
	if len(raw) == 0 {
		return tables.Value{}, validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	if len(raw) > 1 {
		return tables.Value{}, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	for k, r := range raw {
		kind := tables.ParseKind(k)
		v := tables.Value{Kind: kind}
		var err error
		switch kind {
		case tables.KindS:
			err = json.Unmarshal(r, &v.S)
		case tables.KindN:
			var s string
			if err = json.Unmarshal(r, &s); err == nil {
				v.S, err = tables.ParseNumber(s)
			}
		case tables.KindB:
			err = json.Unmarshal(r, &v.B)
			if v.B == nil {
				v.B = []byte{}
			}
		case tables.KindBOOL:
			err = json.Unmarshal(r, &v.Bool)
		case tables.KindNULL:
			if err = json.Unmarshal(r, &v.Bool); err == nil && !v.Bool {
				err = validation("One or more parameter values were invalid: Null attribute value types must have the value of true")
			}
		case tables.KindM:
			var m wireItem
			err = json.Unmarshal(r, &m)
			v.M = map[string]tables.Value(m)
			if v.M == nil {
				v.M = map[string]tables.Value{}
			}
		case tables.KindL:
			var l []wireValue
			err = json.Unmarshal(r, &l)
			v.L = make([]tables.Value, len(l))
			for i := range l {
				v.L[i] = tables.Value(l[i])
			}
		case tables.KindSS, tables.KindNS:
			if err = json.Unmarshal(r, &v.SS); err == nil {
				err = checkSet(&v)
			}
		case tables.KindBS:
			if err = json.Unmarshal(r, &v.BS); err == nil {
				err = checkSet(&v)
			}
		default:
			err = validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
		}
		return v, err
	}
	return tables.Value{}, nil
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
	var b bytes.Buffer
	appendValue(&b, tables.Value(w))
	return b.Bytes(), nil
}

func (w wireItem) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	appendItem(&b, tables.Item(w))
	return b.Bytes(), nil
}

func appendItem(b *bytes.Buffer, it tables.Item) {
	b.WriteByte('{')
	first := true
	for k, v := range it {
		if !first {
			b.WriteByte(',')
		}
		first = false
		appendString(b, k)
		b.WriteByte(':')
		appendValue(b, v)
	}
	b.WriteByte('}')
}

func appendString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

func appendValue(b *bytes.Buffer, v tables.Value) {
	fmt.Fprintf(b, `{"%s":`, v.Kind)
	switch v.Kind {
	case tables.KindS, tables.KindN:
		appendString(b, v.S)
	case tables.KindB:
		appendString(b, base64.StdEncoding.EncodeToString(v.B))
	case tables.KindBOOL, tables.KindNULL:
		b.WriteString(strconv.FormatBool(v.Bool))
	case tables.KindM:
		appendItem(b, v.M)
	case tables.KindL:
		b.WriteByte('[')
		for i, e := range v.L {
			if i > 0 {
				b.WriteByte(',')
			}
			appendValue(b, e)
		}
		b.WriteByte(']')
	case tables.KindSS, tables.KindNS:
		b.WriteByte('[')
		for i, s := range v.SS {
			if i > 0 {
				b.WriteByte(',')
			}
			appendString(b, s)
		}
		b.WriteByte(']')
	case tables.KindBS:
		b.WriteByte('[')
		for i, e := range v.BS {
			if i > 0 {
				b.WriteByte(',')
			}
			appendString(b, base64.StdEncoding.EncodeToString(e))
		}
		b.WriteByte(']')
	default:
		b.WriteString("null")
	}
	b.WriteByte('}')
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
