package s3_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func tagString(tags []types.Tag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, *t.Key+"="+*t.Value)
	}
	return strings.Join(parts, ",")
}

func tagSet(n int, key func(i int) string, value string) []types.Tag {
	var out []types.Tag
	for i := range n {
		out = append(out, types.Tag{Key: aws.String(key(i)), Value: aws.String(value)})
	}
	return out
}

// TestObjectTagging: tags set on PUT and by the tagging calls, counted on
// GET, copied or replaced by CopyObject, kept per version, and S3's limits.
func TestObjectTagging(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	b := aws.String("tagged")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x"),
		Tagging: aws.String("team=blue&cost%20center=a%26b")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil || aws.ToInt32(got.TagCount) != 2 {
		t.Fatalf("tag count: %+v, %v", got, err)
	}
	got.Body.Close()
	tg, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	if err != nil || tagString(tg.TagSet) != "cost center=a&b,team=blue" {
		t.Fatalf("GetObjectTagging: %+v, %v", tg, err)
	}
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: tagSet(10, func(i int) string { return fmt.Sprint("t", i) }, "v")}}); err != nil {
		t.Fatal(err)
	}
	tg, err = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	if err != nil || len(tg.TagSet) != 10 {
		t.Fatalf("ten tags: %+v, %v", tg, err)
	}
	for name, tc := range map[string]struct {
		tags []types.Tag
		code string
	}{
		"eleven tags":    {tagSet(11, func(i int) string { return fmt.Sprint("t", i) }, "v"), "BadRequest"},
		"long key":       {tagSet(1, func(int) string { return strings.Repeat("k", 129) }, "v"), "InvalidTag"},
		"long value":     {tagSet(1, func(int) string { return "k" }, strings.Repeat("v", 257)), "InvalidTag"},
		"duplicate keys": {tagSet(2, func(int) string { return "same" }, "v"), "InvalidTag"},
		"aws: prefix":    {tagSet(1, func(int) string { return "aws:owner" }, "v"), "InvalidTag"},
	} {
		_, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: tc.tags}})
		t.Run(name, func(t *testing.T) { apiError(t, err, tc.code, 400) })
	}
	// The longest key and value allowed pass (characters, not bytes).
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: tagSet(1, func(int) string { return strings.Repeat("é", 128) }, strings.Repeat("ü", 256))}}); err != nil {
		t.Fatalf("tag at the limits: %v", err)
	}
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k2"), Body: strings.NewReader("x"), Tagging: aws.String("a=1&a=2")})
	apiError(t, err, "InvalidTag", 400)
	_, err = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("missing")})
	apiError(t, err, "NoSuchKey", 404)

	// CopyObject copies tags unless told to replace them.
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("src"), Value: aws.String("1")}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("copied"), CopySource: aws.String("tagged/k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("retagged"), CopySource: aws.String("tagged/k"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("dst=2")}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"copied": "src=1", "retagged": "dst=2"} {
		tg, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String(key)})
		if err != nil || tagString(tg.TagSet) != want {
			t.Fatalf("%s tags: %+v, %v", key, tg, err)
		}
	}
	if _, err := c.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: b, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	tg, err = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k")})
	if err != nil || len(tg.TagSet) != 0 {
		t.Fatalf("after DeleteObjectTagging: %+v, %v", tg, err)
	}

	// Tags belong to a version.
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("v"), Body: strings.NewReader("1"), Tagging: aws.String("gen=1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("v"), Body: strings.NewReader("2"), Tagging: aws.String("gen=2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("v"), VersionId: v1.VersionId,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("gen"), Value: aws.String("old")}}}}); err != nil {
		t.Fatal(err)
	}
	for vid, want := range map[string]string{*v1.VersionId: "gen=old", "": "gen=2"} {
		in := &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("v")}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		tg, err := c.GetObjectTagging(ctx, in)
		if err != nil || tagString(tg.TagSet) != want {
			t.Fatalf("tags of version %q: %+v, %v", vid, tg, err)
		}
	}
}

// TestBucketTagging: Put/Get/DeleteBucketTagging and NoSuchTagSet.
func TestBucketTagging(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	b := aws.String("labelled")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: b})
	apiError(t, err, "NoSuchTagSet", 404)
	if _, err := c.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: b, Tagging: &types.Tagging{TagSet: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("app"), Value: aws.String("")}}}}); err != nil {
		t.Fatal(err)
	}
	tg, err := c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: b})
	if err != nil || tagString(tg.TagSet) != "app=,env=prod" {
		t.Fatalf("GetBucketTagging: %+v, %v", tg, err)
	}
	_, err = c.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: b, Tagging: &types.Tagging{
		TagSet: tagSet(51, func(i int) string { return fmt.Sprint("t", i) }, "v")}})
	apiError(t, err, "InvalidTag", 400)
	if _, err := c.DeleteBucketTagging(ctx, &awss3.DeleteBucketTaggingInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: b})
	apiError(t, err, "NoSuchTagSet", 404)
	_, err = c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("no-such-bucket")})
	apiError(t, err, "NoSuchBucket", 404)
}
