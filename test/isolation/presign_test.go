package isolation

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestPresignedURLsStayWithinTheirGrant: a presigned URL someone was given
// (in a page, a log, a referrer) works for its method and key until it
// expires, and for nothing else: not another method on the same key, not
// after its expiry, not with a longer expiry written into it.
func TestPresignedURLsStayWithinTheirGrant(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	c := awss3.NewFromConfig(p.AWSConfig(), func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("grant")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("grant"), Key: aws.String("report.txt"),
		Body: strings.NewReader("original")}); err != nil {
		t.Fatal(err)
	}
	creds, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// presign signs a GET of the object at signedAt, valid for expires.
	presign := func(signedAt time.Time, expires time.Duration) string {
		u := p.URL() + "/grant/report.txt?X-Amz-Expires=" + strconv.Itoa(int(expires.Seconds()))
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, r, "UNSIGNED-PAYLOAD", "s3", "us-east-1", signedAt)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	do := func(method, u string, body string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, u, bytes.NewReader([]byte(body)))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}

	fresh := presign(time.Now(), 5*time.Minute)
	if st, body := do(http.MethodGet, fresh, ""); st != 200 || body != "original" {
		t.Fatalf("the presigned GET: %d %q", st, body)
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		if st, _ := do(method, fresh, "overwritten"); st != 403 {
			t.Errorf("a presigned GET used for %s: %d, want 403", method, st)
		}
	}
	expired := presign(time.Now().Add(-10*time.Minute), time.Minute)
	// S3's answer: AccessDenied, "Request has expired" (not RequestExpired).
	if st, body := do(http.MethodGet, expired, ""); st != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") ||
		!strings.Contains(body, "<Message>Request has expired</Message>") {
		t.Errorf("an expired presigned GET: %d %s, want 403 AccessDenied, Request has expired", st, body)
	}
	// The expiry is part of what was signed: lengthening it breaks the signature.
	u, _ := url.Parse(expired)
	q := u.Query()
	q.Set("X-Amz-Expires", "604800")
	u.RawQuery = q.Encode()
	if st, _ := do(http.MethodGet, u.String(), ""); st != 403 {
		t.Errorf("an expired presigned GET with a longer expiry written in: %d, want 403", st)
	}
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("grant"), Key: aws.String("report.txt")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(data) != "original" {
		t.Errorf("the object was changed through a presigned GET: %q", data)
	}
}
