package httpguard

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// fastHead is a request head the fast path serves itself.
type fastHead struct {
	method, target string
	url            *url.URL
	host           string
	header         http.Header
	contentLength  int64
	close          bool // Connection: close
}

// maxFastBody bounds the bodies the fast path reads before the handler
// runs; a larger request goes to net/http, which streams it.
const maxFastBody = 64 << 10

// parseFastHead parses head (the request line and headers, ending with the
// empty line's CRLF) and says whether the fast path may serve it. It accepts
// only a strict subset of what net/http's server accepts and reads it as
// net/http does: HTTP/1.1, an origin-form target, one valid Host header,
// CRLF line ends, token header names, no obsolete line folding, no control
// characters but HTAB in values, at most one decimal Content-Length of at
// most maxFastBody, and none of Transfer-Encoding, Expect, Upgrade, Pragma,
// or Connection tokens but close and keep-alive. Anything else (including
// every malformed head) is false: net/http then reads the same bytes and
// answers them as it always did.
func parseFastHead(head []byte) (fastHead, bool) {
	var h fastHead
	eol := bytes.Index(head, crlf)
	if eol < 0 {
		return h, false
	}
	line := head[:eol]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return h, false
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || string(rest[sp2+1:]) != "HTTP/1.1" {
		return h, false
	}
	method, target := line[:sp1], rest[:sp2]
	for _, c := range method {
		if !httpguts.IsTokenRune(rune(c)) {
			return h, false
		}
	}
	if target[0] != '/' {
		return h, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return h, false
		}
	}

	// One string for the whole head: names that are already canonical and
	// every value are parts of it.
	s := string(head)
	off := eol + 2
	h.method = commonMethod(method, s[:sp1])
	h.target = s[sp1+1 : sp1+1+sp2]
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return h, false
	}
	h.url = u

	n := bytes.Count(head[off:], crlf) - 1 // header lines
	if n < 0 {
		return h, false
	}
	h.header = make(http.Header, n)
	values := make([]string, n)
	hosts, lengths := 0, 0
	for i := 0; ; i++ {
		e := bytes.Index(head[off:], crlf)
		if e < 0 {
			return h, false
		}
		if e == 0 {
			if off+2 != len(head) {
				return h, false
			}
			break
		}
		ln := head[off : off+e]
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			return h, false
		}
		canonical := true
		upper := true
		for _, c := range ln[:colon] {
			if !httpguts.IsTokenRune(rune(c)) {
				return h, false
			}
			if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
				canonical = false
			}
			upper = c == '-'
		}
		var key string
		if canonical {
			key = s[off : off+colon]
		} else {
			key = textproto.CanonicalMIMEHeaderKey(s[off : off+colon])
		}
		v := ln[colon+1:]
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return h, false
			}
		}
		start, end := colon+1, e
		for start < end && (ln[start] == ' ' || ln[start] == '\t') {
			start++
		}
		for end > start && (ln[end-1] == ' ' || ln[end-1] == '\t') {
			end--
		}
		val := s[off+start : off+end]
		switch key {
		case "Host":
			hosts++
			if !validHost(val) {
				return h, false
			}
			h.host = val
			off += e + 2
			continue // net/http keeps Host out of Header
		case "Content-Length":
			lengths++
			cl, ok := decimal(val)
			if !ok || cl > maxFastBody {
				return h, false
			}
			h.contentLength = cl
		case "Connection":
			switch {
			case asciiEqualFold(val, "close"):
				h.close = true
			case asciiEqualFold(val, "keep-alive"):
			default:
				return h, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Pragma", "Te", "Trailer":
			return h, false
		}
		if vs := h.header[key]; vs != nil {
			h.header[key] = append(vs, val)
		} else {
			values[i] = val
			h.header[key] = values[i : i+1 : i+1]
		}
		off += e + 2
	}
	if hosts != 1 || lengths > 1 {
		return h, false
	}
	return h, true
}

var crlf = []byte("\r\n")

func commonMethod(b []byte, s string) string {
	switch string(b) {
	case "POST":
		return http.MethodPost
	case "GET":
		return http.MethodGet
	case "PUT":
		return http.MethodPut
	case "HEAD":
		return http.MethodHead
	case "DELETE":
		return http.MethodDelete
	}
	return s
}

// validHost is stricter than net/http's check: names, IPv4 and bracketed
// IPv6 addresses with a port. Anything else goes to net/http.
func validHost(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// decimal parses 1 to 18 ASCII digits.
func decimal(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
