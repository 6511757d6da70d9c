package httpguard

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// FastServer serves a guarded listener (ADR 0034): a goroutine per
// connection reads requests with a strict, bounded parser and serves the
// simple ones (HTTP/1.1, a small Content-Length body or none) itself, with
// the same handler chain; at the first request it does not fully understand
// it hands the connection, with every byte it has buffered, to an
// http.Server, which serves it from then on.
type FastServer struct {
	g       *Guard
	h       http.Handler // the guard's checks, then the handler
	slow    *http.Server
	handoff *handoffListener

	mu       sync.Mutex
	conns    map[*fastConn]struct{}
	shutting atomic.Bool // read by every connection after each request

	panicLogged    atomic.Int64 // unix ns of the last panic logged
	panicsUnlogged atomic.Int64
	wg             sync.WaitGroup
}

// Fast returns a FastServer serving h behind the guard.
func (g *Guard) Fast(h http.Handler) *FastServer {
	s := &FastServer{g: g, slow: g.Server(h), conns: map[*fastConn]struct{}{}}
	s.handoff = &handoffListener{addr: g.ln.Addr(), ch: make(chan net.Conn), closed: make(chan struct{})}
	s.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := g.refusal(r); reason != "" {
			g.log.Debug("request refused", "remote", r.RemoteAddr, "host", r.Host, "method", r.Method, "path", r.URL.Path, "reason", reason)
			refuse(w, r, reason)
			return
		}
		h.ServeHTTP(w, r)
	})
	return s
}

