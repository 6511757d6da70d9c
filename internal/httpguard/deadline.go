package httpguard

import (
	"io"
	"net/http"
	"time"
)

// deadlineBody keeps the connection's read deadline ahead of a body that
// arrives at the minimum rate, and lifts it once the body is read: from then
// on net/http reads in the background only to notice a client going away,
// which must not end a running request.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	started  time.Time
	grace    time.Duration
	rate     int64
	read     int64
	deadline time.Time
	done     bool
	// broken: a read failed (the deadline passed): what is left of the body
	// can no longer be told from the next request, so the answer closes the
	// connection.
	broken bool
}

// exchange holds one request's deadline keeping.
type exchange struct {
	rc     http.ResponseController
	body   deadlineBody
	writer deadlineWriter
}

// start arms the read deadline for body's grace.
func (b *deadlineBody) start(body io.ReadCloser, rc *http.ResponseController, grace time.Duration, rate int64) {
	*b = deadlineBody{ReadCloser: body, rc: rc, started: time.Now(), grace: grace, rate: rate}
	b.deadline = b.started.Add(grace)
	_ = rc.SetReadDeadline(b.deadline)
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.done {
		return n, err
	}
	if err != nil && err != io.EOF {
		b.broken = true
	}
	if err == io.EOF {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
		return n, err
	}
	if n > 0 {
		b.read += int64(n)
		allowed := b.grace + time.Duration(b.read/b.rate)*time.Second +
			time.Duration(b.read%b.rate)*time.Second/time.Duration(b.rate)
		// Moved in steps of a second at least: one timer update per read
		// would cost more than the read.
		if want := b.started.Add(allowed); want.Sub(b.deadline) >= time.Second {
			b.deadline = want
			_ = b.rc.SetReadDeadline(want)
		}
	}
	return n, err
}

// deadlineWriter gives a client WriteTimeout to take each part of an
// answer: the write deadline is moved forward as the handler writes, so a
// client that stops reading is cut while a long stream (logs --tail) is not.
type deadlineWriter struct {
	http.ResponseWriter
	body    *deadlineBody // nil for a request without a body
	rc      *http.ResponseController
	timeout time.Duration
	armedAt time.Time
}

// arm moves the write deadline to timeout from now, unless it was moved in
// the last quarter of timeout (the deadline is then at least 3/4 of timeout
// ahead).
func (w *deadlineWriter) arm() {
	now := time.Now()
	if now.Sub(w.armedAt) < w.timeout/4 {
		return
	}
	w.armedAt = now
	_ = w.rc.SetWriteDeadline(now.Add(w.timeout))
}

func (w *deadlineWriter) WriteHeader(status int) {
	w.arm()
	w.closeIfBroken()
	w.ResponseWriter.WriteHeader(status)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm()
	w.closeIfBroken()
	return w.ResponseWriter.Write(p)
}

// closeIfBroken asks net/http to close the connection after an answer to a
// request whose body could not be read whole, whichever handler read it.
func (w *deadlineWriter) closeIfBroken() {
	if w.body != nil && w.body.broken {
		w.Header().Set("Connection", "close")
	}
}

// Flush keeps http.Flusher working for streaming handlers.
func (w *deadlineWriter) Flush() {
	w.arm()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom keeps the connection's ReadFrom (sendfile for file bodies)
// reachable through the wrapper. The deadline moves on once per call, so
// a caller sends a long body in pieces.
func (w *deadlineWriter) ReadFrom(r io.Reader) (int64, error) {
	w.arm()
	w.closeIfBroken()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}
