package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/awsapi/s3"
	"github.com/nimbus-platform/nimbus/internal/objects"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestAuthorizeHook: every operation passes the hook with its IAM action
// and the bucket or object ARN, and a refusal is AccessDenied that changes
// nothing.
func TestAuthorizeHook(t *testing.T) {
	store, err := objects.Open(objects.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	var seen []string
	api := &s3.API{Objects: store, Authorize: func(ctx context.Context, action, resource string) error {
		mu.Lock()
		seen = append(seen, action+" "+resource)
		mu.Unlock()
		if action == "s3:DeleteObject" && strings.HasSuffix(resource, "/keep") {
			return errors.New("User: x is not authorized to perform: s3:DeleteObject")
		}
		return nil
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	ctx := context.Background()
	steps := []struct {
		call func() error
		want string
	}{
		{func() error {
			_, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("guarded")})
			return err
		}, "s3:CreateBucket arn:aws:s3:::guarded"},
		{func() error {
			_, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("guarded")})
			return err
		}, "s3:ListBucket arn:aws:s3:::guarded"},
		{func() error { _, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{}); return err }, "s3:ListAllMyBuckets *"},
		{func() error {
			_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("guarded"), Key: aws.String("keep"), Body: strings.NewReader("x")})
			return err
		}, "s3:PutObject arn:aws:s3:::guarded/keep"},
		{func() error {
			_, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("guarded"), Key: aws.String("keep")})
			return err
		}, "s3:GetObject arn:aws:s3:::guarded/keep"},
		{func() error {
			_, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("guarded"), Key: aws.String("keep")})
			return err
		}, "s3:GetObject arn:aws:s3:::guarded/keep"},
		{func() error {
			_, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("guarded")})
			return err
		}, "s3:ListBucket arn:aws:s3:::guarded"},
		{func() error {
			_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("guarded"), Key: aws.String("copy"), CopySource: aws.String("guarded/keep")})
			return err
		}, "s3:GetObject arn:aws:s3:::guarded/keep|s3:PutObject arn:aws:s3:::guarded/copy"},
		{func() error {
			_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("guarded"), Key: aws.String("copy")})
			return err
		}, "s3:DeleteObject arn:aws:s3:::guarded/copy"},
	}
	for _, st := range steps {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.want, err)
		}
		mu.Lock()
		got := strings.Join(seen, "|")
		mu.Unlock()
		if got != st.want {
			t.Fatalf("authorised %q, want %q", got, st.want)
		}
	}
	_, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("guarded"), Key: aws.String("keep")})
	apiError(t, err, "AccessDenied", 403)
	del, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("guarded"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("keep")}}}})
	if err != nil || len(del.Errors) != 1 || *del.Errors[0].Code != "AccessDenied" {
		t.Fatalf("DeleteObjects of a guarded key: %+v, %v", del, err)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("guarded"), Key: aws.String("keep")}); err != nil {
		t.Fatalf("object after refused deletes: %v", err)
	}
}

// TestPresignedURLs: presigned GET and PUT URLs work with no other
// credentials, and stop working once altered.
func TestPresignedURLs(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	ps := awss3.NewPresignClient(c, func(o *awss3.PresignOptions) { o.Expires = 5 * time.Minute })
	put, err := ps.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("up load.txt")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader([]byte("via a presigned URL")))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %s", resp.Status)
	}
	get, err := ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("up load.txt")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "via a presigned URL" {
		t.Fatalf("presigned GET: %s %q", resp.Status, data)
	}
	// The same signature for another key fails.
	resp, err = http.Get(strings.Replace(get.URL, "up%20load.txt", "other.txt", 1))
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(data), "SignatureDoesNotMatch") {
		t.Fatalf("altered presigned GET: %s %s", resp.Status, data)
	}
}

// TestSignatureErrors: refusals by the verifier are S3 XML errors the SDK
// reads as S3's codes.
func TestSignatureErrors(t *testing.T) {
	p := testkit.Start(t, nil)
	for _, tc := range []struct{ id, secret, code string }{
		{p.AdminKey.AccessKeyID, "wrong", "SignatureDoesNotMatch"},
		{"AKIAAAAAAAAAAAAAAAAA", "wrong", "InvalidAccessKeyId"},
	} {
		cfg := p.AWSConfig()
		cfg.Credentials = credentials.NewStaticCredentialsProvider(tc.id, tc.secret, "")
		c := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
		_, err := c.ListBuckets(context.Background(), &awss3.ListBucketsInput{})
		apiError(t, err, tc.code, 403)
		_, err = c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String("any-bucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
		apiError(t, err, tc.code, 403)
	}
}
