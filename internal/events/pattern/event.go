package pattern

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// valueKind is the JSON type of an event leaf.
type valueKind uint8

const (
	valueString valueKind = iota
	valueNumber
	valueLiteral // true, false or null
)

// arrayPos says that a leaf sits in element index of the event's array number array. Leaves whose
// positions disagree on a shared array come from different elements and must not satisfy one pattern.
type arrayPos struct {
	array, index int32
}

// lazy caches of derived forms of a value, computed only when some condition needs them.
const (
	lazyUnknown uint8 = iota
	lazyValid
	lazyInvalid
)

// eventField is one leaf of the flattened event.
type eventField struct {
	pathID     int32
	kind       valueKind
	numState   uint8 // the lazy states sit together so the struct has no padding holes
	foldState  uint8
	addrState  uint8
	text       string     // string contents (unescaped) or the literal as written
	membership []arrayPos // array elements enclosing the leaf, outermost first

	num    float64
	folded string
	addr   netip.Addr
}

func (f *eventField) number() (float64, bool) {
	if f.numState == lazyUnknown {
		f.numState = lazyInvalid
		if f.kind == valueNumber {
			if n, err := strconv.ParseFloat(f.text, 64); err == nil {
				f.num, f.numState = normalizeZero(n), lazyValid
			}
		}
	}
	return f.num, f.numState == lazyValid
}

func (f *eventField) foldedText() string {
	if f.foldState == lazyUnknown {
		f.folded, f.foldState = foldCase(f.text), lazyValid
	}
	return f.folded
}

func (f *eventField) ipAddr() (netip.Addr, bool) {
	if f.addrState == lazyUnknown {
		f.addrState = lazyInvalid
		if f.kind == valueString && strings.ContainsAny(f.text, ".:") {
			if a, err := netip.ParseAddr(f.text); err == nil && a.Zone() == "" {
				f.addr, f.addrState = a, lazyValid
			}
		}
	}
	return f.addr, f.addrState == lazyValid
}

// pathGroup is the run of order entries whose fields share one path.
type pathGroup struct {
	pathID     int32
	start, end int32
}

// flatEvent is an event flattened to the leaves that some rule looks at, grouped by path.
type flatEvent struct {
	fields      []eventField // in document order
	order       []int32      // indexes into fields, sorted by path id (document order within a path)
	groups      []pathGroup  // runs of order with one path id, sorted by path id
	memberships []arrayPos   // backing store for the fields' membership slices
	open        []arrayPos   // scratch: the array elements being scanned
}

// field returns the field at position at of the path-sorted order.
func (e *flatEvent) field(at int32) *eventField {
	return &e.fields[e.order[at]]
}

func (e *flatEvent) reset() {
	clear(e.fields) // drop string references so pooled events do not pin old payloads
	e.fields = e.fields[:0]
	e.order = e.order[:0]
	e.groups = e.groups[:0]
	e.memberships = e.memberships[:0]
}

// maxEventDepth mirrors encoding/json's nesting limit.
const maxEventDepth = 10000

// flattener is a single-pass JSON scanner that records the leaves whose paths some rule uses and
// skips (while still validating) every subtree no rule can reach.
type flattener struct {
	src        string
	pos        int
	paths      *pathTable
	membership []arrayPos
	arrays     int32
	event      *flatEvent
}

var errNotObject = errors.New("event must be a JSON object")

func flattenEvent(src string, paths *pathTable, into *flatEvent) error {
	f := flattener{src: src, paths: paths, event: into, membership: into.open[:0]}
	defer func() { into.open = f.membership[:0] }()
	f.skipSpace()
	if f.pos >= len(src) || src[f.pos] != '{' {
		return errNotObject
	}
	if err := f.value(paths.root, -1, 0); err != nil {
		return err
	}
	f.skipSpace()
	if f.pos != len(src) {
		return f.syntaxError("unexpected data after the top-level object")
	}
	fields := into.fields
	// Insertion sort of small indexes: events have tens of used leaves, and it keeps document order
	// within a path without the cost of a generic stable sort or of moving the fields themselves.
	order := into.order[:0]
	for i := range fields {
		j := len(order)
		order = append(order, int32(i))
		id := fields[i].pathID
		for ; j > 0 && id < fields[order[j-1]].pathID; j-- {
			order[j] = order[j-1]
		}
		order[j] = int32(i)
	}
	into.order = order
	for i := 0; i < len(order); {
		id := fields[order[i]].pathID
		j := i + 1
		for j < len(order) && fields[order[j]].pathID == id {
			j++
		}
		into.groups = append(into.groups, pathGroup{pathID: id, start: int32(i), end: int32(j)})
		i = j
	}
	return nil
}

