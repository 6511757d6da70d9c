package appspec

import (
	"strings"
	"testing"
	"testing/fstest"
)

func validApp() Application {
	reserved := 2
	return Application{
		Service: "svc", Stage: "dev", Region: "us-east-1",
		Functions: []Function{{
			Key: "hello", Name: "svc-dev-hello", Handler: "handler.hello", Runtime: "nodejs20.x",
			MemorySize: 1024, Timeout: 6, Architecture: "x86_64", ReservedConcurrency: &reserved,
			Environment: map[string]string{"GREETING": "hi"},
			Code:        CodeRef{SHA256: strings.Repeat("a", 64), Size: 10},
		}},
	}
}

func TestValidate(t *testing.T) {
	if err := (&Application{Service: "svc", Stage: "dev", Region: "us-east-1"}).Validate(); err != nil {
		t.Fatalf("an empty service is valid: %v", err)
	}
	app := validApp()
	if err := app.Validate(); err != nil {
		t.Fatalf("valid application refused: %v", err)
	}
	neg := -1
	tests := []struct {
		name   string
		mutate func(*Application)
		want   string
	}{
		{"service name", func(a *Application) { a.Service = "1bad" }, "service name"},
		{"stage", func(a *Application) { a.Stage = "a b" }, "stage"},
		{"function name", func(a *Application) { a.Functions[0].Name = strings.Repeat("x", 65) }, "name"},
		{"duplicate key", func(a *Application) { a.Functions = append(a.Functions, a.Functions[0]) }, "declared twice"},
		{"runtime", func(a *Application) { a.Functions[0].Runtime = "cobol85" }, `unknown runtime "cobol85"`},
		{"retired runtime", func(a *Application) { a.Functions[0].Runtime = "nodejs12.x" }, `runtime "nodejs12.x" is retired by AWS and not supported (supported: go1.x, java11,`},
		{"retired python", func(a *Application) { a.Functions[0].Runtime = "python3.7" }, `"python3.7" is retired`},
		{"retired dotnet", func(a *Application) { a.Functions[0].Runtime = "dotnetcore3.1" }, `"dotnetcore3.1" is retired`},
		{"memory low", func(a *Application) { a.Functions[0].MemorySize = 64 }, "memorySize 64"},
		{"memory high", func(a *Application) { a.Functions[0].MemorySize = 10241 }, "memorySize 10241"},
		{"timeout", func(a *Application) { a.Functions[0].Timeout = 901 }, "timeout 901"},
		{"ephemeral storage low", func(a *Application) { a.Functions[0].EphemeralStorageSize = 511 }, "ephemeralStorageSize 511"},
		{"ephemeral storage high", func(a *Application) { a.Functions[0].EphemeralStorageSize = 10241 }, "ephemeralStorageSize 10241"},
		{"architecture", func(a *Application) { a.Functions[0].Architecture = "sparc" }, "architecture"},
		{"reserved env", func(a *Application) { a.Functions[0].Environment = map[string]string{"AWS_REGION": "x"} }, "reserved"},
		{"env name", func(a *Application) { a.Functions[0].Environment = map[string]string{"1X": "x"} }, "environment variable name"},
		{"env size", func(a *Application) {
			a.Functions[0].Environment = map[string]string{"BIG": strings.Repeat("x", 4097)}
		}, "4 KB"},
		{"code digest", func(a *Application) { a.Functions[0].Code.SHA256 = "../../etc" }, "sha256"},
		{"negative concurrency", func(a *Application) { a.Functions[0].ReservedConcurrency = &neg }, "reservedConcurrency"},
		{"region", func(a *Application) { a.Region = "local" }, `region "local"`},
		{"region case", func(a *Application) { a.Region = "US-EAST-1" }, "region"},
		{"region injection", func(a *Application) { a.Region = "us-east-1:123456789012:function:x" }, "region"},
		{"env NUL", func(a *Application) { a.Functions[0].Environment = map[string]string{"A": "ok\x00LD_PRELOAD=/tmp/x"} }, "NUL"},
		{"env UTF-8", func(a *Application) { a.Functions[0].Environment = map[string]string{"A": "caf\xe9"} }, "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := validApp()
			tc.mutate(&a)
			err := a.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckHandler(t *testing.T) {
	code := fstest.MapFS{
		"bootstrap":           {Mode: 0o755},
		"bin/app":             {Mode: 0o755},
		"bin/notexec":         {Mode: 0o644},
		"src/handler.js":      {},
		"esm/app.mjs":         {},
		"app/handler.py":      {},
		"pkg/mod/__init__.py": {},
		"lambda_function.rb":  {},
		"lib/app/handler.rb":  {},
	}
	tests := []struct {
		runtime, handler string
		ok               bool
	}{
		{"provided.al2023", "anything", true},
		{"go1.x", "bin/app", true},
		{"go1.x", "bin/notexec", false},
		{"go1.x", "../escape", false},
		{"nodejs20.x", "src/handler.main", true},
		{"nodejs20.x", "src/handler.nested.fn", true},
		{"nodejs20.x", "esm/app.handler", true},
		{"nodejs20.x", "src/missing.main", false},
		{"nodejs20.x", "nodot", false},
		{"python3.12", "app/handler.hello", true},
		{"python3.12", "app.handler.hello", true},
		{"python3.12", "pkg.mod.fn", true},
		{"python3.12", "app/other.hello", false},
		{"python3.12", "handler", false},
		{"ruby3.3", "lambda_function.lambda_handler", true},
		{"ruby3.3", "lib/app/handler.App::Handler.process", true},
		{"ruby3.3", "lib/app/missing.process", false},
		{"ruby3.3", "lambda_function", false},
		{"ruby3.3", "a.b.c.d", false},
		{"java17", "example.Handler::handleRequest", false}, // no class or jar in the package
		{"cobol", "x.y", false},
	}
	for _, tc := range tests {
		err := CheckHandler(code, tc.runtime, tc.handler)
		if (err == nil) != tc.ok {
			t.Errorf("CheckHandler(%s, %q) = %v, want ok=%v", tc.runtime, tc.handler, err, tc.ok)
		}
	}
	if err := CheckHandler(fstest.MapFS{}, "provided.al2", ""); err == nil || !strings.Contains(err.Error(), "bootstrap") {
		t.Errorf("missing bootstrap: %v", err)
	}
	// A shell script needs no exec bit; a binary does.
	script := fstest.MapFS{"bootstrap": {Data: []byte("echo hi\n"), Mode: 0o644}}
	if err := CheckHandler(script, "provided.al2", ""); err != nil {
		t.Errorf("bootstrap script without exec bit: %v", err)
	}
	binary := fstest.MapFS{"bootstrap": {Data: []byte("\x7fELF\x02"), Mode: 0o644}}
	if err := CheckHandler(binary, "provided.al2", ""); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Errorf("binary bootstrap without exec bit: %v", err)
	}
	jar := fstest.MapFS{"lib/app.jar": {}}
	if err := CheckHandler(jar, "java21", "example.Handler::handleRequest"); err != nil {
		t.Errorf("java handler in a jar: %v", err)
	}
}

func TestValidRegion(t *testing.T) {
	for _, r := range []string{"us-east-1", "eu-west-2", "ap-southeast-1", "us-gov-west-1", "il-central-1"} {
		if !ValidRegion(r) {
			t.Errorf("region %q refused", r)
		}
	}
	for _, r := range []string{"", "local", "us-east", "us-east-10", "useast-1", "us-east-1 ", "us_east_1"} {
		if ValidRegion(r) {
			t.Errorf("region %q accepted", r)
		}
	}
}
