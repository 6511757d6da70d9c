package testkit

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// Child is `nimbus up` run as a process of its own, so that a test can kill
// it with SIGKILL and start it again on the same data directory: what a
// crash leaves is what the next start finds.
type Child struct {
	// Bin is the nimbus binary built for the test; Data and Run are the
	// platform's directories, Addr its API address.
	Bin, Data, Run, Addr string

	t     testing.TB
	extra []string
	cmd   *exec.Cmd
	log   LockedBuffer
}

// NewChild builds nimbus and picks the child's address and directories;
// Start runs it. extra are further `nimbus up` flags. The test's end stops a
// running child (SIGTERM, then SIGKILL after 10 s).
func NewChild(t testing.TB, extra ...string) *Child {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nimbus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/nimbus")
	build.Dir = Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nimbus: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Child{Bin: bin, Data: filepath.Join(dir, "data"), Run: filepath.Join(dir, "run"), Addr: addr, t: t, extra: extra}
	t.Cleanup(func() {
		if c.cmd == nil {
			return
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
		}
	})
	return c
}

// URL is the child's API endpoint.
func (c *Child) URL() string { return "http://" + c.Addr }

// Start runs the child and waits (up to a minute) until it answers
// /healthz.
func (c *Child) Start() {
	c.t.Helper()
	args := append([]string{"up", "--data", c.Data, "--run-dir", c.Run, "--addr", c.Addr, "--http-addr", "",
		"--no-sandbox", "--log-level", "warn"}, c.extra...)
	c.cmd = exec.Command(c.Bin, args...)
	c.log.Reset()
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get(c.URL() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("platform did not come up:\n%s", c.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends the child with SIGKILL and waits for it.
func (c *Child) Kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	// The process alone: function processes it started may still hold its
	// output pipes, which cmd.Wait would wait for.
	_, _ = c.cmd.Process.Wait()
	c.cmd = nil
}

// Log is what the child has written since it last started.
func (c *Child) Log() string { return c.log.String() }

// Key is the administrator key the child wrote to its data directory.
func (c *Child) Key() (id, secret string) {
	c.t.Helper()
	k, err := server.ReadCredentials(c.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	return k.AccessKeyID, k.SecretAccessKey
}

// Client is the CLI's client for the child, signed with its key.
func (c *Child) Client() *client.Client {
	id, secret := c.Key()
	return client.New(c.URL()).WithCredentials(client.Credentials{AccessKeyID: id, SecretAccessKey: secret}, "us-east-1")
}

// AWSConfig is an aws-sdk-go-v2 configuration for the child, as
// Platform.AWSConfig.
func (c *Child) AWSConfig() aws.Config {
	id, secret := c.Key()
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(c.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:   HTTPClient(),
	}
}

// LockedBuffer is a log that a process or a platform writes while the test
// reads it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Reset empties the buffer.
func (b *LockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
