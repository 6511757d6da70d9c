package manifest

import (
	"archive/zip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// writeTree creates files under a new temporary directory; a name ending in
// "*" is made executable (the star is dropped).
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
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

func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func mustLoad(t *testing.T, files map[string]string, opts Options) *Project {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = envOf(nil)
	}
	p, err := Load(writeTree(t, files), opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

func loadErrors(t *testing.T, files map[string]string, opts Options) ErrorList {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = envOf(nil)
	}
	_, err := Load(writeTree(t, files), opts)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Load error = %v, want an ErrorList", err)
	}
	return list
}

const handlerJS = "exports.hello = async () => ({})\n"

func TestDefaults(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"serverless.yml": `service: shop
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
`,
		"handler.js": handlerJS,
	}, Options{})
	want := appspec.Function{
		Key: "hello", Name: "shop-dev-hello", Handler: "handler.hello", Runtime: "nodejs20.x",
		MemorySize: 1024, Timeout: 6, Architecture: "x86_64",
	}
	if p.App.Service != "shop" || p.App.Stage != "dev" || p.App.Region != "us-east-1" {
		t.Errorf("app = %+v", p.App)
	}
	if len(p.App.Functions) != 1 || !reflect.DeepEqual(p.App.Functions[0], want) {
		t.Errorf("function = %+v, want %+v", p.App.Functions, want)
	}
}

func TestProviderDefaultsAndOverrides(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"serverless.yml": `service:
  name: shop
provider:
  name: aws
  runtime: python3.12
  stage: qa
  region: eu-west-1
  memorySize: 256
  timeout: 30
  ephemeralStorageSize: 1024
  architecture: arm64
  environment:
    SHARED: one
    OVERRIDDEN: provider
    DROPPED: x
functions:
  a:
    handler: src/app.main
  b:
    handler: src/app.main
    name: custom-b
    runtime: nodejs22.x
    memorySize: 512
    timeout: 3
    ephemeralStorageSize: 2048
    architecture: x86_64
    description: second
    reservedConcurrency: 5
    environment:
      OVERRIDDEN: function
      DROPPED: null
      PORT: 8080
`,
		"src/app.py": "def main(e, c): pass\n",
		"src/app.js": handlerJS,
	}, Options{Stage: "prod"})
	if p.App.Stage != "prod" || p.App.Region != "eu-west-1" {
		t.Errorf("stage/region = %s/%s", p.App.Stage, p.App.Region)
	}
	a, b := p.App.Functions[0], p.App.Functions[1]
	if a.Name != "shop-prod-a" || a.MemorySize != 256 || a.Timeout != 30 || a.Architecture != "arm64" || a.Runtime != "python3.12" ||
		a.EphemeralStorageSize != 1024 {
		t.Errorf("a = %+v", a)
	}
	if !reflect.DeepEqual(a.Environment, map[string]string{"SHARED": "one", "OVERRIDDEN": "provider", "DROPPED": "x"}) {
		t.Errorf("a env = %v", a.Environment)
	}
	if b.Name != "custom-b" || b.MemorySize != 512 || b.Timeout != 3 || b.EphemeralStorageSize != 2048 || b.Architecture != "x86_64" ||
		b.Runtime != "nodejs22.x" || b.Description != "second" || b.ReservedConcurrency == nil || *b.ReservedConcurrency != 5 {
		t.Errorf("b = %+v", b)
	}
	if !reflect.DeepEqual(b.Environment, map[string]string{"SHARED": "one", "OVERRIDDEN": "function", "PORT": "8080"}) {
		t.Errorf("b env = %v", b.Environment)
	}
}

