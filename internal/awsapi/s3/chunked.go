package s3

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/auth"
)

// chunkedReader decodes an aws-chunked body: chunks of
// "hex-size[;chunk-signature=...]\r\n" data "\r\n", a zero-size chunk, then
// optional trailer lines ("x-amz-checksum-crc32:...") and an empty line.
type chunkedReader struct {
	r        *bufio.Reader
	left     int64 // bytes left in the current chunk
	done     bool
	trailers map[string]string // lower-case names, once the body is read
	// signer, for signed uploads, checks each chunk's signature against
	// sum, the SHA-256 of its bytes, when the chunk ends; a mismatch fails
	// the read, so nothing is stored.
	signer *auth.ChunkSigner
	sum    hash.Hash
	sig    string // the current chunk's signature
}

var (
	errBadChunk         = &apiError{http.StatusBadRequest, "IncompleteBody", "The aws-chunked body is malformed."}
	errChunkSignature   = &apiError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	chunkSignatureParam = []byte("chunk-signature=")
)

func newChunkedReader(r io.Reader, signer *auth.ChunkSigner) *chunkedReader {
	c := &chunkedReader{r: bufio.NewReaderSize(r, 64<<10), trailers: map[string]string{}, signer: signer}
	if signer != nil {
		c.sum = sha256.New()
	}
	return c
}

// checkChunk verifies the signature of the chunk just read.
func (c *chunkedReader) checkChunk() error {
	if c.signer == nil {
		return nil
	}
	ok := c.sig != "" && c.signer.Chunk(c.sum.Sum(nil), c.sig)
	c.sum.Reset()
	if !ok {
		return errChunkSignature
	}
	return nil
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
		c.sig = ""
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			if sig, ok := bytes.CutPrefix(bytes.TrimSpace(line[i+1:]), chunkSignatureParam); ok {
				c.sig = string(sig)
			}
			line = line[:i]
		}
		size, perr := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if perr != nil || size < 0 {
			return 0, errBadChunk
		}
		if size == 0 {
			if err := c.checkChunk(); err != nil {
				return 0, err
			}
			// Trailers end at an empty line or at the end of the body.
			var signed []byte
			trailerSig := ""
			for {
				l, err := c.line()
				if errors.Is(err, io.EOF) || err == nil && len(l) == 0 {
					break
				} else if err != nil {
					return 0, err
				}
				if name, value, ok := bytes.Cut(l, []byte(":")); ok {
					n, v := strings.ToLower(string(bytes.TrimSpace(name))), string(bytes.TrimSpace(value))
					if n == "x-amz-trailer-signature" {
						trailerSig = v
						continue
					}
					c.trailers[n] = v
					signed = append(append(append(append(signed, n...), ':'), v...), '\n')
				}
			}
			if c.signer != nil && len(c.trailers) > 0 && !c.signer.Trailer(signed, trailerSig) {
				return 0, errChunkSignature
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
	if c.sum != nil {
		c.sum.Write(p[:n])
	}
	if c.left == 0 {
		crlf, lerr := c.line()
		if lerr != nil || len(crlf) != 0 {
			return n, errBadChunk
		}
		if err := c.checkChunk(); err != nil {
			return n, err
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
