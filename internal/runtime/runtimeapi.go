package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Runtime API of each instance is served by a small HTTP/1.1 server of
// its own rather than net/http (docs/adr/0026-runtime-api-server.md): it knows
// the four requests of the Runtime API, answers each with one write of head
// and body, and hands the event to the runtime from the goroutine that reads
// its connection. Its peer is untrusted function code, so it parses strictly
// and within limits.

const (
	apiReadBuffer = 16 << 10 // also the longest request line or header line
	apiMaxHead    = 64 << 10 // request line and headers together
	apiMaxHeaders = 100
	// Bodies up to this size are copied behind the head (one write); larger
	// ones go out with writev, uncopied.
	apiInlineBody = 64 << 10
	// apiDiscardLimit bounds the unread body of a request that is answered
	// without its body (an unknown path); above it the connection closes.
	apiDiscardLimit = 1 << 20
)

var (
	errAPIMalformed = errors.New("malformed request")
	errAPITooLarge  = errors.New("request head too large")
)

// apiRequest is one parsed request head.
type apiRequest struct {
	method        []byte // valid until the next request
	path          []byte // without the query; valid until the next request
	contentLength int64  // -1: none given
	chunked       bool
	close         bool // the client asked to close after this exchange
	expect100     bool // Expect: 100-continue
	bodyRead      bool // the body has been consumed
	// errorType: the Lambda-Runtime-Function-Error-Type header or trailer.
	errorType string
}

// apiReader parses requests from one connection.
type apiReader struct {
	br   *bufio.Reader
	line []byte // copy of the request line (the bufio buffer moves on)
	req  apiRequest
	// w receives "100 Continue" when a body is read for a request that
	// expects it; nil in the fuzz test.
	w io.Writer
}

// readRequest reads the next request head. io.EOF means the connection ended
// cleanly between requests.
func (r *apiReader) readRequest() error {
	r.req = apiRequest{contentLength: -1}
	line, err := r.readLine()
	if err != nil {
		return err // io.EOF: the connection ended between requests
	}
	if len(line) == 0 {
		// RFC 9112 2.2: a server should ignore an empty line before the request line.
		if line, err = r.readLine(); err != nil {
			return err
		}
	}
	r.line = append(r.line[:0], line...)
	method, rest, ok := bytes.Cut(r.line, []byte{' '})
	if !ok || len(method) == 0 || !isToken(method) {
		return errAPIMalformed
	}
	target, proto, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(target) == 0 || target[0] != '/' || bytes.IndexByte(proto, ' ') >= 0 {
		return errAPIMalformed
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errAPIMalformed
		}
	}
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		r.req.close = true
	default:
		return errAPIMalformed
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	r.req.method, r.req.path = method, target
	size := len(line)
	for n := 0; ; n++ {
		h, err := r.readLine()
		if err != nil {
			return err
		}
		if len(h) == 0 {
			break
		}
		if size += len(h); size > apiMaxHead || n >= apiMaxHeaders {
			return errAPITooLarge
		}
		if err := r.header(h, false); err != nil {
			return err
		}
	}
	if r.req.chunked && r.req.contentLength >= 0 {
		// Both framings at once: refused, as RFC 9112 6.3 allows.
		return errAPIMalformed
	}
	r.req.bodyRead = !r.req.chunked && r.req.contentLength <= 0
	return nil
}

// readLine returns the next line without its CRLF (or bare LF), valid until
// the next read.
func (r *apiReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errAPITooLarge
		}
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// header takes one header (or trailer) line.
func (r *apiReader) header(h []byte, trailer bool) error {
	colon := bytes.IndexByte(h, ':')
	if colon <= 0 || !isToken(h[:colon]) {
		// Also refuses obsolete line folding and space before the colon.
		return errAPIMalformed
	}
	name, value := h[:colon], bytes.Trim(h[colon+1:], " \t")
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return errAPIMalformed
		}
	}
	switch {
	case equalFold(name, "Lambda-Runtime-Function-Error-Type"):
		r.req.errorType = string(value)
	case trailer:
		// Framing headers mean nothing in trailers.
	case equalFold(name, "Content-Length"):
		n, ok := parseDecimal(value)
		if !ok || (r.req.contentLength >= 0 && r.req.contentLength != n) {
			return errAPIMalformed
		}
		r.req.contentLength = n
	case equalFold(name, "Transfer-Encoding"):
		if !equalFold(value, "chunked") || r.req.chunked {
			return errAPIMalformed
		}
		r.req.chunked = true
	case equalFold(name, "Connection"):
		for tok := range bytes.SplitSeq(value, []byte{','}) {
			tok = bytes.Trim(tok, " \t")
			if equalFold(tok, "close") {
				r.req.close = true
			}
		}
	case equalFold(name, "Expect"):
		if !equalFold(value, "100-continue") {
			return errAPIMalformed
		}
		r.req.expect100 = true
	}
	return nil
}

