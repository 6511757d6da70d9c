package s3_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

var listKeys = []string{"a.txt", "b/1", "b/2", "b/c/3", "c", "d/x", "d/y/z", "e"}

// TestListObjects: ListObjectsV2 and ListObjects v1, table-driven, plus
// paging through every key with continuation tokens.
func TestListObjects(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("list")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range listKeys {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("list"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name                          string
		prefix, delimiter, startAfter string
		maxKeys                       int32
		keys, prefixes                []string
		truncated                     bool
	}{
		{name: "all", keys: listKeys},
		{name: "prefix", prefix: "b/", keys: []string{"b/1", "b/2", "b/c/3"}},
		{name: "delimiter", delimiter: "/", keys: []string{"a.txt", "c", "e"}, prefixes: []string{"b/", "d/"}},
		{name: "prefix and delimiter", prefix: "b/", delimiter: "/", keys: []string{"b/1", "b/2"}, prefixes: []string{"b/c/"}},
		{name: "start-after", startAfter: "b/2", keys: []string{"b/c/3", "c", "d/x", "d/y/z", "e"}},
		{name: "start-after with delimiter", startAfter: "b/2", delimiter: "/", keys: []string{"c", "e"}, prefixes: []string{"d/"}},
		{name: "max-keys", maxKeys: 3, keys: []string{"a.txt", "b/1", "b/2"}, truncated: true},
		{name: "max-keys counts prefixes", delimiter: "/", maxKeys: 2, keys: []string{"a.txt"}, prefixes: []string{"b/"}, truncated: true},
		{name: "no match", prefix: "zzz"},
		{name: "other delimiter", delimiter: ".", keys: listKeys[1:], prefixes: []string{"a."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &awss3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String(tc.prefix), Delimiter: aws.String(tc.delimiter),
				StartAfter: aws.String(tc.startAfter)}
			if tc.maxKeys > 0 {
				in.MaxKeys = aws.Int32(tc.maxKeys)
			}
			out, err := c.ListObjectsV2(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			keys, prefixes := []string{}, []string{}
			for _, o := range out.Contents {
				keys = append(keys, *o.Key)
			}
			for _, cp := range out.CommonPrefixes {
				prefixes = append(prefixes, *cp.Prefix)
			}
			if !reflect.DeepEqual(keys, append([]string{}, tc.keys...)) || !reflect.DeepEqual(prefixes, append([]string{}, tc.prefixes...)) ||
				*out.IsTruncated != tc.truncated || int(*out.KeyCount) != len(keys)+len(prefixes) {
				t.Fatalf("keys %v prefixes %v truncated %v count %d", keys, prefixes, *out.IsTruncated, *out.KeyCount)
			}
			if tc.truncated == (out.NextContinuationToken == nil) {
				t.Fatalf("NextContinuationToken %v with truncated %v", out.NextContinuationToken, tc.truncated)
			}

			v1 := &awss3.ListObjectsInput{Bucket: aws.String("list"), Prefix: aws.String(tc.prefix), Delimiter: aws.String(tc.delimiter),
				Marker: aws.String(tc.startAfter)}
			if tc.maxKeys > 0 {
				v1.MaxKeys = aws.Int32(tc.maxKeys)
			}
			old, err := c.ListObjects(ctx, v1)
			if err != nil {
				t.Fatal(err)
			}
			keys, prefixes = []string{}, []string{}
			for _, o := range old.Contents {
				keys = append(keys, *o.Key)
			}
			for _, cp := range old.CommonPrefixes {
				prefixes = append(prefixes, *cp.Prefix)
			}
			if !reflect.DeepEqual(keys, append([]string{}, tc.keys...)) || !reflect.DeepEqual(prefixes, append([]string{}, tc.prefixes...)) || *old.IsTruncated != tc.truncated {
				t.Fatalf("v1: keys %v prefixes %v truncated %v", keys, prefixes, *old.IsTruncated)
			}
		})
	}

	for _, delim := range []string{"", "/"} {
		var seen []string
		pager := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(2), Delimiter: aws.String(delim)})
		pages := 0
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, o := range page.Contents {
				seen = append(seen, *o.Key)
			}
			for _, cp := range page.CommonPrefixes {
				seen = append(seen, *cp.Prefix)
			}
		}
		want := listKeys
		if delim == "/" {
			want = []string{"a.txt", "b/", "c", "d/", "e"}
		}
		if !reflect.DeepEqual(seen, want) || pages != (len(want)+1)/2 {
			t.Fatalf("paging with delimiter %q: %v in %d pages", delim, seen, pages)
		}
	}
	_, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("list"), ContinuationToken: aws.String("garbage!")})
	apiError(t, err, "InvalidArgument", 400)
	_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("none-such")})
	apiError(t, err, "NoSuchBucket", 404)
}

