// Package langs deploys functions of every runtime family on a real platform
// and calls them through the Lambda API: Ruby, old go1.x binaries, Java, the
// interpreter versions the deploy picks, and what a function's interpreter
// may import.
package langs

import (
	"archive/zip"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// writeTree writes files (path → content; a path ending in "*" is made
// executable, the star dropped) under a new directory others can read.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nimbus-langs-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, mode = n, 0o755
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func deploy(t *testing.T, p *testkit.Platform, dir string) *client.DeployOutcome {
	t.Helper()
	out, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return out
}

type result struct {
	out     *lambda.InvokeOutput
	payload map[string]any
	log     string
}

func invoke(t *testing.T, p *testkit.Platform, name, event string) result {
	t.Helper()
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String(name), Payload: []byte(event), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	r := result{out: out}
	if len(out.Payload) > 0 && out.Payload[0] == '{' {
		if err := json.Unmarshal(out.Payload, &r.payload); err != nil {
			t.Fatalf("payload %s: %v", out.Payload, err)
		}
	}
	if out.LogResult != nil {
		raw, _ := base64.StdEncoding.DecodeString(*out.LogResult)
		r.log = string(raw)
	}
	return r
}

func (r result) wantOK(t *testing.T) {
	t.Helper()
	if fe := aws.ToString(r.out.FunctionError); fe != "" {
		t.Fatalf("function error %s: %s\nlog:\n%s", fe, r.out.Payload, r.log)
	}
}

func (r result) wantError(t *testing.T, errorType, message string) {
	t.Helper()
	if aws.ToString(r.out.FunctionError) != "Unhandled" {
		t.Fatalf("X-Amz-Function-Error %q, want Unhandled (payload %s)", aws.ToString(r.out.FunctionError), r.out.Payload)
	}
	if r.payload["errorType"] != errorType || !strings.Contains(r.payload["errorMessage"].(string), message) {
		t.Fatalf("error %s, want errorType %q and a message with %q", r.out.Payload, errorType, message)
	}
}

func warnings(out *client.DeployOutcome) string {
	return strings.Join(out.Response.Warnings, "\n")
}

// need skips (or, where CI demands the tool, fails) a test without a program.
func need(t *testing.T, program, requireEnv string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not installed and %s=1", program, requireEnv)
		}
		t.Skipf("%s is not installed; set %s=1 to fail instead", program, requireEnv)
	}
	return p
}

func rubyVersion(t *testing.T) string {
	out, err := exec.Command("ruby", "-e", "print RUBY_VERSION").Output()
	if err != nil {
		t.Fatalf("ruby -e: %v", err)
	}
	return string(out)
}

