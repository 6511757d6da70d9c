package gateway

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Payload 1.0 events of REST APIs carry header names as the caller wrote
// them, but net/http canonicalises names ("x-api-key" becomes "X-Api-Key").
// The gateway's listener therefore wraps each connection in a trackedConn
// that watches the bytes net/http reads: it follows HTTP/1.1 framing (header
// block, then a Content-Length or chunked body, then the next request) and,
// for every header block, records the names whose spelling differs from
// their canonical form. ServeHTTP takes the record of its request from the
// front of the connection's queue (requests on one connection are served in
// order, and net/http hands every request it parses to the handler, since
// the server's general OPTIONS handler is disabled).
//
// Most clients send canonical names, so the common case records nothing and
// allocates nothing. If the watcher ever loses track (a request it cannot
// frame, a method that does not match, too many pipelined requests), it
// stops for that connection and names fall back to the canonical form:
// never a wrong name, at worst the canonical one.

// connKey is the context key under which a request finds its trackedConn.
type connKey struct{}

// trackingListener wraps accepted connections in trackedConns.
type trackingListener struct{ net.Listener }

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, port: "80"}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		tc.port = strconv.Itoa(a.Port)
	}
	tc.sc.startRequest()
	return tc, nil
}

// connContext puts the trackedConn in the context of its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*trackedConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

func connOf(ctx context.Context) *trackedConn {
	tc, _ := ctx.Value(connKey{}).(*trackedConn)
	return tc
}

// trackedConn is a connection whose request header names are recorded.
type trackedConn struct {
	net.Conn
	port string // the local port, for X-Forwarded-Port
	mu   sync.Mutex
	sc   headerScanner
	// writeDeadline is the last write deadline set; only the goroutine
	// serving the connection's current request touches it.
	writeDeadline time.Time
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.sc.feed(b[:n])
		c.mu.Unlock()
	}
	return n, err
}

// takeNames appends to dst the recorded non-canonical header names of the
// connection's next request, each followed by ':'. It must be called once
// for every request the connection serves.
func (c *trackedConn) takeNames(method string, dst []byte) []byte {
	c.mu.Lock()
	dst = c.sc.pop(method, dst)
	c.mu.Unlock()
	return dst
}

// closeAfter reports whether the connection must close after answering the
// request just taken, which is chunked: RFC 9112 (6.3) requires it when a
// Content-Length came with the chunked coding (net/http drops the length and
// keeps the connection, so what a front proxy framed by the length as one
// request would go on here as two), and where the scanner lost track it
// cannot tell.
func (c *trackedConn) closeAfter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sc.popped != poppedPlain
}

// setReadDeadline and setWriteDeadline bound the slow parts of a request.
func (c *trackedConn) setReadDeadline(d time.Duration) {
	if d <= 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
		return
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
}

