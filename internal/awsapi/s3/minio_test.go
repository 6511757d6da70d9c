package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestMinioClient: minio-go (which signs its uploads chunk by chunk over
// plain HTTP) puts, gets, lists, uploads in parts and presigns against
// nimbus.
func TestMinioClient(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	creds, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.URL())
	mc, err := minio.New(u.Host, &minio.Options{Creds: mcreds.NewStaticV4(creds.AccessKeyID, creds.SecretAccessKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "minio", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	small := []byte("hello from minio-go")
	if _, err := mc.PutObject(ctx, "minio", "dir/small.txt", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{ContentType: "text/plain", UserMetadata: map[string]string{"origin": "minio"}}); err != nil {
		t.Fatal(err)
	}
	// Over the part size: a multipart upload of three parts.
	big := bytes.Repeat([]byte("0123456789"), 1_200_000) // 12 MB
	info, err := mc.PutObject(ctx, "minio", "dir/big.bin", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("multipart ETag %q", info.ETag)
	}
	for key, want := range map[string][]byte{"dir/small.txt": small, "dir/big.bin": big} {
		obj, err := mc.GetObject(ctx, "minio", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v", key, len(got), err)
		}
	}
	st, err := mc.StatObject(ctx, "minio", "dir/small.txt", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "text/plain" || st.UserMetadata["Origin"] != "minio" {
		t.Fatalf("StatObject: %+v, %v", st, err)
	}
	var keys []string
	for o := range mc.ListObjects(ctx, "minio", minio.ListObjectsOptions{Prefix: "dir/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "dir/big.bin,dir/small.txt" {
		t.Fatalf("listed %v", keys)
	}
	get, err := mc.PresignedGetObject(ctx, "minio", "dir/small.txt", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(get.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, small) {
		t.Fatalf("presigned GET: %s %q", resp.Status, body)
	}
	put, err := mc.PresignedPutObject(ctx, "minio", "uploaded", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, put.String(), strings.NewReader("via a presigned PUT"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %s", resp.Status)
	}
	if err := mc.RemoveObject(ctx, "minio", "uploaded", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.StatObject(ctx, "minio", "uploaded", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a removed object is still there")
	}
}