func TestRubyFunctions(t *testing.T) {
	need(t, "ruby", "NIMBUS_REQUIRE_RUBY")
	dir := writeTree(t, map[string]string{
		"serverless.yml": `service: rb
provider:
  name: aws
  runtime: ruby3.3
functions:
  hello:
    handler: handler.hello
  orders:
    handler: lib/orders.Shop::Orders.process
  legacy:
    handler: handler.hello
    runtime: ruby2.7
`,
		"handler.rb": `require 'json'

def hello(event:, context:)
  puts "hello from #{context.function_name}"
  raise ArgumentError, 'no name' if event['name'].nil?
  {
    'message' => "Hello, #{event['name']}!",
    'requestId' => context.aws_request_id,
    'arn' => context.invoked_function_arn,
    'memory' => context.memory_limit_in_mb,
    'remaining' => context.get_remaining_time_in_millis,
    'group' => context.log_group_name,
    'ruby' => RUBY_VERSION,
    'gemPath' => Gem.path,
    'loadPath' => $LOAD_PATH,
  }
end
`,
		"lib/orders.rb": `require 'greeter'

module Shop
  class Orders
    def self.process(event:, context:)
      { 'orders' => event['ids'].map { |id| "order-#{id}" }, 'greeting' => Greeter.greet('shop') }
    end
  end
end
`,
	})
	// A gem installed into the package as bundler does for Lambda
	// (bundle config set path vendor/bundle).
	api, err := exec.Command("ruby", "-e", `print RbConfig::CONFIG["ruby_version"]`).Output()
	if err != nil {
		t.Fatal(err)
	}
	gems := filepath.Join(dir, "vendor", "bundle", "ruby", string(api))
	for name, content := range map[string]string{
		"specifications/greeter-1.0.0.gemspec": "Gem::Specification.new do |s|\n  s.name = 'greeter'\n  s.version = '1.0.0'\n" +
			"  s.summary = 'greets'\n  s.authors = ['nimbus']\n  s.files = ['lib/greeter.rb']\n  s.require_paths = ['lib']\nend\n",
		"gems/greeter-1.0.0/lib/greeter.rb": "module Greeter\n  def self.greet(who)\n    \"hi #{who}\"\n  end\nend\n",
	} {
		p := filepath.Join(gems, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, nil)
	out := deploy(t, p, dir)
	w := warnings(out)
	version := rubyVersion(t)
	if !strings.Contains(w, "runtime ruby2.7 is deprecated by AWS; its functions run with ruby "+version) {
		t.Errorf("deploy warnings lack ruby2.7's deprecation:\n%s", w)
	}
	if !strings.HasPrefix(version, "3.3.") && !strings.Contains(w, "runtime ruby3.3: no ruby 3.3 is installed; its functions run with ruby "+version) {
		t.Errorf("deploy warnings lack the version ruby3.3 runs with:\n%s", w)
	}

	r := invoke(t, p, "rb-dev-hello", `{"name":"ruby"}`)
	r.wantOK(t)
	if r.payload["message"] != "Hello, ruby!" || r.payload["arn"] != "arn:aws:lambda:us-east-1:000000000000:function:rb-dev-hello" ||
		r.payload["memory"] != "1024" || r.payload["group"] != "/aws/lambda/rb-dev-hello" || r.payload["ruby"] != version {
		t.Errorf("payload %s", r.out.Payload)
	}
	if rem, _ := r.payload["remaining"].(float64); rem <= 0 || rem > 6000 {
		t.Errorf("remaining time %v ms, want within the 6 s timeout", r.payload["remaining"])
	}
	for _, want := range []string{"hello from rb-dev-hello", "START RequestId: " + r.payload["requestId"].(string), "REPORT RequestId:"} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log lacks %q:\n%s", want, r.log)
		}
	}
	// Host gems and site_ruby are not the function's.
	for _, p := range r.payload["loadPath"].([]any) {
		if s := p.(string); strings.Contains(s, "site_ruby") || strings.Contains(s, "vendor_ruby") {
			t.Errorf("load path has the host's %s", s)
		}
	}
	for _, p := range r.payload["gemPath"].([]any) {
		if s := p.(string); strings.Contains(s, "/var/lib/gems") || strings.Contains(s, "/usr/local/lib/ruby/gems") {
			t.Errorf("gem path has the host's %s", s)
		}
	}

	invoke(t, p, "rb-dev-hello", `{}`).wantError(t, "Function<ArgumentError>", "no name")
	// The instance survived its error.
	invoke(t, p, "rb-dev-hello", `{"name":"again"}`).wantOK(t)

	r = invoke(t, p, "rb-dev-orders", `{"ids":[1,2]}`)
	r.wantOK(t)
	if string(r.out.Payload) != `{"orders":["order-1","order-2"],"greeting":"hi shop"}` {
		t.Errorf("orders payload %s", r.out.Payload)
	}
	invoke(t, p, "rb-dev-legacy", `{"name":"old"}`).wantOK(t)
}

