package packaging_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/nimbus-platform/nimbus/internal/packaging"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// writeTree writes files (slash paths) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tsProject is a TypeScript API as serverless-esbuild projects are written:
// a tsconfig, modules importing each other, a type-only import and an npm
// dependency (vendored here as `npm install` would leave it).
func tsProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"serverless.yml": `service: ts-api
frameworkVersion: '3'
plugins:
  - serverless-esbuild
provider:
  name: aws
  runtime: nodejs20.x
custom:
  esbuild:
    bundle: true
    minify: false
    sourcemap: true
    exclude:
      - '@aws-sdk/*'
    define:
      'process.env.BUILD_FLAVOUR': '"esbuild"'
    concurrency: 4
    packager: npm
functions:
  api:
    handler: src/handler.main
    events:
      - httpApi:
          path: /greet/{name}
          method: get
  boom:
    handler: src/handler.boom
`,
		"package.json": `{"name": "ts-api", "private": true, "dependencies": {"left-pad": "1.3.0"}, "devDependencies": {"typescript": "5.4.5"}}`,
		"tsconfig.json": `{
  // comments are allowed, as tsc allows them
  "compilerOptions": {"target": "ES2022", "module": "commonjs", "strict": true, "esModuleInterop": true,
    "baseUrl": ".", "paths": {"@lib/*": ["src/lib/*"]}}
}`,
		"src/types.ts": "export interface Greeting {\n  text: string;\n  width: number;\n}\n",
		"src/handler.ts": `import type { Greeting } from "./types";
import { greet } from "@lib/greet";

export const main = async (event: { pathParameters?: Record<string, string> }) => {
  const g: Greeting = greet(event.pathParameters?.name ?? "nobody");
  return { statusCode: 200, body: JSON.stringify({ ...g, flavour: process.env.BUILD_FLAVOUR }) };
};

export const boom = async (): Promise<never> => {
  throw new Error("boom from TypeScript");
};
`,
		"src/lib/greet.ts": `import leftPad from "left-pad";
import type { Greeting } from "../types";
import { shout } from "./shout";

export function greet(name: string): Greeting {
  const text = shout("hello " + name);
  return { text: leftPad(text, 20, "."), width: 20 };
}

export function quiet(s: string): string {
  return s.toLowerCase();
}
`,
		// shout and greet import each other.
		"src/lib/shout.ts": `import { quiet } from "./greet";

export const shout = (s: string): string => quiet(s).toUpperCase() + "!";
`,
		"node_modules/left-pad/package.json": `{"name": "left-pad", "version": "1.3.0", "main": "index.js"}`,
		"node_modules/left-pad/index.js": `module.exports = function leftPad(str, len, ch) {
  str = String(str); ch = ch || " ";
  while (str.length < len) str = ch + str;
  return str;
};
`,
		"node_modules/typescript/package.json":      `{"name": "typescript", "version": "5.4.5", "main": "lib/typescript.js"}`,
		"node_modules/typescript/lib/typescript.js": "module.exports = {};\n",
	})
	return dir
}

