package auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The example of AWS's "Signature Version 4 signing process" documentation:
// IAM ListUsers signed on 2015-08-30 with the documented example secret.
const (
	docSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	docKeyID  = "AKIDEXAMPLE"
)

func docRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	return r
}

func TestDocumentedExample(t *testing.T) {
	r := docRequest(t)
	sr, err := parseRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	canonical, err := canonicalRequest(r, sr, emptyPayloadHash, false)
	if err != nil {
		t.Fatal(err)
	}
	wantCanonical := "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n" + emptyPayloadHash
	if canonical != wantCanonical {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", canonical, wantCanonical)
	}
	if got := hexSHA256([]byte(canonical)); got != "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59" {
		t.Errorf("canonical request hash %s", got)
	}
	toSign := stringToSign(sr, canonical)
	if want := "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"; toSign != want {
		t.Errorf("string to sign:\n%s", toSign)
	}
	key := SigningKey(docSecret, "20150830", "us-east-1", "iam")
	if got := hex.EncodeToString(key); got != "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9" {
		t.Errorf("signing key %s", got)
	}
	if got := signature(key, toSign); got != "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7" {
		t.Errorf("signature %s", got)
	}
}

// testService is a Service with one operator key and a fixed clock, without a store.
func testService(now time.Time, funcs map[string]*FunctionIdentity) *Service {
	s := &Service{cfg: Config{AccountID: "000000000000", Now: func() time.Time { return now },
		CredentialLifetime: 12 * time.Hour,
		Functions: func(name string) (*FunctionIdentity, bool) {
			f, ok := funcs[name]
			return f, ok
		}}, secret: []byte("platform-secret-for-tests")}
	s.log = discardLogger()
	keys := map[string]*Key{}
	s.keys.Store(&keys)
	s.setKey(docKeyID, &Key{AccessKeyID: docKeyID, SecretAccessKey: docSecret, Name: "admin"})
	return s
}

func TestVerifyDocumentedExample(t *testing.T) {
	now := time.Date(2015, 8, 30, 12, 38, 0, 0, time.UTC)
	s := testService(now, nil)
	p, err := s.Verify(docRequest(t), VerifyOptions{MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != Operator || p.ARN != "arn:aws:iam::000000000000:user/admin" {
		t.Fatalf("principal %+v", p)
	}
	// Fifteen minutes later the same request is a replay.
	s.cfg.Now = func() time.Time { return now.Add(15 * time.Minute) }
	_, err = s.Verify(docRequest(t), VerifyOptions{MaxBody: 1 << 20})
	assertReason(t, err, ErrRequestExpired, "InvalidSignatureException")
	if e, _ := AsError(err); !strings.HasPrefix(e.Message, "Signature expired: 20150830T123600Z is now earlier than") {
		t.Errorf("message %q", e.Message)
	}
}

func assertReason(t *testing.T, err error, want Reason, jsonCode string) {
	t.Helper()
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("error %v, want reason %d", err, want)
	}
	if e.Reason != want || e.Code(ProtocolJSON) != jsonCode {
		t.Fatalf("got %s (%d), want %s", e.Code(ProtocolJSON), e.Reason, jsonCode)
	}
}

// sdkSign signs a request as aws-sdk-go-v2 does.
func sdkSign(t *testing.T, r *http.Request, body []byte, creds aws.Credentials, service string, at time.Time) {
	t.Helper()
	hash := hexSHA256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hash, service, "eu-west-1", at); err != nil {
		t.Fatal(err)
	}
}

