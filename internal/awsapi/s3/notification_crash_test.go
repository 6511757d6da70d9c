package s3_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestNotificationSurvivesSIGKILL writes objects to a bucket that notifies
// a function, kills the platform with SIGKILL while the writes are being
// acknowledged, restarts it on the same data directory and checks that
// every acknowledged write's event reaches the function.
func TestNotificationSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, "functions:\n  record:\n    handler: bootstrap\n")
	p := testkit.NewChild(t)
	p.Start()
	cl := p.Client()
	ctx := context.Background()
	if _, err := cl.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	s3c := awss3.NewFromConfig(p.AWSConfig(), func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: aws.String("crash"),
		NotificationConfiguration: &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
			LambdaFunctionArn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:s3events-dev-record"), Events: []types.Event{"s3:ObjectCreated:*"}}}}}); err != nil {
		t.Fatal(err)
	}

	const total = 400
	var acked sync.Map
	var nAcked, next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				key := fmt.Sprintf("k%04d", i)
				if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String(key), Body: strings.NewReader(key)}); err == nil {
					acked.Store(key, true)
					nAcked.Add(1)
				}
			}
		}()
	}
	for nAcked.Load() < total/2 {
		time.Sleep(time.Millisecond)
	}
	p.Kill()
	wg.Wait()
	before := len(rec.events())
	t.Logf("%d writes acknowledged, %d events delivered before the kill", nAcked.Load(), before)
	p.Start()

	seen := func() map[string]bool {
		out := map[string]bool{}
		for _, b := range rec.events() {
			for _, r := range records(t, b) {
				out[r.S3.Object.Key] = true
			}
		}
		return out
	}
	var missing []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := seen()
		missing = missing[:0]
		acked.Range(func(k, _ any) bool {
			if !s[k.(string)] {
				missing = append(missing, k.(string))
			}
			return true
		})
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged writes never notified (e.g. %v)\n%s", len(missing), missing[:min(5, len(missing))], p.Log())
	}
}
