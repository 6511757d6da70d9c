package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/objects"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestCrashPlatformChild is the platform TestKillDuringPuts kills: it
// serves on a data directory the parent owns and prints its address and
// key.
func TestCrashPlatformChild(t *testing.T) {
	dir := os.Getenv("NIMBUS_S3_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestKillDuringPuts")
	}
	p := testkit.Start(t, func(c *server.Config) {
		c.DataDir = dir
		c.RunDir = os.Getenv("NIMBUS_S3_CRASH_RUN")
	})
	creds, err := p.Credentials().Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ready %s %s %s\n", p.URL(), creds.AccessKeyID, creds.SecretAccessKey)
	select {} // until killed
}

// crashBody is the body writer w sends in its i-th PUT: every other one is
// small enough to live in the index (objects.InlineLimit), the others in
// files of up to 600 KB, so that a kill can land in the middle of either.
func crashBody(w, i int) []byte {
	id := fmt.Sprintf("w%d-%d;", w, i)
	n := 20<<10 + (w*7919+i*104729)%(580<<10)
	if i%2 == 0 {
		n = 16 + (w*7919+i*104729)%(objects.InlineLimit-16)
	}
	return bytes.Repeat([]byte(id), n/len(id)+1)[:n]
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// TestKillDuringPuts kills (SIGKILL) a real platform process while writers
// race PUTs of the same keys, in a versioned and a plain bucket. After a
// restart on the same data: every acknowledged PUT is a version of its
// key, every object reads whole (an old or a new body, never part of one),
// and the data files a crash orphaned are swept.
func TestKillDuringPuts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := filepath.Join(t.TempDir(), "data")
	run, err := os.MkdirTemp("", "nimbus-test-run-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(run) })
	_ = os.Chmod(run, 0o711)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashPlatformChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NIMBUS_S3_CRASH_DIR="+dir, "NIMBUS_S3_CRASH_RUN="+run, "TMPDIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := bufio.NewScanner(stdout)
	var url, akid, secret string
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 4 && f[0] == "ready" {
			url, akid, secret = f[1], f[2], f[3]
			break
		}
	}
	if url == "" {
		t.Fatal("the platform process did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	c := awss3.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} }, HTTPClient: testkit.HTTPClient()}, func(o *awss3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	buckets := []string{"crash-versioned", "crash-plain"}
	for _, b := range buckets {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String(buckets[0]),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[string][]string{} // bucket/key -> ETags acknowledged
	attempted := map[string]bool{} // every ETag sent
	sizes := map[string]int{}      // ETag -> size
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := crashBody(w, i)
				bucket, key := buckets[(w+i)%2], fmt.Sprint("k", (w*3+i)%2)
				etag := md5Hex(body)
				mu.Lock()
				attempted[etag], sizes[etag] = true, len(body)
				mu.Unlock()
				out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
				if err != nil {
					select {
					case <-stop: // the platform is gone
						return
					default:
						t.Errorf("PUT before the kill: %v", err)
						return
					}
				}
				if aws.ToString(out.ETag) != etag {
					t.Errorf("PUT answered ETag %s, want %s", aws.ToString(out.ETag), etag)
				}
				mu.Lock()
				acked[bucket+"/"+key] = append(acked[bucket+"/"+key], etag)
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, e := range acked {
			n += len(e)
		}
		mu.Unlock()
		if n >= 80 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	killed = true
	wg.Wait()
	if t.Failed() {
		return
	}

	p := testkit.Start(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c = client(p)
	versions := 0
	for _, bucket := range buckets {
		for _, key := range []string{"k0", "k1"} {
			want := acked[bucket+"/"+key]
			if len(want) == 0 {
				continue
			}
			body, out := readVersion(t, c, bucket, key, "")
			if !attempted[aws.ToString(out.ETag)] || md5Hex([]byte(body)) != aws.ToString(out.ETag) || len(body) != sizes[aws.ToString(out.ETag)] {
				t.Fatalf("%s/%s reads %d bytes that are no whole body sent (ETag %s)", bucket, key, len(body), aws.ToString(out.ETag))
			}
			if bucket == buckets[1] {
				if len(body) > objects.InlineLimit { // small ones live in the index
					versions++
				}
				continue
			}
			have := map[string]bool{}
			for _, v := range listVersions(t, c, bucket, key, 1000) {
				if v.key != key {
					continue
				}
				body, out := readVersion(t, c, bucket, key, v.id)
				if md5Hex([]byte(body)) != aws.ToString(out.ETag) || len(body) != sizes[aws.ToString(out.ETag)] {
					t.Fatalf("%s/%s version %s is not whole", bucket, key, v.id)
				}
				if len(body) > objects.InlineLimit {
					versions++
				}
				have[aws.ToString(out.ETag)] = true
			}
			for _, e := range want {
				if !have[e] {
					t.Fatalf("an acknowledged PUT of %s/%s (ETag %s) is lost", bucket, key, e)
				}
			}
		}
	}
	// The sweep leaves one data file per version or object too large to
	// be inline.
	deadline = time.Now().Add(60 * time.Second)
	for {
		files := dataFiles(t, dir)
		if files == versions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d data files for %d versions and objects", files, versions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d versions and objects in files checked after the kill", versions)
}