func (f *flattener) syntaxError(msg string) error {
	return fmt.Errorf("event is not valid JSON: %s at offset %d", msg, f.pos)
}

func (f *flattener) skipSpace() {
	if f.pos < len(f.src) && f.src[f.pos] > ' ' {
		return // compact JSON: no space between tokens
	}
	for f.pos < len(f.src) {
		switch f.src[f.pos] {
		case ' ', '\t', '\n', '\r':
			f.pos++
		default:
			return
		}
	}
}

// value scans one JSON value at the current path; node is the path's node when a rule uses this path
// or one below it (nil otherwise), and leafID >= 0 says that rules match leaves at this very path.
func (f *flattener) value(node *pathNode, leafID int32, depth int) error {
	if depth > maxEventDepth {
		return f.syntaxError("nesting too deep")
	}
	f.skipSpace()
	if f.pos >= len(f.src) {
		return f.syntaxError("unexpected end of input")
	}
	switch c := f.src[f.pos]; {
	case c == '{':
		return f.object(node, depth)
	case c == '[':
		return f.array(node, leafID, depth)
	case c == '"':
		s, err := f.stringToken(leafID >= 0)
		if err != nil {
			return err
		}
		if leafID >= 0 {
			f.leaf(leafID, valueString, s)
		}
		return nil
	case c == '-' || ('0' <= c && c <= '9'):
		start := f.pos
		if err := f.numberToken(); err != nil {
			return err
		}
		if leafID >= 0 {
			f.leaf(leafID, valueNumber, f.src[start:f.pos])
		}
		return nil
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(f.src[f.pos:], lit) {
				f.pos += len(lit)
				if leafID >= 0 {
					f.leaf(leafID, valueLiteral, lit)
				}
				return nil
			}
		}
		return f.syntaxError(fmt.Sprintf("unexpected character %q", c))
	}
}

func (f *flattener) leaf(id int32, kind valueKind, text string) {
	var membership []arrayPos
	if len(f.membership) > 0 {
		start := len(f.event.memberships)
		f.event.memberships = append(f.event.memberships, f.membership...)
		membership = f.event.memberships[start:len(f.event.memberships):len(f.event.memberships)]
	}
	f.event.fields = append(f.event.fields, eventField{pathID: id, kind: kind, text: text, membership: membership})
}

func (f *flattener) object(node *pathNode, depth int) error {
	src := f.src
	f.pos++ // '{'
	f.skipSpace()
	if f.pos < len(src) && src[f.pos] == '}' {
		f.pos++
		return nil
	}
	for {
		// Compact JSON has no space between tokens: test for the expected byte first, and only
		// skip space when it is not there.
		if f.pos >= len(src) || src[f.pos] != '"' {
			f.skipSpace()
			if f.pos >= len(src) || src[f.pos] != '"' {
				return f.syntaxError("expected a field name")
			}
		}
		key, err := f.stringToken(node != nil)
		if err != nil {
			return err
		}
		if f.pos >= len(src) || src[f.pos] != ':' {
			f.skipSpace()
			if f.pos >= len(src) || src[f.pos] != ':' {
				return f.syntaxError("expected ':' after a field name")
			}
		}
		f.pos++
		var child *pathNode
		childLeaf := int32(-1)
		if node != nil {
			child, childLeaf = f.paths.lookupKey(node, key)
		}
		if err := f.value(child, childLeaf, depth+1); err != nil {
			return err
		}
		if f.pos >= len(src) || (src[f.pos] != ',' && src[f.pos] != '}') {
			f.skipSpace()
			if f.pos >= len(src) {
				return f.syntaxError("unexpected end of input in an object")
			}
		}
		switch src[f.pos] {
		case ',':
			f.pos++
		case '}':
			f.pos++
			return nil
		default:
			return f.syntaxError("expected ',' or '}' in an object")
		}
	}
}

