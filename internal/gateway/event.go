package gateway

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// request is one HTTP request on its way to becoming an event.
type request struct {
	r         *http.Request
	rt        *route
	path      string // decoded path the function sees (without the stage for REST)
	rawPath   string // escaped path the function sees
	params    []param
	query     []queryPair
	body      []byte
	base64    bool // body must travel base64-encoded
	requestID string
	now       time.Time
	sourceIP  string
	port      string
	// authorizer is the JSON object for requestContext.authorizer, or nil.
	authorizer []byte
	apiKey     *apiKey
	accountID  string
	// names holds the caller's spelling of header names that net/http
	// canonicalised ("name:" each), for payload 1.0 of REST APIs.
	names []byte
	// stageVariables is always null, which is what API Gateway sends when a
	// stage defines none: the Serverless Framework (v3) has no setting for
	// them, and the manifest carries none to the gateway.
}

type queryPair struct{ key, value string }

// parseQuery splits a raw query into decoded pairs, in order, reusing dst.
func parseQuery(dst []queryPair, raw string) []queryPair {
	dst = dst[:0]
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		dst = append(dst, queryPair{k, v})
	}
	return dst
}

func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// isTextType says whether a body of this content type travels as text in
// HTTP API and function URL events (others are base64-encoded, as AWS does).
func isTextType(ct string) bool {
	ct = strings.ToLower(ct)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	switch {
	case strings.HasPrefix(ct, "text/"),
		strings.HasSuffix(ct, "/json"), strings.HasSuffix(ct, "+json"),
		strings.HasSuffix(ct, "/xml"), strings.HasSuffix(ct, "+xml"),
		ct == "application/javascript", ct == "application/x-www-form-urlencoded",
		ct == "application/graphql", ct == "application/yaml", ct == "application/x-yaml":
		return true
	}
	return false
}

// matchesMediaType reports whether ct is one of the binaryMediaTypes
// ("image/png", "image/*", "*/*").
func matchesMediaType(ct string, types []string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	for _, t := range types {
		t = strings.ToLower(t)
		if t == "*/*" || t == ct {
			return true
		}
		if strings.HasSuffix(t, "/*") && strings.HasPrefix(ct, t[:len(t)-1]) {
			return true
		}
	}
	return false
}

// decideBase64 picks the body encoding as the API kind does.
func (q *request) decideBase64() {
	if len(q.body) == 0 {
		return
	}
	ct := q.r.Header.Get("Content-Type")
	if q.rt.kind == kindREST {
		// REST APIs pass a body base64-encoded when its Content-Type matches
		// binaryMediaTypes, as AWS does. Otherwise AWS treats the body as
		// UTF-8 text ("Text data | Any data type | binaryMediaTypes undefined
		// -> UTF8-encoded string" in API Gateway's content type conversion
		// table): bytes that are not UTF-8 reach the function as U+FFFD and
		// are lost for good. nimbus deliberately differs here: such a body
		// travels base64-encoded with isBase64Encoded: true. Handlers written
		// for Lambda already honour that flag, so nothing written for AWS
		// breaks, and no upload is silently corrupted. Valid UTF-8 bodies
		// (every text body) travel as text, exactly as on AWS.
		q.base64 = matchesMediaType(ct, q.rt.api.binaryMediaTypes) || !utf8.Valid(q.body)
		return
	}
	if ct == "" {
		q.base64 = !utf8.Valid(q.body)
		return
	}
	q.base64 = !isTextType(ct)
}

const timeLayout = "02/Jan/2006:15:04:05 -0700"

// forwardedHeaders are the ones API Gateway sets itself.
func isForwardedHeader(k string) bool {
	return k == "X-Forwarded-For" || k == "X-Forwarded-Proto" || k == "X-Forwarded-Port"
}

func (q *request) forwardedFor() string {
	if prev := q.r.Header.Get("X-Forwarded-For"); prev != "" {
		return prev + ", " + q.sourceIP
	}
	return q.sourceIP
}