func TestRubyInitError(t *testing.T) {
	need(t, "ruby", "NIMBUS_REQUIRE_RUBY")
	dir := writeTree(t, map[string]string{
		"serverless.yml": "service: rbinit\nprovider:\n  name: aws\n  runtime: ruby3.2\nfunctions:\n  broken:\n    handler: app.handler\n",
		"app.rb":         "require 'no_such_gem'\n\ndef handler(event:, context:)\n  1\nend\n",
	})
	p := testkit.Start(t, nil)
	deploy(t, p, dir)
	invoke(t, p, "rbinit-dev-broken", `{}`).wantError(t, "Init<LoadError>", "cannot load such file -- no_such_gem")
}

// buildOldGo builds a handler with aws-lambda-go v1.17.0, the last version
// before the Runtime API client: the binary speaks only net/rpc.
func buildOldGo(t *testing.T, out string) {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"go.mod": "module oldgo\n\ngo 1.13\n\nrequire github.com/aws/aws-lambda-go v1.17.0\n",
		"main.go": `package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Name  string ` + "`json:\"name\"`" + `
	Fail  bool   ` + "`json:\"fail\"`" + `
	Panic bool   ` + "`json:\"panic\"`" + `
}

func handle(ctx context.Context, e event) (map[string]interface{}, error) {
	if e.Fail {
		return nil, errors.New("no order for " + e.Name)
	}
	if e.Panic {
		panic("lost " + e.Name)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	fmt.Println("hello", e.Name)
	return map[string]interface{}{
		"message":    "Hello, " + e.Name + "!",
		"requestId":  lc.AwsRequestID,
		"arn":        lc.InvokedFunctionArn,
		"function":   lambdacontext.FunctionName,
		"deadlineMs": time.Until(deadline).Milliseconds(),
		"port":       os.Getenv("_LAMBDA_SERVER_PORT"),
		"runtimeAPI": os.Getenv("AWS_LAMBDA_RUNTIME_API"),
		"pid":        os.Getpid(),
	}, nil
}

func main() { lambda.Start(handle) }
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build with aws-lambda-go v1.17.0: %v\n%s", err, b)
	}
}

func TestGoOldRPCProtocol(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"serverless.yml": "service: oldgo\nprovider:\n  name: aws\n  runtime: go1.x\n  timeout: 4\nfunctions:\n  hello:\n    handler: bin/hello\n",
	})
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	buildOldGo(t, filepath.Join(dir, "bin", "hello"))
	p := testkit.Start(t, nil)
	deploy(t, p, dir)

	r := invoke(t, p, "oldgo-dev-hello", `{"name":"gopher"}`)
	r.wantOK(t)
	if r.payload["message"] != "Hello, gopher!" || r.payload["function"] != "oldgo-dev-hello" ||
		r.payload["arn"] != "arn:aws:lambda:us-east-1:000000000000:function:oldgo-dev-hello" {
		t.Errorf("payload %s", r.out.Payload)
	}
	if r.payload["port"] == "" || r.payload["runtimeAPI"] != "" {
		t.Errorf("the binary saw _LAMBDA_SERVER_PORT %q and AWS_LAMBDA_RUNTIME_API %q; want a port and no Runtime API", r.payload["port"], r.payload["runtimeAPI"])
	}
	if d, _ := r.payload["deadlineMs"].(float64); d < 2000 || d > 4000 {
		t.Errorf("context deadline %v ms away, want about the 4 s timeout", r.payload["deadlineMs"])
	}
	if !strings.Contains(r.log, "hello gopher") || !strings.Contains(r.log, "REPORT RequestId: "+r.payload["requestId"].(string)) {
		t.Errorf("log tail:\n%s", r.log)
	}

	// A returned error keeps Lambda's go1.x shape; the process stays.
	invoke(t, p, "oldgo-dev-hello", `{"name":"o-7","fail":true}`).wantError(t, "errorString", "no order for o-7")
	r2 := invoke(t, p, "oldgo-dev-hello", `{"name":"again"}`)
	r2.wantOK(t)
	if r2.payload["pid"] != r.payload["pid"] {
		t.Errorf("warm invoke ran in process %v, want %v", r2.payload["pid"], r.payload["pid"])
	}
	// A panic is reported, and the next invocation gets a fresh process.
	invoke(t, p, "oldgo-dev-hello", `{"name":"x","panic":true}`).wantError(t, "string", "lost x")
	invoke(t, p, "oldgo-dev-hello", `{"name":"after"}`).wantOK(t)
}

// TestPythonSeesOnlyItsPackage: a function folder named py/ is not shadowed
// by a host module py (Debian's python3-py) on the interpreter's site path,
// and the interpreters the deploy picks are the ones it reports.
func TestPythonSeesOnlyItsPackage(t *testing.T) {
	out, err := exec.Command("/usr/bin/python3", "-c", `import sys; print("%d.%d" % sys.version_info[:2])`).Output()
	if err != nil {
		t.Skipf("no /usr/bin/python3: %v", err)
	}
	version := strings.TrimSpace(string(out))
	runtime := "python" + version
	other := "python3.13"
	if version == "3.13" {
		other = "python3.12"
	}
	// A virtual environment holds the host module, where its interpreter
	// finds it: in site-packages. Not under /tmp, which is private to each
	// instance.
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no cache directory for the environment: %v", err)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	venv, err := os.MkdirTemp(cache, "nimbus-langs-venv-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(venv) })
	if b, err := exec.Command("/usr/bin/python3", "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Skipf("python3 -m venv: %v: %s", err, b)
	}
	site := filepath.Join(venv, "lib", "python"+version, "site-packages")
	if err := os.WriteFile(filepath.Join(site, "py.py"), []byte("HOST = True\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(venv, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) }); err != nil {
		t.Fatal(err)
	}
	python := filepath.Join(venv, "bin", "python3")
	if b, err := exec.Command(python, "-c", "import py; print(py.__file__)").Output(); err != nil || !strings.HasPrefix(string(b), site) {
		t.Fatalf("the environment's python does not import the host py from %s: %s %v", site, b, err)
	}

	dir := writeTree(t, map[string]string{
		"serverless.yml": "service: pyiso\nprovider:\n  name: aws\n  runtime: " + runtime + "\nfunctions:\n  echo:\n    handler: py/echo.handler\n" +
			"  other:\n    handler: py/echo.handler\n    runtime: " + other + "\n",
		"py/echo.py": `import sys

def handler(event, context):
    return {"event": event, "path": sys.path, "version": "%d.%d" % sys.version_info[:2],
            "py": getattr(sys.modules.get("py"), "__path__", None) and list(sys.modules["py"].__path__),
            "exit": callable(exit)}
`,
	})
	p := testkit.Start(t, func(c *server.Config) {
		c.Runtimes = map[string]string{runtime: python, other: "/usr/bin/python3"}
	})
	w := warnings(deploy(t, p, dir))
	if want := "runtime " + other + " runs with python " + version; !strings.Contains(w, want) {
		t.Errorf("deploy warnings lack %q:\n%s", want, w)
	}
	if strings.Contains(w, "runtime "+runtime+" ") {
		t.Errorf("deploy warns about %s, which runs with its own version:\n%s", runtime, w)
	}
	r := invoke(t, p, "pyiso-dev-echo", `{"k":"v"}`)
	r.wantOK(t)
	if ev, _ := r.payload["event"].(map[string]any); ev["k"] != "v" || r.payload["version"] != version || r.payload["exit"] != true {
		t.Errorf("payload %s", r.out.Payload)
	}
	if py, _ := r.payload["py"].([]any); len(py) != 1 || !strings.HasSuffix(py[0].(string), "/py") {
		t.Errorf("module py is %v, want the function's own folder", r.payload["py"])
	}
	for _, e := range r.payload["path"].([]any) {
		if s := e.(string); strings.Contains(s, "site-packages") || strings.Contains(s, "dist-packages") || strings.HasPrefix(s, venv) {
			t.Errorf("sys.path has the host's %s (path %v)", s, r.payload["path"])
		}
	}
	if r := invoke(t, p, "pyiso-dev-other", `{}`); r.payload["version"] != version {
		t.Errorf("%s ran with python %v, want the given /usr/bin/python3 (%s)", other, r.payload["version"], version)
	}
}

// TestProvidedShellBootstrap: a bootstrap that is a bash script without
// exec bit or shebang runs, as on Amazon Linux.
func TestProvidedShellBootstrap(t *testing.T) {
	need(t, "node", "NIMBUS_REQUIRE_NODE")
	dir := writeTree(t, map[string]string{
		"serverless.yml": "service: shboot\nprovider:\n  name: aws\n  runtime: provided.al2023\nfunctions:\n  echo:\n    handler: unused\n",
		"runtime.js": `const http = require("http");
const api = process.env.AWS_LAMBDA_RUNTIME_API;
function next() {
  http.get("http://" + api + "/2018-06-01/runtime/invocation/next", res => {
    let body = "";
    res.on("data", c => body += c);
    res.on("end", () => {
      const id = res.headers["lambda-runtime-aws-request-id"];
      const out = JSON.stringify({shell: process.env.FROM_SHELL, event: JSON.parse(body)});
      const req = http.request("http://" + api + "/2018-06-01/runtime/invocation/" + id + "/response", {method: "POST"}, r => { r.resume(); r.on("end", next); });
      req.end(out);
    });
  });
}
next();
`,
	})
	script := "[[ -n \"${AWS_LAMBDA_RUNTIME_API}\" ]]\nexport FROM_SHELL=\"bash $BASH_VERSION\"\nexec node \"$LAMBDA_TASK_ROOT/runtime.js\"\n"
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	deploy(t, p, dir)
	r := invoke(t, p, "shboot-dev-echo", `{"n":1}`)
	r.wantOK(t)
	if shell, _ := r.payload["shell"].(string); !strings.HasPrefix(shell, "bash ") || string(r.out.Payload) == "" {
		t.Errorf("payload %s, want the bootstrap run by bash", r.out.Payload)
	}
}

// javaCore are minimal copies of aws-lambda-java-core's interfaces, as a
// function's jar brings them (Maven Central is out of reach here).
var javaCore = map[string]string{
	"com/amazonaws/services/lambda/runtime/Context.java": `package com.amazonaws.services.lambda.runtime;
public interface Context {
    String getAwsRequestId();
    String getLogGroupName();
    String getLogStreamName();
    String getFunctionName();
    String getFunctionVersion();
    String getInvokedFunctionArn();
    int getRemainingTimeInMillis();
    int getMemoryLimitInMB();
    LambdaLogger getLogger();
    CognitoIdentity getIdentity();
    ClientContext getClientContext();
}`,
	"com/amazonaws/services/lambda/runtime/CognitoIdentity.java": `package com.amazonaws.services.lambda.runtime;
public interface CognitoIdentity {
    String getIdentityId();
    String getIdentityPoolId();
}`,
	"com/amazonaws/services/lambda/runtime/ClientContext.java": `package com.amazonaws.services.lambda.runtime;
import java.util.Map;
public interface ClientContext {
    Client getClient();
    Map<String, String> getCustom();
    Map<String, String> getEnvironment();
}`,
	"com/amazonaws/services/lambda/runtime/Client.java": `package com.amazonaws.services.lambda.runtime;
public interface Client {
    String getInstallationId();
    String getAppTitle();
    String getAppVersionName();
    String getAppVersionCode();
    String getAppPackageName();
}`,
	"com/amazonaws/services/lambda/runtime/LambdaLogger.java": `package com.amazonaws.services.lambda.runtime;
public interface LambdaLogger {
    void log(String message);
    void log(byte[] message);
}`,
	"com/amazonaws/services/lambda/runtime/RequestHandler.java": `package com.amazonaws.services.lambda.runtime;
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}`,
	"com/amazonaws/services/lambda/runtime/RequestStreamHandler.java": `package com.amazonaws.services.lambda.runtime;
