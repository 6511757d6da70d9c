package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// BenchmarkObjects: PUT and GET through the SDK against a real platform,
// for 1 KB and 1 MB objects (parallel clients).
func BenchmarkObjects(b *testing.B) {
	p := testkit.Start(b, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 10, 1 << 20} {
		body := bytes.Repeat([]byte("x"), size)
		b.Run(fmt.Sprintf("PUT-%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("k%d", i%100)),
						Body: bytes.NewReader(body)}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(fmt.Sprintf("GET-%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("k%d", i%100))})
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, out.Body)
					out.Body.Close()
				}
			})
		})
	}
}