// appendV1Headers writes "headers" and "multiValueHeaders" (payload 1.0).
// REST APIs pass names as the caller wrote them; HTTP APIs lower-case them
// in both payload versions.
func (q *request) appendV1Headers(b []byte) []byte {
	h := q.r.Header
	lower := q.rt.kind != kindREST
	b = append(b, `"headers":{`...)
	b = q.appendV1Name(b, "Host", lower)
	b = append(b, ':')
	b = appendString(b, q.r.Host)
	for k, vs := range h {
		if len(vs) == 0 || isForwardedHeader(k) {
			continue
		}
		b = append(b, ',')
		b = q.appendV1Name(b, k, lower)
		b = append(b, ':')
		b = appendString(b, vs[len(vs)-1])
	}
	b = append(b, ',')
	b = appendV1Forwarded(b, "X-Forwarded-For", lower)
	b = appendString(b, q.forwardedFor())
	b = append(b, ',')
	b = appendV1Forwarded(b, "X-Forwarded-Port", lower)
	b = appendString(b, q.port)
	b = append(b, ',')
	b = appendV1Forwarded(b, "X-Forwarded-Proto", lower)
	b = append(b, `"http"},"multiValueHeaders":{`...)
	b = q.appendV1Name(b, "Host", lower)
	b = append(b, ':', '[')
	b = appendString(b, q.r.Host)
	b = append(b, ']')
	for k, vs := range h {
		if len(vs) == 0 || isForwardedHeader(k) {
			continue
		}
		b = append(b, ',')
		b = q.appendV1Name(b, k, lower)
		b = append(b, ':', '[')
		for i, v := range vs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, ',')
	b = appendV1Forwarded(b, "X-Forwarded-For", lower)
	b = append(b, '[')
	b = appendString(b, q.forwardedFor())
	b = append(b, `],`...)
	b = appendV1Forwarded(b, "X-Forwarded-Port", lower)
	b = append(b, '[')
	b = appendString(b, q.port)
	b = append(b, `],`...)
	b = appendV1Forwarded(b, "X-Forwarded-Proto", lower)
	return append(b, `["http"]}`...)
}

// appendV1Name writes a header name as a JSON string: lower-cased, or as the
// caller spelled it when net/http changed it.
func (q *request) appendV1Name(b []byte, k string, lower bool) []byte {
	if lower {
		return appendLowerString(b, k)
	}
	if raw := rawName(q.names, k); raw != nil {
		return appendBytesString(b, raw)
	}
	return appendString(b, k)
}

// appendV1Forwarded writes the name of a header API Gateway sets, and a colon.
func appendV1Forwarded(b []byte, k string, lower bool) []byte {
	if lower {
		b = appendLowerString(b, k)
	} else {
		b = appendString(b, k)
	}
	return append(b, ':')
}

