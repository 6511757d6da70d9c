package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func client(p *testkit.Platform) *awss3.Client {
	return awss3.NewFromConfig(p.AWSConfig(), func(o *awss3.Options) { o.UsePathStyle = true })
}

// apiError checks that err is the S3 error code (and HTTP status).
func apiError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	var re interface{ HTTPStatusCode() int }
	if status != 0 && errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Fatalf("%s: status %d, want %d", code, re.HTTPStatusCode(), status)
	}
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// TestBucketsAndObjects drives the bucket and object calls with the SDK
// (path style) against a real platform, errors included.
func TestBucketsAndObjects(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()

	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("photos")})
	apiError(t, err, "BucketAlreadyOwnedByYou", 409)
	_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("No_Such")})
	apiError(t, err, "InvalidBucketName", 400)
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("archive"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}}); err != nil {
		t.Fatal(err)
	}
	lb, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Buckets) != 2 || *lb.Buckets[0].Name != "archive" || *lb.Buckets[1].Name != "photos" || lb.Buckets[0].CreationDate == nil {
		t.Fatalf("buckets %+v", lb.Buckets)
	}
	if _, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("nothing-here")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("HeadBucket of a missing bucket: %v", err)
	}

	body := bytes.Repeat([]byte("nimbus "), 3000)
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt"), Body: bytes.NewReader(body),
		ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"), ContentDisposition: aws.String(`attachment; filename="cat.txt"`),
		CacheControl: aws.String("max-age=60"), Metadata: map[string]string{"Owner": "Ann", "purpose": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if *put.ETag != etagOf(body) {
		t.Fatalf("PutObject ETag %s, want %s", *put.ETag, etagOf(body))
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, body) || *got.ETag != etagOf(body) || *got.ContentLength != int64(len(body)) || *got.ContentType != "text/plain" ||
		*got.ContentEncoding != "identity" || *got.ContentDisposition != `attachment; filename="cat.txt"` || *got.CacheControl != "max-age=60" ||
		got.Metadata["owner"] != "Ann" || got.Metadata["purpose"] != "test" || got.LastModified == nil {
		t.Fatalf("GetObject: %d bytes, %+v", len(data), got)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt")})
	if err != nil || *head.ContentLength != int64(len(body)) || *head.ETag != etagOf(body) || head.Metadata["owner"] != "Ann" {
		t.Fatalf("HeadObject: %+v, %v", head, err)
	}
	// Keys S3 allows that a cleaned path would change.
	for _, key := range []string{"x//y", "../up", "uni/ç日本.bin", "q?a=1&b"} {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("archive"), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
		got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %q: %v", key, err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if string(data) != key {
			t.Fatalf("key %q holds %q", key, data)
		}
	}

	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Fatalf("GetObject of a missing key: %v", err)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("nothing-here"), Key: aws.String("k")})
	apiError(t, err, "NoSuchBucket", 404)
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("nothing-here"), Key: aws.String("k"), Body: strings.NewReader("x")})
	apiError(t, err, "NoSuchBucket", 404)
	_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")})
	if !errors.As(err, &nf) {
		t.Fatalf("HeadObject of a missing key: %v", err)
	}
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")})
	apiError(t, err, "BucketNotEmpty", 409)

	// Replacing an object replaces its attributes too.
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt"), Body: strings.NewReader("short")}); err != nil {
		t.Fatal(err)
	}
	head, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt")})
	if err != nil || *head.ContentLength != 5 || len(head.Metadata) != 0 {
		t.Fatalf("HeadObject after a replace: %+v, %v", head, err)
	}

	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("a dir/cat+1.txt")}); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	del, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("archive"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("x//y")}, {Key: aws.String("../up")}, {Key: aws.String("uni/ç日本.bin")}, {Key: aws.String("q?a=1&b")}, {Key: aws.String("never")}}}})
	if err != nil || len(del.Deleted) != 5 || len(del.Errors) != 0 {
		t.Fatalf("DeleteObjects: %+v, %v", del, err)
	}
	for _, b := range []string{"photos", "archive"} {
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")})
	apiError(t, err, "NoSuchBucket", 404)
	if lb, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{}); err != nil || len(lb.Buckets) != 0 {
		t.Fatalf("buckets after deleting them: %+v, %v", lb, err)
	}
}

// TestRoutes: S3 paths that look like the platform's other routes reach
// S3, and those routes still work.
func TestRoutes(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	for _, b := range []string{"healthz", "metrics", "nimbus", "000000000000", "2015-03-31"} {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
		key := "v1/functions"
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key), Body: strings.NewReader(b)}); err != nil {
			t.Fatalf("put %s/%s: %v", b, key, err)
		}
		got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if string(data) != b {
			t.Fatalf("%s/%s holds %q", b, key, data)
		}
	}
	resp, err := http.Get(p.URL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := p.Lambda().ListFunctions(ctx, nil); err != nil {
		t.Fatalf("Lambda beside S3: %v", err)
	}
}

// TestLargeObject streams an object larger than the signature check's
// in-memory bound, both ways.
func TestLargeObject(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 20<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("big"), Key: aws.String("blob"), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	if *put.ETag != etagOf(body) {
		t.Fatalf("ETag %s", *put.ETag)
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("blob")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, body) {
		t.Fatalf("read %d bytes back, differing", len(data))
	}
}
