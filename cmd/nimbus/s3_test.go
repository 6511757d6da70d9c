package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// `nimbus s3 cp/ls/rm` copy files and trees both ways, list with and
// without a delimiter and delete, signed with the operator's key.
func TestS3Commands(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	c := awss3.NewFromConfig(p.AWSConfig(), func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("files")}); err != nil {
		t.Fatal(err)
	}
	creds, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
	run := func(args ...string) (string, error) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"--endpoint", p.URL()}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	src := t.TempDir()
	tree := map[string]string{"a.txt": "alpha", "docs/b.md": "# beta", "docs/deep/c d.bin": "gamma+delta"}
	for rel, body := range tree {
		f := filepath.Join(src, filepath.FromSlash(rel))
		_ = os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run("s3", "cp", "--recursive", src, "s3://files/site"); err != nil || strings.Count(out, "upload:") != 3 {
		t.Fatalf("cp --recursive up: %q, %v", out, err)
	}
	if out, err := run("s3", "cp", filepath.Join(src, "a.txt"), "s3://files/single/"); err != nil || !strings.Contains(out, "s3://files/single/a.txt") {
		t.Fatalf("cp file: %q, %v", out, err)
	}
	out, err := run("s3", "ls", "s3://files/site/")
	if err != nil || !strings.Contains(out, "PRE docs/") || !strings.Contains(out, "5 a.txt") || strings.Contains(out, "b.md") {
		t.Fatalf("ls: %q, %v", out, err)
	}
	out, err = run("s3", "ls", "--recursive", "s3://files/site/docs")
	if err != nil || !strings.Contains(out, "site/docs/b.md") || !strings.Contains(out, "site/docs/deep/c d.bin") {
		t.Fatalf("ls --recursive: %q, %v", out, err)
	}
	if out, err := run("s3", "ls"); err != nil || !strings.Contains(out, " files") {
		t.Fatalf("ls buckets: %q, %v", out, err)
	}
	if _, err := run("s3", "cp", "--recursive", "s3://files/site", "s3://files/copy"); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if out, err := run("s3", "cp", "--recursive", "s3://files/copy", dst); err != nil || strings.Count(out, "download:") != 3 {
		t.Fatalf("cp --recursive down: %q, %v", out, err)
	}
	for rel, body := range tree {
		got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(rel)))
		if err != nil || string(got) != body {
			t.Fatalf("%s downloaded as %q, %v", rel, got, err)
		}
	}
	if _, err := run("s3", "cp", "s3://files/single/a.txt", dst+"/"); err != nil {
		t.Fatal(err)
	}
	if out, err := run("s3", "rm", "s3://files/single/a.txt"); err != nil || !strings.Contains(out, "delete: s3://files/single/a.txt") {
		t.Fatalf("rm: %q, %v", out, err)
	}
	if out, err := run("s3", "rm", "--recursive", "s3://files/"); err != nil || strings.Count(out, "delete:") != 6 {
		t.Fatalf("rm --recursive: %q, %v", out, err)
	}
	if lo, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("files")}); err != nil || len(lo.Contents) != 0 {
		t.Fatalf("bucket after rm --recursive: %+v, %v", lo, err)
	}
	if _, err := run("s3", "cp", "s3://files/missing", dst+"/m"); err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Fatalf("copying a missing key: %v", err)
	}
	if _, err := os.Stat(dst + "/m"); err == nil {
		t.Fatal("a failed download left a file")
	}

	// A file past the transfer manager's threshold goes up in parts and
	// comes back whole; no upload is left open.
	big := make([]byte, 20<<20+12345)
	for i := range big {
		big[i] = byte(i*7 + i>>13)
	}
	bigFile := filepath.Join(src, "big.bin")
	if err := os.WriteFile(bigFile, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run("s3", "cp", bigFile, "s3://files/big.bin"); err != nil || !strings.Contains(out, "upload:") {
		t.Fatalf("cp big file: %q, %v", out, err)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("files"), Key: aws.String("big.bin")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(big)) || !strings.HasSuffix(strings.Trim(aws.ToString(head.ETag), `"`), "-3") {
		t.Fatalf("big object: %+v, %v (want %d bytes in 3 parts)", head, err, len(big))
	}
	if mu, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("files")}); err != nil || len(mu.Uploads) != 0 {
		t.Fatalf("open uploads after cp: %+v, %v", mu, err)
	}
	if _, err := run("s3", "cp", "s3://files/big.bin", filepath.Join(dst, "big.bin")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big file came back with %d bytes (want %d), %v", len(got), len(big), err)
	}
}
