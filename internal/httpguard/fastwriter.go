package httpguard

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// fastWriter answers a request of the fast path. The answer is kept until
// the handler returns and written with its head in one write, with a
// Content-Length; a handler that writes more than fastWriteBuf or flushes
// streams it instead (with its declared Content-Length, else chunked).
type fastWriter struct {
	c          *fastConn
	r          *http.Request // nil for the server's own answers
	header     http.Header
	late       http.Header // what Header returns once the head is fixed: dropped, as net/http drops it
	status     int
	wrote      bool // WriteHeader called
	streaming  bool // the head is on the wire
	chunked    bool
	declared   int64 // the handler's Content-Length, or -1
	written    int64 // body bytes accepted
	buf        []byte
	closeAfter bool
	err        error
}

const fastWriteBuf = 64 << 10

func (w *fastWriter) reset(c *fastConn, r *http.Request) {
	buf := w.buf[:0]
	if cap(buf) > fastWriteBuf+4096 {
		buf = nil
	}
	h := w.header
	if h == nil {
		h = make(http.Header, 4)
	} else {
		clear(h)
	}
	late := w.late
	if late != nil {
		clear(late)
	}
	*w = fastWriter{c: c, r: r, header: h, late: late, declared: -1, buf: buf}
}

// Header is the answer's header until WriteHeader (or the first Write);
// after it, a map of its own whose changes are not sent, as with net/http.
// A handler that kept the map from before and changes it afterwards still
// changes the answer: net/http copies the map, which costs every request.
func (w *fastWriter) Header() http.Header {
	if !w.wrote {
		return w.header
	}
	if w.late == nil {
		w.late = make(http.Header)
	}
	return w.late
}

func (w *fastWriter) isHead() bool { return w.r != nil && w.r.Method == http.MethodHead }

func (w *fastWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		return // no interim answers on this path (no Expect here)
	}
	w.wrote = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

