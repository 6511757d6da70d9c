package functions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// pythonService is a one-function service that answers its version.
func pythonService(t *testing.T, service, version string) string {
	t.Helper()
	return writeService(t, service, "python3.12", "main.handler", []zipEntry{
		{name: "main.py", body: "def handler(event, context):\n    return '" + version + "'\n", mode: 0o644},
	})
}

func deploy(t *testing.T, p *testkit.Platform, dir string) {
	t.Helper()
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
}

func invokeWants(t *testing.T, p *testkit.Platform, function, want string) {
	t.Helper()
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(function)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out.Payload); out.FunctionError != nil || got != `"`+want+`"` {
		t.Fatalf("%s answered %s (%s), want %q", function, got, aws.ToString(out.FunctionError), want)
	}
}

// codeFiles lists the code packages and unpacked code of a platform,
// temporary files included.
func codeFiles(t *testing.T, p *testkit.Platform) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{filepath.Join(p.Config.DataDir, "blobs"), filepath.Join(p.Config.RunDir, "code")} {
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			out = append(out, filepath.Join(filepath.Base(dir), e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// ageBlobs moves every package's last use an hour back, past the grace
// that spares fresh uploads, as if the test had waited that long.
func ageBlobs(t *testing.T, p *testkit.Platform) {
	t.Helper()
	dir := filepath.Join(p.Config.DataDir, "blobs")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(dir, e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// waitForFiles collects until the platform's code files are want, or fails
// after a generous deadline (instances of removed versions exit first).
func waitForFiles(t *testing.T, p *testkit.Platform, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := p.Registry.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := codeFiles(t, p)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("code files are\n  %v\nwant\n  %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCodeIsCollectedAfterRedeploysAndRemoves: deploys with new code,
// invocations and removals in a loop leave the packages and unpacked code as
// they were, while a deployed service keeps its code and keeps working.
func TestCodeIsCollectedAfterRedeploysAndRemoves(t *testing.T) {
	p := testkit.Start(t, nil)
	deploy(t, p, pythonService(t, "keeper", "kept"))
	invokeWants(t, p, "keeper-dev-fn", "kept")
	baseline := codeFiles(t, p)
	if len(baseline) != 2 {
		t.Fatalf("one deployed function should have one package and one unpacked copy: %v", baseline)
	}
	for i := range 3 {
		for _, v := range []string{"a", "b"} {
			version := fmt.Sprintf("v%d%s", i, v)
			deploy(t, p, pythonService(t, "leaky", version))
			invokeWants(t, p, "leaky-dev-fn", version)
		}
		if _, err := p.Client.Remove(context.Background(), "leaky"); err != nil {
			t.Fatal(err)
		}
	}
	ageBlobs(t, p)
	waitForFiles(t, p, baseline)
	invokeWants(t, p, "keeper-dev-fn", "kept")

	// Replacing the keeper's code collects the old one (its package at
	// once, its unpacked copy when its instance is gone).
	deploy(t, p, pythonService(t, "keeper", "kept2"))
	invokeWants(t, p, "keeper-dev-fn", "kept2")
	ageBlobs(t, p)
	deadline := time.Now().Add(30 * time.Second)
	for len(codeFiles(t, p)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("old code of a redeployed function stays: %v", codeFiles(t, p))
		}
		if _, err := p.Registry.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	invokeWants(t, p, "keeper-dev-fn", "kept2")
}

// TestFreshUploadsSurviveCollection: a package uploaded (or found present
// by a client) moments before its deploy is not collected under it.
func TestFreshUploadsSurviveCollection(t *testing.T) {
	p := testkit.Start(t, nil)
	body := []byte("not deployed yet")
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	url := p.URL() + "/nimbus/v1/code/" + digest
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/zip")
	p.Sign(req, "nimbus")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", resp.Status)
	}
	blob := filepath.Join(p.Config.DataDir, "blobs", digest)
	if _, err := p.Registry.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blob); err != nil {
		t.Fatalf("a fresh upload was collected: %v", err)
	}
	// An old package a client just found (HEAD) is fresh again.
	ageBlobs(t, p)
	head, _ := http.NewRequest(http.MethodHead, url, nil)
	p.Sign(head, "nimbus")
	resp, err = http.DefaultClient.Do(head)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %s", resp.Status)
	}
	if _, err := p.Registry.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blob); err != nil {
		t.Fatalf("a package a client had just found was collected: %v", err)
	}
	ageBlobs(t, p)
	if _, err := p.Registry.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Fatalf("an old package nothing uses stays: %v", err)
	}
}

// TestLeftoversOfACrashAreCollectedAtStart: unfinished extractions and
// uploads, and unpacked code of no deployed function, are gone after a
// restart; deployed code stays.
func TestLeftoversOfACrashAreCollectedAtStart(t *testing.T) {
	p := testkit.Start(t, nil)
	deploy(t, p, pythonService(t, "keeper", "kept"))
	baseline := codeFiles(t, p)
	code := filepath.Join(p.Config.RunDir, "code")
	for _, dir := range []string{".extract-123/lib", strings.Repeat("ab", 32) + "/lib", ".trash-9/x"} {
		if err := os.MkdirAll(filepath.Join(code, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(p.Config.DataDir, "blobs", ".upload-77"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = p.Restart()
	waitForFiles(t, p, baseline)
	invokeWants(t, p, "keeper-dev-fn", "kept")
}

// TestCodeOfARunningInvocationIsKept: an invocation still running on a
// replaced version reads its code after the redeploy and a collection.
func TestCodeOfARunningInvocationIsKept(t *testing.T) {
	p := testkit.Start(t, nil)
	slow := writeService(t, "slow", "python3.12", "main.handler", []zipEntry{
		{name: "main.py", body: "import os, time\ndef handler(event, context):\n    time.sleep(1.5)\n    return open(os.path.join(os.environ['LAMBDA_TASK_ROOT'], 'data.txt')).read()\n", mode: 0o644},
		{name: "data.txt", body: "old", mode: 0o644},
	})
	deploy(t, p, slow)
	done := make(chan error, 1)
	go func() {
		out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("slow-dev-fn")})
		if err == nil && (out.FunctionError != nil || string(out.Payload) != `"old"`) {
			err = fmt.Errorf("answered %s (%s)", out.Payload, aws.ToString(out.FunctionError))
		}
		done <- err
	}()
	// Wait until the invocation runs, then replace the code under it.
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(p.Runtime().Stats(), func(s runtime.Stats) bool { return s.Busy > 0 }) {
		if time.Now().After(deadline) {
			t.Fatal("the invocation never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	deploy(t, p, pythonService(t, "slow", "new"))
	ageBlobs(t, p)
	if _, err := p.Registry.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the running invocation lost its code: %v", err)
	}
	invokeWants(t, p, "slow-dev-fn", "new")
}
