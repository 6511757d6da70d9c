package gateway

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// httpResponse is what the gateway will write.
type httpResponse struct {
	status int
	header http.Header
	body   []byte
}

var errMalformed = errors.New("malformed Lambda proxy response")

// mapResponse turns a function's payload into an HTTP response, as API
// Gateway maps it for the route's payload version. f is the decoder's
// reusable state; the body points into payload or into *buf, a buffer kept
// for reuse.
func mapResponse(payload []byte, v1 bool, h http.Header, f *proxyFields, buf *[]byte) (httpResponse, error) {
	trimmed := bytes.TrimSpace(payload)
	isObject := len(trimmed) > 0 && trimmed[0] == '{'
	if isObject {
		if err := decodeProxy(trimmed, f); err != nil {
			return httpResponse{}, fmt.Errorf("%w: %w", errMalformed, err)
		}
	}
	if !v1 && (!isObject || f.status == nil) {
		// Payload 2.0: a value without statusCode is a 200 JSON response; a
		// JSON string is the body itself.
		if !isObject && !validJSON(trimmed) {
			return httpResponse{}, fmt.Errorf("%w: the payload is not JSON", errMalformed)
		}
		body := trimmed
		if trimmed[0] == '"' {
			body = unquoteBody(buf, trimmed)
		}
		h["Content-Type"] = []string{"application/json"}
		return httpResponse{status: http.StatusOK, header: h, body: body}, nil
	}
	if !isObject {
		return httpResponse{}, fmt.Errorf("%w: the payload is not a JSON object", errMalformed)
	}
	status, err := parseStatus(f.status)
	if err != nil {
		return httpResponse{}, err
	}
	if v1 { // payload 2.0 has no multiValueHeaders
		for _, m := range f.multi {
			ck := http.CanonicalHeaderKey(m.key)
			if skipResponseHeader(ck) {
				continue
			}
			list := make([]string, len(m.raws))
			for i, v := range m.raws {
				if list[i], err = headerValue(v); err != nil {
					return httpResponse{}, fmt.Errorf("%w: multiValueHeaders.%s: %w", errMalformed, m.key, err)
				}
			}
			h[ck] = list
		}
	}
	// One backing array for the single values.
	values := make([]string, len(f.headers))
	for i, hd := range f.headers {
		ck := http.CanonicalHeaderKey(hd.key)
		if skipResponseHeader(ck) {
			continue
		}
		if v1 && f.hasMulti(hd.key) {
			continue // multiValueHeaders win, as in API Gateway
		}
		if values[i], err = headerValue(hd.raw); err != nil {
			return httpResponse{}, fmt.Errorf("%w: headers.%s: %w", errMalformed, hd.key, err)
		}
		h[ck] = values[i : i+1 : i+1]
	}
	for _, c := range f.cookies {
		h.Add("Set-Cookie", c)
	}
	var body []byte
	if b := f.body; len(b) > 0 && string(b) != "null" {
		if b[0] != '"' {
			return httpResponse{}, fmt.Errorf("%w: body must be a string", errMalformed)
		}
		if f.base64 {
			src := b[1 : len(b)-1]
			if !plainString(b) {
				src = unquoteRaw(nil, b)
			}
			body = append((*buf)[:0], make([]byte, base64.StdEncoding.DecodedLen(len(src)))...)
			*buf = body[:0]
			n, err := base64.StdEncoding.Decode(body, src)
			if err != nil {
				return httpResponse{}, fmt.Errorf("%w: isBase64Encoded is true but the body is not base64: %w", errMalformed, err)
			}
			body = body[:n]
		} else {
			body = unquoteBody(buf, b)
		}
	}
	if _, ok := h["Content-Type"]; !ok {
		if v1 {
			h["Content-Type"] = []string{"application/json"} // REST APIs' default
		} else {
			h["Content-Type"] = nil // no sniffing: send none, as HTTP APIs do
		}
	}
	return httpResponse{status: status, header: h, body: body}, nil
}

// unquoteBody is the value of a checked JSON string: its inside when that
// needs no decoding (no copy), else decoded into *buf.
func unquoteBody(buf *[]byte, raw []byte) []byte {
	if plainString(raw) {
		return raw[1 : len(raw)-1]
	}
	b := unquoteRaw((*buf)[:0], raw)
	*buf = b[:0]
	return b
}

func parseStatus(raw []byte) (int, error) {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 1 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.Atoi(s)
	// 1xx is no final answer: net/http would write it as an interim one
	// (101 tells a proxy in front to tunnel the connection).
	if err != nil || n < 200 || n > 599 {
		return 0, fmt.Errorf("%w: statusCode %s is not an HTTP status", errMalformed, raw)
	}
	return n, nil
}

// headerValue accepts strings, numbers and booleans (API Gateway stringifies them).
func headerValue(raw []byte) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("empty value")
	}
	switch raw[0] {
	case '"':
		return unquoteString(raw), nil
	case '{', '[':
		return "", errors.New("a header value must be a string")
	case 'n':
		return "", nil
	}
	return string(raw), nil
}

// skipResponseHeader drops headers the gateway owns.
func skipResponseHeader(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer":
		return true
	}
	return false
}
