package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

var goBuild sync.Once

// buildGoExample builds examples/go-hello as its Makefile does.
func buildGoExample(t *testing.T) {
	goBuild.Do(func() {
		testkit.BuildGoZip(t, "examples/go-hello/cmd/hello", "examples/go-hello/build/hello.zip", "bootstrap")
		testkit.BuildGo(t, "examples/go-hello/cmd/fail", testkit.Path(t, "examples/go-hello/bin/fail"))
		testkit.BuildGoZip(t, "examples/go-hello/cmd/hello", "examples/mixed/build/go.zip", "bootstrap")
	})
}

func TestGoFunctionBuiltWithAwsLambdaGo(t *testing.T) {
	t.Parallel()
	buildGoExample(t)
	p := testkit.Start(t, nil)
	p.Deploy("examples/go-hello")

	r := invoke(t, p, "go-hello-dev-hello", map[string]any{"name": "gopher"}, true)
	if functionError(r) != "" {
		t.Fatalf("function error %s: %s", functionError(r), r.out.Payload)
	}
	wantField(t, r.payload, "message", "Hello, gopher!")
	wantField(t, r.payload, "functionName", "go-hello-dev-hello")
	wantField(t, r.payload, "functionVersion", "$LATEST")
	wantField(t, r.payload, "memoryLimitMB", float64(128))
	wantField(t, r.payload, "invokedArn", "arn:aws:lambda:us-east-1:000000000000:function:go-hello-dev-hello")
	wantField(t, r.payload, "env.STAGE", "dev")
	wantField(t, r.payload, "env.AWS_REGION", "us-east-1")
	wantField(t, r.payload, "env.AWS_DEFAULT_REGION", "us-east-1")
	wantField(t, r.payload, "env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
	wantField(t, r.payload, "env.AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/go-hello-dev-hello")
	wantField(t, r.payload, "env._HANDLER", "bootstrap")
	wantField(t, r.payload, "env.TZ", ":UTC")
	if d, _ := field(r.payload, "deadlineInMs").(float64); d < 2000 || d > 3000 {
		t.Errorf("deadline %v ms away, want about the 3 s timeout", d)
	}
	if !strings.Contains(field(r.payload, "env.AWS_LAMBDA_LOG_STREAM_NAME").(string), "[$LATEST]") {
		t.Errorf("log stream name %v lacks [$LATEST]", field(r.payload, "env.AWS_LAMBDA_LOG_STREAM_NAME"))
	}
	if aws.ToString(r.out.ExecutedVersion) != "$LATEST" {
		t.Errorf("executed version %q", aws.ToString(r.out.ExecutedVersion))
	}
	id := field(r.payload, "requestId").(string)
	for _, want := range []string{"START RequestId: " + id + " Version: $LATEST", "hello gopher", "END RequestId: " + id, "REPORT RequestId: " + id, "Billed Duration:", "Max Memory Used:", "Init Duration:"} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log tail lacks %q:\n%s", want, r.log)
		}
	}

	// Warm: same process, no init duration.
	r2 := invoke(t, p, "go-hello-dev-hello", map[string]any{}, true)
	if instanceOf(r2) != instanceOf(r) {
		t.Errorf("second invoke ran in instance %v, want the warm instance %v", instanceOf(r2), instanceOf(r))
	}
	if strings.Contains(r2.log, "Init Duration") {
		t.Errorf("warm invoke reports an init duration:\n%s", r2.log)
	}

	// A function error keeps Lambda's shape: the Go type name as errorType.
	f := invoke(t, p, "go-hello-dev-fail", map[string]any{"id": "o-42"}, false)
	if functionError(f) != "Unhandled" {
		t.Fatalf("X-Amz-Function-Error = %q, want Unhandled", functionError(f))
	}
	wantField(t, f.payload, "errorType", "OrderError")
	wantField(t, f.payload, "errorMessage", "order o-42 cannot be billed")

	// A bad event is the runtime client's error, as on AWS.
	bad, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("go-hello-dev-hello"), Payload: []byte(`{"name": 5}`)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(bad.FunctionError) != "Unhandled" || !strings.Contains(string(bad.Payload), "UnmarshalTypeError") {
		t.Errorf("decoding error: %s %s", aws.ToString(bad.FunctionError), bad.Payload)
	}
}