// readBody reads the request's body, up to limit bytes. tooLarge means it is
// longer and was not read whole: the connection cannot carry another request.
func (r *apiReader) readBody(limit int64) (body []byte, tooLarge bool, err error) {
	req := &r.req
	if req.bodyRead {
		return nil, false, nil
	}
	if req.contentLength > limit {
		return nil, true, nil
	}
	if req.expect100 && r.w != nil && (req.chunked || req.contentLength > 0) {
		if _, err := io.WriteString(r.w, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return nil, false, err
		}
	}
	switch {
	case req.chunked:
		body, tooLarge, err = r.readChunked(limit)
	case req.contentLength > 0:
		body, err = r.readN(nil, req.contentLength)
	}
	if err == nil && !tooLarge {
		req.bodyRead = true
	}
	return body, tooLarge, err
}

// readN appends the next n bytes to b, growing it at most 64 KiB ahead of the
// bytes that arrive, whatever the head announced.
func (r *apiReader) readN(b []byte, n int64) ([]byte, error) {
	for n > 0 {
		if len(b) == cap(b) {
			grow := min(n, max(int64(cap(b)), 64<<10))
			b = append(b, make([]byte, grow)...)[:len(b)]
		}
		room := min(int64(cap(b)-len(b)), n)
		got, err := io.ReadFull(r.br, b[len(b):len(b)+int(room)])
		b = b[:len(b)+got]
		n -= int64(got)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

func (r *apiReader) readChunked(limit int64) ([]byte, bool, error) {
	var body []byte
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, false, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions mean nothing here
		}
		size, ok := parseHex(bytes.TrimRight(line, " \t"))
		if !ok {
			return nil, false, errAPIMalformed
		}
		if size == 0 {
			break
		}
		if int64(len(body))+size > limit {
			return nil, true, nil
		}
		if body, err = r.readN(body, size); err != nil {
			return nil, false, err
		}
		if crlf, err := r.readLine(); err != nil || len(crlf) != 0 {
			if err == nil {
				err = errAPIMalformed
			}
			return nil, false, err
		}
	}
	for n := 0; ; n++ {
		t, err := r.readLine()
		if err != nil {
			return nil, false, err
		}
		if len(t) == 0 {
			return body, false, nil
		}
		if n >= apiMaxHeaders {
			return nil, false, errAPITooLarge
		}
		if err := r.header(t, true); err != nil {
			return nil, false, err
		}
	}
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// isToken reports whether b is an RFC 9110 token (method and header names).
func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return len(b) > 0
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// apiServer serves one instance's Runtime API on its listener.
type apiServer struct {
	inst   *instance
	ln     net.Listener
	closed chan struct{} // closed by close

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closeOnce sync.Once
}

func newAPIServer(inst *instance, ln net.Listener) *apiServer {
	return &apiServer{inst: inst, ln: ln, closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

// serve accepts connections until close.
func (s *apiServer) serve() {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() && !isTemporaryAccept(err) {
				return
			}
			// Out of descriptors and the like: wait a little, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-s.closed:
				return
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		select {
		case <-s.closed:
			s.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func isTemporaryAccept(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// close stops the listener and ends every connection.
func (s *apiServer) close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.closed)
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		_ = s.ln.Close()
	})
}

// apiConn is one connection from the runtime.
type apiConn struct {
	s   *apiServer
	c   net.Conn
	r   apiReader
	out []byte // the response being built, reused

	raw        syscall.RawConn // for peerClosed, once needed
	peekFn     func(fd uintptr) bool
	peekBuf    [1]byte
	closedPeer bool
}

func (s *apiServer) serveConn(c net.Conn) {
	ac := &apiConn{s: s, c: c, r: apiReader{br: bufio.NewReaderSize(c, apiReadBuffer), w: c}}
	lingering := false
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		if lingering {
			closeLingering(c)
		} else {
			_ = c.Close()
		}
	}()
	for {
		if err := ac.r.readRequest(); err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) && err != io.ErrUnexpectedEOF {
				status := 400
				if err == errAPITooLarge {
					status = 431
				}
				ac.close()
				ac.writeError(status, "InvalidRequest", "the request could not be read: "+err.Error())
				lingering = true
			}
			return
		}
		keep := ac.serveRequest()
		if !keep || ac.r.req.close {
			lingering = !ac.r.req.bodyRead
			return
		}
		if !ac.r.req.bodyRead {
			// Answered without its body: skip it, or give up the connection.
			if _, tooLarge, err := ac.r.readBody(apiDiscardLimit); err != nil || tooLarge {
				lingering = tooLarge
				return
			}
		}
		if cap(ac.out) > apiInlineBody+4096 {
			ac.out = nil // a large answer's buffer is not kept for the next one
		}
	}
}

