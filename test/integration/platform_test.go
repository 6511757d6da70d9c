package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func TestParallelInvokesRunOnSeparateInstances(t *testing.T) {
	t.Parallel()
	buildGoExample(t)
	p := testkit.Start(t, nil)
	p.Deploy("examples/go-hello")

	const n = 4
	pids := make(chan any, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := invoke(t, p, "go-hello-dev-hello", map[string]any{"sleepMs": 400}, false)
			pids <- instanceOf(r)
		}()
	}
	wg.Wait()
	close(pids)
	seen := map[any]bool{}
	for pid := range pids {
		seen[pid] = true
	}
	if len(seen) != n {
		t.Fatalf("%d parallel invokes ran on %d instances, want %d", n, len(seen), n)
	}
}

func TestReservedConcurrencyThrottles(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("examples/node-styles")
	fn := "node-styles-dev-limited" // reservedConcurrency: 2, sleeps

	var wg sync.WaitGroup
	results := make(chan error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger so two are surely running when the third arrives.
			time.Sleep(time.Duration(i) * 300 * time.Millisecond)
			_, err := tryInvoke(p, fn, map[string]any{"ms": 1500}, false)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	throttled, ok := 0, 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errorCode(err) == "TooManyRequestsException":
			throttled++
			var tm *types.TooManyRequestsException
			if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
				t.Errorf("throttle reason: %v", err)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 2 || throttled != 1 {
		t.Fatalf("%d succeeded and %d were throttled, want 2 and 1", ok, throttled)
	}
}

func TestPlatformConcurrencyLimitThrottles(t *testing.T) {
	t.Parallel()
	buildGoExample(t)
	p := testkit.Start(t, func(c *server.Config) { c.MaxConcurrency = 1 })
	p.Deploy("examples/go-hello")
	done := make(chan struct{})
	go func() {
		defer close(done)
		invoke(t, p, "go-hello-dev-hello", map[string]any{"sleepMs": 1000}, false)
	}()
	time.Sleep(300 * time.Millisecond)
	_, err := tryInvoke(p, "go-hello-dev-hello", map[string]any{}, false)
	if errorCode(err) != "TooManyRequestsException" {
		t.Fatalf("second concurrent invoke: %v, want TooManyRequestsException", err)
	}
	<-done
}

func TestIdleInstancesStopAndStartColdAgain(t *testing.T) {
	t.Parallel()
	buildGoExample(t)
	p := testkit.Start(t, func(c *server.Config) { c.IdleTimeout = 300 * time.Millisecond })
	p.Deploy("examples/go-hello")
	invoke(t, p, "go-hello-dev-hello", map[string]any{}, false)

	// An instance counts as live until its process has been reaped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		live := 0
		for _, s := range p.Runtime().Stats() {
			live += s.Instances
		}
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the idle timeout %d instance(s) remain", live)
		}
		time.Sleep(50 * time.Millisecond)
	}
	again := invoke(t, p, "go-hello-dev-hello", map[string]any{}, true)
	if !strings.Contains(again.log, "Init Duration") {
		t.Errorf("the invoke after scale-to-zero was not a cold start:\n%s", again.log)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// findProcess returns the host pid of a process whose command line (NUL
// between arguments) contains want, or 0.
func findProcess(want string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.Contains(string(data), want) {
			return pid
		}
	}
	return 0
}

func TestRestartKeepsDeployedFunctions(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, func(c *server.Config) {})
	p.Deploy("examples/hello")
	wantField(t, invoke(t, p, "hello-dev-hello", map[string]any{"name": "before"}, false).payload, "message", "Hello, before!")

	p2 := p.Restart()
	wantField(t, invoke(t, p2, "hello-dev-hello", map[string]any{"name": "after"}, false).payload, "message", "Hello, after!")
	out, err := p2.Lambda().ListFunctions(context.Background(), &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Functions) != 1 || aws.ToString(out.Functions[0].FunctionName) != "hello-dev-hello" {
		t.Fatalf("functions after restart: %+v", out.Functions)
	}
	// Logs written before the restart are still there.
	// Logs are written in batches: wait for the last one.
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		lines = nil
		if err := p2.Client.Logs(context.Background(), "hello-dev-hello", "", "greeting", false, func(r logsRecord) error {
			lines = append(lines, r.Message)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(lines) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "greeting before") || !strings.Contains(lines[1], "greeting after") {
		t.Fatalf("logs across the restart: %q", lines)
	}
}

