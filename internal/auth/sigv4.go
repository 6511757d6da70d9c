package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 constants from AWS's Signature Version 4 documentation.
const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	shortDateFormat = "20060102"
	// UnsignedPayload is the payload hash S3 and presigned URLs may declare.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxSkew is how far a request's date may be from the platform's clock.
	MaxSkew = 5 * time.Minute
	// S3MaxSkew is S3's own window (its MaxAllowedSkewMilliseconds, 900000),
	// for requests signed for the service "s3".
	S3MaxSkew = 15 * time.Minute
	// maxPresignExpiry is AWS's 7-day limit on X-Amz-Expires.
	maxPresignExpiry = 7 * 24 * time.Hour
)

// emptyPayloadHash is the SHA-256 of an empty body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// validRegion accepts the shape of AWS region names (us-east-1,
// us-gov-west-1, ap-southeast-2 ...) without a regular expression on the
// hot path.
func validRegion(s string) bool {
	parts := strings.Count(s, "-") + 1
	if parts < 3 || strings.IndexByte(s, '-') != 2 {
		return false
	}
	for i := 0; i < parts; i++ {
		p, rest, _ := strings.Cut(s, "-")
		s = rest
		if p == "" {
			return false
		}
		last := i == parts-1
		for j := 0; j < len(p); j++ {
			c := p[j]
			if last && (c < '0' || c > '9') || !last && (c < 'a' || c > 'z') {
				return false
			}
		}
	}
	return true
}

// signedRequest is a request's signature and what it claims, parsed from
// either the Authorization header or the presigned query.
type signedRequest struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedRaw     string // SignedHeaders as sent: lower-case names separated by ';'
	signature     string
	amzDate       time.Time
	amzDateRaw    string
	securityToken string
	presigned     bool
	expires       time.Duration
}

// parseRequest extracts the signature parts of r, or an *Error.
func parseRequest(r *http.Request) (*signedRequest, error) {
	sr := &signedRequest{}
	return sr, parseRequestInto(r, sr)
}

// parseRequestInto is parseRequest filling sr, which the verifier keeps on
// its stack.
func parseRequestInto(r *http.Request, sr *signedRequest) error {
	if h := headerValue(r.Header, "Authorization"); h != "" {
		return parseAuthorizationHeader(r, h, sr)
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "" || q.Get("X-Amz-Signature") != "" || q.Get("X-Amz-Credential") != "" {
		return parsePresigned(q, sr)
	}
	return newError(ErrMissingToken, "")
}

func parseAuthorizationHeader(r *http.Request, h string, sr *signedRequest) error {
	alg, rest, _ := strings.Cut(h, " ")
	if alg != algorithm {
		if strings.HasPrefix(h, "AWS ") || strings.HasPrefix(h, "AWS4-") {
			return newError(ErrIncompleteSignature, "Unsupported signing algorithm "+strconv.Quote(alg)+"; use "+algorithm+".")
		}
		return newError(ErrIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="+alg)
	}
	var credential, signedHeaders string
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			sr.signature = v
		}
	}
	if credential == "" || sr.signature == "" || signedHeaders == "" {
		var missing []string
		for _, kv := range [][2]string{{"Credential", credential}, {"Signature", sr.signature}, {"SignedHeaders", signedHeaders}} {
			if kv[1] == "" {
				missing = append(missing, "Authorization header requires '"+kv[0]+"' parameter.")
			}
		}
		return newError(ErrIncompleteSignature, strings.Join(missing, " ")+" Authorization="+h)
	}
	if err := sr.setCredential(credential); err != nil {
		return err
	}
	sr.signedRaw = signedHeaders
	raw := headerValue(r.Header, "X-Amz-Date")
	if raw == "" {
		if d := headerValue(r.Header, "Date"); d != "" {
			t, err := http.ParseTime(d)
			if err != nil {
				return newError(ErrIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '"+d+"'.")
			}
			sr.amzDate, sr.amzDateRaw = t.UTC(), t.UTC().Format(amzDateFormat)
		} else {
			return newError(ErrIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="+h)
		}
	} else if err := sr.setDate(raw); err != nil {
		return err
	}
	sr.securityToken = headerValue(r.Header, "X-Amz-Security-Token")
	return sr.check()
}

func parsePresigned(q url.Values, sr *signedRequest) error {
	sr.presigned = true
	var missing []string
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return presignedError("AWS query-string parameters must include " + strings.Join(missing, ", ") + ". Re-examine the query-string parameters.")
	}
	if a := q.Get("X-Amz-Algorithm"); a != algorithm {
		return presignedError("X-Amz-Algorithm only supports " + algorithm + ", not " + strconv.Quote(a) + ".")
	}
	if err := sr.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return markPresigned(err)
	}
	if err := sr.setDate(q.Get("X-Amz-Date")); err != nil {
		return markPresigned(err)
	}
	sr.signedRaw = q.Get("X-Amz-SignedHeaders")
	sr.signature = q.Get("X-Amz-Signature")
	sr.securityToken = q.Get("X-Amz-Security-Token")
	sr.expires = 15 * time.Minute
	if e := q.Get("X-Amz-Expires"); e != "" {
		// Compared as seconds before the conversion to a Duration, which
		// wraps for numbers past 9223372036: a huge value must not come out
		// as a small valid one.
		n, err := strconv.ParseInt(e, 10, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return presignedError("X-Amz-Expires should be a number")
		case strings.HasPrefix(e, "-"):
			return presignedError("X-Amz-Expires must be non-negative")
		case err != nil || n > int64(maxPresignExpiry/time.Second):
			return presignedError("X-Amz-Expires must be less than a week (in seconds) that is; 604800")
		}
		sr.expires = time.Duration(n) * time.Second
	}
	return markPresigned(sr.check())
}

