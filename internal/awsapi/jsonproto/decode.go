package jsonproto

import (
	"encoding/json"
	"unicode/utf8"
)

// Decoder reads JSON in one pass for the hot operations. It accepts only
// what it understands completely and otherwise reports failure, so the
// caller decodes the body again with encoding/json, whose answer (value or
// error) is then the one given: the fast path can never accept an input
// encoding/json refuses, nor read one differently.
type Decoder struct {
	data []byte
	pos  int
	// failed: the input needs encoding/json (a syntax error, a null, an
	// escape this reader leaves to it, a duplicate key ...).
	failed bool
	depth  int
}

// maxDepth bounds the reader's recursion; deeper input goes to encoding/json.
const maxDepth = 64

// NewDecoder reads data.
func NewDecoder(data []byte) *Decoder { return &Decoder{data: data} }

// Reset makes d read data from its start: a Decoder embedded by value in a
// caller's own reader costs no allocation of its own.
func (d *Decoder) Reset(data []byte) { *d = Decoder{data: data} }

// Fail marks the input as one for encoding/json and returns false.
func (d *Decoder) Fail() bool {
	d.failed = true
	return false
}

// Failed reports whether the input needs encoding/json.
func (d *Decoder) Failed() bool { return d.failed }

func (d *Decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek is the next non-space byte (0 at the end).
func (d *Decoder) peek() byte {
	d.ws()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// Peek is the next non-space byte (0 at the end): '{', '[', '"', 't', 'f',
// 'n', a digit or '-'.
func (d *Decoder) Peek() byte { return d.peek() }

// End checks that only white space is left.
func (d *Decoder) End() bool {
	if d.failed || d.peek() != 0 {
		return d.Fail()
	}
	return true
}

// Object reads an object, calling member for each key; member must read the
// value. Keys are valid only during the call.
func (d *Decoder) Object(member func(key []byte) bool) bool {
	if d.failed || d.peek() != '{' {
		return d.Fail()
	}
	if d.depth++; d.depth > maxDepth {
		return d.Fail()
	}
	d.pos++
	if d.peek() == '}' {
		d.pos++
		d.depth--
		return true
	}
	for {
		key, ok := d.stringBytes()
		if !ok || d.peek() != ':' {
			return d.Fail()
		}
		d.pos++
		if !member(key) || d.failed {
			return d.Fail()
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return true
		default:
			return d.Fail()
		}
	}
}

// Array reads an array, calling elem for each element (which it must read).
func (d *Decoder) Array(elem func() bool) bool {
	if d.failed || d.peek() != '[' {
		return d.Fail()
	}
	if d.depth++; d.depth > maxDepth {
		return d.Fail()
	}
	d.pos++
	if d.peek() == ']' {
		d.pos++
		d.depth--
		return true
	}
	for {
		if !elem() || d.failed {
			return d.Fail()
		}
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return true
		default:
			return d.Fail()
		}
	}
}

// String reads a string.
func (d *Decoder) String() (string, bool) {
	b, ok := d.stringBytes()
	if !ok {
		return "", false
	}
	return string(b), true
}

// stringBytes reads a string; plain ones (no escapes, valid UTF-8) are
// slices of the input, the others are decoded by encoding/json.
func (d *Decoder) stringBytes() ([]byte, bool) {
	if d.failed || d.peek() != '"' {
		return nil, d.Fail()
	}
	start := d.pos + 1
	plain := true
	i := start
	for i+8 <= len(d.data) && plainWord(word8(d.data, i)) {
		i += 8
	}
	for ; i < len(d.data); i++ {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			if plain {
				return d.data[start:i], true
			}
			return d.decodeString(d.data[start-1 : i+1])
		case c == '\\':
			plain = false
			i++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, d.Fail()
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return nil, d.Fail()
}

func (d *Decoder) decodeString(tok []byte) ([]byte, bool) {
	inner := tok[1 : len(tok)-1]
	if !hasByte(inner, '\\') && utf8.Valid(inner) {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return nil, d.Fail()
	}
	return []byte(s), true
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// Bool reads true or false.
func (d *Decoder) Bool() (bool, bool) {
	switch d.peek() {
	case 't':
		if d.literal("true") {
			return true, true
		}
	case 'f':
		if d.literal("false") {
			return false, true
		}
	}
	return false, d.Fail()
}

func (d *Decoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.Fail()
	}
	d.pos += len(word)
	// A letter or digit right after it is a syntax error (truex).
	if d.pos < len(d.data) {
		if c := d.data[d.pos]; c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			return d.Fail()
		}
	}
	return true
}

// Int reads an integer that fits in 31 bits without sign; anything else
// (fractions, exponents, larger numbers) goes to encoding/json.
func (d *Decoder) Int() (int, bool) {
	if d.failed {
		return 0, false
	}
	d.ws()
	neg := false
	if d.pos < len(d.data) && d.data[d.pos] == '-' {
		neg = true
		d.pos++
	}
	start, n := d.pos, 0
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		n = n*10 + int(d.data[d.pos]-'0')
		d.pos++
		if d.pos-start > 9 {
			return 0, d.Fail()
		}
	}
	digits := d.pos - start
	if digits == 0 || digits > 1 && d.data[start] == '0' {
		return 0, d.Fail()
	}
	if d.pos < len(d.data) {
		switch d.data[d.pos] {
		case '.', 'e', 'E':
			return 0, d.Fail()
		}
	}
	if neg {
		n = -n
	}
	return n, true
}