import java.io.*;
public interface RequestStreamHandler {
    void handleRequest(InputStream input, OutputStream output, Context context) throws IOException;
}`,
}

var javaHandlers = map[string]string{
	"example/Hello.java": `package example;
import com.amazonaws.services.lambda.runtime.*;
import java.util.*;
public class Hello implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        context.getLogger().log("hello " + event.get("name") + "\n");
        if (event.containsKey("fail")) {
            throw new IllegalStateException("no order " + event.get("fail"));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("message", "Hello, " + event.get("name") + "!");
        out.put("requestId", context.getAwsRequestId());
        out.put("function", context.getFunctionName());
        out.put("arn", context.getInvokedFunctionArn());
        out.put("memory", context.getMemoryLimitInMB());
        out.put("remaining", context.getRemainingTimeInMillis());
        out.put("count", event.get("count"));
        return out;
    }
}`,
	"example/Ctx.java": `package example;
import com.amazonaws.services.lambda.runtime.*;
import java.util.*;
public class Ctx implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("identity", context.getIdentity() == null ? "none" : context.getIdentity().getIdentityId());
        ClientContext cc = context.getClientContext();
        if (cc == null) {
            out.put("clientContext", "none");
            return out;
        }
        Client c = cc.getClient();
        out.put("installationId", c.getInstallationId());
        out.put("appTitle", c.getAppTitle());
        out.put("appVersionName", c.getAppVersionName());
        out.put("appVersionCode", c.getAppVersionCode());
        out.put("appPackageName", c.getAppPackageName());
        out.put("custom", cc.getCustom());
        out.put("env", cc.getEnvironment());
        return out;
    }
}`,
	"example/Upper.java": `package example;