// Serve accepts connections until the listener is closed.
func (s *FastServer) Serve() error {
	go func() { _ = s.slow.Serve(s.handoff) }()
	var backoff time.Duration
	for {
		c, err := s.g.ln.Accept()
		if err != nil {
			if s.shutting.Load() || errors.Is(err, net.ErrClosed) {
				return http.ErrServerClosed
			}
			// Out of descriptors and the like: wait and try again, as
			// net/http does, rather than stop serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.g.log.Debug("accept failed", "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		fc := newFastConn(s, c)
		s.mu.Lock()
		if s.shutting.Load() {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		s.conns[fc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go fc.serve()
	}
}

// Shutdown stops accepting, closes idle connections, and waits for the
// requests in progress (on both paths) until ctx ends.
func (s *FastServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	s.mu.Unlock()
	_ = s.g.ln.Close()
	slowErr := make(chan error, 1)
	go func() { slowErr <- s.slow.Shutdown(ctx) }()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return <-slowErr
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listener and every connection at once.
func (s *FastServer) Close() error {
	s.mu.Lock()
	s.shutting.Store(true)
	for c := range s.conns {
		_ = c.c.Close()
	}
	s.mu.Unlock()
	_ = s.g.ln.Close()
	return s.slow.Close()
}

func (s *FastServer) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.active.Load() {
			_ = c.c.Close()
		}
	}
}

func (s *FastServer) forget(c *fastConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// handoffListener gives net/http the connections the fast path hands off.
type handoffListener struct {
	addr   net.Addr
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// give hands c to net/http, or closes it once net/http has stopped.
func (l *handoffListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

// handedConn is a connection with the bytes the fast path read ahead.
type handedConn struct {
	net.Conn
	buf []byte
}

func (c *handedConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// ReadFrom keeps sendfile for object GETs on a handed-off connection.
func (c *handedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// connReader reads the connection, after a byte a watcher may have read
// while a handler ran.
type connReader struct {
	c       net.Conn
	pending []byte
	one     [1]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.c.Read(p)
}

// fastConn is one connection served by the fast path.
type fastConn struct {
	s      *FastServer
	c      net.Conn
	remote string
	rd     connReader
	br     *bufio.Reader
	active atomic.Bool
	// Deadlines are moved only when they are off by more than a step: a
	// timer update per request costs more than the slack.
	rdl     time.Time
	wArmed  time.Time
	w       fastWriter
	out     []byte // an answer's bytes, kept for the next
	dateBuf [29]byte
	dateSec int64
}

// fastBufSize bounds the heads the fast path reads; a larger head goes to
// net/http with MaxHeaderBytes.
const fastBufSize = 8 << 10

func newFastConn(s *FastServer, c net.Conn) *fastConn {
	fc := &fastConn{s: s, c: c, remote: c.RemoteAddr().String()}
	fc.rd.c = c
	fc.br = bufio.NewReaderSize(&fc.rd, fastBufSize)
	return fc
}

func (c *fastConn) lim() *Limits { return &c.s.g.cfg.Limits }

// setReadDeadline moves the read deadline to t unless it is already
// within step of it.
func (c *fastConn) setReadDeadline(t time.Time, step time.Duration) {
	if d := t.Sub(c.rdl); d < step && d > -step {
		return
	}
	c.rdl = t
	_ = c.c.SetReadDeadline(t)
}

func step(d time.Duration) time.Duration { return min(d/16, time.Second) }

func (c *fastConn) serve() {
	handed := false
	defer func() {
		if !handed {
			_ = c.c.Close()
		}
		c.s.forget(c)
	}()
	first := true
	lastEnd := time.Now()
	for {
		head, err := c.readHead(first, lastEnd)
		if err != nil {
			return
		}
		first = false
		h, ok := parseFastHead(head)
		if !ok || c.isShutting() {
			if !ok {
				// Hand over with what is buffered; net/http reads it as it
				// would have, and owns the connection from now on.
				buf, _ := c.br.Peek(c.br.Buffered())
				handed = true
				c.s.handoff.give(&handedConn{Conn: c.c, buf: bytes.Clone(buf)})
			}
			return
		}
		_, _ = c.br.Discard(len(head))
		c.active.Store(true)
		keep := c.serveRequest(&h)
		lastEnd = time.Now()
		c.active.Store(false)
		if !keep || c.isShutting() {
			return
		}
	}
}

func (c *fastConn) isShutting() bool {
	return c.s.shutting.Load()
}

// readHead waits for a whole head in the buffer and returns it (still
// buffered). A connection is given HeaderTimeout for its first head, then
// IdleTimeout between requests and HeaderTimeout from a head's first bytes.
func (c *fastConn) readHead(first bool, lastEnd time.Time) ([]byte, error) {
	lim := c.lim()
	now := time.Now()
	idleEnd := lastEnd.Add(lim.IdleTimeout)
	if first {
		idleEnd = lastEnd.Add(lim.HeaderTimeout)
	}
	if c.br.Buffered() == 0 {
		wait := now.Add(lim.HeaderTimeout)
		if idleEnd.Before(wait) {
			wait = idleEnd
		}
		c.setReadDeadline(wait, step(lim.HeaderTimeout))
	} else {
		c.setReadDeadline(now.Add(lim.HeaderTimeout), step(lim.HeaderTimeout))
	}
	for {
		n := c.br.Buffered()
		if n > 0 {
			buf, _ := c.br.Peek(n)
			if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
				return buf[:i+4], nil
			}
			if n == fastBufSize {
				// Larger than the fast path reads: net/http judges it.
				return buf, nil
			}
		}
		_, err := c.br.Peek(n + 1)
		if err == nil {
			if n == 0 {
				// A head's first bytes: it has HeaderTimeout from now.
				c.setReadDeadline(time.Now().Add(lim.HeaderTimeout), step(lim.HeaderTimeout))
			}
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		var ne net.Error
		if n == 0 && errors.As(err, &ne) && ne.Timeout() && time.Now().Before(idleEnd) {
			c.setReadDeadline(idleEnd, 0)
			continue
		}
		if n > 0 && err == io.EOF {
			// A partial head then EOF: net/http answers it (400) or drops it.
			buf, _ := c.br.Peek(n)
			return buf, nil
		}
		return nil, err
	}
}

// serveRequest reads the body, runs the handler and writes the answer. It
// says whether the connection may serve another request.
func (c *fastConn) serveRequest(h *fastHead) (keep bool) {
	lim := c.lim()
	var body []byte
	if h.contentLength > 0 {
		body = make([]byte, h.contentLength)
		if c.br.Buffered() < len(body) {
			grace := lim.BodyTimeout + time.Duration(h.contentLength)*time.Second/time.Duration(lim.BodyMinRate)
			c.setReadDeadline(time.Now().Add(grace), step(lim.BodyTimeout))
		}
		if _, err := io.ReadFull(c.br, body); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.writeRaw(http.StatusRequestTimeout, "the request body stopped arriving")
			}
			return false
		}
	}
	ctx := &reqCtx{c: c}
	// Built on the stack: WithContext makes the one copy that escapes.
	req := http.Request{
		Method:        h.method,
		URL:           h.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h.header,
		ContentLength: h.contentLength,
		Host:          h.host,
		RemoteAddr:    c.remote,
		RequestURI:    h.target,
		Close:         h.close,
		Body:          http.NoBody,
	}
	if body != nil {
		fb := &fastBody{data: body}
		fb.Reset(body)
		req.Body = fb
	}
	r := req.WithContext(ctx)
	w := &c.w
	w.reset(c, r)
	panicked := c.run(w, r)
	ctx.end(c)
	if panicked {
		return false
	}
	if err := w.finish(); err != nil {
		return false
	}
	return !h.close && !w.closeAfter && !ctx.lost
}

// run calls the handler, recovering a panic as net/http does: the
// connection is closed without an answer and the server goes on.
func (c *fastConn) run(w *fastWriter, r *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if v != http.ErrAbortHandler {
				c.s.logPanic(c.remote, v)
			}
		}
	}()
	c.s.h.ServeHTTP(w, r)
	return false
}

// panicLogEvery is how often a handler's panic is logged with its stack: a
// request that makes a handler panic, sent in a loop, would otherwise fill
// the log with stacks.
const panicLogEvery = 10 * time.Second

// logPanic logs a handler's panic at Error with its stack, at most once per
// panicLogEvery; the next logged says how many were not.
func (s *FastServer) logPanic(remote string, v any) {
	now := time.Now().UnixNano()
	last := s.panicLogged.Load()
	if last != 0 && now-last < int64(panicLogEvery) || !s.panicLogged.CompareAndSwap(last, now) {
		s.panicsUnlogged.Add(1)
		return
	}
	s.g.log.Error("http: panic serving", "remote", remote, "panic", v, "stack", string(debug.Stack()),
		"unloggedSince", s.panicsUnlogged.Swap(0))
}

// writeRaw answers with a short JSON error and closes.
func (c *fastConn) writeRaw(status int, msg string) {
	w := &c.w
	w.reset(c, nil)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"message":"`+msg+`"}`)
	_ = w.finish()
}

// armWrite gives the client WriteTimeout for each write, moved at most
// every quarter of it.
func (c *fastConn) armWrite() {
	t := c.lim().WriteTimeout
	now := time.Now()
	if now.Sub(c.wArmed) < t/4 {
		return
	}
	c.wArmed = now
	_ = c.c.SetWriteDeadline(now.Add(t))
}

// fastBody is a request body read ahead of the handler. The reader is held
// by value: one allocation for both.
type fastBody struct {
	bytes.Reader
	data []byte
}

func (*fastBody) Close() error { return nil }

// WholeBody gives the body's bytes, without a copy, while none has been
// read (the signature check and the handler then share them, as
// auth.BufferedBody says); handlers must not modify them.
func (b *fastBody) WholeBody() ([]byte, bool) {
	return b.data, b.Len() == len(b.data)
}

// ReadAhead gives what is left of the body without a copy (the signature
// check takes it so); the body then reads as ended. The bytes are this
// request's own.
func (b *fastBody) ReadAhead() []byte {
	rest := b.data[len(b.data)-b.Len():]
	b.Reset(nil)
	return rest
}

// reqCtx is a request's context. Its Done channel is made when first asked
// for: only then does a goroutine read the connection to notice a client
// going away (net/http does that for every request).
type reqCtx struct {
	c     *fastConn
	mu    sync.Mutex
	done  chan struct{}
	err   error
	ended bool
	// watcher
	watching bool
	stopped  chan struct{}
	lost     bool // the client went away
	// One value the handler chain attaches before the handler runs (the
	// signature check's principal), instead of a copy of the request with
	// a derived context.
	key, val any
}

func (x *reqCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Value gives the value the handler chain set, and what net/http puts in
// every request's context.
func (x *reqCtx) Value(key any) any {
	if x.key != nil && key == x.key {
		return x.val
	}
	switch key {
	case http.ServerContextKey:
		return x.c.s.slow
	case http.LocalAddrContextKey:
		return x.c.c.LocalAddr()
	}
	return nil
}

// SetRequestValue makes Value(key) return val; it refuses (false) once a
// value is set. Only the handler chain calls it, before the handler runs.
func (x *reqCtx) SetRequestValue(key, val any) bool {
	if x.key != nil || key == nil {
		return false
	}
	x.key, x.val = key, val
	return true
}

func (x *reqCtx) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *reqCtx) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done != nil {
		return x.done
	}
	x.done = make(chan struct{})
	if x.err != nil {
		close(x.done)
		return x.done
	}
	if !x.ended && x.c.br.Buffered() == 0 {
		// Pipelined bytes already buffered mean the client is there.
		x.watching = true
		x.stopped = make(chan struct{})
		go x.watch()
	}
	return x.done
}

// watch reads one byte: a pipelined request's first (kept), or the end of
// the connection (the request is cancelled).
func (x *reqCtx) watch() {
	defer close(x.stopped)
	// The head's or body's read deadline must not end the watch of a long
	// request; end sets its own after ended, so this cannot undo it.
	x.mu.Lock()
	if x.ended {
		x.mu.Unlock()
		return
	}
	_ = x.c.c.SetReadDeadline(time.Time{})
	x.mu.Unlock()
	rd := &x.c.rd
	n, err := x.c.c.Read(rd.one[:])
	if n == 1 {
		rd.pending = rd.one[:1]
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return // stopped by end
	}
	x.mu.Lock()
	x.lost = true
	x.cancelLocked()
	x.mu.Unlock()
}

func (x *reqCtx) cancelLocked() {
	if x.err != nil {
		return
	}
	x.err = context.Canceled
	if x.done != nil {
		close(x.done)
	}
}

// end cancels the context once the handler has returned and stops the
// watcher before the connection is read again.
func (x *reqCtx) end(c *fastConn) {
	x.mu.Lock()
	x.ended = true
	x.cancelLocked()
	watching := x.watching
	x.mu.Unlock()
	if watching {
		_ = c.c.SetReadDeadline(time.Unix(1, 0))
		<-x.stopped
		c.rdl = time.Time{}
	}
}

func (x *reqCtx) String() string { return "httpguard.requestContext" }
