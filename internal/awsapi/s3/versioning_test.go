package s3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// readVersion reads bucket/key (a version of it when vid is set).
func readVersion(t *testing.T, c *awss3.Client, bucket, key, vid string) (string, *awss3.GetObjectOutput) {
	t.Helper()
	in := &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if vid != "" {
		in.VersionId = aws.String(vid)
	}
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("get %s/%s version %q: %v", bucket, key, vid, err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	return string(b), out
}

func put(t *testing.T, c *awss3.Client, bucket, key, body string) *awss3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

type versionRow struct {
	key, id string
	marker  bool
	latest  bool
}

func (v versionRow) String() string {
	return fmt.Sprintf("%s@%s(marker=%v,latest=%v)", v.key, v.id, v.marker, v.latest)
}

// listVersions pages through ListObjectVersions, max keys at a time, and
// returns every version and delete marker in the order S3 gives them.
func listVersions(t *testing.T, c *awss3.Client, bucket, prefix string, max int32) []versionRow {
	t.Helper()
	var rows []versionRow
	in := &awss3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(max)}
	for range 1000 {
		out, err := c.ListObjectVersions(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		// The SDK splits versions and markers; the wire keeps them in one
		// order, which a page of one entry preserves.
		var page []versionRow
		for _, v := range out.Versions {
			page = append(page, versionRow{*v.Key, *v.VersionId, false, *v.IsLatest})
		}
		for _, m := range out.DeleteMarkers {
			page = append(page, versionRow{*m.Key, *m.VersionId, true, *m.IsLatest})
		}
		if max > 1 && len(out.DeleteMarkers) > 0 && len(out.Versions) > 0 {
			t.Fatalf("use pages of one to keep the order of mixed entries")
		}
		rows = append(rows, page...)
		if !*out.IsTruncated {
			return rows
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	t.Fatal("listing does not end")
	return nil
}

func dataFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, string(filepath.Separator)+"objects"+string(filepath.Separator)+"data"+string(filepath.Separator)) {
			n++
		}
		return nil
	})
	return n
}