// expireRead makes every further read fail at once.
func (c *trackedConn) expireRead() {
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// setWriteDeadline moves the write deadline to d from now, unless it was set
// within the last 64th of d: a keep-alive connection answering many requests
// a second then resets its deadline (a timer change in the runtime's poller)
// about once a second rather than twice per request, and a write still gets
// at least 63/64 of d.
func (c *trackedConn) setWriteDeadline(d time.Duration) {
	now := time.Now()
	if c.writeDeadline.Sub(now) >= d-d/64 {
		return
	}
	c.writeDeadline = now.Add(d)
	_ = c.Conn.SetWriteDeadline(c.writeDeadline)
}

// Limits of the scanner: beyond them it stops tracking the connection.
const (
	maxTrackedName    = 256     // longer names are left canonical
	maxTrackedQueue   = 512     // pipelined requests not yet served
	maxTrackedArena   = 1 << 16 // bytes of recorded names not yet taken
	maxTrackedMethod  = 24
	maxFramingValue   = 128 // Content-Length / Transfer-Encoding values
	maxChunkSizeDigit = 15  // hex digits of a chunk size
)

type scanState uint8

const (
	stRequestLine  scanState = iota // in the request line
	stLineStart                     // at the start of a header line
	stName                          // in a header name
	stValue                         // in a framing header's value
	stSkipLine                      // in a value we do not need
	stHeadersCR                     // after the CR of the empty line
	stBody                          // in a Content-Length body
	stChunkSize                     // in a chunk-size line
	stChunkExt                      // in a chunk's extensions
	stChunkData                     // in a chunk's data
	stChunkDataEnd                  // in the CRLF after a chunk's data
	stTrailerStart                  // at the start of a trailer line
	stTrailerLine                   // in a trailer line
	stLost                          // gave up on this connection
)

// scanEntry is one recorded header block: the request's method and its
// non-canonical names (arena[start:end]).
type scanEntry struct {
	method     [maxTrackedMethod]byte
	methodLen  uint8
	both       bool // a Content-Length besides chunked: see closeAfter
	start, end int
}

// headerScanner follows the request stream of one connection.
type headerScanner struct {
	state scanState

	// The block being read.
	method     [maxTrackedMethod]byte
	methodLen  int
	methodDone bool
	name       [maxTrackedName]byte
	nameLen    int
	value      [maxFramingValue]byte
	valueLen   int
	framing    uint8 // which framing header the value belongs to
	blockStart int   // arena offset of this block's names
	length     int64 // Content-Length, -1 when absent
	chunked    bool
	badFraming bool

	// Body progress.
	remaining int64
	digits    int

	arena   []byte
	entries []scanEntry
	head    int
	// popped is what the last pop knew of its request's framing.
	popped uint8
}

// What pop knew of a request's framing.
const (
	poppedUnknown uint8 = iota // the scanner had lost track
	poppedPlain
	poppedBoth // chunked, and a Content-Length too
)

const (
	framingNone uint8 = iota
	framingLength
	framingTE
)

func (s *headerScanner) lose() {
	s.state = stLost
	s.arena, s.entries, s.head = nil, nil, 0
}

// feed advances the scanner over bytes read from the connection.
func (s *headerScanner) feed(b []byte) {
	for i := 0; i < len(b); {
		switch s.state {
		case stLost:
			return
		case stBody:
			n := int64(len(b) - i)
			if n > s.remaining {
				n = s.remaining
			}
			s.remaining -= n
			i += int(n)
			if s.remaining == 0 {
				s.startRequest()
			}
			continue
		case stSkipLine, stChunkExt, stTrailerLine:
			// Jump to the end of the line (values are most of a header block).
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				return
			}
			i += j
		case stName:
			// Copy the name up to its colon in one go.
			rest := b[i:]
			j := bytes.IndexByte(rest, ':')
			if k := bytes.IndexByte(rest, '\n'); k >= 0 && (j < 0 || k < j) {
				// A line without a colon: net/http refuses it.
				i += k + 1
				s.state = stLineStart
				continue
			}
			part := rest
			if j >= 0 {
				part = rest[:j]
			}
			if s.nameLen < maxTrackedName {
				copy(s.name[s.nameLen:], part)
			}
			s.nameLen += len(part)
			if j < 0 {
				return
			}
			i += j + 1
			s.endName()
			continue
		case stRequestLine:
			if s.methodDone {
				j := bytes.IndexByte(b[i:], '\n')
				if j < 0 {
					return
				}
				i += j
			}
		case stChunkData:
			n := int64(len(b) - i)
			if n > s.remaining {
				n = s.remaining
			}
			s.remaining -= n
			i += int(n)
			if s.remaining == 0 {
				s.state = stChunkDataEnd
			}
			continue
		}
		s.step(b[i])
		i++
	}
}

func (s *headerScanner) startRequest() {
	s.state = stRequestLine
	s.methodLen, s.methodDone = 0, false
	s.blockStart = len(s.arena)
	s.length, s.chunked, s.badFraming = -1, false, false
}

// step handles one byte outside bodies.
func (s *headerScanner) step(c byte) {
	switch s.state {
	case stRequestLine:
		switch {
		case c == '\n':
			if s.methodLen == 0 {
				return // a stray empty line between requests
			}
			s.state = stLineStart
		case s.methodDone:
		case c == ' ':
			s.methodDone = true
		case c == '\r' && s.methodLen == 0:
		case s.methodLen < maxTrackedMethod:
			s.method[s.methodLen] = c
			s.methodLen++
		default:
			s.lose()
		}
	case stLineStart:
		switch c {
		case '\r':
			s.state = stHeadersCR
		case '\n':
			s.endHeaders()
		case ' ', '\t':
			// An obsolete line folding: net/http joins it to the previous
			// value, which may be a framing header's ("Transfer-Encoding:"
			// then " chunked"). Rare enough to give up on.
			s.lose()
		default:
			s.nameLen = 0
			s.state = stName
			s.step(c)
		}
	case stName:
		switch c {
		case ':':
			s.endName()
		case '\n':
			s.state = stLineStart // a line without a colon: net/http refuses it
		default:
			if s.nameLen < maxTrackedName {
				s.name[s.nameLen] = c
			}
			s.nameLen++
		}
	case stValue:
		if c == '\n' {
			s.endValue()
			s.state = stLineStart
			return
		}
		if s.valueLen < maxFramingValue {
			s.value[s.valueLen] = c
			s.valueLen++
		} else {
			s.badFraming = true
		}
	case stSkipLine:
		if c == '\n' {
			s.state = stLineStart
		}
	case stHeadersCR:
		if c != '\n' {
			s.lose()
			return
		}
		s.endHeaders()
	case stChunkSize:
		switch {
		case c == ';' || c == ' ' || c == '\t':
			s.state = stChunkExt
		case c == '\r':
		case c == '\n':
			s.endChunkSize()
		default:
			v, ok := hexValue(c)
			if !ok || s.digits >= maxChunkSizeDigit {
				s.lose()
				return
			}
			s.remaining = s.remaining<<4 | int64(v)
			s.digits++
		}
	case stChunkExt:
		if c == '\n' {
			s.endChunkSize()
		}
	case stChunkDataEnd:
		if c == '\n' {
			s.beginChunk()
		}
	case stTrailerStart:
		switch c {
		case '\r':
		case '\n':
			s.startRequest()
		default:
			s.state = stTrailerLine
		}
	case stTrailerLine:
		if c == '\n' {
			s.state = stTrailerStart
		}
	}
}