// presignedError is a malformed presigned URL's refusal: S3 names it
// AuthorizationQueryParametersError.
func presignedError(msg string) error {
	return &Error{Reason: ErrIncompleteSignature, Message: msg, Presigned: true}
}

// markPresigned marks err, when it is a refusal, as one of a presigned URL.
func markPresigned(err error) error {
	if e, ok := AsError(err); ok {
		e.Presigned = true
	}
	return err
}

func (sr *signedRequest) setCredential(c string) error {
	// <key id>/<date>/<region>/<service>/aws4_request, five parts exactly.
	var parts [5]string
	rest, n := c, 0
	for ; n < len(parts); n++ {
		var more bool
		parts[n], rest, more = strings.Cut(rest, "/")
		if !more {
			n++
			break
		}
	}
	if n != 5 || rest != "" || strings.HasSuffix(c, "/") || parts[4] != "aws4_request" || parts[0] == "" {
		return newError(ErrIncompleteSignature, "Credential should be scoped to a valid region, not '"+c+"'. Credential should be of the form <key id>/<date>/<region>/<service>/aws4_request.")
	}
	sr.accessKeyID, sr.date, sr.region, sr.service = parts[0], parts[1], parts[2], parts[3]
	if !validRegion(sr.region) {
		return newError(ErrIncompleteSignature, "Credential should be scoped to a valid region, not '"+sr.region+"'.")
	}
	return nil
}

