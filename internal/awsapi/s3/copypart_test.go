package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestUploadPartCopyAndPartNumber: parts copied from ranges of an existing
// object (and of an older version of it) join an uploaded part; GetObject
// with partNumber reads each part back.
func TestUploadPartCopyAndPartNumber(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	b := aws.String("parts")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 11<<20)
	for i := range src {
		src[i] = byte(i % 251)
	}
	old, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: bytes.NewReader(src)})
	if err != nil {
		t.Fatal(err)
	}
	// The current version is different: the copy must read the old one.
	put(t, c, "parts", "src", "replaced")

	mu, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("joined")})
	if err != nil {
		t.Fatal(err)
	}
	source := aws.String("parts/src?versionId=" + *old.VersionId)
	var parts []types.CompletedPart
	for i, rng := range []string{"bytes=0-5242879", fmt.Sprintf("bytes=5242880-%d", len(src)-1)} {
		cp, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: b, Key: aws.String("joined"), UploadId: mu.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: source, CopySourceRange: aws.String(rng)})
		if err != nil {
			t.Fatalf("UploadPartCopy %s: %v", rng, err)
		}
		if aws.ToString(cp.CopySourceVersionId) != *old.VersionId || cp.CopyPartResult == nil || cp.CopyPartResult.ETag == nil {
			t.Fatalf("UploadPartCopy answer: %+v", cp)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: cp.CopyPartResult.ETag})
	}
	up, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("joined"), UploadId: mu.UploadId, PartNumber: aws.Int32(3),
		Body: strings.NewReader("tail")})
	if err != nil {
		t.Fatal(err)
	}
	parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(3), ETag: up.ETag})
	for _, rng := range []string{fmt.Sprintf("bytes=0-%d", len(src)), "bytes=5-4", "0-10"} {
		_, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: b, Key: aws.String("joined"), UploadId: mu.UploadId,
			PartNumber: aws.Int32(9), CopySource: source, CopySourceRange: aws.String(rng)})
		apiError(t, err, "InvalidArgument", 400)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("joined"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	whole, _ := readVersion(t, c, "parts", "joined", "")
	if whole != string(src)+"tail" {
		t.Fatalf("joined object: %d bytes, differing", len(whole))
	}
	wantParts := []string{string(src[:5<<20]), string(src[5<<20:]), "tail"}
	for i, want := range wantParts {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("joined"), PartNumber: aws.Int32(int32(i + 1))})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(got) != want || aws.ToInt32(out.PartsCount) != 3 {
			t.Fatalf("part %d: %d bytes (want %d), parts count %v", i+1, len(got), len(want), out.PartsCount)
		}
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("joined"), PartNumber: aws.Int32(4)})
	apiError(t, err, "InvalidPartNumber", 416)
	// An object put whole is one part.
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("src"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "replaced" {
		t.Fatalf("part 1 of a single-part object: %q", got)
	}
}