// closeLingering closes a connection whose peer may still be sending: the
// write side first, then what arrives is read for a short while, so the
// answer already written is not lost to a reset.
func closeLingering(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 8<<20))
	}
	_ = c.Close()
}

// close marks the exchange as the connection's last.
func (ac *apiConn) close() { ac.r.req.close = true }

// serveRequest answers the request just read; false ends the connection.
func (ac *apiConn) serveRequest() bool {
	req := &ac.r.req
	rest, ok := bytes.CutPrefix(req.path, []byte("/2018-06-01/runtime/"))
	if !ok {
		return ac.writeError(404, "InvalidRequest", "unknown path "+string(req.path))
	}
	get, post := string(req.method) == "GET", string(req.method) == "POST"
	switch {
	case string(rest) == "invocation/next":
		if !get {
			return ac.writeError(405, "InvalidRequest", "next takes GET")
		}
		return ac.next()
	case string(rest) == "init/error":
		if !post {
			return ac.writeError(405, "InvalidRequest", "init/error takes POST")
		}
		return ac.initError()
	}
	if inv, ok := bytes.CutPrefix(rest, []byte("invocation/")); ok {
		id, kind, ok := bytes.Cut(inv, []byte{'/'})
		if ok && post && (string(kind) == "response" || string(kind) == "error") {
			return ac.answer(id, string(kind) == "error")
		}
	}
	return ac.writeError(404, "InvalidRequest", "unknown path "+string(req.path))
}

func (ac *apiConn) next() bool {
	inst := ac.s.inst
	inst.initOnce.Do(func() { inst.initDur = inst.sinceSpawn() })
	if prev := inst.current.Load(); prev != nil {
		if ac.peerClosed() {
			// A request from a connection the runtime has given up, read
			// late: the runtime works on prev on another one.
			return false
		}
		// The runtime asked for more work without answering: fail that call.
		inst.current.Store(nil)
		prev.done <- outcome{isError: true, errorType: "Runtime.InvalidResponse",
			payload: errorPayload("Runtime.InvalidResponse", "RequestId: %s Error: the runtime asked for the next invocation without answering this one", prev.inv.RequestID)}
	}
	var c *call
	select {
	case c = <-inst.work:
	case <-inst.exited:
		return false
	case <-ac.s.closed:
		return false
	}
	// The runtime may have given up this connection since it asked (and
	// asked again on another): the event goes to that request.
	if ac.peerClosed() {
		select {
		case inst.work <- c:
		case <-inst.exited:
		case <-ac.s.closed:
		}
		return false
	}
	spec := inst.pool.spec
	inst.current.Store(c)
	if !c.startLogged {
		inst.emit(c, "START RequestId: "+c.inv.RequestID+" Version: "+spec.Version)
	}

	b := append(ac.out[:0], "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: "...)
	b = appendHeaderValue(b, c.inv.RequestID)
	b = append(b, "\r\nLambda-Runtime-Deadline-Ms: "...)
	deadline := c.deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(spec.Timeout)
	}
	b = strconv.AppendInt(b, deadline.UnixMilli(), 10)
	b = append(b, "\r\nLambda-Runtime-Invoked-Function-Arn: "...)
	if c.inv.InvokedARN != "" {
		b = appendHeaderValue(b, c.inv.InvokedARN)
	} else {
		b = appendHeaderValue(b, spec.ARN)
	}
	if c.inv.TraceID != "" {
		b = append(b, "\r\nLambda-Runtime-Trace-Id: "...)
		b = appendHeaderValue(b, c.inv.TraceID)
	}
	if c.inv.ClientContext != "" {
		b = append(b, "\r\nLambda-Runtime-Client-Context: "...)
		b = appendHeaderValue(b, c.inv.ClientContext)
	}
	if err := ac.finish(b, c.inv.Payload); err != nil {
		// The event never reached the runtime: offer it to the runtime's
		// next request, on another connection.
		if inst.current.CompareAndSwap(c, nil) {
			select {
			case inst.work <- c:
			case <-inst.exited:
			case <-ac.s.closed:
			}
		}
		return false
	}
	return true
}