func newReq(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifySDKRequests(t *testing.T) {
	now := time.Now().UTC()
	fn := &FunctionIdentity{Name: "svc-dev-worker", Service: "svc", Stage: "dev", Region: "eu-west-1", Revision: "1"}
	s := testService(now, map[string]*FunctionIdentity{fn.Name: fn})
	admin := aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: docSecret}
	body := []byte(`{"QueueUrl":"http://127.0.0.1:9000/000000000000/q","MessageBody":"hi there"}`)
	opts := VerifyOptions{MaxBody: 1 << 20, Services: []string{"sqs", "sns", "events"}}

	t.Run("header form", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		sdkSign(t, r, body, admin, "sqs", now)
		if _, err := s.Verify(r, opts); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, body) {
			t.Fatalf("handler would read %q", got)
		}
	})
	t.Run("path with characters to encode", func(t *testing.T) {
		r := newReq(t, "GET", "http://127.0.0.1:9000/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/configuration?Qualifier=%24LATEST", nil)
		sdkSign(t, r, nil, admin, "lambda", now)
		if _, err := s.Verify(r, VerifyOptions{MaxBody: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tampered header", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
		sdkSign(t, r, body, admin, "sqs", now)
		r.Header.Set("X-Amz-Target", "AmazonSQS.DeleteQueue")
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrSignatureMismatch, "InvalidSignatureException")
	})
	t.Run("tampered body", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, admin, "sqs", now)
		r.Body = io.NopCloser(strings.NewReader(strings.Replace(string(body), "hi", "yo", 1)))
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrSignatureMismatch, "InvalidSignatureException")
	})
	t.Run("wrong secret", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: "not-the-secret"}, "sqs", now)
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrSignatureMismatch, "InvalidSignatureException")
		if e, _ := AsError(err); e.Code(ProtocolQuery) != "SignatureDoesNotMatch" {
			t.Errorf("query code %s", e.Code(ProtocolQuery))
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: docSecret}, "sqs", now)
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrUnknownKey, "UnrecognizedClientException")
		if e, _ := AsError(err); e.Code(ProtocolQuery) != "InvalidClientTokenId" || e.Message != "The security token included in the request is invalid." {
			t.Errorf("query: %s %q", e.Code(ProtocolQuery), e.Message)
		}
	})
	t.Run("replayed after 15 minutes", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, admin, "sqs", now.Add(-15*time.Minute))
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrRequestExpired, "InvalidSignatureException")
		if e, _ := AsError(err); e.Code(ProtocolQuery) != "SignatureDoesNotMatch" || e.Code(ProtocolS3) != "RequestTimeTooSkewed" {
			t.Errorf("query code %s", e.Code(ProtocolQuery))
		}
	})
	t.Run("wrong service", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, admin, "dynamodb", now)
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrSignatureMismatch, "InvalidSignatureException")
	})
	t.Run("missing", func(t *testing.T) {
		_, err := s.Verify(newReq(t, "POST", "http://127.0.0.1:9000/", body), opts)
		assertReason(t, err, ErrMissingToken, "MissingAuthenticationTokenException")
	})
	t.Run("incomplete", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request")
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrIncompleteSignature, "IncompleteSignatureException")
	})
	t.Run("host not signed", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, admin, "sqs", now)
		a := r.Header.Get("Authorization")
		r.Header.Set("Authorization", strings.Replace(a, "host;", "", 1))
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrIncompleteSignature, "IncompleteSignatureException")
	})
	t.Run("unsigned payload outside S3", func(t *testing.T) {
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
		if err := v4.NewSigner().SignHTTP(context.Background(), admin, r, UnsignedPayload, "sqs", "eu-west-1", now); err != nil {
			t.Fatal(err)
		}
		_, err := s.Verify(r, opts)
		assertReason(t, err, ErrSignatureMismatch, "InvalidSignatureException")
		r.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := s.Verify(r, VerifyOptions{MaxBody: 1 << 20, AllowUnsignedPayload: true, SingleEncodePath: true}); err != nil {
			t.Fatalf("S3 rules: %v", err)
		}
	})
	t.Run("presigned", func(t *testing.T) {
		r := newReq(t, "GET", "http://127.0.0.1:9000/2015-03-31/functions/f?x=a%20b", nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), admin, r, UnsignedPayload, "lambda", "eu-west-1", now)
		if err != nil {
			t.Fatal(err)
		}
		pr := newReq(t, "GET", u, nil)
		if _, err := s.Verify(pr, VerifyOptions{MaxBody: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		tampered := newReq(t, "GET", strings.Replace(u, "x=a%20b", "x=a%20c", 1), nil)
		_, err = s.Verify(tampered, VerifyOptions{MaxBody: 1 << 20})
		assertReason(t, err, ErrSignatureMismatch, "InvalidSignatureException")
		s.cfg.Now = func() time.Time { return now.Add(16 * time.Minute) }
		defer func() { s.cfg.Now = func() time.Time { return now } }()
		_, err = s.Verify(newReq(t, "GET", u, nil), VerifyOptions{MaxBody: 1 << 20})
		assertReason(t, err, ErrRequestExpired, "InvalidSignatureException")
	})
	t.Run("function credentials", func(t *testing.T) {
		creds, err := s.FunctionCredentials(fn.Name, "$LATEST")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || len(creds.AccessKeyID) != 20 || len(creds.SecretAccessKey) != 40 {
			t.Fatalf("credentials %+v", creds)
		}
		c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
		r := newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, c, "sqs", now)
		p, err := s.Verify(r, opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.Kind != Function || p.ARN != "arn:aws:sts::000000000000:assumed-role/svc-dev-eu-west-1-lambdaRole/svc-dev-worker" {
			t.Fatalf("principal %+v", p)
		}
		// Without the token, or with another function's name in it, the key is unknown.
		r = newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, "sqs", now)
		_, err = s.Verify(r, opts)
		assertReason(t, err, ErrUnknownKey, "UnrecognizedClientException")
		forged := c
		forged.SessionToken = strings.Replace(c.SessionToken, "x", "y", 1)
		if forged.SessionToken == c.SessionToken {
			forged.SessionToken += "A"
		}
		r = newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, forged, "sqs", now)
		_, err = s.Verify(r, opts)
		assertReason(t, err, ErrUnknownKey, "UnrecognizedClientException")
		// Expired: 13 hours later.
		s.cfg.Now = func() time.Time { return now.Add(13 * time.Hour) }
		r = newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, c, "sqs", now.Add(13*time.Hour))
		_, err = s.Verify(r, opts)
		assertReason(t, err, ErrExpiredToken, "ExpiredTokenException")
		s.cfg.Now = func() time.Time { return now }
		// The function is removed: its credentials stop working.
		s.cfg.Functions = func(string) (*FunctionIdentity, bool) { return nil, false }
		r = newReq(t, "POST", "http://127.0.0.1:9000/", body)
		sdkSign(t, r, body, c, "sqs", now)
		_, err = s.Verify(r, opts)
		assertReason(t, err, ErrUnknownKey, "UnrecognizedClientException")
	})
}