func TestTimeoutsCrashesAndPanics(t *testing.T) {
	t.Parallel()
	buildGoExample(t)
	p := testkit.Start(t, nil)
	p.Deploy("examples/go-hello")
	fn := "go-hello-dev-hello"

	start := time.Now()
	r := invoke(t, p, fn, map[string]any{"sleepMs": 5000}, true)
	if took := time.Since(start); took > 4500*time.Millisecond || took < 2900*time.Millisecond {
		t.Errorf("timed-out invoke took %v, want about the 3 s timeout", took)
	}
	if functionError(r) != "Unhandled" {
		t.Fatalf("timeout: function error %q", functionError(r))
	}
	wantField(t, r.payload, "errorType", "Sandbox.Timedout")
	if msg, _ := r.payload["errorMessage"].(string); !strings.Contains(msg, "Task timed out after 3.00 seconds") {
		t.Errorf("timeout message %q", msg)
	}
	if !strings.Contains(r.log, "Task timed out after 3.00 seconds") {
		t.Errorf("timeout missing from log:\n%s", r.log)
	}

	// The instance was replaced: the next invoke works.
	ok := invoke(t, p, fn, map[string]any{"name": "again"}, false)
	wantField(t, ok.payload, "message", "Hello, again!")
	pid := instanceOf(ok)

	crash := invoke(t, p, fn, map[string]any{"exit": true}, false)
	if functionError(crash) != "Unhandled" {
		t.Fatalf("crash: function error %q", functionError(crash))
	}
	wantField(t, crash.payload, "errorType", "Runtime.ExitError")
	if msg, _ := crash.payload["errorMessage"].(string); !strings.Contains(msg, "exit status 3") {
		t.Errorf("crash message %q", msg)
	}
	after := invoke(t, p, fn, map[string]any{}, false)
	if instanceOf(after) == pid {
		t.Errorf("the crashed instance %v served again", pid)
	}

	pan := invoke(t, p, fn, map[string]any{"panic": true}, false)
	if functionError(pan) != "Unhandled" {
		t.Fatalf("panic: function error %q", functionError(pan))
	}
	if msg, _ := pan.payload["errorMessage"].(string); !strings.Contains(msg, "asked to panic") {
		t.Errorf("panic payload %v", pan.payload)
	}
	wantField(t, invoke(t, p, fn, map[string]any{"name": "x"}, false).payload, "message", "Hello, x!")
}