func (s *headerScanner) beginChunk() {
	s.state, s.remaining, s.digits = stChunkSize, 0, 0
}

func (s *headerScanner) endChunkSize() {
	if s.digits == 0 {
		s.lose()
		return
	}
	if s.remaining == 0 {
		s.state = stTrailerStart
		return
	}
	s.state = stChunkData
}

// endName records the name if net/http will canonicalise it to something
// else, and decides whether its value matters for framing.
func (s *headerScanner) endName() {
	n := s.nameLen
	s.state = stSkipLine
	if n == 0 || n > maxTrackedName {
		return
	}
	name := s.name[:n]
	if !isCanonicalName(name) {
		if len(s.arena)+n+1 > maxTrackedArena {
			s.lose()
			return
		}
		s.arena = append(s.arena, name...)
		s.arena = append(s.arena, ':')
	}
	switch {
	case asciiEqualFold(name, "content-length"):
		s.framing = framingLength
	case asciiEqualFold(name, "transfer-encoding"):
		s.framing = framingTE
	default:
		return
	}
	s.valueLen = 0
	s.state = stValue
}

func (s *headerScanner) endValue() {
	v := trimSpaceBytes(s.value[:s.valueLen])
	switch s.framing {
	case framingLength:
		var n int64
		if len(v) == 0 || len(v) > 18 {
			s.badFraming = true
			return
		}
		for _, c := range v {
			if c < '0' || c > '9' {
				s.badFraming = true
				return
			}
			n = n*10 + int64(c-'0')
		}
		if s.length >= 0 && s.length != n {
			s.badFraming = true
		}
		s.length = n
	case framingTE:
		// net/http accepts only "chunked" as a request transfer coding.
		if asciiEqualFold(v, "chunked") {
			s.chunked = true
		} else if len(v) > 0 {
			s.badFraming = true
		}
	}
}

// endHeaders queues the block's record and moves on to its body.
func (s *headerScanner) endHeaders() {
	if s.badFraming || len(s.entries)-s.head >= maxTrackedQueue {
		s.lose()
		return
	}
	e := scanEntry{methodLen: uint8(s.methodLen), both: s.chunked && s.length >= 0, start: s.blockStart, end: len(s.arena)}
	copy(e.method[:], s.method[:s.methodLen])
	s.entries = append(s.entries, e)
	switch {
	case s.chunked:
		s.beginChunk()
	case s.length > 0:
		s.state, s.remaining = stBody, s.length
	default:
		s.startRequest()
	}
}

// pop takes the record of the next request, which must have this method.
func (s *headerScanner) pop(method string, dst []byte) []byte {
	s.popped = poppedUnknown
	if s.state == stLost || s.head >= len(s.entries) {
		s.lose()
		return dst
	}
	e := &s.entries[s.head]
	if string(e.method[:e.methodLen]) != method {
		s.lose()
		return dst
	}
	dst = append(dst, s.arena[e.start:e.end]...)
	s.popped = poppedPlain
	if e.both {
		s.popped = poppedBoth
	}
	s.head++
	if s.head == len(s.entries) {
		// Nothing queued: keep only the names of a block being read.
		start := s.blockStart
		if s.state == stBody || s.state >= stChunkSize && s.state <= stTrailerLine {
			start = len(s.arena)
		}
		n := copy(s.arena, s.arena[start:])
		s.arena = s.arena[:n]
		s.blockStart = 0
		s.entries, s.head = s.entries[:0], 0
	}
	return dst
}

// isCanonicalName reports whether net/http keeps name as it is: either it
// is already canonical, or it holds bytes that stop canonicalisation.
func isCanonicalName(name []byte) bool {
	for _, c := range name {
		if !httpguts.IsTokenRune(rune(c)) {
			return true
		}
	}
	upper := true
	for _, c := range name {
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

func asciiEqualFold[S ~string | ~[]byte](a S, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// rawName returns the spelling the caller used for the canonical header
// name k, from the names recorded for the request (or k itself).
func rawName(names []byte, k string) []byte {
	for len(names) > 0 {
		i := 0
		for i < len(names) && names[i] != ':' {
			i++
		}
		if asciiEqualFold(names[:i], k) {
			return names[:i]
		}
		if i == len(names) {
			break
		}
		names = names[i+1:]
	}
	return nil
}