func TestLambdaAPIOperations(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("examples/python-hello")
	ctx := context.Background()
	l := p.Lambda()

	list, err := l.ListFunctions(ctx, &lambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Functions) != 2 || list.NextMarker == nil {
		t.Fatalf("first page: %d functions, marker %v", len(list.Functions), list.NextMarker)
	}
	rest, err := l.ListFunctions(ctx, &lambda.ListFunctionsInput{Marker: list.NextMarker})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Functions) != 1 || rest.NextMarker != nil {
		t.Fatalf("second page: %d functions", len(rest.Functions))
	}

	cfg, err := l.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("python-hello-dev-hello")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Runtime != types.RuntimePython311 || aws.ToString(cfg.Handler) != "app/handler.hello" || aws.ToInt32(cfg.MemorySize) != 128 ||
		aws.ToInt32(cfg.Timeout) != 3 || cfg.Environment.Variables["GREETING"] != "Hi" || aws.ToString(cfg.Version) != "$LATEST" || cfg.State != types.StateActive {
		t.Errorf("configuration: %+v", cfg)
	}
	fn, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:python-hello-dev-hello")})
	if err != nil {
		t.Fatal(err)
	}
	if fn.Code == nil || !strings.Contains(aws.ToString(fn.Code.Location), "/code/") {
		t.Errorf("code location: %+v", fn.Code)
	}

	_, err = l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("no-such-function")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown function: %v, want ResourceNotFoundException", err)
	}
	_, err = l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("python-hello-dev-hello"), Qualifier: aws.String("prod")})
	if !errors.As(err, &nf) {
		t.Errorf("unknown qualifier: %v, want ResourceNotFoundException", err)
	}
	big := make([]byte, 6*1024*1024+10)
	copy(big, `"`)
	_, err = l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("python-hello-dev-hello"), Payload: big})
	var tooLarge *types.RequestTooLargeException
	if !errors.As(err, &tooLarge) && errorCode(err) != "RequestEntityTooLargeException" {
		t.Errorf("6 MB payload: %v, want RequestEntityTooLargeException", err)
	}
	dry, err := l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("python-hello-dev-hello"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || dry.StatusCode != 204 {
		t.Errorf("dry run: %v %+v", err, dry)
	}
	q, err := l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("python-hello-dev-hello:$LATEST"), Payload: []byte(`{"name":"q"}`)})
	if err != nil || !strings.Contains(string(q.Payload), "Hi, q!") {
		t.Errorf("qualified name: %v %s", err, q.Payload)
	}

	if _, err := l.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("python-hello-dev-fail")}); err != nil {
		t.Fatal(err)
	}
	_, err = l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("python-hello-dev-fail")})
	if !errors.As(err, &nf) {
		t.Errorf("deleted function still there: %v", err)
	}
}

func TestBadManifestChangesNothing(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("handler.js", `exports.hello = async () => ({ version: 1 });`)
	write("serverless.yml", "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  hello:\n    handler: handler.hello\n")
	p.Deploy(dir)
	wantField(t, invoke(t, p, "svc-dev-hello", nil, false).payload, "version", float64(1))

	write("handler.js", `exports.hello = async () => ({ version: 2 });`)
	cases := []struct {
		name, yml, want string
	}{
		{"unknown key", "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  hello:\n    handlr: handler.hello\nconfigValidationMode: error\n", `serverless.yml:7:5: unknown key "handlr"`},
		{"wrong type", "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\n  memorySize: lots\nfunctions:\n  hello:\n    handler: handler.hello\n", "serverless.yml:5:15"},
		{"syntax", "service: svc\nprovider:\n  name: aws\n runtime: [\n", "serverless.yml:4"},
		{"unknown runtime", "service: svc\nprovider:\n  name: aws\n  runtime: cobol85\nfunctions:\n  hello:\n    handler: handler.hello\n", "serverless.yml:4:12"},
		{"unresolved variable", "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\n  environment:\n    X: ${env:NIMBUS_SURELY_UNSET_VAR}\nfunctions:\n  hello:\n    handler: handler.hello\n", "serverless.yml:6"},
		{"missing handler file", "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  hello:\n    handler: nothere.hello\n", "serverless.yml:7"},
	}
	for _, tc := range cases {
		write("serverless.yml", tc.yml)
		_, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
		if err == nil {
			t.Errorf("%s: deploy succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error lacks %q:\n%v", tc.name, tc.want, err)
		}
		// The previous version still serves.
		wantField(t, invoke(t, p, "svc-dev-hello", nil, false).payload, "version", float64(1))
	}
}

// TestDaemonsDieWithTheirFunction: a process a function starts in a session
// of its own (out of its instance's process group) does not outlive its
// instance: it is still in the instance's cgroup.
func TestDaemonsDieWithTheirFunction(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: functions must run under their own uid")
	}
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte("service: daemons\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  spawn:\n    handler: h.spawn\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "h.js"), []byte(`const { spawn } = require('child_process');
exports.spawn = async (event) => {
  const child = spawn('sleep', [event.marker], { detached: true, stdio: 'ignore' });
  child.unref();
  return { pid: child.pid };
};`), 0o644)
	p.Deploy(dir)
	// The daemon's pid is its namespace's; find it on the host by its argument.
	marker := fmt.Sprintf("300.%d", time.Now().UnixNano()%1e9)
	invoke(t, p, "daemons-dev-spawn", map[string]any{"marker": marker}, false)
	pid := findProcess("sleep\x00" + marker)
	if pid == 0 {
		t.Fatal("the daemon is not running while its function is")
	}
	alive := func() bool {
		data, err := os.ReadFile(filepath.Join("/proc", itoa(int(pid)), "stat"))
		return err == nil && !strings.Contains(string(data), ") Z ")
	}
	if !alive() {
		t.Fatal("the daemon is not running while its function is")
	}
	if reason := sandbox.New(sandbox.Config{}).MemoryLimitError; reason != nil {
		// Without cgroups only the process group is killed; a daemon survives.
		t.Logf("no cgroups on this host (%v): a process that left its group is not tracked", reason)
		_ = syscall.Kill(int(pid), syscall.SIGKILL)
		return
	}
	p.Runtime().Retire("daemons-dev-spawn")
	for deadline := time.Now().Add(5 * time.Second); alive() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if alive() {
		t.Fatalf("process %d outlived its function's instances", int(pid))
	}
}
