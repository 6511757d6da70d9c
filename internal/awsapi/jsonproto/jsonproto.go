// Package jsonproto is the frame the AWS JSON-protocol edges share (DynamoDB,
// DynamoDB Streams, Kinesis, EventBridge): the operation from X-Amz-Target,
// the request body, and answers written in one piece with their length, plus
// the fast JSON reader and writer the hot operations use in place of
// encoding/json's reflection.
package jsonproto

import (
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/auth"
)

// Content types of the two protocol versions.
const (
	JSON10 = "application/x-amz-json-1.0"
	JSON11 = "application/x-amz-json-1.1"
)

// ErrTooLarge is returned by Body when the request is over its limit.
var ErrTooLarge = errors.New("request body too large")

// Operation is the request's X-Amz-Target without prefix.
func Operation(r *http.Request, prefix string) string {
	return strings.TrimPrefix(r.Header.Get("X-Amz-Target"), prefix)
}

// Body returns the request body, at most limit bytes; an empty body reads as
// "{}". The bytes the signature check already buffered are used as they are
// (handlers must not modify them).
func Body(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, ok := auth.BufferedBody(r)
	if ok {
		if int64(len(body)) > limit {
			return nil, ErrTooLarge
		}
	} else {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit)); err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, ErrTooLarge
			}
			return nil, err
		}
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	return body, nil
}

// Answer is how an edge frames its answers.
type Answer struct {
	ContentType string
	// CRC32 adds X-Amz-Crc32 (DynamoDB's SDKs check the body against it).
	CRC32 bool
	// ErrorTypeHeader adds X-Amzn-ErrorType to errors (EventBridge).
	ErrorTypeHeader bool
	// OmitEmptyMessage leaves "message" out of an error without one.
	OmitEmptyMessage bool
}

// Write answers status with body: head and body leave in one write, since
// the length is known.
func (a Answer) Write(w http.ResponseWriter, status int, body []byte) {
	// The header values share one slice and the numbers one string: two
	// allocations instead of five on every answer.
	values := make([]string, 3)
	var stack [40]byte
	digits := strconv.AppendInt(stack[:0], int64(len(body)), 10)
	n := len(digits)
	if a.CRC32 {
		digits = strconv.AppendUint(digits, uint64(crc32.ChecksumIEEE(body)), 10)
	}
	numbers := string(digits)
	values[0], values[1], values[2] = a.ContentType, numbers[:n], numbers[n:]
	h := w.Header()
	h["Content-Type"] = values[0:1:1]
	h["Content-Length"] = values[1:2:2]
	if a.CRC32 {
		h["X-Amz-Crc32"] = values[2:3:3]
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error answers {"__type": typ, "message": msg}.
func (a Answer) Error(w http.ResponseWriter, status int, typ, msg string) {
	if a.ErrorTypeHeader {
		w.Header()["X-Amzn-Errortype"] = []string{typ}
	}
	a.Write(w, status, ErrorBody(typ, msg, a.OmitEmptyMessage))
}

// ErrorBody is an error's JSON, as encoding/json writes the map
// {"__type": typ, "message": msg}.
func ErrorBody(typ, msg string, omitEmptyMessage bool) []byte {
	b := make([]byte, 0, 32+len(typ)+len(msg))
	b = append(b, `{"__type":`...)
	b = AppendString(b, typ)
	if msg != "" || !omitEmptyMessage {
		b = append(b, `,"message":`...)
		b = AppendString(b, msg)
	}
	return append(b, '}')
}