import com.amazonaws.services.lambda.runtime.*;
import java.io.*;
import java.nio.charset.StandardCharsets;
public class Upper implements RequestStreamHandler {
    public void handleRequest(InputStream in, OutputStream out, Context context) throws IOException {
        String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        System.out.println("stream of " + s.length() + " bytes");
        out.write(s.toUpperCase().getBytes(StandardCharsets.UTF_8));
    }
}`,
	"example/Orders.java": `package example;
import com.amazonaws.services.lambda.runtime.Context;
import java.util.*;
public class Orders {
    public static class Order {
        public String id;
        private int quantity;
        public List<String> tags;
        public void setQuantity(int q) { quantity = q; }
        public int getQuantity() { return quantity; }
    }
    public static class Receipt {
        public String orderId;
        public int total;
        public boolean isPaid() { return true; }
    }
    public Receipt place(Order order, Context context) {
        Receipt r = new Receipt();
        r.orderId = order.id + "/" + String.join(",", order.tags);
        r.total = order.quantity * 3;
        return r;
    }
    public String greet(String name) {
        return "hi " + name;
    }
}`,
}

// buildJavaFixture compiles (in one javac run) the interfaces, packed into
// lib/aws-lambda-java-core.jar, and the handlers, whose classes go at the
// package root, as a Lambda zip holds them.
func buildJavaFixture(t *testing.T, javac, dir string) {
	t.Helper()
	src, classes := t.TempDir(), t.TempDir()
	var files []string
	for _, set := range []map[string]string{javaCore, javaHandlers} {
		for name, code := range set {
			p := filepath.Join(src, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
	}
	if b, err := exec.Command(javac, append([]string{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-d", classes}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	jar := filepath.Join(dir, "lib", "aws-lambda-java-core.jar")
	if err := os.MkdirAll(filepath.Dir(jar), 0o755); err != nil {
		t.Fatal(err)
	}
	writeZip(t, filepath.Join(classes, "com"), "com", jar)
	if err := os.Rename(filepath.Join(classes, "example"), filepath.Join(dir, "example")); err != nil {
		t.Fatal(err)
	}
}

// writeZip zips the tree at from, its entries under prefix.
func writeZip(t *testing.T, from, prefix, to string) {
	t.Helper()
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		w, err := zw.Create(prefix + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestJavaFunctions(t *testing.T) {
	javac := need(t, "javac", "NIMBUS_REQUIRE_JAVA")
	dir := writeTree(t, map[string]string{
		"serverless.yml": `service: jv
