package async_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// childPlatform runs `nimbus up` as a separate process so it can be killed
// with SIGKILL and started again on the same data directory.
type childPlatform struct {
	t              *testing.T
	bin, data, run string
	addr           string
	cmd            *exec.Cmd
	extraArgs      []string
	log            *bytes.Buffer
}

func newChildPlatform(t *testing.T, extra ...string) *childPlatform {
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
	c := &childPlatform{t: t, bin: bin, data: filepath.Join(dir, "data"), run: filepath.Join(dir, "run"), addr: addr, extraArgs: extra}
	t.Cleanup(func() {
		if c.cmd != nil && c.cmd.Process != nil {
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

func (c *childPlatform) URL() string { return "http://" + c.addr }

// key is the administrator key the child wrote to its data directory.
func (c *childPlatform) key() client.Credentials {
	c.t.Helper()
	k, err := server.ReadCredentials(c.data)
	if err != nil {
		c.t.Fatal(err)
	}
	return client.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}

func (c *childPlatform) client() *client.Client {
	return client.New(c.URL()).WithCredentials(c.key(), "us-east-1")
}

func (c *childPlatform) start() {
	c.t.Helper()
	args := append([]string{"up", "--data", c.data, "--run-dir", c.run, "--addr", c.addr, "--http-addr", "", "--no-sandbox", "--log-level", "warn"}, c.extraArgs...)
	c.cmd = exec.Command(c.bin, args...)
	c.log = &bytes.Buffer{}
	c.cmd.Stdout = c.log
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(c.URL() + "/healthz")
		if err == nil {
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

func (c *childPlatform) kill() {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = c.cmd.Process.Wait()
	c.cmd = nil
}

// TestAsyncSurvivesSIGKILL accepts thousands of async invocations, kills the
// platform with SIGKILL while they are in flight, restarts it on the same data
// directory and checks that every acknowledged event is delivered.
func TestAsyncSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `  work:
`+fnZip+`    environment:
      ROLE: work
`)
	p := newChildPlatform(t, "--async-ack-wait", "2s")
	p.start()
	cl := p.client()
	if _, err := cl.Deploy(context.Background(), dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}

	const total = 3000
	var acked sync.Map
	var nAcked atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	killAt := int64(total / 2)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				id := fmt.Sprintf("e%05d", i)
				if _, err := cl.InvokeAsync(context.Background(), "asynctest-dev-work", "", []byte(`{"id":"`+id+`"}`)); err == nil {
					acked.Store(id, true)
					nAcked.Add(1)
				}
			}
		}()
	}
	for nAcked.Load() < killAt {
		time.Sleep(time.Millisecond)
	}
	p.kill()
	wg.Wait()
	deliveredBeforeRestart := len(rec.byRole("work"))
	t.Logf("acknowledged %d of %d before/while killing; %d delivered before the kill", nAcked.Load(), total, deliveredBeforeRestart)
	if deliveredBeforeRestart >= int(nAcked.Load()) {
		t.Logf("warning: everything was delivered before the kill; the crash tested little")
	}
	p.start()

	seen := func() map[string]int {
		out := map[string]int{}
		for _, c := range rec.byRole("work") {
			var e struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(c.Body, &e)
			out[e.ID]++
		}
		return out
	}
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := seen()
		missing = missing[:0]
		acked.Range(func(k, _ any) bool {
			if s[k.(string)] == 0 {
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
		t.Fatalf("%d acknowledged events were never delivered (e.g. %v)", len(missing), missing[:min(5, len(missing))])
	}
	s := seen()
	dups := 0
	for _, n := range s {
		if n > 1 {
			dups += n - 1
		}
	}
	t.Logf("all %d acknowledged events delivered; %d duplicate deliveries (events running at the kill)", nAcked.Load(), dups)
	_ = os.Remove(p.bin)
}