// TestVersioning walks a bucket through S3's versioning states with the
// SDK: version ids on writes, reads and deletes by version, delete
// markers, the null version, ListObjectVersions with paging.
func TestVersioning(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	b := aws.String("history")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	gv, err := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: b})
	if err != nil || gv.Status != "" {
		t.Fatalf("versioning of a new bucket: %+v, %v", gv, err)
	}
	// Written while unversioned: the null version, no version id sent.
	if out := put(t, c, "history", "doc", "v0"); out.VersionId != nil {
		t.Fatalf("unversioned PUT has version id %q", *out.VersionId)
	}
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	gv, err = c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: b})
	if err != nil || gv.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning after enabling: %+v, %v", gv, err)
	}
	v1 := put(t, c, "history", "doc", "v1").VersionId
	v2 := put(t, c, "history", "doc", "v2").VersionId
	if v1 == nil || v2 == nil || *v1 == *v2 || *v1 == "null" {
		t.Fatalf("version ids %v %v", v1, v2)
	}
	if body, out := readVersion(t, c, "history", "doc", ""); body != "v2" || aws.ToString(out.VersionId) != *v2 {
		t.Fatalf("current: %q version %v", body, out.VersionId)
	}
	for vid, want := range map[string]string{*v1: "v1", *v2: "v2", "null": "v0"} {
		if body, out := readVersion(t, c, "history", "doc", vid); body != want || aws.ToString(out.VersionId) != vid {
			t.Fatalf("version %s: %q (version header %v)", vid, body, out.VersionId)
		}
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: v1})
	if err != nil || *head.ContentLength != 2 || aws.ToString(head.VersionId) != *v1 {
		t.Fatalf("HeadObject of v1: %+v, %v", head, err)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: aws.String("00000000000000000000beef")})
	apiError(t, err, "NoSuchVersion", 404)
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: aws.String("not a version")})
	apiError(t, err, "InvalidArgument", 400)

	// A delete adds a marker: the key is gone from reads and listings, its
	// versions stay.
	del, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("doc")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || del.VersionId == nil {
		t.Fatalf("DeleteObject: %+v, %v", del, err)
	}
	marker := *del.VersionId
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("doc")})
	apiError(t, err, "NoSuchKey", 404)
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response.Header.Get("x-amz-delete-marker") != "true" || re.Response.Header.Get("x-amz-version-id") != marker {
		t.Fatalf("GET past a delete marker: %v", err)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: aws.String(marker)})
	apiError(t, err, "MethodNotAllowed", 405)
	if lo, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: b}); err != nil || len(lo.Contents) != 0 {
		t.Fatalf("listing after delete: %+v, %v", lo, err)
	}
	want := []versionRow{{"doc", marker, true, true}, {"doc", *v2, false, false}, {"doc", *v1, false, false}, {"doc", "null", false, false}}
	if got := listVersions(t, c, "history", "", 1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions:\n got %v\nwant %v", got, want)
	}
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b})
	apiError(t, err, "BucketNotEmpty", 409)

	// Deleting the marker by id brings v2 back; deleting v2 for good makes v1 current.
	del, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: aws.String(marker)})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != marker {
		t.Fatalf("deleting the marker: %+v, %v", del, err)
	}
	if body, _ := readVersion(t, c, "history", "doc", ""); body != "v2" {
		t.Fatalf("after removing the marker: %q", body)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: v2}); err != nil {
		t.Fatal(err)
	}
	if body, _ := readVersion(t, c, "history", "doc", ""); body != "v1" {
		t.Fatalf("after deleting v2: %q", body)
	}

	// Copy from a version; multipart completes with a version id.
	cp, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("history/doc?versionId=null")})
	if err != nil || aws.ToString(cp.CopySourceVersionId) != "null" || cp.VersionId == nil {
		t.Fatalf("CopyObject of the null version: %+v, %v", cp, err)
	}
	if body, _ := readVersion(t, c, "history", "copy", ""); body != "v0" {
		t.Fatalf("copy holds %q", body)
	}
	mu, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("parts")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("parts"), UploadId: mu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("one part")})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("parts"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil || done.VersionId == nil {
		t.Fatalf("CompleteMultipartUpload: %+v, %v", done, err)
	}

	// Suspended: writes and deletes replace the null version only.
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	files := dataFiles(t, p.Config.DataDir)
	put(t, c, "history", "doc", "v3")
	if n := dataFiles(t, p.Config.DataDir); n != files {
		t.Fatalf("the null version's file was not replaced: %d files, then %d", files, n)
	}
	want = []versionRow{{"doc", "null", false, true}, {"doc", *v1, false, false}}
	if got := listVersions(t, c, "history", "doc", 1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions after a suspended PUT:\n got %v\nwant %v", got, want)
	}
	del, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("doc")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != "null" {
		t.Fatalf("suspended delete: %+v, %v", del, err)
	}
	want = []versionRow{{"doc", "null", true, true}, {"doc", *v1, false, false}}
	if got := listVersions(t, c, "history", "doc", 1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions after a suspended delete:\n got %v\nwant %v", got, want)
	}

	// DeleteObjects by version empties the bucket.
	var ids []types.ObjectIdentifier
	for _, v := range listVersions(t, c, "history", "", 1) {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(v.key), VersionId: aws.String(v.id)})
	}
	dd, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: ids}})
	if err != nil || len(dd.Deleted) != len(ids) || len(dd.Errors) != 0 {
		t.Fatalf("DeleteObjects by version: %+v, %v", dd, err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b}); err != nil {
		t.Fatalf("deleting the emptied bucket: %v", err)
	}
	if n := dataFiles(t, p.Config.DataDir); n != 0 {
		t.Fatalf("%d data files left", n)
	}
}

// TestListObjectVersionsPaging: prefix, delimiter and the key and
// version-id markers page through many versions without loss or repeat.
func TestListObjectVersionsPaging(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	b := aws.String("pages")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	var want []versionRow
	for _, key := range []string{"a/1", "a/2", "b", "c/x/y"} {
		var ids []string
		for i := range 3 {
			ids = append(ids, *put(t, c, "pages", key, fmt.Sprint(key, i)).VersionId)
		}
		for i := len(ids) - 1; i >= 0; i-- {
			want = append(want, versionRow{key, ids[i], false, i == len(ids)-1})
		}
	}
	for _, max := range []int32{1, 2, 5, 1000} {
		if got := listVersions(t, c, "pages", "", max); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("max %d:\n got %v\nwant %v", max, got, want)
		}
	}
	if got := listVersions(t, c, "pages", "a/", 2); fmt.Sprint(got) != fmt.Sprint(want[:6]) {
		t.Fatalf("prefix a/: %v", got)
	}
	out, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: b, Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, cp := range out.CommonPrefixes {
		prefixes = append(prefixes, *cp.Prefix)
	}
	if fmt.Sprint(prefixes) != "[a/ c/]" || len(out.Versions) != 3 || *out.Versions[0].Key != "b" {
		t.Fatalf("delimiter: prefixes %v, %d versions", prefixes, len(out.Versions))
	}
	// Paging by delimiter: each common prefix once.
	var seen []string
	in := &awss3.ListObjectVersionsInput{Bucket: b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)}
	for {
		out, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range out.CommonPrefixes {
			seen = append(seen, *cp.Prefix)
		}
		for _, v := range out.Versions {
			seen = append(seen, *v.Key)
		}
		if !*out.IsTruncated {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	if fmt.Sprint(seen) != "[a/ b b b c/]" {
		t.Fatalf("paged with a delimiter: %v", seen)
	}
	_, err = c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: b, VersionIdMarker: aws.String(want[0].id)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
		t.Fatalf("version-id-marker without key-marker: %v", err)
	}
}
