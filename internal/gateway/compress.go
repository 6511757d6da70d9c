package gateway

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// compressors keeps gzip and brotli writers for reuse: building one costs
// far more than compressing a typical API response.
type compressors struct {
	gzip   sync.Pool
	brotli sync.Pool
}

const brotliLevel = 4 // fast; most of the gain on JSON at a fraction of level 11's cost

// pickEncoding chooses br or gzip from Accept-Encoding (q=0 refuses).
func pickEncoding(accept string) string {
	if accept == "" {
		return ""
	}
	var gz, br bool
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		if q := strings.TrimSpace(params); strings.HasPrefix(q, "q=") {
			if v, err := strconv.ParseFloat(q[2:], 64); err == nil && v == 0 {
				continue
			}
		}
		switch strings.ToLower(name) {
		case "br":
			br = true
		case "gzip", "x-gzip":
			gz = true
		case "*":
			gz = true
		}
	}
	switch {
	case br:
		return "br"
	case gz:
		return "gzip"
	}
	return ""
}

// compressible says whether a content type gains from compression.
func compressible(ct string) bool {
	ct = strings.ToLower(ct)
	switch {
	case ct == "":
		return true
	case strings.HasPrefix(ct, "image/svg"):
		return true
	case strings.HasPrefix(ct, "image/"), strings.HasPrefix(ct, "video/"), strings.HasPrefix(ct, "audio/"),
		strings.HasPrefix(ct, "application/zip"), strings.HasPrefix(ct, "application/gzip"),
		strings.HasPrefix(ct, "application/x-gzip"), strings.HasPrefix(ct, "application/octet-stream"),
		strings.HasPrefix(ct, "font/woff"), strings.HasPrefix(ct, "application/pdf"):
		return false
	}
	return true
}

// compress encodes resp.body into out when the client accepts it and the
// body is at least min bytes; it reports whether it did.
func (c *compressors) compress(r *http.Request, resp *httpResponse, min int, out *bytes.Buffer) bool {
	if min < 0 || len(resp.body) < min || len(resp.body) == 0 || resp.status == http.StatusNoContent || resp.status == http.StatusNotModified {
		return false
	}
	if _, set := resp.header["Content-Encoding"]; set {
		return false
	}
	var ct string
	if v := resp.header["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	if !compressible(ct) {
		return false
	}
	for _, v := range resp.header["Cache-Control"] {
		if strings.Contains(strings.ToLower(v), "no-transform") {
			return false
		}
	}
	// The answer now depends on Accept-Encoding, whether or not this caller
	// accepts an encoding: a shared cache must not hand the plain body to
	// callers that would take it compressed, nor the reverse.
	addVary(resp.header, "Accept-Encoding")
	enc := pickEncoding(r.Header.Get("Accept-Encoding"))
	if enc == "" {
		return false
	}
	out.Reset()
	switch enc {
	case "br":
		w, _ := c.brotli.Get().(*brotli.Writer)
		if w == nil {
			w = brotli.NewWriterLevel(out, brotliLevel)
		} else {
			w.Reset(out)
		}
		_, err := w.Write(resp.body)
		if err == nil {
			err = w.Close()
		}
		c.brotli.Put(w)
		if err != nil {
			return false
		}
	default:
		w, _ := c.gzip.Get().(*gzip.Writer)
		if w == nil {
			w, _ = gzip.NewWriterLevel(out, gzip.DefaultCompression)
		} else {
			w.Reset(out)
		}
		_, err := w.Write(resp.body)
		if err == nil {
			err = w.Close()
		}
		c.gzip.Put(w)
		if err != nil {
			return false
		}
	}
	resp.body = out.Bytes()
	resp.header["Content-Encoding"] = []string{enc}
	return true
}

// addVary adds name to the Vary header unless it is already listed.
func addVary(h http.Header, name string) {
	for _, v := range h["Vary"] {
		for part := range strings.SplitSeq(v, ",") {
			if p := strings.TrimSpace(part); p == "*" || strings.EqualFold(p, name) {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], name)
}