func TestEventsAndResourcesKeptRaw(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"serverless.yml": `service: shop
provider: {name: aws, runtime: nodejs20.x}
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi: GET /hello
      - sqs:
          arn: arn:aws:sqs:${aws:region}:000000000000:q
          batchSize: 10
resources:
  Resources:
    Queue:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: !Sub "${AWS::StackName}-q"
  Outputs:
    Arn:
      Value: !GetAtt Queue.Arn
`,
		"handler.js": handlerJS,
	}, Options{})
	ev := p.App.Functions[0].Events
	if len(ev) != 2 || ev[0].Type != "httpApi" || string(ev[0].Properties) != `"GET /hello"` ||
		ev[1].Type != "sqs" || string(ev[1].Properties) != `{"arn":"arn:aws:sqs:us-east-1:000000000000:q","batchSize":10}` {
		t.Errorf("events = %s", mustJSON(ev))
	}
	want := `{"Resources":{"Queue":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":{"Fn::Sub":"${AWS::StackName}-q"}}}},"Outputs":{"Arn":{"Value":{"Fn::GetAtt":["Queue","Arn"]}}}}`
	if string(p.App.Resources) != want {
		t.Errorf("resources = %s\nwant        %s", p.App.Resources, want)
	}
}

func mustJSON(ev []appspec.Event) string {
	var parts []string
	for _, e := range ev {
		parts = append(parts, e.Type+"="+string(e.Properties))
	}
	return strings.Join(parts, " ")
}

// errorCase expects errors at exact places, in order.
type wantError struct {
	at      string // "line:col"
	message string // substring
	hint    string // substring; "" = not checked
}

func checkErrors(t *testing.T, list ErrorList, want []wantError) {
	t.Helper()
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), list)
	}
	for i, w := range want {
		e := list[i]
		at := fmt.Sprintf("%d:%d", e.Line, e.Column)
		if at != w.at || !strings.Contains(e.Message, w.message) || !strings.Contains(e.Hint, w.hint) {
			t.Errorf("error %d = %s:%s %q (hint %q), want %s %q (hint %q)", i, e.File, at, e.Message, e.Hint, w.at, w.message, w.hint)
		}
	}
}

