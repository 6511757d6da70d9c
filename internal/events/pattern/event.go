package pattern

import (
	"errors"
	"fmt"
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
	text       string     // string contents (unescaped) or the literal as written
	membership []arrayPos // array elements enclosing the leaf, outermost first

	numState  uint8
	num       float64
	folded    string
	foldState uint8
	addrState uint8
	addr      netip.Addr
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

// pathGroup is the run of fields sharing one path in the sorted field list.
type pathGroup struct {
	pathID     int32
	start, end int32
}

// flatEvent is an event flattened to the leaves that some rule looks at, grouped by path.
type flatEvent struct {
	fields      []eventField
	groups      []pathGroup
	memberships []arrayPos // backing store for the fields' membership slices
	path        []byte     // scratch: the dotted path being scanned
	open        []arrayPos // scratch: the array elements being scanned
}

func (e *flatEvent) reset() {
	clear(e.fields) // drop string references so pooled events do not pin old payloads
	e.fields = e.fields[:0]
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
	path       []byte
	membership []arrayPos
	arrays     int32
	event      *flatEvent
}

var errNotObject = errors.New("event must be a JSON object")

func flattenEvent(src string, paths *pathTable, into *flatEvent) error {
	f := flattener{src: src, paths: paths, event: into, path: into.path[:0], membership: into.open[:0]}
	defer func() { into.path, into.open = f.path[:0], f.membership[:0] }()
	f.skipSpace()
	if f.pos >= len(src) || src[f.pos] != '{' {
		return errNotObject
	}
	if err := f.value(true, -1, 0); err != nil {
		return err
	}
	f.skipSpace()
	if f.pos != len(src) {
		return f.syntaxError("unexpected data after the top-level object")
	}
	fields := into.fields
	// Insertion sort: events have tens of used leaves, often already in order, and it keeps
	// document order within a path without the cost of a generic stable sort.
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].pathID < fields[j-1].pathID; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].pathID == fields[i].pathID {
			j++
		}
		into.groups = append(into.groups, pathGroup{pathID: fields[i].pathID, start: int32(i), end: int32(j)})
		i = j
	}
	return nil
}

func (f *flattener) syntaxError(msg string) error {
	return fmt.Errorf("event is not valid JSON: %s at offset %d", msg, f.pos)
}

func (f *flattener) skipSpace() {
	for f.pos < len(f.src) {
		switch f.src[f.pos] {
		case ' ', '\t', '\n', '\r':
			f.pos++
		default:
			return
		}
	}
}

// value scans one JSON value at the current path; used says whether a rule uses this path or one
// below it, and leafID >= 0 that rules match leaves at this very path.
func (f *flattener) value(used bool, leafID int32, depth int) error {
	if depth > maxEventDepth {
		return f.syntaxError("nesting too deep")
	}
	f.skipSpace()
	if f.pos >= len(f.src) {
		return f.syntaxError("unexpected end of input")
	}
	switch c := f.src[f.pos]; {
	case c == '{':
		return f.object(used, depth)
	case c == '[':
		return f.array(used, leafID, depth)
	case c == '"':
		s, err := f.stringToken()
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

func (f *flattener) object(used bool, depth int) error {
	f.pos++ // '{'
	f.skipSpace()
	if f.pos < len(f.src) && f.src[f.pos] == '}' {
		f.pos++
		return nil
	}
	parentLen := len(f.path)
	for {
		f.skipSpace()
		if f.pos >= len(f.src) || f.src[f.pos] != '"' {
			return f.syntaxError("expected a field name")
		}
		key, err := f.stringToken()
		if err != nil {
			return err
		}
		f.skipSpace()
		if f.pos >= len(f.src) || f.src[f.pos] != ':' {
			return f.syntaxError("expected ':' after a field name")
		}
		f.pos++
		childUsed, childLeaf := false, int32(-1)
		if used {
			if parentLen > 0 {
				f.path = append(f.path, '.')
			}
			f.path = append(f.path, key...)
			var e pathEntry
			e, childUsed = f.paths.entries[string(f.path)]
			if e.fullUses > 0 {
				childLeaf = e.id
			}
		}
		if err := f.value(childUsed, childLeaf, depth+1); err != nil {
			return err
		}
		f.path = f.path[:parentLen]
		f.skipSpace()
		if f.pos >= len(f.src) {
			return f.syntaxError("unexpected end of input in an object")
		}
		switch f.src[f.pos] {
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

func (f *flattener) array(used bool, leafID int32, depth int) error {
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
		nested := f.src[f.pos] == '{' || f.src[f.pos] == '['
		if nested && used {
			f.membership = append(f.membership, arrayPos{array: arrayID, index: index})
		}
		if err := f.value(used, leafID, depth+1); err != nil {
			return err
		}
		if nested && used {
			f.membership = f.membership[:len(f.membership)-1]
		}
		f.skipSpace()
		if f.pos >= len(f.src) {
			return f.syntaxError("unexpected end of input in an array")
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
// substrings of the source and cost no allocation.
func (f *flattener) stringToken() (string, error) {
	start := f.pos + 1
	escaped := false
	for i := start; i < len(f.src); i++ {
		c := f.src[i]
		if c > '\\' || (c != '"' && c != '\\' && c >= 0x20) {
			continue // the common case: one comparison for letters and most punctuation
		}
		switch {
		case c == '"':
			f.pos = i + 1
			body := f.src[start:i]
			if !escaped {
				return body, nil
			}
			s, err := unescapeJSONString(body)
			if err != nil {
				return "", f.syntaxError(err.Error())
			}
			return s, nil
		case c == '\\':
			escaped = true
			i++ // the escaped character cannot end the string
		default:
			f.pos = i
			return "", f.syntaxError("control character in a string")
		}
	}
	f.pos = len(f.src)
	return "", f.syntaxError("unterminated string")
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

// pathTable interns the field paths rules use and every dotted prefix of them, so the flattener can
// skip subtrees no rule reaches and label leaves with small integers, with one lookup per key.
type pathTable struct {
	entries map[string]pathEntry
	nextID  int32
}

type pathEntry struct {
	uses     int   // rule steps whose path is this one or starts with it
	fullUses int   // rule steps whose path is exactly this one
	id       int32 // valid while fullUses > 0
}

func newPathTable() pathTable {
	return pathTable{entries: map[string]pathEntry{}}
}

// leafID returns the id of a path rules match on, if any.
func (t *pathTable) leafID(path string) (int32, bool) {
	e, ok := t.entries[path]
	return e.id, ok && e.fullUses > 0
}

func (t *pathTable) acquire(path string) int32 {
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			e := t.entries[path[:i]]
			e.uses++
			t.entries[path[:i]] = e
		}
	}
	e := t.entries[path]
	e.uses++
	if e.fullUses == 0 {
		e.id = t.nextID
		t.nextID++
	}
	e.fullUses++
	t.entries[path] = e
	return e.id
}

func (t *pathTable) release(path string) {
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			t.decrement(path[:i], false)
		}
	}
	t.decrement(path, true)
}

func (t *pathTable) decrement(path string, full bool) {
	e := t.entries[path]
	e.uses--
	if full {
		e.fullUses--
	}
	if e.uses <= 0 {
		delete(t.entries, path)
		return
	}
	t.entries[path] = e
}