func (f *flattener) array(node *pathNode, leafID int32, depth int) error {
	f.pos++ // '['
	f.skipSpace()
	if f.pos < len(f.src) && f.src[f.pos] == ']' {
		f.pos++
		return nil
	}
	arrayID := f.arrays
	f.arrays++
	for index := int32(0); ; index++ {
		f.skipSpace()
		if f.pos >= len(f.src) {
			return f.syntaxError("unexpected end of input in an array")
		}
		// Only objects and arrays inside an array get a position: scalars of one array never conflict.
		nested := node != nil && (f.src[f.pos] == '{' || f.src[f.pos] == '[')
		if nested {
			f.membership = append(f.membership, arrayPos{array: arrayID, index: index})
		}
		if err := f.value(node, leafID, depth+1); err != nil {
			return err
		}
		if nested {
			f.membership = f.membership[:len(f.membership)-1]
		}
		if f.pos >= len(f.src) || (f.src[f.pos] != ',' && f.src[f.pos] != ']') {
			f.skipSpace()
			if f.pos >= len(f.src) {
				return f.syntaxError("unexpected end of input in an array")
			}
		}
		switch f.src[f.pos] {
		case ',':
			f.pos++
		case ']':
			f.pos++
			return nil
		default:
			return f.syntaxError("expected ',' or ']' in an array")
		}
	}
}

// stringToken reads a string token and returns its decoded contents; strings without escapes are
// substrings of the source and cost no allocation. Without decode (a string nothing will look at),
// escapes are only validated, and the raw body is returned.
func (f *flattener) stringToken(decode bool) (string, error) {
	start := f.pos + 1
	escaped := false
	src := f.src
	i := start
	for {
		// Find the next quote, backslash or control character, eight bytes at a time while
		// eight remain, then byte by byte.
		for i+8 <= len(src) {
			if m := specialBytes(load64(src, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3 // the lowest flagged byte is always a real one
				goto special
			}
			i += 8
		}
		for i < len(src) && plainByte(src[i]) {
			i++
		}
		if i >= len(src) {
			f.pos = len(src)
			return "", f.syntaxError("unterminated string")
		}
	special:
		switch c := src[i]; {
		case c == '"':
			f.pos = i + 1
			body := src[start:i]
			if !escaped {
				return body, nil
			}
			if !decode {
				if err := validateEscapes(body); err != nil {
					return "", f.syntaxError(err.Error())
				}
				return body, nil
			}
			s, err := unescapeJSONString(body)
			if err != nil {
				return "", f.syntaxError(err.Error())
			}
			return s, nil
		case c == '\\':
			escaped = true
			i += 2 // the escaped character cannot end the string
		default:
			f.pos = i
			return "", f.syntaxError("control character in a string")
		}
	}
}

func plainByte(c byte) bool { return c != '"' && c != '\\' && c >= 0x20 }

// load64 reads eight bytes of s from i as a little-endian word (the compiler makes it one load).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// specialBytes flags (with the high bit of the byte) the bytes of w that are '"', '\\' or below
// 0x20, the bytes that end or complicate a JSON string; zero means all eight are plain. A borrow
// can also flag a plain byte, but only above a flagged one, so the lowest flag is exact.
func specialBytes(w uint64) uint64 {
	quote := w ^ (lowBits * '"')
	backslash := w ^ (lowBits * '\\')
	control := (w - lowBits*0x20) & ^w
	zeroQuote := (quote - lowBits) & ^quote
	zeroBackslash := (backslash - lowBits) & ^backslash
	return (control | zeroQuote | zeroBackslash) & highBits
}

func (f *flattener) digits() int {
	n := 0
	for f.pos < len(f.src) && '0' <= f.src[f.pos] && f.src[f.pos] <= '9' {
		f.pos++
		n++
	}
	return n
}

func (f *flattener) numberToken() error {
	if f.src[f.pos] == '-' {
		f.pos++
	}
	if f.pos < len(f.src) && f.src[f.pos] == '0' {
		f.pos++
	} else if f.digits() == 0 {
		return f.syntaxError("invalid number")
	}
	if f.pos < len(f.src) && f.src[f.pos] == '.' {
		f.pos++
		if f.digits() == 0 {
			return f.syntaxError("invalid number")
		}
	}
	if f.pos < len(f.src) && (f.src[f.pos] == 'e' || f.src[f.pos] == 'E') {
		f.pos++
		if f.pos < len(f.src) && (f.src[f.pos] == '+' || f.src[f.pos] == '-') {
			f.pos++
		}
		if f.digits() == 0 {
			return f.syntaxError("invalid number")
		}
	}
	return nil
}
