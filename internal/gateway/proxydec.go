package gateway

import (
	"bytes"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// A Lambda proxy response is read by a decoder of its own rather than by
// encoding/json into a struct: the field set is fixed, and reflection cost
// more per request than the rest of the gateway's own work. It answers as
// encoding/json.Unmarshal into proxyResponse would (see docs/adr/0027):
// the whole payload must be valid JSON, field names match exactly or else
// case-insensitively, a type mismatch is an error, a repeated headers object
// merges into the first, null leaves a bool alone and empties a map or a
// list. FuzzProxyDecoder checks it against encoding/json.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

var errJSONSyntax = errors.New("invalid JSON")

// rawHeader is a header and its raw JSON value, as json.RawMessage holds it.
type rawHeader struct {
	key string
	raw []byte
}

// rawHeaders is a multi-value header and its raw values; present even when
// the list is null.
type rawHeaders struct {
	key  string
	raws [][]byte
}

// proxyFields is what the decoder keeps of a proxy response. Its slices
// point into the payload and are reused across requests.
type proxyFields struct {
	status  []byte // nil when absent
	body    []byte // nil when absent
	base64  bool
	headers []rawHeader
	multi   []rawHeaders
	cookies []string
	raws    [][]byte // backing store of multi's lists
}

// reset empties f for the next response, keeping small backing arrays.
func (f *proxyFields) reset() {
	*f = proxyFields{headers: reuse(f.headers), multi: reuse(f.multi), cookies: reuse(f.cookies), raws: reuse(f.raws)}
}

// maxPooledFields bounds the lists kept for reuse.
const maxPooledFields = 256

func reuse[T any](s []T) []T {
	if cap(s) > maxPooledFields {
		return nil
	}
	clear(s)
	return s[:0]
}

// hasMulti says whether multiValueHeaders holds key.
func (f *proxyFields) hasMulti(key string) bool {
	for i := range f.multi {
		if f.multi[i].key == key {
			return true
		}
	}
	return false
}

// decoder reads one JSON text.
type decoder struct {
	d   []byte
	pos int
}

func (p *decoder) ws() {
	for p.pos < len(p.d) {
		switch p.d[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *decoder) peek() byte {
	if p.pos < len(p.d) {
		return p.d[p.pos]
	}
	return 0
}

// decodeProxy fills f from an object payload (first byte '{').
func decodeProxy(payload []byte, f *proxyFields) error {
	f.reset()
	p := decoder{d: payload}
	if err := p.object(f); err != nil {
		return err
	}
	p.ws()
	if p.pos != len(p.d) {
		return errJSONSyntax
	}
	return nil
}

var (
	nameStatus  = []byte("statusCode")
	nameHeaders = []byte("headers")
	nameMulti   = []byte("multiValueHeaders")
	nameBody    = []byte("body")
	nameBase64  = []byte("isBase64Encoded")
	nameCookies = []byte("cookies")
)

type field int

const (
	fieldOther field = iota
	fieldStatus
	fieldHeaders
	fieldMulti
	fieldBody
	fieldBase64
	fieldCookies
)

// whichField matches a member name as encoding/json does: exactly, or else
// case-insensitively with Unicode simple folding.
func whichField(name []byte) field {
	switch string(name) {
	case "statusCode":
		return fieldStatus
	case "headers":
		return fieldHeaders
	case "multiValueHeaders":
		return fieldMulti
	case "body":
		return fieldBody
	case "isBase64Encoded":
		return fieldBase64
	case "cookies":
		return fieldCookies
	}
	switch {
	case bytes.EqualFold(name, nameStatus):
		return fieldStatus
	case bytes.EqualFold(name, nameHeaders):
		return fieldHeaders
	case bytes.EqualFold(name, nameMulti):
		return fieldMulti
	case bytes.EqualFold(name, nameBody):
		return fieldBody
	case bytes.EqualFold(name, nameBase64):
		return fieldBase64
	case bytes.EqualFold(name, nameCookies):
		return fieldCookies
	}
	return fieldOther
}

// object reads the top-level object into f.
func (p *decoder) object(f *proxyFields) error {
	p.ws()
	if p.peek() != '{' {
		return errJSONSyntax
	}
	p.pos++
	p.ws()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	var keyBuf [64]byte
	for {
		p.ws()
		raw, err := p.str()
		if err != nil {
			return err
		}
		key := unquoteRaw(keyBuf[:0], raw)
		p.ws()
		if p.peek() != ':' {
			return errJSONSyntax
		}
		p.pos++
		p.ws()
		switch whichField(key) {
		case fieldStatus:
			if f.status, err = p.value(1); err != nil {
				return err
			}
		case fieldBody:
			if f.body, err = p.value(1); err != nil {
				return err
			}
		case fieldBase64:
			v, err := p.value(1)
			if err != nil {
				return err
			}
			switch string(v) {
			case "true":
				f.base64 = true
			case "false":
				f.base64 = false
			case "null":
			default:
				return errors.New("isBase64Encoded must be a boolean")
			}
		case fieldHeaders:
			if err := p.headers(f); err != nil {
				return err
			}
		case fieldMulti:
			if err := p.multi(f); err != nil {
				return err
			}
		case fieldCookies:
			if err := p.cookies(f); err != nil {
				return err
			}
		default:
			if _, err := p.value(1); err != nil {
				return err
			}
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// members reads an object's members, calling fn with each name (checked,
// still quoted); fn reads the value.
func (p *decoder) members(fn func(name []byte) error) error {
	p.pos++ // '{'
	p.ws()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		p.ws()
		raw, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if p.peek() != ':' {
			return errJSONSyntax
		}
		p.pos++
		p.ws()
		if err := fn(raw); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

var errJSONType = errors.New("a field of the proxy response has the wrong JSON type")

// headers reads "headers": null empties it, an object merges into it.
func (p *decoder) headers(f *proxyFields) error {
	switch p.peek() {
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
		clear(f.headers)
		f.headers = f.headers[:0]
		return nil
	case '{':
	default:
		if _, err := p.value(1); err != nil {
			return err
		}
		return errJSONType
	}
	return p.members(func(raw []byte) error {
		name := unquoteString(raw)
		v, err := p.value(2)
		if err != nil {
			return err
		}
		for i := range f.headers {
			if f.headers[i].key == name {
				f.headers[i].raw = v
				return nil
			}
		}
		f.headers = append(f.headers, rawHeader{name, v})
		return nil
	})
}

// multi reads "multiValueHeaders": lists of raw values, or null.
func (p *decoder) multi(f *proxyFields) error {
	switch p.peek() {
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
		clear(f.multi)
		f.multi = f.multi[:0]
		return nil
	case '{':
	default:
		if _, err := p.value(1); err != nil {
			return err
		}
		return errJSONType
	}
	return p.members(func(raw []byte) error {
		name := unquoteString(raw)
		var list [][]byte
		switch p.peek() {
		case 'n':
			if err := p.literal("null"); err != nil {
				return err
			}
		case '[':
			start := len(f.raws)
			err := p.elements(func() error {
				v, err := p.value(3)
				f.raws = append(f.raws, v)
				return err
			})
			if err != nil {
				return err
			}
			list = f.raws[start:len(f.raws):len(f.raws)]
		default:
			if _, err := p.value(2); err != nil {
				return err
			}
			return errJSONType
		}
		for i := range f.multi {
			if f.multi[i].key == name {
				f.multi[i].raws = list
				return nil
			}
		}
		f.multi = append(f.multi, rawHeaders{name, list})
		return nil
	})
}

// cookies reads "cookies": a list of strings (a null element is ""), or null.
func (p *decoder) cookies(f *proxyFields) error {
	clear(f.cookies)
	f.cookies = f.cookies[:0]
	switch p.peek() {
	case 'n':
		return p.literal("null")
	case '[':
	default:
		if _, err := p.value(1); err != nil {
			return err
		}
		return errJSONType
	}
	return p.elements(func() error {
		switch p.peek() {
		case '"':
			raw, err := p.str()
			if err != nil {
				return err
			}
			f.cookies = append(f.cookies, unquoteString(raw))
			return nil
		case 'n':
			f.cookies = append(f.cookies, "")
			return p.literal("null")
		}
		if _, err := p.value(2); err != nil {
			return err
		}
		return errJSONType
	})
}

// elements reads an array, calling fn at the start of each element.
func (p *decoder) elements(fn func() error) error {
	p.pos++ // '['
	p.ws()
	if p.peek() == ']' {
		p.pos++
		return nil
	}
	for {
		p.ws()
		if err := fn(); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

func (p *decoder) literal(lit string) error {
	if !bytes.HasPrefix(p.d[p.pos:], []byte(lit)) {
		return errJSONSyntax
	}
	p.pos += len(lit)
	return nil
}

// value checks and skips one value inside a container at nesting depth
// depth (the top-level value is inside depth 0), returning its raw text.
func (p *decoder) value(depth int) ([]byte, error) {
	start := p.pos
	var err error
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == '{':
		if depth+1 > maxJSONDepth {
			return nil, errJSONSyntax
		}
		err = p.members(func([]byte) error {
			_, err := p.value(depth + 1)
			return err
		})
	case c == '[':
		if depth+1 > maxJSONDepth {
			return nil, errJSONSyntax
		}
		err = p.elements(func() error {
			_, err := p.value(depth + 1)
			return err
		})
	case c == 't':
		err = p.literal("true")
	case c == 'f':
		err = p.literal("false")
	case c == 'n':
		err = p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	default:
		return nil, errJSONSyntax
	}
	if err != nil {
		return nil, err
	}
	return p.d[start:p.pos], nil
}

func (p *decoder) digits() int {
	n := 0
	for p.pos < len(p.d) && '0' <= p.d[p.pos] && p.d[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *decoder) number() ([]byte, error) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return nil, errJSONSyntax
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, errJSONSyntax
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, errJSONSyntax
		}
	}
	return p.d[start:p.pos], nil
}

// str reads a string and returns it with its quotes, escapes checked.
func (p *decoder) str() ([]byte, error) {
	if p.peek() != '"' {
		return nil, errJSONSyntax
	}
	start := p.pos
	i := p.pos + 1
	for i < len(p.d) {
		c := p.d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return p.d[start:p.pos], nil
		case c == '\\':
			if i+1 >= len(p.d) {
				return nil, errJSONSyntax
			}
			switch p.d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(p.d) || hex4(p.d[i+2:i+6]) < 0 {
					return nil, errJSONSyntax
				}
				i += 6
			default:
				return nil, errJSONSyntax
			}
		case c < 0x20:
			return nil, errJSONSyntax
		default:
			i++
		}
	}
	return nil, errJSONSyntax
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// plainString says whether a checked string (with quotes) has no escapes
// and is valid UTF-8, so that its inside is its value.
func plainString(raw []byte) bool {
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c == '\\' || c >= utf8.RuneSelf {
			return bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in)
		}
	}
	return true
}

func unquoteString(raw []byte) string {
	if plainString(raw) {
		return string(raw[1 : len(raw)-1])
	}
	return string(unquoteRaw(nil, raw))
}

// unquoteRaw appends the value of a checked string (with quotes) to dst as
// encoding/json decodes it: bad UTF-8 and unpaired surrogates become U+FFFD.
func unquoteRaw(dst, raw []byte) []byte {
	s := raw[1 : len(raw)-1]
	if plainString(raw) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if r2 := hex4(s[i+2:]); r2 >= 0 {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								dst = utf8.AppendRune(dst, dec)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}

// validJSON says whether b is one JSON value, as json.Valid does.
func validJSON(b []byte) bool {
	p := decoder{d: b}
	p.ws()
	if _, err := p.value(0); err != nil {
		return false
	}
	p.ws()
	return p.pos == len(p.d)
}
