package runtimes

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needRuby skips a test where Ruby is not installed, unless CI demands it.
func needRuby(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ruby"); err != nil {
		if os.Getenv("NIMBUS_REQUIRE_RUBY") == "1" {
			t.Fatalf("ruby is not installed and NIMBUS_REQUIRE_RUBY=1: %v", err)
		}
		t.Skip("ruby is not installed (apt-get install ruby); set NIMBUS_REQUIRE_RUBY=1 to fail instead")
	}
}

func TestRubyHandlers(t *testing.T) {
	needRuby(t)
	files := map[string]string{
		"lambda_function.rb": `def lambda_handler(event:, context:)
  puts "got #{event['name']}"
  { 'hello' => event['name'], 'n' => 1.5, 'list' => [1, nil, true] }
end

def echo(event:, context:)
  event
end

def nothing(event:, context:)
  nil
end

def text(event:, context:)
  "plain"
end
`,
		"lib/app/handlers.rb": `module App
  class Handlers
    def self.process(event:, context:)
      { 'class' => name, 'fn' => context.function_name }
    end
  end
end
`,
	}
	cases := []struct{ handler, event, want string }{
		{"lambda_function.lambda_handler", `{"name":"ruby"}`, `{"hello":"ruby","n":1.5,"list":[1,null,true]}`},
		{"lambda_function.echo", `[1,"two",{"3":4}]`, `[1,"two",{"3":4}]`},
		{"lambda_function.nothing", `{}`, `null`},
		{"lambda_function.text", `{}`, `"plain"`},
		{"lib/app/handlers.App::Handlers.process", `{}`, `{"class":"App::Handlers","fn":"fn"}`},
	}
	for _, c := range cases {
		t.Run(c.handler, func(t *testing.T) {
			api, p, _ := start(t, runtimeOpts{lang: "ruby", handler: c.handler, files: files})
			expectResponse(t, api.invoke(t, invocation{ID: "r-1", Event: c.event}), "r-1", c.want)
			expectResponse(t, api.invoke(t, invocation{ID: "r-2", Event: c.event}), "r-2", c.want)
			if c.handler == "lambda_function.lambda_handler" {
				p.line(t, `^got ruby$`)
			}
			if n := api.conns.Load(); n != 1 {
				t.Errorf("the runtime opened %d connections, want 1 kept alive", n)
			}
		})
	}
}

func TestRubyContext(t *testing.T) {
	needRuby(t)
	api, _, _ := start(t, runtimeOpts{lang: "ruby", handler: "ctx.handler", files: map[string]string{
		"ctx.rb": `def handler(event:, context:)
  r = context.get_remaining_time_in_millis
  {
    'aws_request_id' => context.aws_request_id, 'function_name' => context.function_name,
    'function_version' => context.function_version, 'invoked_function_arn' => context.invoked_function_arn,
    'memory_limit_in_mb' => context.memory_limit_in_mb, 'log_group_name' => context.log_group_name,
    'log_stream_name' => context.log_stream_name, 'remaining_ok' => r > 20000 && r <= 30000,
    'client_context' => context.client_context, 'identity' => context.identity,
    'trace' => ENV['_X_AMZN_TRACE_ID'],
  }
end
`,
	}})
	c := api.invoke(t, invocation{ID: "ctx-1", Headers: map[string]string{
		"Lambda-Runtime-Client-Context":   `{"custom":{"k":"v"}}`,
		"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"id"}`,
		"Lambda-Runtime-Trace-Id":         "Root=1-abc",
	}})
	expectResponse(t, c, "ctx-1", `{"aws_request_id":"ctx-1","function_name":"fn","function_version":"$LATEST",`+
		`"invoked_function_arn":"arn:aws:lambda:us-east-1:000000000000:function:fn","memory_limit_in_mb":"128",`+
		`"log_group_name":"/aws/lambda/fn","log_stream_name":"2024/01/01/[$LATEST]0123456789abcdef","remaining_ok":true,`+
		`"client_context":{"custom":{"k":"v"}},"identity":{"cognitoIdentityId":"id"},"trace":"Root=1-abc"}`)
	c = api.invoke(t, invocation{ID: "ctx-2", Headers: map[string]string{"Lambda-Runtime-Trace-Id": ""}})
	if !strings.Contains(c.Body, `"client_context":null,"identity":null,"trace":null`) {
		t.Errorf("second invocation kept the first one's context: %s", c.Body)
	}
}