func (w *fastWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHead() {
		return len(p), nil
	}
	if !w.streaming && len(w.buf)+len(p) <= fastWriteBuf {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if !w.streaming {
		if err := w.startStream(); err != nil {
			return 0, err
		}
	}
	return w.send(p)
}

func (w *fastWriter) WriteString(s string) (int, error) {
	if !w.streaming && bodyAllowed(w.status) && w.wrote && !w.isHead() && w.err == nil &&
		w.declared < 0 && len(w.buf)+len(s) <= fastWriteBuf {
		w.written += int64(len(s))
		w.buf = append(w.buf, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// startStream writes the head and what is buffered.
func (w *fastWriter) startStream() error {
	w.streaming = true
	if w.declared < 0 && !w.isHead() {
		w.chunked = true
		w.header.Del("Content-Length")
	}
	out := w.appendHead(make([]byte, 0, 512+len(w.buf)+16), -1)
	if len(w.buf) > 0 {
		out = w.appendBody(out, w.buf)
	}
	w.buf = w.buf[:0]
	_, err := w.write(out)
	return err
}

func (w *fastWriter) send(p []byte) (int, error) {
	if !w.chunked {
		return w.write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	out := w.appendBody(make([]byte, 0, len(p)+16), p)
	if _, err := w.write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *fastWriter) appendBody(out, p []byte) []byte {
	if !w.chunked {
		return append(out, p...)
	}
	out = strconv.AppendInt(out, int64(len(p)), 16)
	out = append(out, "\r\n"...)
	out = append(out, p...)
	return append(out, "\r\n"...)
}

func (w *fastWriter) write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.c.armWrite()
	n, err := w.c.c.Write(b)
	if err != nil {
		w.err = err
		w.closeAfter = true
	}
	return n, err
}

// Flush sends what is buffered and streams the rest.
func (w *fastWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (w *fastWriter) FlushError() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.streaming {
		return w.startStream()
	}
	return w.err
}

// SetWriteDeadline and SetReadDeadline serve http.ResponseController.
func (w *fastWriter) SetWriteDeadline(t time.Time) error {
	w.c.wArmed = time.Time{}
	return w.c.c.SetWriteDeadline(t)
}

func (w *fastWriter) SetReadDeadline(t time.Time) error {
	w.c.rdl = time.Time{}
	return w.c.c.SetReadDeadline(t)
}

// ReadFrom sends a body of a declared length from a file with sendfile.
func (w *fastWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.declared < 0 || w.isHead() || !bodyAllowed(w.status) || w.streaming || len(w.buf) > 0 {
		return io.Copy(writerOnly{w}, src)
	}
	if err := w.startStream(); err != nil {
		return 0, err
	}
	rf, ok := w.c.c.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	w.c.armWrite()
	n, err := rf.ReadFrom(io.LimitReader(src, w.declared-w.written))
	w.written += n
	if err != nil {
		w.err = err
		w.closeAfter = true
	}
	return n, err
}

type writerOnly struct{ io.Writer }

// finish completes the answer after the handler returned.
func (w *fastWriter) finish() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if w.streaming {
		if w.chunked {
			_, err := w.write([]byte("0\r\n\r\n"))
			return err
		}
		if w.declared >= 0 && w.written < w.declared && !w.isHead() {
			return errors.New("short body")
		}
		return nil
	}
	length := int64(len(w.buf))
	if w.isHead() {
		length = w.written
	}
	if w.declared >= 0 && w.declared != length && !w.isHead() {
		// Less than declared: the client would wait for the rest.
		w.closeAfter = true
	}
	// Head and body in one buffer kept by the connection: one write.
	out := w.appendHead(w.c.out[:0], length)
	if !w.isHead() && bodyAllowed(w.status) {
		out = append(out, w.buf...)
	}
	if cap(out) <= fastWriteBuf+4096 {
		w.c.out = out
	}
	_, err := w.write(out)
	return err
}

var statusLines = func() map[int]string {
	m := map[int]string{}
	for _, code := range []int{200, 204, 206, 301, 304, 307, 400, 403, 404, 405, 409, 411, 412, 413, 416, 429, 500, 501, 503} {
		m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n"
	}
	return m
}()

// appendHead appends the status line and headers; length is the body's
// length when known (added as Content-Length unless declared), else -1.
func (w *fastWriter) appendHead(out []byte, length int64) []byte {
	if sl, ok := statusLines[w.status]; ok {
		out = append(out, sl...)
	} else {
		out = append(out, "HTTP/1.1 "...)
		out = strconv.AppendInt(out, int64(w.status), 10)
		out = append(out, ' ')
		text := http.StatusText(w.status)
		if text == "" {
			text = "status code " + strconv.Itoa(w.status)
		}
		out = append(out, text...)
		out = append(out, "\r\n"...)
	}
	h := w.header
	if hasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	if w.r != nil && w.r.Close && !w.closeAfter {
		w.closeAfter = true
		h.Set("Connection", "close")
	}
	if w.err == nil && w.closeAfter && !hasToken(h["Connection"], "close") {
		h.Set("Connection", "close")
	}
	delete(h, "Transfer-Encoding")
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			out = append(out, k...)
			out = append(out, ": "...)
			out = appendValue(out, v)
			out = append(out, "\r\n"...)
		}
	}
	allowed := bodyAllowed(w.status)
	if _, ok := h["Content-Type"]; !ok && allowed && len(w.buf) > 0 && !w.isHead() {
		out = append(out, "Content-Type: "...)
		out = append(out, http.DetectContentType(w.buf)...)
		out = append(out, "\r\n"...)
	}
	if _, ok := h["Date"]; !ok {
		out = append(out, "Date: "...)
		out = append(out, w.c.date()...)
		out = append(out, "\r\n"...)
	}
	switch {
	case w.chunked:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	case w.declared < 0 && length >= 0 && allowed && (!w.isHead() || length > 0):
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, length, 10)
		out = append(out, "\r\n"...)
	}
	return append(out, "\r\n"...)
}

func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			if asciiEqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// appendValue appends v with line breaks turned into spaces, as net/http
// does: a value cannot start a header of its own.
func appendValue(out []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		out = append(out, c)
	}
	return out
}

// date is the Date header's value, formatted once a second.
func (c *fastConn) date() []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec {
		c.dateSec = sec
		now.UTC().AppendFormat(c.dateBuf[:0], http.TimeFormat)
	}
	return c.dateBuf[:]
}

var _ http.Flusher = (*fastWriter)(nil)
