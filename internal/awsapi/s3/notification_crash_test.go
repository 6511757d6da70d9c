package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	nclient "github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// child runs `nimbus up` as a process that can be killed with SIGKILL and
// started again on the same data directory.
type child struct {
	t                    *testing.T
	bin, data, run, addr string
	cmd                  *exec.Cmd
	log                  *bytes.Buffer
}

func newChild(t *testing.T) *child {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nimbus")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nimbus")
	cmd.Dir = testkit.Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build nimbus: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &child{t: t, bin: bin, data: filepath.Join(dir, "data"), run: filepath.Join(dir, "run"), addr: addr}
	t.Cleanup(func() {
		if c.cmd != nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = c.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
			}
		}
	})
	return c
}

func (c *child) url() string { return "http://" + c.addr }

func (c *child) start() {
	c.t.Helper()
	c.cmd = exec.Command(c.bin, "up", "--data", c.data, "--run-dir", c.run, "--addr", c.addr, "--http-addr", "", "--no-sandbox", "--log-level", "warn")
	c.log = &bytes.Buffer{}
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(c.url() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("platform did not come up:\n%s", c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = c.cmd.Process.Wait()
	c.cmd = nil
}

func (c *child) key() (string, string) {
	c.t.Helper()
	k, err := server.ReadCredentials(c.data)
	if err != nil {
		c.t.Fatal(err)
	}
	return k.AccessKeyID, k.SecretAccessKey
}

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
	p := newChild(t)
	p.start()
	id, secret := p.key()
	cl := nclient.New(p.url()).WithCredentials(nclient.Credentials{AccessKeyID: id, SecretAccessKey: secret}, "us-east-1")
	ctx := context.Background()
	if _, err := cl.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	s3c := awss3.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(p.url()),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: testkit.HTTPClient()}, func(o *awss3.Options) { o.UsePathStyle = true })
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
	p.kill()
	wg.Wait()
	before := len(rec.events())
	t.Logf("%d writes acknowledged, %d events delivered before the kill", nAcked.Load(), before)
	p.start()

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
		t.Fatalf("%d acknowledged writes never notified (e.g. %v)\n%s", len(missing), missing[:min(5, len(missing))], p.log)
	}
}