provider:
  name: aws
  runtime: java17
  timeout: 10
functions:
  hello:
    handler: example.Hello
  upper:
    handler: example.Upper
  orders:
    handler: example.Orders::place
  greet:
    handler: example.Orders::greet
    runtime: java11
  missing:
    handler: example.Nope::handleRequest
    runtime: java21
  ctx:
    handler: example.Ctx
`,
	})
	buildJavaFixture(t, javac, dir)
	p := testkit.Start(t, nil)
	w := warnings(deploy(t, p, dir))
	if !strings.Contains(w, "runtime java11 is deprecated by AWS; its functions run with java ") {
		t.Errorf("deploy warnings lack java11's deprecation:\n%s", w)
	}

	r := invoke(t, p, "jv-dev-hello", `{"name":"duke","count":3}`)
	r.wantOK(t)
	if r.payload["message"] != "Hello, duke!" || r.payload["function"] != "jv-dev-hello" || r.payload["memory"] != float64(1024) ||
		r.payload["arn"] != "arn:aws:lambda:us-east-1:000000000000:function:jv-dev-hello" || r.payload["count"] != float64(3) {
		t.Errorf("payload %s", r.out.Payload)
	}
	if rem, _ := r.payload["remaining"].(float64); rem <= 0 || rem > 10000 {
		t.Errorf("remaining %v ms, want within the 10 s timeout", r.payload["remaining"])
	}
	if !strings.Contains(r.log, "hello duke") {
		t.Errorf("log lacks the LambdaLogger line:\n%s", r.log)
	}
	e := invoke(t, p, "jv-dev-hello", `{"name":"x","fail":"o-9"}`)
	e.wantError(t, "java.lang.IllegalStateException", "no order o-9")
	if trace, _ := e.payload["stackTrace"].([]any); len(trace) == 0 || !strings.HasPrefix(trace[0].(string), "example.Hello.handleRequest(Hello.java:") {
		t.Errorf("stackTrace %v, want the handler's frame first", e.payload["stackTrace"])
	}
	invoke(t, p, "jv-dev-hello", `{"name":"again"}`).wantOK(t)

	u := invoke(t, p, "jv-dev-upper", `{"k":"abc"}`)
	u.wantOK(t)
	if string(u.out.Payload) != `{"K":"ABC"}` || !strings.Contains(u.log, "stream of 11 bytes") {
		t.Errorf("stream handler: payload %s, log:\n%s", u.out.Payload, u.log)
	}

	o := invoke(t, p, "jv-dev-orders", `{"id":"o-1","quantity":4,"tags":["a","b"],"unknown":true}`)
	o.wantOK(t)
	if o.payload["orderId"] != "o-1/a,b" || o.payload["total"] != float64(12) || o.payload["paid"] != true {
		t.Errorf("POJO handler payload %s", o.out.Payload)
	}
	g := invoke(t, p, "jv-dev-greet", `"duke"`)
	g.wantOK(t)
	if string(g.out.Payload) != `"hi duke"` {
		t.Errorf("String handler payload %s", g.out.Payload)
	}
	invoke(t, p, "jv-dev-missing", `{}`).wantError(t, "java.lang.ClassNotFoundException", "Class not found: example.Nope")

	// Context.getClientContext is the ClientContext given on Invoke (base64
	// JSON, as the mobile SDKs send it); without one it is null.
	cc := `{"client":{"installation_id":"inst-1","app_title":"Shop","app_version_name":"2.1","app_version_code":"21","app_package_name":"com.example.shop"},` +
		`"custom":{"cart":"c-9","items":3},"env":{"platform":"Android","locale":"fr_FR"}}`
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("jv-dev-ctx"), Payload: []byte(`{}`),
		ClientContext: aws.String(base64.StdEncoding.EncodeToString([]byte(cc)))})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Payload, &got); err != nil || out.FunctionError != nil {
		t.Fatalf("ctx payload %s (%v)", out.Payload, err)
	}
	want := map[string]any{"identity": "none", "installationId": "inst-1", "appTitle": "Shop", "appVersionName": "2.1", "appVersionCode": "21",
		"appPackageName": "com.example.shop", "custom": map[string]any{"cart": "c-9", "items": "3"},
		"env": map[string]any{"platform": "Android", "locale": "fr_FR"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("client context seen by the handler:\n got %v\nwant %v", got, want)
	}
	c := invoke(t, p, "jv-dev-ctx", `{}`)
	c.wantOK(t)
	if c.payload["clientContext"] != "none" || c.payload["identity"] != "none" {
		t.Errorf("without a client context: %s, want getClientContext and getIdentity null", c.out.Payload)
	}
}

func TestJavaWithoutJDK(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"serverless.yml": "service: nojdk\nprovider:\n  name: aws\n  runtime: java17\nfunctions:\n  f:\n    handler: example.Hello\n",
		"lib/app.jar":    "not really a jar",
	})
	// A "java" that is only a runtime: it runs, but has no javac beside it.
	jre := writeTree(t, map[string]string{"bin/java*": "#!/bin/sh\necho 'openjdk version \"17.0.1\"' >&2\n"})
	p := testkit.Start(t, func(c *server.Config) { c.Runtimes = map[string]string{"java17": filepath.Join(jre, "bin", "java")} })
	_, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "without a compiler: install a JDK") {
		t.Fatalf("deploy on a host without a JDK: %v, want an error that says so", err)
	}
}

// TestPythonClientBytecodeIsPrepared: an isolated instance cannot write the
// runtime client's bytecode (its view of the runtime directory is read-only),
// so the platform compiles it once per interpreter, where that interpreter
// looks for it.
func TestPythonClientBytecodeIsPrepared(t *testing.T) {
	python := os.ExpandEnv("$HOME/.pyenv/versions/3.12.1/bin/python3.12")
	if _, err := os.Stat(python); err != nil {
		python = "/usr/bin/python3"
	}
	out, err := exec.Command(python, "-c", `import sys; print("%d.%d" % sys.version_info[:2], sys.implementation.cache_tag)`).Output()
	if err != nil {
		t.Skipf("no python: %v", err)
	}
	version, tag, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	dir := writeTree(t, map[string]string{
		"serverless.yml": "service: pyc\nprovider:\n  name: aws\n  runtime: python" + version + "\nfunctions:\n  echo:\n    handler: echo.handler\n",
		"echo.py":        "def handler(event, context):\n    return event\n",
	})
	p := testkit.Start(t, func(c *server.Config) { c.Runtimes = map[string]string{"python" + version: python} })
	deploy(t, p, dir)
	invoke(t, p, "pyc-dev-echo", `{"a":1}`).wantOK(t)
	pyc := filepath.Join(p.Config.RunDir, "runtimes", "python", "__pycache__", "nimbus_runtime."+tag+".pyc")
	if _, err := os.Stat(pyc); err != nil {
		t.Errorf("the runtime client's bytecode for %s: %v", python, err)
	}
}
