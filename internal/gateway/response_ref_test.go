package gateway

// The encoding/json reading of a proxy response that the direct decoder
// replaced, kept as the reference FuzzProxyDecoder compares it with.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// proxyResponseJSON is a Lambda proxy integration's answer.
type proxyResponseJSON struct {
	StatusCode        json.RawMessage              `json:"statusCode"`
	Headers           map[string]json.RawMessage   `json:"headers"`
	MultiValueHeaders map[string][]json.RawMessage `json:"multiValueHeaders"`
	Body              json.RawMessage              `json:"body"`
	IsBase64Encoded   bool                         `json:"isBase64Encoded"`
	Cookies           []string                     `json:"cookies"`
}

// mapResponseJSON turns a function's payload into an HTTP response, as API
// Gateway maps it for the route's payload version.
func mapResponseJSON(payload []byte, v1 bool, h http.Header) (*httpResponse, error) {
	trimmed := bytes.TrimSpace(payload)
	var pr proxyResponseJSON
	isObject := len(trimmed) > 0 && trimmed[0] == '{'
	if isObject {
		if err := json.Unmarshal(trimmed, &pr); err != nil {
			return nil, fmt.Errorf("%w: %w", errMalformed, err)
		}
	}
	if !v1 && (!isObject || pr.StatusCode == nil) {
		// Payload 2.0: a value without statusCode is a 200 JSON response; a
		// JSON string is the body itself.
		if !json.Valid(trimmed) {
			return nil, fmt.Errorf("%w: the payload is not JSON", errMalformed)
		}
		body := trimmed
		if len(trimmed) > 0 && trimmed[0] == '"' {
			var s string
			_ = json.Unmarshal(trimmed, &s)
			body = []byte(s)
		}
		h["Content-Type"] = []string{"application/json"}
		return &httpResponse{status: http.StatusOK, header: h, body: body}, nil
	}
	if !isObject {
		return nil, fmt.Errorf("%w: the payload is not a JSON object", errMalformed)
	}
	status, err := parseStatusJSON(pr.StatusCode)
	if err != nil {
		return nil, err
	}
	for k, vs := range pr.MultiValueHeaders {
		if !v1 {
			break // payload 2.0 has no multiValueHeaders
		}
		ck := http.CanonicalHeaderKey(k)
		if skipResponseHeaderJSON(ck) {
			continue
		}
		list := make([]string, 0, len(vs))
		for _, v := range vs {
			s, err := headerValueJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%w: multiValueHeaders.%s: %w", errMalformed, k, err)
			}
			list = append(list, s)
		}
		h[ck] = list
	}
	for k, v := range pr.Headers {
		ck := http.CanonicalHeaderKey(k)
		if skipResponseHeaderJSON(ck) {
			continue
		}
		if _, set := pr.MultiValueHeaders[k]; set && v1 {
			continue // multiValueHeaders win, as in API Gateway
		}
		s, err := headerValueJSON(v)
		if err != nil {
			return nil, fmt.Errorf("%w: headers.%s: %w", errMalformed, k, err)
		}
		h[ck] = []string{s}
	}
	for _, c := range pr.Cookies {
		h.Add("Set-Cookie", c)
	}
	var body []byte
	if b := bytes.TrimSpace(pr.Body); len(b) > 0 && string(b) != "null" {
		if b[0] != '"' {
			return nil, fmt.Errorf("%w: body must be a string", errMalformed)
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%w: body: %w", errMalformed, err)
		}
		if pr.IsBase64Encoded {
			body, err = base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("%w: isBase64Encoded is true but the body is not base64: %w", errMalformed, err)
			}
		} else {
			body = []byte(s)
		}
	}
	if _, ok := h["Content-Type"]; !ok {
		if v1 {
			h["Content-Type"] = []string{"application/json"} // REST APIs' default
		} else {
			h["Content-Type"] = nil // no sniffing: send none, as HTTP APIs do
		}
	}
	return &httpResponse{status: status, header: h, body: body}, nil
}

func parseStatusJSON(raw json.RawMessage) (int, error) {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 1 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 200 || n > 599 {
		return 0, fmt.Errorf("%w: statusCode %s is not an HTTP status", errMalformed, raw)
	}
	return n, nil
}

// headerValue accepts strings, numbers and booleans (API Gateway stringifies them).
func headerValueJSON(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("empty value")
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{', '[':
		return "", errors.New("a header value must be a string")
	case 'n':
		return "", nil
	}
	return string(raw), nil
}

// skipResponseHeader drops headers the gateway owns.
func skipResponseHeaderJSON(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer":
		return true
	}
	return false
}