func TestNodeHandlerStyles(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("examples/node-styles")
	name := func(k string) string { return "node-styles-dev-" + k }

	r := invoke(t, p, name("asyncHandler"), map[string]any{"n": 5}, true)
	wantField(t, r.payload, "style", "async")
	wantField(t, r.payload, "padded", "005") // node_modules resolve
	wantField(t, r.payload, "context.functionName", name("asyncHandler"))
	wantField(t, r.payload, "context.functionVersion", "$LATEST")
	wantField(t, r.payload, "context.memoryLimitInMB", "256")
	wantField(t, r.payload, "context.logGroupName", "/aws/lambda/"+name("asyncHandler"))
	wantField(t, r.payload, "context.invokedFunctionArn", "arn:aws:lambda:us-east-1:000000000000:function:"+name("asyncHandler"))
	wantField(t, r.payload, "context.callbackWaitsForEmptyEventLoop", true)
	wantField(t, r.payload, "env.APP_MODE", "test")
	wantField(t, r.payload, "env.FUNCTION_ONLY", "yes-dev")
	wantField(t, r.payload, "env._HANDLER", "handler.asyncHandler")
	if rem, _ := field(r.payload, "context.remaining").(float64); rem < 1000 || rem > 2000 {
		t.Errorf("getRemainingTimeInMillis() = %v, want within the 2 s timeout", rem)
	}
	if id, _ := field(r.payload, "context.awsRequestId").(string); !strings.Contains(r.log, id+"\tINFO\tasync handler got") {
		t.Errorf("console.log line not in Lambda's format with request id %s:\n%s", id, r.log)
	}

	for key, style := range map[string]string{"promiseHandler": "promise", "callbackHandler": "callback", "esmHandler": "esm", "mjsHandler": "mjs", "nested": "nested"} {
		r := invoke(t, p, name(key), map[string]any{"k": key}, false)
		if functionError(r) != "" {
			t.Errorf("%s: function error %s", key, r.out.Payload)
			continue
		}
		wantField(t, r.payload, "style", style)
	}

	start := time.Now()
	nw := invoke(t, p, name("noWait"), map[string]any{}, false)
	wantField(t, nw.payload, "style", "no-wait")
	if took := time.Since(start); took > 1400*time.Millisecond {
		t.Errorf("callbackWaitsForEmptyEventLoop=false still waited for the timer: %v", took)
	}

	th := invoke(t, p, name("thrower"), map[string]any{"field": "email"}, false)
	if functionError(th) != "Unhandled" {
		t.Fatalf("thrower: function error %q", functionError(th))
	}
	wantField(t, th.payload, "errorType", "ValidationError")
	wantField(t, th.payload, "errorMessage", "bad input: email")
	if tr, ok := th.payload["trace"].([]any); !ok || len(tr) == 0 || !strings.Contains(tr[0].(string), "ValidationError") {
		t.Errorf("trace = %v", th.payload["trace"])
	}

	sl := invoke(t, p, name("sleeper"), map[string]any{"ms": 3000}, false)
	wantField(t, sl.payload, "errorType", "Sandbox.Timedout")
	if msg, _ := sl.payload["errorMessage"].(string); !strings.Contains(msg, "Task timed out after 1.00 seconds") {
		t.Errorf("timeout message %q", msg)
	}

	cr := invoke(t, p, name("crasher"), map[string]any{}, true)
	wantField(t, cr.payload, "errorType", "Runtime.ExitError")
	if !strings.Contains(cr.log, "about to crash") {
		t.Errorf("log of the crash lacks the function's output:\n%s", cr.log)
	}

	bi := invoke(t, p, name("brokenImport"), map[string]any{}, false)
	if functionError(bi) != "Unhandled" {
		t.Fatalf("brokenImport: function error %q", functionError(bi))
	}
	wantField(t, bi.payload, "errorType", "Runtime.ImportModuleError")
	if msg, _ := bi.payload["errorMessage"].(string); !strings.Contains(msg, "a-module-that-is-not-installed") {
		t.Errorf("import error message %q", msg)
	}
}

func TestPythonHandlers(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("examples/python-hello")

	r := invoke(t, p, "python-hello-dev-hello", map[string]any{"name": "snake"}, true)
	if functionError(r) != "" {
		t.Fatalf("function error: %s", r.out.Payload)
	}
	wantField(t, r.payload, "message", "Hi, snake!")
	wantField(t, r.payload, "context.function_name", "python-hello-dev-hello")
	wantField(t, r.payload, "context.function_version", "$LATEST")
	wantField(t, r.payload, "context.memory_limit_in_mb", "128")
	wantField(t, r.payload, "context.log_group_name", "/aws/lambda/python-hello-dev-hello")
	if rem, _ := field(r.payload, "context.remaining").(float64); rem < 2000 || rem > 3000 {
		t.Errorf("get_remaining_time_in_millis() = %v", rem)
	}
	for _, want := range []string{"hello from python", "logged with the logging module", "REPORT RequestId: " + field(r.payload, "context.aws_request_id").(string)} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log tail lacks %q:\n%s", want, r.log)
		}
	}

	f := invoke(t, p, "python-hello-dev-fail", map[string]any{"card": "4242"}, false)
	if functionError(f) != "Unhandled" {
		t.Fatalf("fail: function error %q", functionError(f))
	}
	wantField(t, f.payload, "errorType", "PaymentDeclined")
	wantField(t, f.payload, "errorMessage", "card 4242 was declined")
	if st, ok := f.payload["stackTrace"].([]any); !ok || len(st) == 0 {
		t.Errorf("stackTrace = %v", f.payload["stackTrace"])
	}

	d := invoke(t, p, "python-hello-dev-dotted", map[string]any{"name": "dots"}, false)
	wantField(t, d.payload, "message", "Hello, dots!")
}