// peerClosed reports, without waiting, whether the runtime has closed the
// connection: a peek of one byte reads the end of the stream (or an error).
func (ac *apiConn) peerClosed() bool {
	if ac.r.br.Buffered() > 0 {
		return false // it sent more: it is there
	}
	if ac.raw == nil {
		sc, ok := ac.c.(syscall.Conn)
		if !ok {
			return false
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		ac.raw, ac.peekFn = raw, ac.peek
	}
	ac.closedPeer = false
	_ = ac.raw.Read(ac.peekFn)
	return ac.closedPeer
}

// peek is peerClosed's callback, a method value made once per connection
// so the check allocates nothing.
func (ac *apiConn) peek(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&ac.peekBuf[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	ac.closedPeer = (errno == 0 && n == 0) || (errno != 0 && errno != unix.EAGAIN && errno != unix.EINTR)
	return true
}

func (ac *apiConn) answer(id []byte, isError bool) bool {
	inst := ac.s.inst
	body, tooLarge, err := ac.r.readBody(MaxResponseBytes)
	if tooLarge || err != nil {
		ac.close()
	}
	c := inst.current.Load()
	if c == nil || c.inv.RequestID != string(id) {
		return ac.writeError(400, "InvalidRequestID", "no invocation "+string(id)+" is in progress on this instance")
	}
	if err != nil {
		return ac.writeError(400, "InvalidRequest", "reading the body: "+err.Error())
	}
	if !inst.current.CompareAndSwap(c, nil) {
		return ac.writeError(400, "InvalidRequestID", "invocation "+string(id)+" was already answered")
	}
	var out outcome
	switch {
	case tooLarge:
		out = outcome{isError: true, errorType: "Function.ResponseSizeTooLarge",
			payload: errorPayload("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseBytes)}
	case isError:
		out = outcome{isError: true, payload: body, errorType: errorTypeOf(body, ac.r.req.errorType)}
	default:
		out = outcome{payload: body}
	}
	c.done <- out
	if tooLarge {
		return ac.writeError(413, "RequestEntityTooLarge", "response is over the 6 MB limit")
	}
	return ac.writeAccepted()
}

func (ac *apiConn) initError() bool {
	inst := ac.s.inst
	body, tooLarge, err := ac.r.readBody(1 << 20)
	if tooLarge || err != nil {
		ac.close()
	}
	if err != nil {
		return ac.writeError(400, "InvalidRequest", "reading the body: "+err.Error())
	}
	errType := errorTypeOf(body, ac.r.req.errorType)
	if errType == "" {
		errType = "Runtime.InitError"
	}
	if len(body) == 0 || !looksLikeJSONObject(body) {
		body = errorPayload(errType, "the runtime failed to initialise")
	}
	inst.initErr.Store(&outcome{isError: true, errorType: errType, payload: body})
	keep := ac.writeAccepted()
	// Lambda stops an instance whose init failed; the runtime usually exits itself.
	go func() {
		select {
		case <-inst.exited:
		case <-time.After(500 * time.Millisecond):
			inst.stop()
		}
	}()
	return keep
}

func (ac *apiConn) writeAccepted() bool {
	const body = `{"status":"OK"}`
	b := append(ac.out[:0], "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15"...)
	if ac.r.req.close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"+body...)
	_, err := ac.c.Write(b)
	ac.out = b
	return err == nil
}

// writeError answers with a Runtime API error; the connection stays open
// unless the exchange was marked as its last.
func (ac *apiConn) writeError(status int, errType, msg string) bool {
	b := append(ac.out[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, apiStatusText(status)...)
	b = append(b, "\r\nContent-Type: application/json"...)
	return ac.finish(b, appendJSONError(nil, errType, msg)) == nil
}

// finish completes the head begun in b (its last header without CRLF) and
// writes it with body in one system call.
func (ac *apiConn) finish(b, body []byte) error {
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if ac.r.req.close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	var err error
	if len(body) <= apiInlineBody {
		b = append(b, body...)
		_, err = ac.c.Write(b)
	} else {
		bufs := net.Buffers{b, body}
		_, err = bufs.WriteTo(ac.c)
	}
	ac.out = b
	return err
}

func apiStatusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Request Entity Too Large"
	case 431:
		return "Request Header Fields Too Large"
	}
	return "Error"
}

// appendHeaderValue appends v with control characters replaced by spaces, so
// a value taken from a caller cannot start a header of its own.
func appendHeaderValue(b []byte, v string) []byte {
	for i := range len(v) {
		c := v[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return appendHeaderValueSlow(b, v)
		}
	}
	return append(b, v...)
}

func appendHeaderValueSlow(b []byte, v string) []byte {
	for i := range len(v) {
		c := v[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}