func TestRubyErrors(t *testing.T) {
	needRuby(t)
	api, p, _ := start(t, runtimeOpts{lang: "ruby", handler: "fail.handler", files: map[string]string{
		"fail.rb": `class OrderError < StandardError; end

def handler(event:, context:)
  case event['kind']
  when 'runtime' then raise 'boom'
  when 'custom' then raise OrderError, 'order o-1 is gone'
  when 'arg' then Integer('x')
  else 'fine'
  end
end
`,
	}})
	m := expectError(t, api.invoke(t, invocation{ID: "e-1", Event: `{"kind":"runtime"}`}), "error", "e-1", "Function<RuntimeError>")
	if m["errorMessage"] != "boom" {
		t.Errorf("errorMessage = %v", m["errorMessage"])
	}
	trace := strs(m["stackTrace"])
	if len(trace) == 0 || !strings.Contains(trace[0], "fail.rb:5:in `handler'") {
		t.Errorf("stackTrace = %q, want the handler's frame first", trace)
	}
	for _, l := range trace {
		if strings.Contains(l, "bootstrap.rb") {
			t.Errorf("stackTrace shows the runtime's frame %q", l)
		}
	}
	// A class of the function's own: its name in the body, UserException in the header.
	c := api.invoke(t, invocation{ID: "e-2", Event: `{"kind":"custom"}`})
	if h := c.Header.Get("Lambda-Runtime-Function-Error-Type"); c.Kind != "error" || h != "Function<UserException>" {
		t.Errorf("custom error: %s with error type header %q, want error with Function<UserException>", c.Kind, h)
	}
	if !strings.Contains(c.Body, `"errorType":"Function<OrderError>"`) || !strings.Contains(c.Body, `"errorMessage":"order o-1 is gone"`) {
		t.Errorf("body %s", c.Body)
	}
	expectError(t, api.invoke(t, invocation{ID: "e-3", Event: `{"kind":"arg"}`}), "error", "e-3", "Function<ArgumentError>")
	// The instance survives a StandardError.
	expectResponse(t, api.invoke(t, invocation{ID: "e-4", Event: `{}`}), "e-4", `"fine"`)
	p.line(t, `^Error raised from handler method: \{"errorMessage":"boom"`)
}

func TestRubyInitErrors(t *testing.T) {
	needRuby(t)
	cases := []struct {
		name, handler, file, errorType, message string
	}{
		{"missing file", "nope.handler", "", "Init<LoadError>", "cannot load such file"},
		{"syntax error", "bad.handler", "def handler(event:, context:\n  1 +\nend\n", "Init<SyntaxError>", "syntax error"},
		{"raise at load", "bad.handler", "raise 'no config'\n", "Init<RuntimeError>", "no config"},
		{"malformed handler", "bad", "", "Init<ArgumentError>", "Invalid handler"},
		{"missing class", "bad.Nope::Klass.handler", "x = 1\n", "Init<NameError>", "uninitialized constant Nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{}
			if c.file != "" {
				files["bad.rb"] = c.file
			}
			api, p, _ := start(t, runtimeOpts{lang: "ruby", handler: c.handler, files: files})
			got := api.wait(t)
			m := expectError(t, got, "init-error", "", c.errorType)
			if msg, _ := m["errorMessage"].(string); !strings.Contains(msg, c.message) {
				t.Errorf("errorMessage %q lacks %q", msg, c.message)
			}
			if code := p.exitCode(t); code == 0 {
				t.Errorf("the runtime exited 0 after an init error")
			}
		})
	}
}

func TestRubyMissingMethodEndsInstance(t *testing.T) {
	needRuby(t)
	api, p, _ := start(t, runtimeOpts{lang: "ruby", handler: "app.nope", files: map[string]string{"app.rb": "x = 1\n"}})
	expectError(t, api.invoke(t, invocation{ID: "m-1"}), "error", "m-1", "Function<NoMethodError>")
	if code := p.exitCode(t); code == 0 {
		t.Errorf("exit code 0 after a missing handler method")
	}
}