// appendV1Query writes the two query maps (payload 1.0): the last value of a
// repeated key, and every value.
func (q *request) appendV1Query(b []byte) []byte {
	if len(q.query) == 0 {
		return append(b, `"queryStringParameters":null,"multiValueQueryStringParameters":null`...)
	}
	b = append(b, `"queryStringParameters":{`...)
	first := true
	for i, p := range q.query {
		if q.seenLater(i) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, p.key)
		b = append(b, ':')
		b = appendString(b, p.value)
	}
	b = append(b, `},"multiValueQueryStringParameters":{`...)
	first = true
	for i, p := range q.query {
		if q.seenBefore(i) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, p.key)
		b = append(b, ':', '[')
		for j := i; j < len(q.query); j++ {
			if q.query[j].key == p.key {
				if j > i {
					b = append(b, ',')
				}
				b = appendString(b, q.query[j].value)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendV2Query writes queryStringParameters with repeated keys comma-joined.
func (q *request) appendV2Query(b []byte) []byte {
	b = append(b, `"queryStringParameters":{`...)
	first := true
	for i, p := range q.query {
		if q.seenBefore(i) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, p.key)
		b = append(b, ':', '"')
		n := 0
		for j := i; j < len(q.query); j++ {
			if q.query[j].key == p.key {
				if n > 0 {
					b = append(b, ',')
				}
				n++
				b = appendEscaped(b, q.query[j].value)
			}
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

func (q *request) seenBefore(i int) bool {
	for j := 0; j < i; j++ {
		if q.query[j].key == q.query[i].key {
			return true
		}
	}
	return false
}

func (q *request) seenLater(i int) bool {
	for j := i + 1; j < len(q.query); j++ {
		if q.query[j].key == q.query[i].key {
			return true
		}
	}
	return false
}

func (q *request) appendPathParams(b []byte, nullIfNone bool) []byte {
	if len(q.params) == 0 {
		if nullIfNone {
			return append(b, `"pathParameters":null`...)
		}
		return b
	}
	b = append(b, `"pathParameters":{`...)
	for i, p := range q.params {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, p.name)
		b = append(b, ':')
		v := p.value
		if strings.IndexByte(v, '%') >= 0 {
			if d, err := url.PathUnescape(v); err == nil {
				v = d
			}
		}
		b = appendString(b, v)
	}
	return append(b, '}')
}

func (q *request) appendBody(b []byte, nullIfNone bool) []byte {
	if len(q.body) == 0 {
		if nullIfNone {
			return append(b, `"body":null,"isBase64Encoded":false`...)
		}
		return append(b, `"isBase64Encoded":false`...)
	}
	b = append(b, `"body":`...)
	if q.base64 {
		b = append(b, '"')
		n := base64.StdEncoding.EncodedLen(len(q.body))
		b = append(b, make([]byte, n)...)
		base64.StdEncoding.Encode(b[len(b)-n:], q.body)
		b = append(b, `","isBase64Encoded":true`...)
		return b
	}
	b = appendBytesString(b, q.body)
	return append(b, `,"isBase64Encoded":false`...)
}

func (q *request) domainPrefix() string {
	host := q.r.Host
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if i := strings.IndexByte(host, '.'); i >= 0 {
		return host[:i]
	}
	return host
}

func (q *request) stage() string {
	if q.rt.kind == kindREST {
		return q.rt.api.stage
	}
	return "$default"
}

func (q *request) apiID() string {
	switch q.rt.kind {
	case kindREST:
		return q.rt.api.restID
	case kindURL:
		return urlID(q.rt.function)
	}
	return q.rt.api.httpID
}

// urlID is a function URL's id (the host label in AWS).
func urlID(function string) string { return apiID("url", function, "") }

func (q *request) resource() string {
	if q.rt.pattern == "" {
		return "$default"
	}
	return q.rt.pattern
}

// appendEventV1 builds a payload 1.0 event.
func (q *request) appendEventV1(b []byte) []byte {
	b = append(b, `{"resource":`...)
	b = appendString(b, q.resource())
	b = append(b, `,"path":`...)
	b = appendString(b, q.path)
	b = append(b, `,"httpMethod":`...)
	b = appendString(b, q.r.Method)
	b = append(b, ',')
	b = q.appendV1Headers(b)
	b = append(b, ',')
	b = q.appendV1Query(b)
	b = append(b, ',')
	b = q.appendPathParams(b, true)
	b = append(b, `,"stageVariables":null,"requestContext":{"accountId":`...)
	b = appendString(b, q.accountID)
	b = append(b, `,"apiId":`...)
	b = appendString(b, q.apiID())
	if q.authorizer != nil {
		b = append(b, `,"authorizer":`...)
		b = append(b, q.authorizer...)
	}
	b = append(b, `,"domainName":`...)
	b = appendString(b, q.r.Host)
	b = append(b, `,"domainPrefix":`...)
	b = appendString(b, q.domainPrefix())
	b = append(b, `,"extendedRequestId":`...)
	b = appendString(b, q.requestID)
	b = append(b, `,"httpMethod":`...)
	b = appendString(b, q.r.Method)
	b = append(b, `,"identity":{"accessKey":null,"accountId":null,"apiKey":`...)
	if q.apiKey != nil {
		b = appendString(b, q.apiKey.value)
		b = append(b, `,"apiKeyId":`...)
		b = appendString(b, q.apiKey.id)
	} else {
		b = append(b, `null,"apiKeyId":null`...)
	}
	b = append(b, `,"caller":null,"cognitoAuthenticationProvider":null,"cognitoAuthenticationType":null,"cognitoIdentityId":null,"cognitoIdentityPoolId":null,"principalOrgId":null,"sourceIp":`...)
	b = appendString(b, q.sourceIP)
	b = append(b, `,"user":null,"userAgent":`...)
	b = appendString(b, q.r.UserAgent())
	b = append(b, `,"userArn":null},"path":`...)
	b = appendString(b, q.r.URL.Path)
	b = append(b, `,"protocol":`...)
	b = appendString(b, q.r.Proto)
	b = append(b, `,"requestId":`...)
	b = appendString(b, q.requestID)
	b = append(b, `,"requestTime":`...)
	b = q.now.UTC().AppendFormat(append(b, '"'), timeLayout)
	b = append(b, `","requestTimeEpoch":`...)
	b = appendInt(b, q.now.UnixMilli())
	b = append(b, `,"resourceId":`...)
	b = appendString(b, keyID(q.rt.routeKey)[:6])
	b = append(b, `,"resourcePath":`...)
	b = appendString(b, q.resource())
	b = append(b, `,"stage":`...)
	b = appendString(b, q.stage())
	b = append(b, `},`...)
	b = q.appendBody(b, true)
	return append(b, '}')
}

// appendEventV2 builds a payload 2.0 event (HTTP APIs and function URLs).
func (q *request) appendEventV2(b []byte) []byte {
	b = append(b, `{"version":"2.0","routeKey":`...)
	b = appendString(b, q.rt.routeKey)
	b = append(b, `,"rawPath":`...)
	b = appendString(b, q.rawPath)
	b = append(b, `,"rawQueryString":`...)
	b = appendString(b, q.r.URL.RawQuery)
	b = q.appendV2Headers(b)
	if len(q.query) > 0 {
		b = append(b, ',')
		b = q.appendV2Query(b)
	}
	if len(q.params) > 0 {
		b = append(b, ',')
		b = q.appendPathParams(b, false)
	}
	b = append(b, `,"requestContext":{"accountId":`...)
	b = appendString(b, q.accountID)
	b = append(b, `,"apiId":`...)
	b = appendString(b, q.apiID())
	if q.authorizer != nil {
		b = append(b, `,"authorizer":`...)
		b = append(b, q.authorizer...)
	}
	b = append(b, `,"domainName":`...)
	b = appendString(b, q.r.Host)
	b = append(b, `,"domainPrefix":`...)
	b = appendString(b, q.domainPrefix())
	b = append(b, `,"http":{"method":`...)
	b = appendString(b, q.r.Method)
	b = append(b, `,"path":`...)
	b = appendString(b, q.path)
	b = append(b, `,"protocol":`...)
	b = appendString(b, q.r.Proto)
	b = append(b, `,"sourceIp":`...)
	b = appendString(b, q.sourceIP)
	b = append(b, `,"userAgent":`...)
	b = appendString(b, q.r.UserAgent())
	b = append(b, `},"requestId":`...)
	b = appendString(b, q.requestID)
	b = append(b, `,"routeKey":`...)
	b = appendString(b, q.rt.routeKey)
	b = append(b, `,"stage":"$default","time":`...)
	b = q.now.UTC().AppendFormat(append(b, '"'), timeLayout)
	b = append(b, `","timeEpoch":`...)
	b = appendInt(b, q.now.UnixMilli())
	b = append(b, `},`...)
	b = q.appendBody(b, false)
	return append(b, '}')
}

// appendV2Headers writes "cookies" (when there are any) and "headers":
// lower-case names, repeated values comma-joined, cookies taken out.
func (q *request) appendV2Headers(b []byte) []byte {
	h := q.r.Header
	if cookies := h["Cookie"]; len(cookies) > 0 {
		b = append(b, `,"cookies":[`...)
		n := 0
		for _, line := range cookies {
			for line != "" {
				var c string
				c, line, _ = strings.Cut(line, ";")
				if c = strings.TrimSpace(c); c == "" {
					continue
				}
				if n > 0 {
					b = append(b, ',')
				}
				n++
				b = appendString(b, c)
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"headers":{"host":`...)
	b = appendString(b, q.r.Host)
	for k, vs := range h {
		if len(vs) == 0 || k == "Cookie" || isForwardedHeader(k) {
			continue
		}
		b = append(b, ',')
		b = appendLowerString(b, k)
		b = append(b, ':')
		if len(vs) == 1 {
			b = appendString(b, vs[0])
			continue
		}
		b = appendString(b, strings.Join(vs, ","))
	}
	b = append(b, `,"x-forwarded-for":`...)
	b = appendString(b, q.forwardedFor())
	b = append(b, `,"x-forwarded-port":`...)
	b = appendString(b, q.port)
	return append(b, `,"x-forwarded-proto":"http"}`...)
}
