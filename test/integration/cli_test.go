package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// buildCLI compiles cmd/nimbus once for all tests.
func buildCLI(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nimbus-cli-*")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "nimbus")
		cmd := exec.Command("go", "build", "-o", cliBin, "./cmd/nimbus")
		cmd.Dir = testkit.Root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("build the CLI: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cliBin != "" {
		_ = os.RemoveAll(filepath.Dir(cliBin))
	}
	os.Exit(code)
}

// runCLI runs the CLI against endpoint with env (the platform's key) added
// to the environment.
func runCLI(t *testing.T, bin, endpoint, dir string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--endpoint", endpoint}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
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

	out, errOut, err := runCLI(t, bin, p.URL(), root, p.AWSEnv(), "deploy", "examples/hello")
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"Deployed service hello", "created   function     hello-dev-hello", "invoke hello-dev-hello -d", "aws lambda invoke --function-name hello-dev-hello out.json"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, bin, p.URL(), root, p.AWSEnv(), "deploy", "examples/hello")
	if err != nil || !strings.Contains(out, "No changes") {
		t.Errorf("second deploy: %v\n%s", err, out)
	}

	// A function key of ./serverless.yml works as a name, as with `serverless invoke -f`.
	out, errOut, err = runCLI(t, bin, p.URL(), dir, p.AWSEnv(), "invoke", "hello", "-d", `{"name":"cli"}`, "--log")
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
	out, _, err = runCLI(t, bin, p.URL(), root, p.AWSEnv(), "invoke", "hello-dev-hello", "-p", event)
	if err != nil || !strings.Contains(out, "Hello, file!") {
		t.Errorf("invoke -p: %v %s", err, out)
	}
	if _, errOut, err := runCLI(t, bin, p.URL(), root, p.AWSEnv(), "invoke", "hello-dev-hello", "-d", "{not json"); err == nil || !strings.Contains(errOut, "not valid JSON") {
		t.Errorf("invalid event: %v %s", err, errOut)
	}
	if _, errOut, err := runCLI(t, bin, p.URL(), root, p.AWSEnv(), "invoke", "nope"); err == nil || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("unknown function: %v %s", err, errOut)
	}

	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		logs, _, _ = runCLI(t, bin, p.URL(), root, p.AWSEnv(), "logs", "hello-dev-hello", "--since", "10m", "--filter", "greeting")
		if strings.Count(logs, "greeting") >= 2 {
			break
		}
	}
	if !strings.Contains(logs, "greeting cli") || !strings.Contains(logs, "greeting file") || strings.Contains(logs, "REPORT") {
		t.Errorf("logs --filter greeting:\n%s", logs)
	}

	out, _, err = runCLI(t, bin, p.URL(), root, p.AWSEnv(), "info")
	if err != nil || !strings.Contains(out, "service: hello") || !strings.Contains(out, "hello-dev-hello") || !strings.Contains(out, "nodejs20.x") {
		t.Errorf("info: %v\n%s", err, out)
	}

	// Manifest errors are printed with their position and fail the command
	// (unknown keys only warn unless configValidationMode says error).
	bad := t.TempDir()
	_ = os.WriteFile(filepath.Join(bad, "serverless.yml"), []byte("service: bad\nprovider:\n  name: aws\n  runtim: nodejs20.x\nconfigValidationMode: error\n"), 0o644)
	_, errOut, err = runCLI(t, bin, p.URL(), root, p.AWSEnv(), "deploy", bad)
	if err == nil || !strings.Contains(errOut, "serverless.yml:4:3") || !strings.Contains(errOut, `did you mean "runtime"`) {
		t.Errorf("bad manifest: %v\n%s", err, errOut)
	}

	out, _, err = runCLI(t, bin, p.URL(), root, p.AWSEnv(), "remove", "examples/hello")
	if err != nil || !strings.Contains(out, "Removed service hello") {
		t.Errorf("remove: %v %s", err, out)
	}
	if _, errOut, err := runCLI(t, bin, p.URL(), root, p.AWSEnv(), "invoke", "hello-dev-hello"); err == nil || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("invoke after remove: %v %s", err, errOut)
	}
	if _, errOut, err := runCLI(t, bin, "http://127.0.0.1:1", root, nil, "info"); err == nil || !strings.Contains(errOut, "cannot reach nimbus") {
		t.Errorf("unreachable platform: %v %s", err, errOut)
	}
}