func TestTypeScriptAPIDeploysWithEsbuild(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	dir := tsProject(t)
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	p.Client.BuildCache = t.TempDir()
	ctx := context.Background()

	var steps []string
	progress := func(f string, args ...any) { steps = append(steps, strings.TrimSpace(fmt.Sprintf(f, args...))) }
	out, err := p.Client.Deploy(ctx, dir, manifest.Options{}, progress)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	log := strings.Join(steps, "\n")
	if !strings.Contains(log, "Bundled src/handler.ts into src/handler.js for api, boom (esbuild, ") || strings.Contains(log, "plugins are ignored") {
		t.Errorf("deploy progress does not show the bundle (or warns about the plugin):\n%s", log)
	}

	resp, err := http.Get(p.Gateway.URL() + "/greet/bob")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Text    string `json:"text"`
		Width   int    `json:"width"`
		Flavour string `json:"flavour"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("GET /greet/bob = %d %s", resp.StatusCode, body)
	}
	if got.Text != "..........HELLO BOB!" || got.Width != 20 || got.Flavour != "esbuild" {
		t.Errorf("GET /greet/bob = %s, want the padded greeting built by the bundle", body)
	}

	// A thrown error's stack trace points at the TypeScript source.
	inv, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("ts-api-dev-boom")})
	if err != nil {
		t.Fatal(err)
	}
	if inv.FunctionError == nil {
		t.Fatalf("boom did not fail: %s", inv.Payload)
	}
	var fe struct {
		ErrorMessage string   `json:"errorMessage"`
		Trace        []string `json:"trace"`
	}
	if err := json.Unmarshal(inv.Payload, &fe); err != nil {
		t.Fatal(err)
	}
	trace := strings.Join(fe.Trace, "\n")
	if fe.ErrorMessage != "boom from TypeScript" || !strings.Contains(trace, "src/handler.ts:10:") {
		t.Errorf("error = %q, trace:\n%s\nwant the trace to name src/handler.ts:10", fe.ErrorMessage, trace)
	}

	if env := out.Project.Function("boom").Environment["NODE_OPTIONS"]; env != "--enable-source-maps" {
		t.Errorf("NODE_OPTIONS = %q, want --enable-source-maps for the source map", env)
	}
	// A no-change redeploy reuses the bundle and changes nothing.
	steps = nil
	start := time.Now()
	again, err := p.Client.Deploy(ctx, dir, manifest.Options{}, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("no-change redeploy took %v", time.Since(start))
	if again.Response.Changed || again.Uploaded != 0 || !strings.Contains(strings.Join(steps, "\n"), "esbuild, cached") {
		t.Errorf("no-change redeploy: changed=%v uploaded=%d, progress:\n%s", again.Response.Changed, again.Uploaded, strings.Join(steps, "\n"))
	}
}

// zipEntries builds p's packages and returns each function's zip entries.
func zipEntries(t *testing.T, dir string, cache string) (map[string][]string, []string, error) {
	t.Helper()
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		return nil, nil, err
	}
	var steps []string
	arts, err := packaging.BuildWith(context.Background(), p, t.TempDir(), packaging.Options{
		CacheDir: cache,
		Progress: func(f string, args ...any) { steps = append(steps, fmt.Sprintf(f, args...)) },
	})
	if err != nil {
		return nil, steps, err
	}
	out := map[string][]string{}
	for _, a := range arts {
		zr, err := zip.OpenReader(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		zr.Close()
		for _, k := range a.Functions {
			out[k] = names
		}
	}
	return out, steps, nil
}

func TestEsbuildPackageHoldsTheBundle(t *testing.T) {
	dir := tsProject(t)
	entries, _, err := zipEntries(t, dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"src/handler.js", "src/handler.js.map"}
	if !slices.Equal(entries["api"], want) {
		t.Errorf("api's package holds %v, want only the bundle and its map %v (serverless-esbuild's package)", entries["api"], want)
	}

	// An external package is left out of the bundle and copied from
	// node_modules with what it depends on; package.patterns bring extras.
	yml, _ := os.ReadFile(filepath.Join(dir, "serverless.yml"))
	s := strings.Replace(string(yml), "    concurrency: 4\n", "    concurrency: 4\n    external:\n      - left-pad\n", 1)
	s = strings.Replace(s, "functions:\n", "package:\n  patterns:\n    - 'static/**'\nfunctions:\n", 1)
	writeTree(t, dir, map[string]string{
		"serverless.yml":                     s,
		"static/banner.txt":                  "hello\n",
		"node_modules/left-pad/package.json": `{"name": "left-pad", "version": "1.3.0", "main": "index.js", "dependencies": {"pad-core": "1.0.0"}}`,
		"node_modules/pad-core/package.json": `{"name": "pad-core", "version": "1.0.0"}`,
		"node_modules/pad-core/index.js":     "module.exports = 1;\n",
	})
	entries, _, err = zipEntries(t, dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"node_modules/left-pad/index.js", "node_modules/left-pad/package.json", "node_modules/pad-core/index.js",
		"node_modules/pad-core/package.json", "src/handler.js", "src/handler.js.map", "static/banner.txt"}
	if !slices.Equal(entries["api"], want) {
		t.Errorf("with external left-pad, api's package holds %v, want %v", entries["api"], want)
	}
}

func TestEsbuildErrorNamesFileAndLine(t *testing.T) {
	dir := tsProject(t)
	writeTree(t, dir, map[string]string{
		"src/lib/shout.ts": "import { quiet } from \"./greet\";\nimport missing from \"no-such-package\";\n\nexport const shout = (s: string): string => quiet(s) + missing;\n",
	})
	_, _, err := zipEntries(t, dir, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `src/lib/shout.ts:2:21: Could not resolve "no-such-package"`) || !strings.Contains(err.Error(), `functions "api", "boom"`) {
		t.Fatalf("build = %v, want esbuild's error at src/lib/shout.ts:2:21 for functions api and boom", err)
	}
}

// A TypeScript handler without serverless-esbuild (serverless-plugin-typescript
// here) is bundled in the plugin's place, with a note, and maps stack traces.
func TestTypeScriptPluginProjectIsBundled(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"serverless.yml": "service: tsplug\nplugins:\n  - serverless-plugin-typescript\n  - serverless-domain-manager\nprovider:\n  name: aws\n  runtime: nodejs18.x\nfunctions:\n  hello:\n    handler: handler.hello\n  plain:\n    handler: plain.run\n",
		"handler.ts":     "export const hello = async (): Promise<string> => `hi ${(1 as number) + 1}`;\n",
		"plain.js":       "exports.run = async () => 'plain';\n",
	})
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Warnings.Error(); !strings.Contains(w, "without them: serverless-domain-manager (") || strings.Contains(w, "serverless-plugin-typescript (") {
		t.Errorf("warnings = %q, want serverless-domain-manager warned about and the typescript plugin not", w)
	}
	entries, steps, err := zipEntries(t, dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := strings.Join(steps, "\n")
	if !strings.Contains(log, "serverless-plugin-typescript") || !strings.Contains(log, "Bundled handler.ts into handler.js for hello (") || strings.Contains(log, "plain") {
		t.Errorf("progress:\n%s\nwant a note about the plugin and hello (only) bundled", log)
	}
	if !slices.Contains(entries["hello"], "handler.js") || !slices.Contains(entries["hello"], "handler.js.map") {
		t.Errorf("hello's package holds %v, want handler.js and its map", entries["hello"])
	}
	if !slices.Contains(entries["plain"], "plain.js") {
		t.Errorf("plain's package holds %v, want plain.js as it is", entries["plain"])
	}
}

// A cache that cannot be written costs the reuse, not the deploy.
func TestUnwritableCacheStillBuilds(t *testing.T) {
	dir := tsProject(t)
	notADir := filepath.Join(t.TempDir(), "file")
	writeTree(t, filepath.Dir(notADir), map[string]string{"file": "x"})
	entries, steps, err := zipEntries(t, dir, filepath.Join(notADir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(entries["api"], "src/handler.js") || !strings.Contains(strings.Join(steps, "\n"), "is not writable") {
		t.Errorf("package %v, progress %q: want the bundle and a warning about the cache", entries["api"], steps)
	}
}

// The TypeScript example deploys as it is, and its error trace names the .ts
// line that threw.
func TestTypeScriptExample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	p.Client.BuildCache = t.TempDir()
	if _, err := p.Client.Deploy(context.Background(), testkit.Path(t, "examples/typescript-api"), manifest.Options{}, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	resp, err := http.Get(p.Gateway.URL() + "/todos/2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"title":"Read the stack trace of a failure"`) {
		t.Fatalf("GET /todos/2 = %d %s", resp.StatusCode, body)
	}
	inv, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String("typescript-api-dev-todo"), Payload: []byte(`{"pathParameters": {"id": "3"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if inv.FunctionError == nil || !strings.Contains(string(inv.Payload), "src/lib/store.ts:15:") {
		t.Errorf("GET todo 3 = %s, want an error whose trace names src/lib/store.ts:15", inv.Payload)
	}
}

// A mistake in custom.esbuild is reported at its line, as manifest errors are.
func TestEsbuildSettingErrorIsPlaced(t *testing.T) {
	dir := tsProject(t)
	yml, _ := os.ReadFile(filepath.Join(dir, "serverless.yml"))
	writeTree(t, dir, map[string]string{"serverless.yml": strings.Replace(string(yml), "    minify: false\n", "    minify: false\n    format: umd\n", 1)})
	_, _, err := zipEntries(t, dir, t.TempDir())
	var me *manifest.Error
	if !errors.As(err, &me) || me.Line != 12 || !strings.Contains(me.Message, `custom.esbuild.format "umd"`) {
		t.Fatalf("build = %v, want a manifest error at serverless.yml:12 about format umd", err)
	}
}