func (sr *signedRequest) setDate(raw string) error {
	if t, ok := parseBasicDate(raw); ok {
		sr.amzDate, sr.amzDateRaw = t, raw
		return nil
	}
	t, err := time.Parse(amzDateFormat, raw)
	if err != nil {
		return newError(ErrIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '"+raw+"'. See http://en.wikipedia.org/wiki/ISO_8601")
	}
	sr.amzDate, sr.amzDateRaw = t, raw
	return nil
}

// parseBasicDate reads an X-Amz-Date of exactly the form 20060102T150405Z
// with every field in range, as time.Parse(amzDateFormat) reads it; it
// reports false for anything else, which time.Parse then reads (or refuses)
// itself: fractional seconds, out-of-range fields, other lengths.
func parseBasicDate(raw string) (time.Time, bool) {
	if len(raw) != len(amzDateFormat) || raw[8] != 'T' || raw[15] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := raw[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(4, 6)
	day, ok3 := num(6, 8)
	hour, ok4 := num(9, 11)
	minute, ok5 := num(11, 13)
	sec, ok6 := num(13, 15)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // past the month's end: time.Parse refuses it
		return time.Time{}, false
	}
	return t, true
}

func (sr *signedRequest) check() error {
	var day [16]byte
	// The scope's day is the request date's first eight digits when the date
	// is in the basic format exactly (the usual case), else it is formatted.
	if (len(sr.amzDateRaw) != len(amzDateFormat) || sr.date != sr.amzDateRaw[:8]) &&
		sr.date != string(sr.amzDate.AppendFormat(day[:0], shortDateFormat)) {
		return newError(ErrSignatureMismatch, "Credential should be scoped to a valid date, not '"+sr.date+"'; the request date is "+sr.amzDateRaw+".")
	}
	hasHost := false
	prev, rest := "", sr.signedRaw
	for first := true; first || rest != ""; first = false {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if h == "host" {
			hasHost = true
		}
		if h == "" || !isLower(h) || (!first && prev >= h) {
			return newError(ErrIncompleteSignature, "SignedHeaders must be lower-case header names in sorted order separated by ';'.")
		}
		prev = h
	}
	if strings.HasSuffix(sr.signedRaw, ";") {
		return newError(ErrIncompleteSignature, "SignedHeaders must be lower-case header names in sorted order separated by ';'.")
	}
	if !hasHost {
		return newError(ErrIncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// isLower reports whether strings.ToLower(s) == s, without its copy.
func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			return false
		}
		if c >= 0x80 {
			return strings.ToLower(s) == s
		}
	}
	return true
}

// checkTime refuses requests outside the skew window (or, presigned, past
// their expiry).
func (sr *signedRequest) checkTime(now time.Time) error {
	if sr.presigned {
		if now.Before(sr.amzDate.Add(-MaxSkew)) {
			return &Error{Reason: ErrRequestNotYetValid, Message: "Request is not yet valid", Presigned: true}
		}
		if now.After(sr.amzDate.Add(sr.expires)) {
			return &Error{Reason: ErrRequestExpired, Message: "Request has expired", Presigned: true}
		}
		return nil
	}
	now = now.UTC()
	skew := MaxSkew
	if sr.service == "s3" {
		skew = S3MaxSkew
	}
	switch {
	case sr.amzDate.Before(now.Add(-skew)):
		return newError(ErrRequestExpired, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			sr.amzDateRaw, now.Add(-skew).Format(amzDateFormat), now.Format(amzDateFormat), int(skew.Minutes())))
	case sr.amzDate.After(now.Add(skew)):
		return newError(ErrRequestExpired, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			sr.amzDateRaw, now.Add(skew).Format(amzDateFormat), now.Format(amzDateFormat), int(skew.Minutes())))
	}
	return nil
}

// canonicalRequest builds the canonical request of AWS's specification.
// singleEncode is S3's rule: the path is used as sent, not encoded again.
func canonicalRequest(r *http.Request, sr *signedRequest, payloadHash string, singleEncode bool) (string, error) {
	b, err := appendCanonicalRequest(make([]byte, 0, 512), r, sr, payloadHash, singleEncode)
	return string(b), err
}

// appendCanonicalRequest appends the canonical request to b.
func appendCanonicalRequest[T string | []byte](b []byte, r *http.Request, sr *signedRequest, payloadHash T, singleEncode bool) ([]byte, error) {
	b = append(b, r.Method...)
	b = append(b, '\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if singleEncode {
		b = append(b, path...)
	} else {
		b = appendURIEncoded(b, path, false)
	}
	b = append(b, '\n')
	b = appendCanonicalQuery(b, r.URL.RawQuery, sr.presigned)
	b = append(b, '\n')
	for rest := sr.signedRaw; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		if !appendHeaderValues(&b, r, name) {
			return nil, newError(ErrSignatureMismatch, "The request signature we calculated does not match the signature you provided: signed header '"+name+"' is missing from the request.")
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, sr.signedRaw...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b, nil
}

// appendHeaderValues appends a signed header's values, trimmed and joined
// by commas; false if the request lacks it. Host and single-valued headers
// (the common case) need no allocation.
func appendHeaderValues(b *[]byte, r *http.Request, name string) bool {
	switch name {
	case "host":
		*b = appendTrimmedValue(*b, r.Host)
		return r.Host != ""
	case "content-length":
		// The declared length, or the one net/http took out of the
		// header map, formatted without a string.
		if values := r.Header["Content-Length"]; len(values) > 0 {
			for i, v := range values {
				if i > 0 {
					*b = append(*b, ',')
				}
				*b = appendTrimmedValue(*b, v)
			}
			return true
		}
		if r.ContentLength >= 0 {
			*b = strconv.AppendInt(*b, r.ContentLength, 10)
			return true
		}
		return false
	case "transfer-encoding":
		values, ok := headerValues(r, name)
		for i, v := range values {
			if i > 0 {
				*b = append(*b, ',')
			}
			*b = appendTrimmedValue(*b, v)
		}
		return ok
	}
	values := r.Header[canonicalHeaderName(name)]
	for i, v := range values {
		if i > 0 {
			*b = append(*b, ',')
		}
		*b = appendTrimmedValue(*b, v)
	}
	return len(values) > 0
}

// headerValues reads a signed header, including those net/http moves out of
// the header map.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		return []string{r.Host}, r.Host != ""
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v, true
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}, true
		}
		return nil, false
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}, true
		}
	}
	v := r.Header[canonicalHeaderName(name)]
	return v, len(v) > 0
}