func TestDeclaredHashStreams(t *testing.T) {
	now := time.Now().UTC()
	s := testService(now, nil)
	admin := aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: docSecret}
	body := bytes.Repeat([]byte("z"), 4096)
	r := newReq(t, "PUT", "http://127.0.0.1:9000/nimbus/v1/code/x", body)
	r.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
	sdkSign(t, r, body, admin, "nimbus", now)
	// A body larger than MaxBody streams and is checked at its end.
	r.Body = io.NopCloser(bytes.NewReader(append([]byte("evil"), body[4:]...)))
	if _, err := s.Verify(r, VerifyOptions{MaxBody: 1024}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r.Body); err == nil {
		t.Fatal("a body that differs from its signed hash was read without an error")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Vectors of AWS's published SigV4 test suite (service "service",
// us-east-1, AKIDEXAMPLE, 20150830T123600Z): request line and signature.
func TestValidRegion(t *testing.T) {
	for r, want := range map[string]bool{"us-east-1": true, "us-gov-west-1": true, "ap-southeast-2": true, "eu-central-2": true,
		"": false, "us-east": false, "US-east-1": false, "us--1": false, "us-east-x": false, "useast1": false, "u-east-1": false} {
		if validRegion(r) != want {
			t.Errorf("validRegion(%q) = %v", r, !want)
		}
	}
}

func TestSuiteVectors(t *testing.T) {
	s := testService(time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC), nil)
	for _, c := range []struct {
		name, method, target, signedHeaders, signature string
		// The suite encodes the raw path once; on the wire the path is already
		// encoded, so that is the single-encoding (S3) rule here.
		singleEncode bool
	}{
		{"get-vanilla", "GET", "/", "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", false},
		{"post-vanilla", "POST", "/", "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", false},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", false},
		{"get-vanilla-empty-query-key", "GET", "/?Param1=value1", "host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb", false},
		{"get-utf8", "GET", "/%E1%88%B4", "host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.NewRequest(c.method, "http://example.amazonaws.com"+c.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="+c.signedHeaders+", Signature="+c.signature)
			if _, err := s.Verify(r, VerifyOptions{MaxBody: 1 << 20, SingleEncodePath: c.singleEncode}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now().UTC()
	s := testService(now, nil)
	body := []byte(`{"k":"v"}`)
	r, _ := http.NewRequest("POST", "http://127.0.0.1:9000/2015-03-31/functions/bench-dev-noop/invocations", bytes.NewReader(body))
	r.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.0")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: docSecret}, r, hexSHA256(body), "lambda", "us-east-1", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := s.Verify(r, VerifyOptions{MaxBody: 8 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCanonicalHeaderName(t *testing.T) {
	for _, h := range []string{"x-amz-date", "content-type", "x-amz-target", "x-amz-security-token", "x-amz-content-sha256",
		"amz-sdk-invocation-id", "amz-sdk-request", "x-amz-user-agent", "x-amz-invocation-type", "x-amz-log-type",
		"x-amz-client-context", "content-encoding", "content-md5", "x-custom-thing"} {
		if got, want := canonicalHeaderName(h), http.CanonicalHeaderKey(h); got != want {
			t.Errorf("%s: %s, want %s", h, got, want)
		}
	}
}

// TestMalformedAuthorization: the parser's refusals of malformed credential
// scopes and signed-header lists, reason and message.
func TestMalformedAuthorization(t *testing.T) {
	const sig = "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	const badHeaders = "SignedHeaders must be lower-case header names in sorted order separated by ';'."
	for _, c := range []struct {
		name, credential, signedHeaders string
		reason                          Reason
		message                         string
	}{
		{"six parts", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/x", "host;x-amz-date", ErrIncompleteSignature,
			"Credential should be scoped to a valid region, not 'AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/x'. Credential should be of the form <key id>/<date>/<region>/<service>/aws4_request."},
		{"trailing slash", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/", "host;x-amz-date", ErrIncompleteSignature,
			"Credential should be scoped to a valid region, not 'AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/'. Credential should be of the form <key id>/<date>/<region>/<service>/aws4_request."},
		{"four parts", "AKIDEXAMPLE/20150830/us-east-1/aws4_request", "host;x-amz-date", ErrIncompleteSignature,
			"Credential should be scoped to a valid region, not 'AKIDEXAMPLE/20150830/us-east-1/aws4_request'. Credential should be of the form <key id>/<date>/<region>/<service>/aws4_request."},
		{"no key id", "/20150830/us-east-1/iam/aws4_request", "host;x-amz-date", ErrIncompleteSignature,
			"Credential should be scoped to a valid region, not '/20150830/us-east-1/iam/aws4_request'. Credential should be of the form <key id>/<date>/<region>/<service>/aws4_request."},
		{"bad region", "AKIDEXAMPLE/20150830/us-east/iam/aws4_request", "host;x-amz-date", ErrIncompleteSignature,
			"Credential should be scoped to a valid region, not 'us-east'."},
		{"other day", "AKIDEXAMPLE/20150831/us-east-1/iam/aws4_request", "host;x-amz-date", ErrSignatureMismatch,
			"Credential should be scoped to a valid date, not '20150831'; the request date is 20150830T123600Z."},
		{"trailing separator", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "host;x-amz-date;", ErrIncompleteSignature, badHeaders},
		{"empty name", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "host;;x-amz-date", ErrIncompleteSignature, badHeaders},
		{"unsorted", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "x-amz-date;host", ErrIncompleteSignature, badHeaders},
		{"repeated", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "host;host;x-amz-date", ErrIncompleteSignature, badHeaders},
		{"upper case", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "Host;x-amz-date", ErrIncompleteSignature, badHeaders},
		{"no host", "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "content-type;x-amz-date", ErrIncompleteSignature,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := docRequest(t)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.credential+", SignedHeaders="+c.signedHeaders+", "+sig)
			_, err := parseRequest(r)
			e, ok := AsError(err)
			if !ok || e.Reason != c.reason || e.Message != c.message {
				t.Fatalf("error %v, want reason %d: %s", err, c.reason, c.message)
			}
		})
	}
}

// TestParseBasicDate: the fast reader of X-Amz-Date reads exactly what
// time.Parse reads with the basic format, and declines everything else.
func TestParseBasicDate(t *testing.T) {
	for _, raw := range []string{
		"20150830T123600Z", "20000229T000000Z", "19990228T235959Z", "20240229T120000Z", "00010101T000000Z",
		"20230229T120000Z", "20150831T240000Z", "20150830T126000Z", "20150830T123660Z", "20151301T000000Z",
		"20150000T000000Z", "20150800T000000Z", "20150431T000000Z", "2015083T123600Z", "20150830T123600",
		"20150830 123600Z", "20150830T123600.5Z", "2015-08-30T12:36:00Z", "20150830t123600z", "+0150830T123600Z",
		"20150830T1236 0Z", "", "99991231T235959Z",
	} {
		want, err := time.Parse(amzDateFormat, raw)
		got, ok := parseBasicDate(raw)
		if ok && (err != nil || !got.Equal(want) || got.Location() != want.Location()) {
			t.Errorf("%q: fast %v, time.Parse %v %v", raw, got, want, err)
		}
		if !ok && err == nil && len(raw) == len(amzDateFormat) {
			t.Errorf("%q: declined, but time.Parse reads it as %v", raw, want)
		}
	}
}

func FuzzParseBasicDate(f *testing.F) {
	f.Add("20150830T123600Z")
	f.Add("20230229T120000Z")
	f.Fuzz(func(t *testing.T, raw string) {
		want, err := time.Parse(amzDateFormat, raw)
		if got, ok := parseBasicDate(raw); ok && (err != nil || !got.Equal(want)) {
			t.Fatalf("%q: fast %v, time.Parse %v %v", raw, got, want, err)
		}
	})
}

// BenchmarkVerifyGetItem verifies a DynamoDB GetItem as aws-sdk-go-v2 signs
// it: the request the tables benchmark's server sees most.
func BenchmarkVerifyGetItem(b *testing.B) {
	now := time.Now().UTC()
	s := testService(now, nil)
	body := []byte(`{"TableName":"bench","Key":{"pk":{"S":"lean-12345"}}}`)
	r, _ := http.NewRequest("POST", "http://127.0.0.1:9000/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	r.Header.Set("Amz-Sdk-Invocation-Id", "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: docKeyID, SecretAccessKey: docSecret}, r, hexSHA256(body), "dynamodb", "us-east-1", now); err != nil {
		b.Fatal(err)
	}
	opts := VerifyOptions{MaxBody: 8 << 20, Services: []string{"dynamodb"}}
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := s.Verify(r, opts); err != nil {
			b.Fatal(err)
		}
	}
}
