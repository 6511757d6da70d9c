package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// buildCLI compiles cmd/nimbus for the test.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nimbus")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nimbus")
	cmd.Dir = testkit.Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}
	return bin
}

func runCLI(t *testing.T, bin, endpoint, dir string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--endpoint", endpoint}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestCLI(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	p := testkit.Start(t, nil)
	root := testkit.Root(t)
	dir := filepath.Join(root, "examples/hello")

	out, errOut, err := runCLI(t, bin, p.URL(), root, "deploy", "examples/hello")
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"Deployed service hello", "created   hello-dev-hello", "nimbus invoke hello-dev-hello"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, bin, p.URL(), root, "deploy", "examples/hello")
	if err != nil || !strings.Contains(out, "No changes") {
		t.Errorf("second deploy: %v\n%s", err, out)
	}

	// A function key of ./serverless.yml works as a name, as with `serverless invoke -f`.
	out, errOut, err = runCLI(t, bin, p.URL(), dir, "invoke", "hello", "-d", `{"name":"cli"}`, "--log")
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, `"message":"Hello, cli!"`) || !strings.Contains(errOut, "REPORT RequestId:") {
		t.Errorf("invoke output:\n%s\n%s", out, errOut)
	}
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte(`{"name":"file"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, bin, p.URL(), root, "invoke", "hello-dev-hello", "-p", event)
	if err != nil || !strings.Contains(out, "Hello, file!") {
		t.Errorf("invoke -p: %v %s", err, out)
	}
	if _, errOut, err := runCLI(t, bin, p.URL(), root, "invoke", "hello-dev-hello", "-d", "{not json"); err == nil || !strings.Contains(errOut, "not valid JSON") {
		t.Errorf("invalid event: %v %s", err, errOut)
	}
	if _, errOut, err := runCLI(t, bin, p.URL(), root, "invoke", "nope"); err == nil || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("unknown function: %v %s", err, errOut)
	}

	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		logs, _, _ = runCLI(t, bin, p.URL(), root, "logs", "hello-dev-hello", "--since", "10m", "--filter", "greeting")
		if strings.Count(logs, "greeting") >= 2 {
			break
		}
	}
	if !strings.Contains(logs, "greeting cli") || !strings.Contains(logs, "greeting file") || strings.Contains(logs, "REPORT") {
		t.Errorf("logs --filter greeting:\n%s", logs)
	}

	out, _, err = runCLI(t, bin, p.URL(), root, "info")
	if err != nil || !strings.Contains(out, "service: hello") || !strings.Contains(out, "/2015-03-31/functions/hello-dev-hello/invocations") {
		t.Errorf("info: %v\n%s", err, out)
	}

	// Manifest errors are printed with their position and fail the command.
	bad := t.TempDir()
	_ = os.WriteFile(filepath.Join(bad, "serverless.yml"), []byte("service: bad\nprovider:\n  name: aws\n  runtim: nodejs20.x\n"), 0o644)
	_, errOut, err = runCLI(t, bin, p.URL(), root, "deploy", bad)
	if err == nil || !strings.Contains(errOut, "serverless.yml:4:3") || !strings.Contains(errOut, `did you mean "runtime"`) {
		t.Errorf("bad manifest: %v\n%s", err, errOut)
	}

	out, _, err = runCLI(t, bin, p.URL(), root, "remove", "examples/hello")
	if err != nil || !strings.Contains(out, "Removed service hello") {
		t.Errorf("remove: %v %s", err, out)
	}
	if _, errOut, err := runCLI(t, bin, p.URL(), root, "invoke", "hello-dev-hello"); err == nil || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("invoke after remove: %v %s", err, errOut)
	}
	if _, errOut, err := runCLI(t, bin, "http://127.0.0.1:1", root, "info"); err == nil || !strings.Contains(errOut, "cannot reach nimbus") {
		t.Errorf("unreachable platform: %v %s", err, errOut)
	}
}
