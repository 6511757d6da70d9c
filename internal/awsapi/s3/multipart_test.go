package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestMultipartUpload: create, upload parts (one sent twice), list them,
// complete with S3's multipart ETag; abort; the errors S3 answers.
func TestMultipartUpload(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("parts")}); err != nil {
		t.Fatal(err)
	}
	create, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"),
		ContentType: aws.String("video/mp4"), Metadata: map[string]string{"src": "cam"}})
	if err != nil {
		t.Fatal(err)
	}
	id := create.UploadId
	parts := [][]byte{bytes.Repeat([]byte{'a'}, 5<<20), bytes.Repeat([]byte{'b'}, 5<<20+17), []byte("tail")}
	upload := func(n int, data []byte) *string {
		t.Helper()
		out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id,
			PartNumber: aws.Int32(int32(n)), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if *out.ETag != etagOf(data) {
			t.Fatalf("part %d ETag %s", n, *out.ETag)
		}
		return out.ETag
	}
	upload(2, []byte("to be replaced"))
	var completed []types.CompletedPart
	for i, data := range parts {
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: upload(i+1, data)})
	}
	lp, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id})
	if err != nil || len(lp.Parts) != 3 || *lp.Parts[1].Size != int64(len(parts[1])) || *lp.Parts[2].ETag != etagOf(parts[2]) {
		t.Fatalf("ListParts: %+v, %v", lp, err)
	}
	lu, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("parts")})
	if err != nil || len(lu.Uploads) != 1 || *lu.Uploads[0].UploadId != *id || *lu.Uploads[0].Key != "video.bin" {
		t.Fatalf("ListMultipartUploads: %+v, %v", lu, err)
	}

	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{completed[1], completed[0]}}})
	apiError(t, err, "InvalidPartOrder", 400)
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{completed[0], {PartNumber: aws.Int32(2), ETag: aws.String(`"0000"`)}}}})
	apiError(t, err, "InvalidPart", 400)
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{completed[2], {PartNumber: aws.Int32(4), ETag: completed[2].ETag}}}})
	apiError(t, err, "InvalidPart", 400)

	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	for _, data := range parts {
		s := md5.Sum(data)
		h.Write(s[:])
	}
	wantETag := fmt.Sprintf(`"%s-3"`, hex.EncodeToString(h.Sum(nil)))
	if *done.ETag != wantETag {
		t.Fatalf("multipart ETag %s, want %s", *done.ETag, wantETag)
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("video.bin")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, bytes.Join(parts, nil)) || *got.ETag != wantETag || *got.ContentType != "video/mp4" || got.Metadata["src"] != "cam" {
		t.Fatalf("completed object: %d bytes, %+v", len(data), got)
	}
	_, err = c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("parts"), Key: aws.String("video.bin"), UploadId: id})
	apiError(t, err, "NoSuchUpload", 404)

	// Too small a part that is not the last; abort.
	small, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	var sp []types.CompletedPart
	for n := 1; n <= 2; n++ {
		out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("parts"), Key: aws.String("small"), UploadId: small.UploadId,
			PartNumber: aws.Int32(int32(n)), Body: bytes.NewReader([]byte("tiny"))})
		if err != nil {
			t.Fatal(err)
		}
		sp = append(sp, types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: out.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("small"), UploadId: small.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: sp}})
	apiError(t, err, "EntityTooSmall", 400)
	if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("small"), UploadId: small.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("parts"), Key: aws.String("small"), UploadId: small.UploadId,
		PartNumber: aws.Int32(3), Body: bytes.NewReader([]byte("late"))})
	apiError(t, err, "NoSuchUpload", 404)
	if lu, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("parts")}); err != nil || len(lu.Uploads) != 0 {
		t.Fatalf("uploads left: %+v, %v", lu, err)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String("small")}); err == nil {
		t.Fatal("an aborted upload left an object")
	}
}