func TestErrorsWithPositions(t *testing.T) {
	cases := []struct {
		name  string
		yml   string
		files map[string]string
		opts  Options
		want  []wantError
	}{
		{
			name: "unknown keys with hints",
			yml: `service: shop
provdier: {}
provider:
  name: aws
  runtime: nodejs20.x
  memorysize: 512
functions:
  hello:
    handlr: handler.hello
    handler: handler.hello
    zzzzzzzz: 1
configValidationMode: error
`,
			want: []wantError{
				{"2:1", `unknown key "provdier" in the manifest`, `did you mean "provider"?`},
				{"6:3", `unknown key "memorysize" in provider`, `did you mean "memorySize"?`},
				{"9:5", `unknown key "handlr" in function "hello"`, `did you mean "handler"?`},
				{"11:5", `unknown key "zzzzzzzz" in function "hello"`, ""},
			},
		},
		{
			name: "wrong types",
			yml: `service: shop
provider:
  name: aws
  runtime: nodejs20.x
  timeout: [1]
functions:
  hello:
    handler: handler.hello
    memorySize: lots
    environment: nope
    events: {http: x}
`,
			want: []wantError{
				{"5:12", "provider.timeout must be a whole number, not a list", ""},
				{"9:17", `memorySize must be a whole number, not a string ("lots")`, ""},
				{"10:18", "environment must be a map", ""},
				{"11:13", "events must be a list", ""},
			},
		},
		{
			name: "ranges, names and runtime",
			yml: `service: shop
provider:
  name: google
  runtime: nodejs12.x
functions:
  hello:
    handler: handler.hello
    runtime: nodejs20
    memorySize: 64
    timeout: 901
    ephemeralStorageSize: 256
    environment:
      AWS_REGION: x
      1BAD: y
  other:
    handler: handler.hello
  nort:
    handler: handler.hello
    runtime: ${env:NONE, null}
`,
			want: []wantError{
				{"3:9", `provider "google" is not supported`, "name: aws"},
				{"4:12", `provider.runtime "nodejs12.x" is not supported`, "nodejs20.x"},
				{"8:14", `runtime "nodejs20" is not supported`, `did you mean "nodejs20.x"?`},
				{"9:17", "memorySize 64 must be between 128 and 10240 MB", ""},
				{"10:14", "timeout 901 must be between 1 and 900 seconds", ""},
				{"11:27", "ephemeralStorageSize 256 must be between 512 and 10240 MB", ""},
				{"13:7", `"AWS_REGION" is reserved`, ""},
				{"14:7", `"1BAD" must start with a letter`, ""},
			},
		},
		{
			name: "missing runtime and handler",
			yml: `service: shop
provider:
  name: aws
functions:
  hello:
    handler: handler.hello
  nohandler:
    runtime: nodejs20.x
`,
			want: []wantError{
				{"5:3", `function "hello" has no runtime`, "provider.runtime"},
				{"7:3", `function "nohandler" has no handler`, ""},
			},
		},
		{
			name: "bad events",
			yml: `service: shop
provider: {name: aws, runtime: nodejs20.x}
functions:
  hello:
    handler: handler.hello
    events:
      - http
      - {http: a, sqs: b}
`,
			want: []wantError{
				{"7:9", "event #1 must be a map with a single key", ""},
				{"8:9", "event #2 must be a map with a single key (the event type), not a map with 2 keys", ""},
			},
		},
		{
			name: "yaml syntax error",
			yml:  "service: shop\nprovider:\n  name: aws\n runtime: x\n",
			want: []wantError{{"4:2", "YAML syntax error", ""}},
		},
		{
			name: "duplicate keys",
			yml:  "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nservice: again\n",
			want: []wantError{{"3:1", `"service" already defined`, ""}},
		},
		{
			name: "bad service name and stage",
			yml:  "service: 9lives\nprovider: {name: aws, runtime: nodejs20.x, stage: 'bad stage'}\n",
			want: []wantError{
				{"1:10", `service name "9lives" must start with a letter`, ""},
				{"2:51", `stage "bad stage" must be`, ""},
			},
		},
		{
			name: "deployed name too long and duplicated",
			yml: `service: shop
provider: {name: aws, runtime: nodejs20.x}
functions:
  averyveryveryveryveryveryveryveryveryveryveryveryveryverylongkey:
    handler: handler.hello
  a:
    handler: handler.hello
    name: same
  b:
    handler: handler.hello
    name: same
`,
			want: []wantError{
				{"4:3", "must be 1 to 64", "set a shorter `name:`"},
				{"9:3", `function "b" has the same deployed name "same" as function "a"`, ""},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"serverless.yml": tc.yml, "handler.js": handlerJS}
			for k, v := range tc.files {
				files[k] = v
			}
			checkErrors(t, loadErrors(t, files, tc.opts), tc.want)
		})
	}
}

func TestErrorFormat(t *testing.T) {
	list := loadErrors(t, map[string]string{
		"serverless.yml": "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  hello:\n    handlr: handler.hello\n    handler: handler.hello\nconfigValidationMode: error\n",
		"handler.js":     handlerJS,
	}, Options{})
	got := list[0].Error()
	base := filepath.Base(list[0].File)
	if base != "serverless.yml" {
		t.Fatalf("file = %s", list[0].File)
	}
	want := `:5:5: unknown key "handlr" in function "hello"
  5 |     handlr: handler.hello
    |     ^
hint: did you mean "handler"?`
	if !strings.HasSuffix(got, want) {
		t.Errorf("formatted error:\n%s\nwant suffix:\n%s", got, want)
	}
}

