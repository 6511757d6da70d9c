package integration

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// slowInitPy spends 11 s in its module load: past Lambda's 10 s init limit.
const slowInitPy = `import time
print("init started", flush=True)
time.sleep(11)

def handler(event, context):
    return {"ok": True, "remainingMs": context.get_remaining_time_in_millis()}
`

// TestInitPastTheLimitIsRetriedInTheInvocation: as in Lambda, an on-demand
// init that runs past 10 s is retried as part of the first invocation,
// bounded by the function's timeout. With 20 s the retry finishes and the
// invocation succeeds; with 5 s it ends in Lambda's timeout error.
func TestInitPastTheLimitIsRetriedInTheInvocation(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	yml := "service: slowinit\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n" +
		"  roomy:\n    handler: slow.handler\n    timeout: 20\n" +
		"  tight:\n    handler: slow.handler\n    timeout: 5\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slow.py"), []byte(slowInitPy), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Deploy(dir)

	// Both wait out a 10 s init first: run them side by side.
	var roomy, tight invokeResult
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); roomy, _ = tryInvoke(p, "slowinit-dev-roomy", map[string]any{}, true) }()
	go func() { defer wg.Done(); tight, _ = tryInvoke(p, "slowinit-dev-tight", map[string]any{}, true) }()
	wg.Wait()

	if roomy.out == nil {
		t.Fatal("the 20 s function's invoke failed")
	}
	if fe := functionError(roomy); fe != "" {
		t.Fatalf("20 s timeout: function error %s: %s\n%s", fe, roomy.out.Payload, roomy.log)
	}
	wantField(t, roomy.payload, "ok", true)
	// The deadline the runtime got is the invocation's: the retried init
	// used part of it.
	if ms, _ := field(roomy.payload, "remainingMs").(float64); ms <= 0 || ms >= 20000-11000 {
		t.Errorf("remaining time %v ms after an 11 s init in a 20 s timeout", roomy.payload["remainingMs"])
	}
	for _, want := range []string{"Phase: init Status: timeout", "REPORT RequestId:"} {
		if !strings.Contains(roomy.log, want) {
			t.Errorf("20 s timeout: log tail lacks %q:\n%s", want, roomy.log)
		}
	}
	if n := strings.Count(roomy.log, "init started"); n != 2 {
		t.Errorf("the init ran %d times, want 2 (the first past the limit, then the retry):\n%s", n, roomy.log)
	}
	for _, line := range strings.Split(roomy.log, "\n") {
		if strings.HasPrefix(line, "REPORT") && strings.Contains(line, "Init Duration") {
			t.Errorf("a retried init is part of the invocation's duration, not an Init Duration: %s", line)
		}
	}

	if tight.out == nil {
		t.Fatal("the 5 s function's invoke failed")
	}
	if fe := functionError(tight); fe != "Unhandled" {
		t.Fatalf("5 s timeout: X-Amz-Function-Error %q, want Unhandled: %s", fe, tight.out.Payload)
	}
	wantField(t, tight.payload, "errorType", "Sandbox.Timedout")
	if msg, _ := tight.payload["errorMessage"].(string); !strings.Contains(msg, "Task timed out after 5.00 seconds") {
		t.Errorf("5 s timeout: errorMessage %q", msg)
	}
	for _, want := range []string{"Phase: init Status: timeout", "Phase: invoke Status: timeout", "Status: timeout"} {
		if !strings.Contains(tight.log, want) {
			t.Errorf("5 s timeout: log tail lacks %q:\n%s", want, tight.log)
		}
	}
}