func TestDevRedeploysOnChange(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("serverless.yml", "service: devsvc\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  f:\n    handler: h.f\n")
	write("h.js", "exports.f = async () => 'one';")

	data := filepath.Join(t.TempDir(), "data")
	run := exec.Command(bin, "dev", dir, "--addr", "127.0.0.1:0", "--data", data, "--no-sandbox", "--shutdown-grace", "2s")
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stderr = os.Stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = run.Process.Signal(os.Interrupt)
		_ = run.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := stdout.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	var endpoint string
	deadline := time.After(30 * time.Second)
	for endpoint == "" || !strings.HasPrefix(endpoint, "http") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("nimbus dev exited")
			}
			if rest, found := strings.CutPrefix(l, "nimbus "); found && strings.Contains(rest, " is up at ") {
				endpoint = strings.Fields(strings.SplitN(rest, " is up at ", 2)[1])[0]
			}
		case <-deadline:
			t.Fatal("nimbus dev did not come up")
		}
	}
	waitFor := func(want string) {
		t.Helper()
		var got string
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			out, _, err := runCLI(t, bin, endpoint, dir, []string{"NIMBUS_DATA=" + data}, "invoke", "devsvc-dev-f")
			if err == nil && strings.TrimSpace(out) == want {
				return
			}
			got = out
		}
		t.Fatalf("invoke answered %q, want %q", got, want)
	}
	waitFor(`"one"`)
	write("h.js", "exports.f = async () => 'two';")
	waitFor(`"two"`)
}

// `eval "$(nimbus env)"` makes the AWS CLI work; `nimbus keys` creates, lists
// and revokes keys, and a revoked key fails at once.
func TestEnvAndKeys(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	p := testkit.Start(t, nil)
	root := testkit.Root(t)
	out, errOut, err := runCLI(t, bin, p.URL(), root, []string{"AWS_ACCESS_KEY_ID="}, "env", "--data", p.Config.DataDir)
	if err != nil {
		t.Fatalf("env: %v %s", err, errOut)
	}
	for _, want := range []string{"export AWS_ENDPOINT_URL='" + p.URL() + "'", "export AWS_ACCESS_KEY_ID='" + p.AdminKey.AccessKeyID + "'",
		"export AWS_SECRET_ACCESS_KEY=", "export AWS_REGION=", "export AWS_DEFAULT_REGION="} {
		if !strings.Contains(out, want) {
			t.Fatalf("nimbus env printed:\n%s\nwant %s", out, want)
		}
	}
	if _, err := exec.LookPath("aws"); err == nil {
		sh := exec.Command("sh", "-c", `eval "$1" && aws --endpoint-url "$AWS_ENDPOINT_URL" sqs create-queue --queue-name from-env`, "sh", out)
		sh.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CONFIG_FILE=/dev/null")
		if b, err := sh.CombinedOutput(); err != nil || !strings.Contains(string(b), "from-env") {
			t.Fatalf("aws after eval nimbus env: %v\n%s", err, b)
		}
	}
	// The CLI signs with the data directory's key when no AWS variables are set.
	noEnv := []string{"AWS_ACCESS_KEY_ID=", "NIMBUS_DATA=" + p.Config.DataDir}
	out, errOut, err = runCLI(t, bin, p.URL(), root, noEnv, "keys", "create", "--name", "ci")
	if err != nil {
		t.Fatalf("keys create: %v %s", err, errOut)
	}
	var id, secret string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "AWS_ACCESS_KEY_ID="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "AWS_SECRET_ACCESS_KEY="); ok {
			secret = v
		}
	}
	if !strings.HasPrefix(id, "AKIA") || len(secret) != 40 {
		t.Fatalf("keys create printed %q", out)
	}
	withKey := []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret}
	if out, errOut, err = runCLI(t, bin, p.URL(), root, withKey, "keys", "list"); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "ci") {
		t.Fatalf("keys list with the new key: %v %s %s", err, out, errOut)
	}
	if _, errOut, err = runCLI(t, bin, p.URL(), root, noEnv, "keys", "revoke", id); err != nil {
		t.Fatalf("keys revoke: %v %s", err, errOut)
	}
	if _, errOut, err = runCLI(t, bin, p.URL(), root, withKey, "info"); err == nil || !strings.Contains(errOut, "UnrecognizedClientException") {
		t.Fatalf("a revoked key still works: %v %s", err, errOut)
	}
	// Unsigned calls are refused with AWS's code.
	if _, errOut, err = runCLI(t, bin, p.URL(), t.TempDir(), []string{"AWS_ACCESS_KEY_ID=", "NIMBUS_DATA=/nonexistent"}, "info"); err == nil || !strings.Contains(errOut, "MissingAuthenticationToken") {
		t.Fatalf("an unsigned call: %v %s", err, errOut)
	}
}