// TestGetRangeAndConditions: byte ranges and conditional reads.
func TestGetRangeAndConditions(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("ranges")}); err != nil {
		t.Fatal(err)
	}
	const content = "0123456789"
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("ranges"), Key: aws.String("k"), Body: strings.NewReader(content)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ rng, want, contentRange string }{
		{"bytes=0-3", "0123", "bytes 0-3/10"},
		{"bytes=7-", "789", "bytes 7-9/10"},
		{"bytes=-2", "89", "bytes 8-9/10"},
		{"bytes=5-100", "56789", "bytes 5-9/10"},
	} {
		got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("k"), Range: aws.String(tc.rng)})
		if err != nil {
			t.Fatalf("%s: %v", tc.rng, err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if string(data) != tc.want || *got.ContentRange != tc.contentRange || *got.ContentLength != int64(len(tc.want)) {
			t.Fatalf("%s: %q, %s", tc.rng, data, *got.ContentRange)
		}
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("k"), Range: aws.String("bytes=10-")})
	apiError(t, err, "InvalidRange", 416)

	later := time.Now().Add(time.Hour)
	earlier := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		in     awss3.GetObjectInput
		status int // 0: the object
	}{
		{name: "If-Match", in: awss3.GetObjectInput{IfMatch: put.ETag}},
		{name: "If-Match *", in: awss3.GetObjectInput{IfMatch: aws.String("*")}},
		{name: "If-Match other", in: awss3.GetObjectInput{IfMatch: aws.String(`"0000"`)}, status: 412},
		{name: "If-None-Match", in: awss3.GetObjectInput{IfNoneMatch: put.ETag}, status: 304},
		{name: "If-None-Match other", in: awss3.GetObjectInput{IfNoneMatch: aws.String(`"0000"`)}},
		{name: "If-Modified-Since later", in: awss3.GetObjectInput{IfModifiedSince: &later}, status: 304},
		{name: "If-Modified-Since earlier", in: awss3.GetObjectInput{IfModifiedSince: &earlier}},
		{name: "If-Unmodified-Since earlier", in: awss3.GetObjectInput{IfUnmodifiedSince: &earlier}, status: 412},
		{name: "If-Match wins over If-Unmodified-Since", in: awss3.GetObjectInput{IfMatch: put.ETag, IfUnmodifiedSince: &earlier}},
		{name: "If-None-Match wins over If-Modified-Since", in: awss3.GetObjectInput{IfNoneMatch: aws.String(`"0000"`), IfModifiedSince: &later}},
	} {
		in := tc.in
		in.Bucket, in.Key = aws.String("ranges"), aws.String("k")
		got, err := c.GetObject(ctx, &in)
		if tc.status == 0 {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			data, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if string(data) != content {
				t.Fatalf("%s: %q", tc.name, data)
			}
			continue
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
			t.Fatalf("%s: %v, want status %d", tc.name, err, tc.status)
		}
		if tc.status == 412 {
			apiError(t, err, "PreconditionFailed", 412)
		}
	}
}

// TestCopyObject: copies keep or replace the metadata; a self-copy needs
// REPLACE; copy-source conditions apply.
func TestCopyObject(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	for _, b := range []string{"src", "dst"} {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/a b.txt"), Body: strings.NewReader("hello"),
		ContentType: aws.String("text/plain"), Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("src/dir/a%20b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if *cp.CopyObjectResult.ETag != *put.ETag {
		t.Fatalf("copy ETag %s, want %s", *cp.CopyObjectResult.ETag, *put.ETag)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	if err != nil || *head.ContentType != "text/plain" || head.Metadata["k"] != "v" || *head.ContentLength != 5 {
		t.Fatalf("copied head %+v, %v", head, err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("dst/copy"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/html"), Metadata: map[string]string{"n": "1"}}); err != nil {
		t.Fatal(err)
	}
	head, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy")})
	if err != nil || *head.ContentType != "text/html" || head.Metadata["n"] != "1" || head.Metadata["k"] != "" {
		t.Fatalf("replaced head %+v, %v", head, err)
	}
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String("dst/copy")})
	apiError(t, err, "InvalidRequest", 400)
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
	apiError(t, err, "NoSuchKey", 404)
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/dir/a%20b.txt"),
		CopySourceIfMatch: aws.String(`"nope"`)})
	apiError(t, err, "PreconditionFailed", 412)
}

// TestUnsupportedSubresource: a call this edge does not serve is refused
// with NotImplemented rather than taken for a plain GET or PUT.
func TestUnsupportedSubresource(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("versions")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("versions")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotImplemented" {
		t.Fatalf("GetObjectLockConfiguration: %v", err)
	}
}
