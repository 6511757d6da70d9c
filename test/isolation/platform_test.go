package isolation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestDaemonsDieWithAKilledPlatform: after kill -9 of the platform every
// daemon of every function is gone, and the next start removes the cgroups
// the killed platform left behind.
func TestDaemonsDieWithAKilledPlatform(t *testing.T) {
	needIsolation(t)
	bin := filepath.Join(t.TempDir(), "nimbus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/nimbus")
	build.Dir = testkit.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nimbus: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	run, err := os.MkdirTemp("", "nimbus-kill-run-*")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(run, 0o711)
	defer os.RemoveAll(run)

	up := func() (*exec.Cmd, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "up", "--data", data, "--run-dir", run, "--addr", addr, "--http-addr", "", "--log-level", "warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd, "http://" + addr
			}
			if time.Now().After(deadline) {
				t.Fatal("the platform did not come up")
			}
		}
	}
	cmd, url := up()
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte("service: killed\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n  d:\n    handler: probe.daemon\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "probe.py"), []byte(probePy), 0o644)
	key, err := server.ReadCredentials(data)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(url).WithCredentials(client.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}, "us-east-1")
	ctx := context.Background()
	if _, err := c.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("301.%d", time.Now().UnixNano()%1e9)
	if _, err := c.Invoke(ctx, "killed-dev-d", "", []byte(`{"marker":"`+marker+`"}`), false); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, marker)
	cgroups := platformCgroups(cmd.Process.Pid)
	if len(cgroups) == 0 {
		t.Fatal("the platform's instance cgroups are not where expected")
	}

	_ = cmd.Process.Signal(syscall.SIGKILL)
	_, _ = cmd.Process.Wait()
	waitGone(t, marker, "a kill -9 of the platform")

	up()
	if left := platformCgroups(cmd.Process.Pid); len(left) > 0 {
		t.Fatalf("the killed platform's cgroups remain after a restart: %v", left)
	}
}

// platformCgroups lists the instance cgroups (memory and pids) of the
// platform with pid.
func platformCgroups(pid int) []string {
	data, _ := os.ReadFile("/proc/self/cgroup")
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || (parts[1] != "memory" && parts[1] != "pids" && parts[1] != "") {
			continue
		}
		base := filepath.Join("/sys/fs/cgroup", parts[1], parts[2], "nimbus")
		matches, _ := filepath.Glob(filepath.Join(base, "i"+strconv.Itoa(pid)+"-*"))
		found = append(found, matches...)
	}
	return found
}

// TestMemoryIsCountedFromTheFirstInstruction: what a Node.js function
// allocates while it initialises is in its cgroup's peak.
func TestMemoryIsCountedFromTheFirstInstruction(t *testing.T) {
	p := start(t, nil)
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte("service: mem\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  big:\n    handler: h.big\n    memorySize: 256\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "h.js"), []byte("const buf = Buffer.alloc(40 << 20, 1);\nexports.big = async () => ({ len: buf.length });\n"), 0o644)
	p.Deploy(dir)
	r := invoke(t, p, "mem-dev-big", map[string]any{})
	m := regexp.MustCompile(`Max Memory Used: (\d+) MB`).FindStringSubmatch(r.log)
	if m == nil {
		t.Fatalf("no REPORT in the log:\n%s", r.log)
	}
	if mb, _ := strconv.Atoi(m[1]); mb < 40 {
		t.Fatalf("a function holding 40 MB reports Max Memory Used: %d MB", mb)
	}
}

// TestColdStartsAreAdmittedAgainstMemory: beyond the memory budget a cold
// start is throttled, unless an idle instance can make room.
func TestColdStartsAreAdmittedAgainstMemory(t *testing.T) {
	p := start(t, func(c *server.Config) { c.MaxMemoryMB = 400 })
	deploy(t, p, "adm", "  slow:\n    handler: probe.api\n    memorySize: 256\n  other:\n    handler: probe.api\n    memorySize: 256\n",
		map[string]string{"probe.py": probePy})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		invoke(t, p, "adm-dev-slow", map[string]any{"sleep": 2})
	}()
	waitBusy(t, p, "adm-dev-slow")
	_, err := tryInvoke(p, "adm-dev-other", map[string]any{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "TooManyRequestsException" || !strings.Contains(ae.ErrorMessage(), "memory") {
		t.Fatalf("a cold start beyond the memory budget: %v, want TooManyRequestsException about memory", err)
	}
	wg.Wait()

	// slow's instance is idle now: it makes room.
	invoke(t, p, "adm-dev-other", map[string]any{})
	waitNoInstances(t, p, "adm-dev-slow")
	if used := p.Runtime().MemoryInUseMB(); used != 256 {
		t.Errorf("memory in use %d MB, want 256", used)
	}
}

func waitBusy(t *testing.T, p *testkit.Platform, function string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, s := range p.Runtime().Stats() {
			if s.Function == function && s.Busy > 0 && s.Instances > 0 {
				time.Sleep(200 * time.Millisecond) // into the invocation
				return
			}
		}
	}
	t.Fatalf("%s never got busy", function)
}

// TestRuntimeAPIServesOnlyItsInstance: another function, and another
// instance of the same function (same uid), cannot take an instance's
// invocations from its Runtime API.
func TestRuntimeAPIServesOnlyItsInstance(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "api", "  victim:\n    handler: probe.api\n  thief:\n    handler: probe.api\n", map[string]string{"probe.py": probePy})
	victim := invoke(t, p, "api-dev-victim", map[string]any{}).payload["addr"].(string)

	refused := func(who string, r map[string]any) {
		t.Helper()
		got, _ := r["got"].(string)
		if got != "" && !strings.HasPrefix(got, "error") {
			t.Errorf("%s reached the victim's Runtime API: %q", who, got)
		}
	}
	refused("another function", invoke(t, p, "api-dev-thief", map[string]any{"target": victim}).payload)

	// The victim's instance is busy; a second instance of the same function tries.
	var wg sync.WaitGroup
	wg.Add(1)
	var busy result
	go func() {
		defer wg.Done()
		busy = invoke(t, p, "api-dev-victim", map[string]any{"sleep": 2})
	}()
	waitBusy(t, p, "api-dev-victim")
	twin := invoke(t, p, "api-dev-victim", map[string]any{"target": victim}).payload
	if twin["addr"] == victim {
		t.Fatal("the twin ran on the victim's instance")
	}
	refused("another instance of the function", twin)
	wg.Wait()
	if busy.errType != "" || busy.payload["addr"] != victim {
		t.Errorf("the victim's invocation was disturbed: %v", busy.payload)
	}
}