func TestConfigValidationModeWarn(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"serverless.yml": "service: shop\nconfigValidationMode: warn\nprovider: {name: aws, runtime: nodejs20.x, foo: 1}\nplugins: [serverless-offline, serverless-step-functions]\n",
	}, Options{})
	if len(p.Warnings) != 2 || !strings.Contains(p.Warnings[0].Message, `unknown key "foo"`) || !strings.Contains(p.Warnings[1].Message, "serverless-step-functions (its state machines are created, but their events (http, schedule, eventBridge) are not)") ||
		strings.Contains(p.Warnings[1].Message, "serverless-offline") {
		t.Errorf("warnings = %v", p.Warnings)
	}
}

func TestHandlerChecks(t *testing.T) {
	zipWith := func(t *testing.T, dir, name string, entries map[string]os.FileMode) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for n, mode := range entries {
			h := &zip.FileHeader{Name: n}
			h.SetMode(mode)
			w, _ := zw.CreateHeader(h)
			w.Write([]byte("x"))
		}
		zw.Close()
		f.Close()
	}
	cases := []struct {
		name    string
		runtime string
		handler string
		pkg     string // package section of the function
		files   map[string]string
		zips    map[string]map[string]os.FileMode
		wantErr string // "" = loads
	}{
		{name: "node js", runtime: "nodejs20.x", handler: "src/h.hello", files: map[string]string{"src/h.js": ""}},
		{name: "node mjs", runtime: "nodejs20.x", handler: "h.hello", files: map[string]string{"h.mjs": ""}},
		{name: "node missing", runtime: "nodejs20.x", handler: "src/h.hello", files: map[string]string{"h.js": ""}, wantErr: "src/h.js"},
		{name: "node bad form", runtime: "nodejs20.x", handler: "handler", wantErr: "path/file.export"},
		{name: "python dotted module", runtime: "python3.12", handler: "app/pkg.mod.main", files: map[string]string{"app/pkg/mod.py": ""}},
		{name: "python missing", runtime: "python3.12", handler: "app.main", files: map[string]string{"main.py": ""}, wantErr: "app.py"},
		{name: "go executable", runtime: "go1.x", handler: "bin/hello", files: map[string]string{"bin/hello*": ""}},
		{name: "go not executable", runtime: "go1.x", handler: "bin/hello", files: map[string]string{"bin/hello": ""}, wantErr: "not executable"},
		{name: "provided bootstrap", runtime: "provided.al2023", handler: "any", files: map[string]string{"bootstrap*": ""}},
		{name: "provided missing bootstrap", runtime: "provided.al2", handler: "any", wantErr: "bootstrap"},
		{name: "artifact with bootstrap", runtime: "provided.al2023", handler: "x", pkg: "artifact: build/fn.zip",
			zips: map[string]map[string]os.FileMode{"build/fn.zip": {"bootstrap": 0o755}}},
		{name: "artifact without bootstrap", runtime: "provided.al2023", handler: "x", pkg: "artifact: build/fn.zip",
			zips: map[string]map[string]os.FileMode{"build/fn.zip": {"main": 0o755}}, wantErr: "bootstrap"},
		{name: "artifact missing", runtime: "nodejs20.x", handler: "h.hello", pkg: "artifact: build/none.zip", wantErr: "cannot access package artifact"},
		{name: "artifact skips dir check", runtime: "nodejs20.x", handler: "h.hello", pkg: "artifact: fn.zip",
			zips: map[string]map[string]os.FileMode{"fn.zip": {"h.js": 0o644}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yml := "service: shop\nprovider: {name: aws}\nfunctions:\n  fn:\n    runtime: " + tc.runtime + "\n    handler: " + tc.handler + "\n"
			if tc.pkg != "" {
				yml += "    package:\n      " + tc.pkg + "\n"
			}
			files := map[string]string{"serverless.yml": yml}
			for k, v := range tc.files {
				files[k] = v
			}
			dir := writeTree(t, files)
			for name, entries := range tc.zips {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
				zipWith(t, dir, name, entries)
			}
			_, err := Load(dir, Options{LookupEnv: envOf(nil)})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Error(), tc.wantErr) || list[0].Line == 0 {
				t.Fatalf("Load error = %v, want one positioned error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestPackages(t *testing.T) {
	defaults := []string{"!.git/**", "!.gitignore", "!.DS_Store", "!npm-debug.log", "!yarn-*.log", "!.serverless/**", "!.serverless_plugins/**", "!serverless.yml"}
	cases := []struct {
		name string
		yml  string
		want []PackageSpec
	}{
		{
			name: "shared package",
			yml: `package:
  patterns: ['!tests/**']
  exclude: [docs/**]
  include: [docs/keep.md]
functions:
  a: {handler: h.a}
  b: {handler: h.b, package: {patterns: [ignored/**]}}
`,
			want: []PackageSpec{{Functions: []string{"a", "b"}, Name: "shop",
				Patterns: append(append([]string{}, defaults...), "!docs/**", "docs/keep.md", "!tests/**")}},
		},
		{
			name: "individually with function patterns",
			yml: `useDotenv: true
package:
  individually: true
  patterns: ['!**', h.js]
functions:
  a: {handler: h.a, package: {patterns: [lib/a/**]}}
  b: {handler: h.b}
`,
			want: []PackageSpec{
				{Functions: []string{"a"}, Name: "a", Patterns: append(append([]string{}, defaults...), "!.env*", "!**", "h.js", "lib/a/**")},
				{Functions: []string{"b"}, Name: "b", Patterns: append(append([]string{}, defaults...), "!.env*", "!**", "h.js")},
			},
		},
		{
			name: "artifacts",
			yml: `package:
  artifact: all.zip
functions:
  a: {handler: h.a}
  b: {handler: h.b, package: {artifact: b.zip}}
  c: {handler: h.b, package: {individually: true}}
`,
			want: []PackageSpec{
				{Functions: []string{"a"}, Name: "shop", Artifact: "all.zip"},
				{Functions: []string{"b"}, Name: "b", Artifact: "b.zip"},
				{Functions: []string{"c"}, Name: "c", Patterns: defaults},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{
				"serverless.yml": "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\n" + tc.yml,
				"h.js":           handlerJS,
			})
			for _, z := range []string{"all.zip", "b.zip"} {
				f, _ := os.Create(filepath.Join(dir, z))
				zw := zip.NewWriter(f)
				w, _ := zw.Create("h.js")
				w.Write([]byte(handlerJS))
				zw.Close()
				f.Close()
			}
			p, err := Load(dir, Options{LookupEnv: envOf(nil)})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				if tc.want[i].Artifact != "" {
					tc.want[i].Artifact = filepath.Join(p.Dir, tc.want[i].Artifact)
				}
			}
			if !reflect.DeepEqual(p.Packages, tc.want) {
				t.Errorf("packages =\n%+v\nwant\n%+v", p.Packages, tc.want)
			}
		})
	}
}

func TestNoManifest(t *testing.T) {
	_, err := Load(t.TempDir(), Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

func TestServerlessYAMLName(t *testing.T) {
	p := mustLoad(t, map[string]string{"serverless.yaml": "service: shop\nprovider: {name: aws}\n"}, Options{})
	if !strings.HasSuffix(p.File, "serverless.yaml") || p.Packages != nil {
		t.Errorf("project = %+v", p)
	}
}

func TestVariablesFeedTypedFields(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"serverless.yml": `service: shop
custom:
  mem: 2048
  prefix: app-${sls:stage}
provider:
  name: aws
  runtime: nodejs20.x
  memorySize: ${self:custom.mem}
  timeout: ${env:TIMEOUT}
functions:
  hello:
    handler: handler.hello
    name: ${self:custom.prefix}-hello
`,
		"handler.js": handlerJS,
	}, Options{Stage: "qa", LookupEnv: envOf(map[string]string{"TIMEOUT": "30"})})
	fn := p.App.Functions[0]
	if fn.MemorySize != 2048 || fn.Timeout != 30 || fn.Name != "app-qa-hello" {
		t.Errorf("function = %+v", fn)
	}
}