func TestMixedRuntimesInOneService(t *testing.T) {
	t.Parallel()
	buildGoExample(t)
	p := testkit.Start(t, nil)
	p.Deploy("examples/mixed")
	for key, runtime := range map[string]string{"fromNode": "node", "fromPython": "python"} {
		r := invoke(t, p, "mixed-dev-"+key, map[string]any{"x": 1}, false)
		wantField(t, r.payload, "runtime", runtime)
		wantField(t, r.payload, "input.x", float64(1))
	}
	r := invoke(t, p, "mixed-dev-fromGo", map[string]any{"name": "mix"}, false)
	wantField(t, r.payload, "message", "Hello, mix!")
}

// A Node.js function through the real platform with payloads near Lambda's
// 6 MB limits: a large event and answer travel whole, an answer over the limit
// is Function.ResponseSizeTooLarge, and the function keeps answering after it.
func TestNodeLargePayloads(t *testing.T) {
	testLargePayloads(t, "nodejs20.x", "index.js", `exports.handler = async (event) => event.repeat ? { s: 'x'.repeat(event.repeat) } : { n: event.s.length, tail: event.s.slice(-3) };
`, len(`{"s":""}`))
}

// The same through the Python client, which sends its next request behind
// each answer: after the 413 that closes the connection it asks again on a
// new one.
func TestPythonLargePayloads(t *testing.T) {
	testLargePayloads(t, "python3.11", "index.py", `def handler(event, context):
    if event.get("repeat"):
        return {"s": "x" * event["repeat"]}
    return {"n": len(event["s"]), "tail": event["s"][-3:]}
`, len(`{"s": ""}`))
}

// testLargePayloads deploys code as index.handler in runtime; an answer of
// {"s": n characters} is n+overhead bytes.
func testLargePayloads(t *testing.T, runtime, file, code string, overhead int) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"serverless.yml": "service: bigpay\nprovider:\n  name: aws\n  runtime: " + runtime + "\nfunctions:\n  echo:\n    handler: index.handler\n",
		file:             code,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, nil)
	p.Deploy(dir)
	const fn = "bigpay-dev-echo"

	// An event of 5.5 MB, mostly two-byte characters.
	s := strings.Repeat("é", 11<<18) + "end"
	r := invoke(t, p, fn, map[string]any{"s": s}, false)
	if functionError(r) != "" {
		t.Fatalf("large event: %s", r.out.Payload)
	}
	wantField(t, r.payload, "n", float64(len([]rune(s))))
	wantField(t, r.payload, "tail", "end")

	// An answer just under 6 MB, then one over it.
	r = invoke(t, p, fn, map[string]any{"repeat": 6<<20 - 100}, false)
	if functionError(r) != "" || len(r.out.Payload) != 6<<20-100+overhead {
		t.Fatalf("answer under the limit: error %q, %d bytes", functionError(r), len(r.out.Payload))
	}
	r = invoke(t, p, fn, map[string]any{"repeat": 7 << 20}, false)
	wantField(t, r.payload, "errorType", "Function.ResponseSizeTooLarge")
	r = invoke(t, p, fn, map[string]any{"s": "abc"}, false)
	wantField(t, r.payload, "n", float64(3))
}
