package s3_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestFunctionPolicy: a function's credentials may do what its statements
// allow on bucket and object ARNs (with a prefix wildcard), and nothing
// else, against a real platform.
func TestFunctionPolicy(t *testing.T) {
	p, fn := functionClient(t, "shared-data", `[
			{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::shared-data/public/*"},
			{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared-data"}]`)
	ctx := context.Background()
	admin := client(p)

	if _, err := fn.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("shared-data"), Key: aws.String("public/a.txt"), Body: strings.NewReader("a")}); err != nil {
		t.Fatalf("allowed PutObject: %v", err)
	}
	if _, err := fn.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("shared-data"), Key: aws.String("public/a.txt")}); err != nil {
		t.Fatalf("allowed GetObject: %v", err)
	}
	if _, err := fn.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("shared-data")}); err != nil {
		t.Fatalf("allowed ListObjectsV2: %v", err)
	}
	_, err := fn.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("shared-data"), Key: aws.String("private/a.txt"), Body: strings.NewReader("a")})
	apiError(t, err, "AccessDenied", 403)
	if !strings.Contains(err.Error(), "s3:PutObject on resource: arn:aws:s3:::shared-data/private/a.txt") {
		t.Fatalf("refusal does not name the action and resource: %v", err)
	}
	_, err = fn.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("shared-data"), Key: aws.String("public/a.txt")})
	apiError(t, err, "AccessDenied", 403)
	_, err = fn.ListBuckets(ctx, &awss3.ListBucketsInput{})
	apiError(t, err, "AccessDenied", 403)
	_, err = fn.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("mine")})
	apiError(t, err, "AccessDenied", 403)
	if _, err := admin.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("shared-data"), Key: aws.String("public/a.txt")}); err != nil {
		t.Fatalf("object after a refused delete: %v", err)
	}
	if _, err := admin.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("shared-data"), Key: aws.String("private/a.txt")}); err == nil {
		t.Fatal("a refused PutObject stored the object")
	}
}

// functionClient starts a platform with the bucket and a function whose IAM
// statements are statements, and returns an S3 client with the function's
// credentials.
func functionClient(t *testing.T, bucket, statements string) (*testkit.Platform, *awss3.Client) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "fn.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, _ := zw.CreateHeader(hdr)
	_, _ = w.Write([]byte("#!/bin/sh\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	yml := "service: s3perm\nprovider:\n  name: aws\n  runtime: provided.al2023\nfunctions:\n  worker:\n    handler: bootstrap\n    package:\n      artifact: fn.zip\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	ctx := context.Background()
	if _, err := client(p).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.DeployWith(ctx, dir, manifest.Options{}, nil, func(app *appspec.Application) {
		app.Functions[0].IAMStatements = json.RawMessage(statements)
	}); err != nil {
		t.Fatal(err)
	}
	fc, err := p.Auth.FunctionCredentials("s3perm-dev-worker", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.AWSConfig()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)
	return p, awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
}

// IAM's special variables ${*}, ${?} and ${$} in a function's statements
// stand for the character itself: the function may write the object whose
// key holds a literal asterisk or question mark, and no other.
func TestPolicyVariableEscapes(t *testing.T) {
	_, fn := functionClient(t, "odd-keys", `[
			{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::odd-keys/star${*}"},
			{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::odd-keys/what${?}"},
			{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::odd-keys/cost${$}*"}]`)
	ctx := context.Background()
	put := func(key string) error {
		_, err := fn.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("odd-keys"), Key: aws.String(key), Body: strings.NewReader("x")})
		return err
	}
	for _, key := range []string{"star*", "what?", "cost$", "cost$/2026"} {
		if err := put(key); err != nil {
			t.Errorf("PutObject %q: %v, want allowed", key, err)
		}
	}
	if _, err := fn.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("odd-keys"), Key: aws.String("star*")}); err != nil {
		t.Errorf("GetObject star*: %v", err)
	}
	for _, key := range []string{"starlight", "star", "star**", "whatX", "what", "costs"} {
		err := put(key)
		if err == nil {
			t.Errorf("PutObject %q allowed, want AccessDenied", key)
			continue
		}
		apiError(t, err, "AccessDenied", 403)
	}
}
