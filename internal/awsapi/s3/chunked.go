package s3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// chunkedReader decodes an aws-chunked body: chunks of
// "hex-size[;chunk-signature=...]\r\n" data "\r\n", a zero-size chunk, then
// optional trailer lines ("x-amz-checksum-crc32:...") and an empty line.
type chunkedReader struct {
	r        *bufio.Reader
	left     int64 // bytes left in the current chunk
	done     bool
	trailers map[string]string // lower-case names, once the body is read
}

var errBadChunk = &apiError{http.StatusBadRequest, "IncompleteBody", "The aws-chunked body is malformed."}

func newChunkedReader(r io.Reader) *chunkedReader {
	return &chunkedReader{r: bufio.NewReaderSize(r, 4096), trailers: map[string]string{}}
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.line()
		if err != nil {
			return 0, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, perr := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if perr != nil || size < 0 {
			return 0, errBadChunk
		}
		if size == 0 {
			// Trailers end at an empty line or at the end of the body.
			for {
				l, err := c.line()
				if errors.Is(err, io.EOF) || err == nil && len(l) == 0 {
					break
				} else if err != nil {
					return 0, err
				}
				if name, value, ok := bytes.Cut(l, []byte(":")); ok {
					c.trailers[strings.ToLower(string(bytes.TrimSpace(name)))] = string(bytes.TrimSpace(value))
				}
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = size
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left == 0 {
		crlf, lerr := c.line()
		if lerr != nil || len(crlf) != 0 {
			return n, errBadChunk
		}
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// line reads one CRLF-terminated line without its terminator.
func (c *chunkedReader) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if errors.Is(err, io.EOF) && len(l) == 0 {
		return nil, io.EOF
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, errBadChunk
	}
	return bytes.TrimRight(l, "\r\n"), nil
}
