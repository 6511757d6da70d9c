package auth

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Pieces the random requests are made of: escapes, characters that the two
// encoding rules treat differently, spaces and unicode. No tabs in header
// values: SDKs disagree on them (aws-sdk-go-v2 signs a tab as it is, botocore
// and the JavaScript SDK as a space, which is what the verifier does).
var (
	diffPathPieces  = []string{"a", "Zz9", "-_.~", "%20", "%2F", "%3A", "%24", "%25", "+", "=", "@", "!", "*", "'", "(", ")", ",", "%E2%82%AC", "caf%C3%A9", "x%2By"}
	diffQueryPieces = []string{"", "a", "B", "1", "%20", "+", "a+b", "%2B", "%26", "%3D", "~x", "*", "%2F/", "%E2%82%AC", "Action", "Version"}
	diffHeaderNames = []string{"X-Amz-Target", "Content-Type", "X-Amz-Meta-Color", "X-Custom", "Amz-Sdk-Request", "Content-Md5"}
	diffValues      = []string{"plain", "two words", "  padded  ", "run   of   spaces", "application/x-amz-json-1.0", "attempt=1; max=3", "a,b", ""}
)

func pickOne[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// diffRequest is a random request as a client would build it.
func diffRequest(t *testing.T, rng *rand.Rand) (*http.Request, []byte) {
	t.Helper()
	var path strings.Builder
	for range 1 + rng.IntN(4) {
		path.WriteByte('/')
		for range rng.IntN(4) {
			path.WriteString(pickOne(rng, diffPathPieces))
		}
	}
	var query []string
	for range rng.IntN(5) {
		k := pickOne(rng, diffQueryPieces)
		if k == "" {
			k = "k"
		}
		switch rng.IntN(4) {
		case 0:
			query = append(query, k) // no '='
		case 1:
			query = append(query, k+"=") // empty value
		default:
			query = append(query, k+"="+pickOne(rng, diffQueryPieces))
		}
		if rng.IntN(3) == 0 { // the same name again
			query = append(query, k+"="+pickOne(rng, diffQueryPieces))
		}
	}
	u := "http://127.0.0.1:9000" + path.String()
	if len(query) > 0 {
		u += "?" + strings.Join(query, "&")
	}
	body := make([]byte, rng.IntN(3)*rng.IntN(200))
	for i := range body {
		body[i] = byte(rng.IntN(256))
	}
	r, err := http.NewRequest(pickOne(rng, []string{"GET", "POST", "PUT", "DELETE", "HEAD"}), u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for range rng.IntN(5) {
		name := pickOne(rng, diffHeaderNames)
		v := pickOne(rng, diffValues)
		if v == "" {
			continue
		}
		r.Header.Add(name, v)
	}
	return r, body
}

// serverView is the request as the platform reads it off the wire.
func serverView(t *testing.T, r *http.Request) *http.Request {
	t.Helper()
	var wire bytes.Buffer
	if err := r.Write(&wire); err != nil {
		t.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatalf("%v\n%s", err, wire.Bytes())
	}
	return got
}

// sdkSignature is the signature aws-sdk-go-v2 gives r (a request as the
// server read it) when it signs only the headers named in signed.
func sdkSignature(t *testing.T, r *http.Request, body []byte, signed []string, service string, at time.Time) string {
	t.Helper()
	c, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "" // the mutation made it unparseable for a client: no signature matches
	}
	for _, h := range signed {
		if h == "host" || h == "content-length" || h == "x-amz-date" {
			continue
		}
		for _, v := range r.Header.Values(h) {
			c.Header.Add(h, v)
		}
	}
	c.ContentLength = int64(len(body))
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" }).
		SignHTTP(context.Background(), aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: docSecret}, c, hexSHA256(body), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	_, sig, _ := strings.Cut(c.Header.Get("Authorization"), "Signature=")
	return sig
}

// TestVerifyAgreesWithSDKSigner: over random requests (methods, escaped
// paths, repeated and empty query parameters, header whitespace, bodies),
// the verifier accepts what aws-sdk-go-v2 signs, and after a random change
// on the way accepts exactly when the SDK's signature of the changed request
// is still the one sent (whitespace and parameter order do not count; any
// other change does).
func TestVerifyAgreesWithSDKSigner(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	s := testService(now, nil)
	rng := rand.New(rand.NewPCG(11, 2026))
	accepted, refused := 0, 0
	for i := range 1500 {
		service := pickOne(rng, []string{"dynamodb", "sqs", "s3"})
		opts := VerifyOptions{MaxBody: 1 << 20, SingleEncodePath: service == "s3", AllowUnsignedPayload: service == "s3"}
		r, body := diffRequest(t, rng)
		if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" }).
			SignHTTP(context.Background(), aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: docSecret}, r, hexSHA256(body), service, "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sr := serverView(t, r)
		auth := sr.Header.Get("Authorization")
		_, sent, _ := strings.Cut(auth, "Signature=")
		signedList, _, _ := strings.Cut(auth[strings.Index(auth, "SignedHeaders=")+len("SignedHeaders="):], ",")
		signed := strings.Split(signedList, ";")

		if _, err := s.Verify(sr, opts); err != nil {
			t.Fatalf("case %d: %s %s signed by the SDK refused: %v", i, r.Method, r.URL, err)
		}

		// The same request changed on the way.
		r.Body = io.NopCloser(bytes.NewReader(body))
		sr = serverView(t, r)
		mutated := append([]byte(nil), body...)
		what := mutate(rng, sr, &mutated, signed)
		sr.Body = io.NopCloser(bytes.NewReader(mutated))
		sr.ContentLength = int64(len(mutated))
		want := sdkSignature(t, sr, mutated, signed, service, now) == sent
		_, err := s.Verify(sr, opts)
		if (err == nil) != want {
			t.Fatalf("case %d (%s): %s %s headers %q: verifier accepted=%v, SDK signature same=%v (%v)", i, what, sr.Method, sr.URL, sr.Header, err == nil, want, err)
		}
		if want {
			accepted++
		} else {
			refused++
		}
	}
	if accepted < 200 || refused < 200 {
		t.Fatalf("changed requests: %d accepted, %d refused: the changes do not test both ways", accepted, refused)
	}
}

// mutate changes r (and its body) the way a proxy or an attacker might.
func mutate(rng *rand.Rand, r *http.Request, body *[]byte, signed []string) string {
	var headers []string
	for _, h := range signed {
		if h != "host" && h != "content-length" && h != "x-amz-date" {
			headers = append(headers, http.CanonicalHeaderKey(h))
		}
	}
	switch rng.IntN(9) {
	case 0:
		return "none"
	case 1:
		if len(headers) > 0 {
			h := pickOne(rng, headers)
			vs := r.Header[h]
			vs[0] = "  " + strings.ReplaceAll(vs[0], " ", "  ") + "  "
			return "header whitespace"
		}
	case 2:
		if len(headers) > 0 {
			h := pickOne(rng, headers)
			r.Header[h][0] += "x"
			return "header value"
		}
	case 3:
		if parts := strings.Split(r.URL.RawQuery, "&"); len(parts) > 1 {
			rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
			r.URL.RawQuery = strings.Join(parts, "&")
			return "query order"
		}
	case 4:
		if r.URL.RawQuery == "" {
			r.URL.RawQuery = "extra=1"
		} else {
			r.URL.RawQuery += "&" + pickOne(rng, []string{"extra=1", "a=", "Action"})
		}
		return "query added"
	case 5:
		r.URL.RawPath = ""
		r.URL.Path += pickOne(rng, []string{"x", "/", " ", "%"})
		return "path"
	case 6:
		if len(*body) > 0 {
			(*body)[rng.IntN(len(*body))] ^= 1
			return "body"
		}
	case 7:
		r.Method = pickOne(rng, []string{"GET", "POST", "PUT", "PATCH"})
		return "method"
	case 8:
		r.Host = pickOne(rng, []string{"127.0.0.1:9001", "localhost:9000", "127.0.0.1:9000"})
		return "host"
	}
	return "none"
}