// canonicalHeaderName is net/http's key for a lower-case header name, without
// an allocation for the headers SDKs sign.
func canonicalHeaderName(lower string) string {
	switch lower {
	case "x-amz-date":
		return "X-Amz-Date"
	case "content-type":
		return "Content-Type"
	case "x-amz-target":
		return "X-Amz-Target"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	case "x-amz-user-agent":
		return "X-Amz-User-Agent"
	case "x-amz-invocation-type":
		return "X-Amz-Invocation-Type"
	case "x-amz-log-type":
		return "X-Amz-Log-Type"
	case "x-amz-client-context":
		return "X-Amz-Client-Context"
	case "content-encoding":
		return "Content-Encoding"
	case "content-md5":
		return "Content-Md5"
	}
	return textproto.CanonicalMIMEHeaderKey(lower)
}

// appendTrimmedValue appends v without leading and trailing spaces and with
// runs of spaces collapsed, as the specification asks.
func appendTrimmedValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	// Most values have no tab and no run of spaces: copied whole.
	if strings.IndexByte(v, '\t') < 0 && !strings.Contains(v, "  ") {
		return append(b, v...)
	}
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return b
}

type queryPair struct{ k, v string }

// appendCanonicalQuery sorts the parameters by encoded name then value, each
// encoded with the specification's rules (space as %20).
func appendCanonicalQuery(b []byte, raw string, presigned bool) []byte {
	if raw == "" {
		return b
	}
	var pairs []queryPair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, errK := url.QueryUnescape(k)
		v, errV := url.QueryUnescape(v)
		if errK != nil || errV != nil {
			continue
		}
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, queryPair{string(appendURIEncoded(nil, k, true)), string(appendURIEncoded(nil, v, true))})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

// appendURIEncoded encodes every byte but the unreserved characters (and '/'
// unless encodeSlash), in upper-case hex.
func appendURIEncoded(b []byte, s string, encodeSlash bool) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return b
}

// stringToSign is the specification's string to sign.
func stringToSign(sr *signedRequest, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + sr.amzDateRaw + "\n" + sr.date + "/" + sr.region + "/" + sr.service + "/aws4_request\n" + hex.EncodeToString(sum[:])
}

// appendStringToSign appends the string to sign of a canonical request
// whose SHA-256 is sum.
func appendStringToSign(b []byte, sr *signedRequest, sum *[sha256.Size]byte) []byte {
	b = append(b, algorithm+"\n"...)
	b = append(b, sr.amzDateRaw...)
	b = append(b, '\n')
	b = append(b, sr.date...)
	b = append(b, '/')
	b = append(b, sr.region...)
	b = append(b, '/')
	b = append(b, sr.service...)
	b = append(b, "/aws4_request\n"...)
	return hex.AppendEncode(b, sum[:])
}

// hmacKey is a signing key with its HMAC pads (RFC 2104) worked out once:
// the signing-key cache keeps it, so a request's HMAC only copies them.
type hmacKey struct {
	key        []byte
	ipad, opad [64]byte
}

// newHMACKey pads key, which must be at most 64 bytes (signing keys are 32).
func newHMACKey(key []byte) *hmacKey {
	k := &hmacKey{key: key}
	for i := range 64 {
		var b byte
		if i < len(key) {
			b = key[i]
		}
		k.ipad[i], k.opad[i] = b^0x36, b^0x5c
	}
	return k
}

// hmacSum is HMAC-SHA256 (RFC 2104) of data under a key of at most 64 bytes
// (signing keys are 32), computed with sha256.Sum256 over a stack buffer
// when data is short: no hmac.New and its two digests per request.
func hmacSum(key []byte, data []byte) [sha256.Size]byte {
	if len(key) > 64 {
		var out [sha256.Size]byte
		copy(out[:], hmacSHA256(key, string(data)))
		return out
	}
	return newHMACKey(key).sum(data)
}

// sum is the HMAC of data under k.
func (k *hmacKey) sum(data []byte) [sha256.Size]byte {
	var stack [1024]byte
	buf := stack[:0]
	if 64+len(data) > len(stack) {
		buf = make([]byte, 0, 64+len(data))
	}
	buf = append(buf, k.ipad[:]...)
	buf = append(buf, data...)
	inner := sha256.Sum256(buf)
	var outer [64 + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[64:], inner[:])
	return sha256.Sum256(outer[:])
}

