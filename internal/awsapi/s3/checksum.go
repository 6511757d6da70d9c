package s3

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
)

// checksumAlgorithms are the x-amz-checksum-* algorithms checked on upload
// (CRC64NVME is accepted unchecked).
var checksumAlgorithms = map[string]func() hash.Hash{
	"crc32":  func() hash.Hash { return crc32.NewIEEE() },
	"crc32c": func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"sha1":   sha1.New,
	"sha256": sha256.New,
}

// checksumReader checks the bytes it passes against a checksum the client
// sent, in a header or (want returns it once the body is read) a trailer.
// A mismatch fails the read at the end, so nothing is stored.
type checksumReader struct {
	r    io.Reader
	h    hash.Hash
	alg  string
	want func() string
}

func (c *checksumReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		if want := c.want(); want != "" && base64.StdEncoding.EncodeToString(c.h.Sum(nil)) != want {
			return n, &apiError{http.StatusBadRequest, "BadDigest", "The " + strings.ToUpper(c.alg) + " you specified did not match the calculated checksum."}
		}
	}
	return n, err
}

// withChecksums wraps body in a check for each x-amz-checksum-* header, and
// for the trailer a chunked body announces.
func withChecksums(body io.Reader, h http.Header, chunked *chunkedReader) io.Reader {
	for alg, newHash := range checksumAlgorithms {
		name := "x-amz-checksum-" + alg
		if v := h.Get(name); v != "" {
			body = &checksumReader{r: body, h: newHash(), alg: alg, want: func() string { return v }}
		}
		if chunked != nil && strings.EqualFold(strings.TrimSpace(h.Get("X-Amz-Trailer")), name) {
			body = &checksumReader{r: body, h: newHash(), alg: alg, want: func() string { return chunked.trailers[name] }}
		}
	}
	return body
}
