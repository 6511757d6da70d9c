package tables

import (
	"bytes"
	"sort"
)

// Kind is an attribute value's DynamoDB data type.
type Kind uint8

// The data types, in DynamoDB's names.
const (
	KindS Kind = iota + 1
	KindN
	KindB
	KindBOOL
	KindNULL
	KindM
	KindL
	KindSS
	KindNS
	KindBS
)

var kindNames = [...]string{"", "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// ParseKind maps DynamoDB's type name to a Kind (0 if unknown).
func ParseKind(name string) Kind {
	for i, n := range kindNames {
		if n == name && i > 0 {
			return Kind(i)
		}
	}
	return 0
}

// Value is one attribute value. Numbers (N and NS) are held as canonical
// decimal text (see ParseNumber).
type Value struct {
	Kind Kind
	S    string // S, or the text of N
	B    []byte
	Bool bool
	M    map[string]Value
	L    []Value
	SS   []string // SS and NS
	BS   [][]byte
}

// Item is a table item: attribute names to values.
type Item map[string]Value

// Convenience constructors.
func S(s string) Value           { return Value{Kind: KindS, S: s} }
func B(b []byte) Value           { return Value{Kind: KindB, B: b} }
func Bool(b bool) Value          { return Value{Kind: KindBOOL, Bool: b} }
func Null() Value                { return Value{Kind: KindNULL, Bool: true} }
func M(m map[string]Value) Value { return Value{Kind: KindM, M: m} }
func L(l ...Value) Value         { return Value{Kind: KindL, L: l} }

// N is a number value; the text must already be canonical (see ParseNumber).
func N(text string) Value { return Value{Kind: KindN, S: text} }

// Equal reports DynamoDB equality: same type and value; sets compare as sets.
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind {
		return false
	}
	switch v.Kind {
	case KindS:
		return v.S == o.S
	case KindN:
		c, err := compareNumbers(v.S, o.S)
		return err == nil && c == 0
	case KindB:
		return bytes.Equal(v.B, o.B)
	case KindBOOL:
		return v.Bool == o.Bool
	case KindNULL:
		return true
	case KindM:
		if len(v.M) != len(o.M) {
			return false
		}
		for k, a := range v.M {
			b, ok := o.M[k]
			if !ok || !a.Equal(b) {
				return false
			}
		}
		return true
	case KindL:
		if len(v.L) != len(o.L) {
			return false
		}
		for i := range v.L {
			if !v.L[i].Equal(o.L[i]) {
				return false
			}
		}
		return true
	case KindSS, KindNS:
		if len(v.SS) != len(o.SS) {
			return false
		}
		for _, s := range v.SS {
			if !v.setHas(Value{Kind: elemKind(v.Kind), S: s}, o) {
				return false
			}
		}
		return true
	case KindBS:
		if len(v.BS) != len(o.BS) {
			return false
		}
		for _, b := range v.BS {
			if !v.setHas(Value{Kind: KindB, B: b}, o) {
				return false
			}
		}
		return true
	}
	return false
}

func (Value) setHas(e Value, set Value) bool { return set.SetContains(e) }

// SetContains reports whether the set v holds the scalar e.
func (v Value) SetContains(e Value) bool {
	switch v.Kind {
	case KindSS:
		if e.Kind != KindS {
			return false
		}
		for _, s := range v.SS {
			if s == e.S {
				return true
			}
		}
	case KindNS:
		if e.Kind != KindN {
			return false
		}
		for _, s := range v.SS {
			if c, err := compareNumbers(s, e.S); err == nil && c == 0 {
				return true
			}
		}
	case KindBS:
		if e.Kind != KindB {
			return false
		}
		for _, b := range v.BS {
			if bytes.Equal(b, e.B) {
				return true
			}
		}
	}
	return false
}

func elemKind(set Kind) Kind {
	switch set {
	case KindSS:
		return KindS
	case KindNS:
		return KindN
	case KindBS:
		return KindB
	}
	return 0
}

// IsSet reports whether v is SS, NS or BS.
func (v Value) IsSet() bool { return v.Kind == KindSS || v.Kind == KindNS || v.Kind == KindBS }

// SetLen is the number of elements of a set.
func (v Value) SetLen() int {
	if v.Kind == KindBS {
		return len(v.BS)
	}
	return len(v.SS)
}

// Clone copies v deeply.
func (v Value) Clone() Value {
	c := v
	if v.B != nil {
		c.B = append([]byte(nil), v.B...)
	}
	if v.M != nil {
		c.M = make(map[string]Value, len(v.M))
		for k, e := range v.M {
			c.M[k] = e.Clone()
		}
	}
	if v.L != nil {
		c.L = make([]Value, len(v.L))
		for i, e := range v.L {
			c.L[i] = e.Clone()
		}
	}
	if v.SS != nil {
		c.SS = append([]string(nil), v.SS...)
	}
	if v.BS != nil {
		c.BS = make([][]byte, len(v.BS))
		for i, b := range v.BS {
			c.BS[i] = append([]byte(nil), b...)
		}
	}
	return c
}

// Clone copies the item deeply.
func (it Item) Clone() Item {
	if it == nil {
		return nil
	}
	c := make(Item, len(it))
	for k, v := range it {
		c[k] = v.Clone()
	}
	return c
}

// Size is the value's size as DynamoDB counts it toward the 400 KB limit.
func (v Value) Size() int {
	switch v.Kind {
	case KindS:
		return len(v.S)
	case KindN:
		return numberSize(v.S)
	case KindB:
		return len(v.B)
	case KindBOOL, KindNULL:
		return 1
	case KindM:
		n := 3
		for k, e := range v.M {
			n += 1 + len(k) + e.Size()
		}
		return n
	case KindL:
		n := 3
		for _, e := range v.L {
			n += 1 + e.Size()
		}
		return n
	case KindSS:
		n := 0
		for _, s := range v.SS {
			n += len(s)
		}
		return n
	case KindNS:
		n := 0
		for _, s := range v.SS {
			n += numberSize(s)
		}
		return n
	case KindBS:
		n := 0
		for _, b := range v.BS {
			n += len(b)
		}
		return n
	}
	return 0
}

// Size is the item's size: attribute names plus values.
func (it Item) Size() int {
	n := 0
	for k, v := range it {
		n += len(k) + v.Size()
	}
	return n
}

// numberSize approximates DynamoDB's: one byte per two significant digits plus one.
func numberSize(text string) int {
	digits := 0
	for _, c := range text {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	return (digits+1)/2 + 1
}

// sortedKeys returns m's keys in order (for deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
