package s3_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

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

// TestIdentityDenyWins: an explicit Deny in a caller's identity policy
// refuses the request whatever grants it elsewhere, as in AWS: a
// public-read ACL on the object and a bucket policy's Allow both lose to
// it, while an anonymous caller (who has no identity policy) still reads
// the public-read object, and the same caller reads what is not denied.
func TestIdentityDenyWins(t *testing.T) {
	p, fn := functionClient(t, "deny-home", `[
			{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::deny-acl/*","arn:aws:s3:::deny-acl"]},
			{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::deny-acl/secret/*"}]`)
	ctx := context.Background()
	admin := client(p)
	if _, err := admin.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("deny-acl"), ACL: s3types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"secret/a.txt", "open/a.txt"} {
		if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("deny-acl"), Key: aws.String(key),
			Body: strings.NewReader("body of " + key), ACL: s3types.ObjectCannedACLPublicRead}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string) error {
		t.Helper()
		out, err := fn.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("deny-acl"), Key: aws.String(key)})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	if err := get("open/a.txt"); err != nil {
		t.Fatalf("GetObject the policy allows: %v", err)
	}
	err := get("secret/a.txt")
	apiError(t, err, "AccessDenied", 403)
	if !strings.Contains(err.Error(), "explicit deny") {
		t.Errorf("refusal does not say it was an explicit deny: %v", err)
	}
	// Anonymous: no identity policy; the ACL grants the read.
	if a := send(t, browser(t), "GET", p.URL()+"/deny-acl/secret/a.txt", nil); a.status != http.StatusOK || a.body != "body of secret/a.txt" {
		t.Errorf("anonymous GET of the public-read object: %d %q", a.status, a.body)
	}

	// A bucket policy allowing everyone to read does not beat it either.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::deny-acl/*"}]}`
	if _, err := admin.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("deny-acl"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	apiError(t, get("secret/a.txt"), "AccessDenied", 403)
	if err := get("open/a.txt"); err != nil {
		t.Errorf("GetObject allowed by both policies: %v", err)
	}
	// The same without an ACL grant: a private object, the bucket policy's
	// Allow alone, still refused.
	if _, err := admin.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("deny-acl"), Key: aws.String("secret/a.txt"), ACL: s3types.ObjectCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	apiError(t, get("secret/a.txt"), "AccessDenied", 403)
	// A Deny on one action leaves the others: the caller may still write it.
	if _, err := fn.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("deny-acl"), Key: aws.String("secret/a.txt"), Body: strings.NewReader("new")}); err != nil {
		t.Errorf("PutObject the policy allows: %v", err)
	}
}