// signatureMatchesBytes is signatureMatches for a string to sign in bytes.
func signatureMatchesBytes(signingKey []byte, toSign []byte, hexSignature string) bool {
	if len(signingKey) > 64 {
		return signatureMatches(signingKey, string(toSign), hexSignature)
	}
	return newHMACKey(signingKey).matches(toSign, hexSignature)
}

// matches compares the hex signature with the HMAC of toSign under k, in
// constant time.
func (k *hmacKey) matches(toSign []byte, hexSignature string) bool {
	want := k.sum(toSign)
	if len(hexSignature) != 2*len(want) {
		return false
	}
	var got [sha256.Size]byte
	for i := range got {
		hi, ok1 := unhex(hexSignature[2*i])
		lo, ok2 := unhex(hexSignature[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		got[i] = hi<<4 | lo
	}
	return hmac.Equal(got[:], want[:])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// SigningKey derives the key of the specification: HMACs of the date,
// region, service and "aws4_request" under "AWS4"+secret.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signature is the hex HMAC of the string to sign under the signing key.
func signature(signingKey []byte, toSign string) string {
	return hex.EncodeToString(hmacSHA256(signingKey, toSign))
}

// signatureMatches compares the request's hex signature with the HMAC of
// the string to sign, in constant time.
func signatureMatches(signingKey []byte, toSign string, hexSignature string) bool {
	want := hmacSHA256(signingKey, toSign)
	if len(hexSignature) != 2*len(want) {
		return false
	}
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], []byte(hexSignature)); err != nil {
		return false
	}
	return hmac.Equal(got[:], want)
}

// errBodyTooLarge is returned when a body with no declared hash is larger than
// the verifier will buffer.
var errBodyTooLarge = errors.New("request body too large to verify")

// readBody reads r.Body (at most limit bytes) and puts an in-memory reader of
// it back, so the handler reads the same bytes without a second copy from
// the network.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	// A body the listener has already read whole (httpguard's fast path)
	// is taken as it is rather than copied, and left in place: it serves
	// BufferedBody itself.
	if wb, ok := r.Body.(wholeBody); ok {
		if body, ok := wb.WholeBody(); ok {
			if int64(len(body)) > limit {
				return nil, errBodyTooLarge
			}
			return body, nil
		}
	}
	if ra, ok := r.Body.(interface{ ReadAhead() []byte }); ok {
		body := ra.ReadAhead()
		if int64(len(body)) > limit {
			return nil, errBodyTooLarge
		}
		bb := &bufferedBody{data: body}
		bb.Reset(body)
		r.Body = bb
		return body, nil
	}
	size := r.ContentLength
	if size < 0 || size > 64<<10 {
		size = 64 << 10 // grow as data arrives rather than trusting the announced length
	}
	body := make([]byte, 0, size+1)
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if int64(len(body)) > limit {
			_ = r.Body.Close()
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = r.Body.Close()
			return nil, fmt.Errorf("the request body stopped arriving: %d bytes received in time", len(body))
		}
		if err != nil {
			_ = r.Body.Close()
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
	_ = r.Body.Close()
	bb := &bufferedBody{data: body}
	bb.Reset(body)
	r.Body = bb
	return body, nil
}

// wholeBody is a body a listener read into memory before the handler:
// WholeBody gives its bytes when none has been read yet.
type wholeBody interface {
	WholeBody() ([]byte, bool)
}

// bufferedBody is a body already read to verify its hash; handlers take the
// bytes (BufferedBody) instead of copying them again. The reader is held by
// value: one allocation for both.
type bufferedBody struct {
	bytes.Reader
	data []byte
}

func (*bufferedBody) Close() error { return nil }

// BufferedBody returns the request's whole body when the verifier already
// read it into memory; handlers must not modify it.
func BufferedBody(r *http.Request) ([]byte, bool) {
	if wb, ok := r.Body.(wholeBody); ok {
		return wb.WholeBody()
	}
	b, ok := r.Body.(*bufferedBody)
	if !ok || b.Len() != len(b.data) {
		return nil, false
	}
	return b.data, true
}

// hashingBody checks a streamed body against the hash the signature covers;
// the reader fails at its end when they differ, so the handler sees an error
// instead of a complete body.
type hashingBody struct {
	io.ReadCloser
	h    hash.Hash
	want string
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(b.h.Sum(nil)) != b.want {
		return n, newError(ErrSignatureMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return n, err
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// headerValue is h.Get(key) for a key already in canonical form: the map
// read without canonicalising the key again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
