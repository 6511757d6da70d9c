package packaging

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// goProject writes a module with two main packages and a manifest naming
// them in both conventions: a provided.al2023 handler that is the package
// (built as bootstrap) and a go1.x handler bin/NAME built from cmd/NAME.
func goProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":              "module example.com/gofns\n\ngo 1.22\n",
		"cmd/hello/main.go":   "// Command hello.\npackage main\n\nfunc main() { println(\"hello\") }\n",
		"worker/main.go":      "/* a\n   comment */\npackage main // worker\n\nfunc main() {}\n",
		"worker/util_test.go": "package main\n",
		"lib/lib.go":          "package lib\n",
		"serverless.yml": `service: gofns
provider:
  name: aws
  runtime: provided.al2023
functions:
  hello:
    handler: ./cmd/hello
  worker:
    handler: bin/worker
    runtime: go1.x
    architecture: arm64
`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGoFunctionsAreBuiltAtDeploy(t *testing.T) {
	dir := goProject(t)
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src, _ := manifest.GoMain(dir, appspec.Function{Runtime: "go1.x", Handler: "lib/lib.go"}); src != "" {
		t.Errorf("GoMain found a main package in lib/ (package lib): %s", src)
	}
	builds := findGoBuilds(p, t.TempDir())
	got := map[string]goBuild{}
	for _, b := range builds {
		got[b.key] = b
	}
	if len(builds) != 2 || !got["hello"].bootstrap || got["worker"].bootstrap || got["worker"].arch != "arm64" {
		t.Fatalf("builds = %+v, want hello as bootstrap and worker into bin/worker ", builds)
	}

	sha := func() map[string]string {
		t.Helper()
		p, err := manifest.Load(dir, manifest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		arts, err := BuildReporting(context.Background(), p, t.TempDir(), func(f string, _ ...any) { steps = append(steps, f) })
		if err != nil {
			t.Fatal(err)
		}
		if h := p.Function("hello").Handler; h != "bootstrap" {
			t.Errorf("hello's handler = %q after the build, want bootstrap (what runs)", h)
		}
		if len(steps) != 2 {
			t.Errorf("progress = %q, want one line per Go build", steps)
		}
		out := map[string]string{}
		for _, a := range arts {
			for _, k := range a.Functions {
				out[k] = a.SHA256
			}
			if len(a.Functions) == 1 && a.Functions[0] == "hello" {
				checkBootstrap(t, a.Path)
			}
		}
		return out
	}
	first := sha()
	if first["hello"] == "" || first["worker"] == "" || first["hello"] == first["worker"] {
		t.Fatalf("packages = %v, want hello in a package of its own", first)
	}
	f, err := elf.Open(filepath.Join(dir, "bin", "worker"))
	if err != nil {
		t.Fatalf("bin/worker was not built as a Linux executable: %v", err)
	}
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("bin/worker is for %v, want arm64 as the function's architecture says", f.Machine)
	}
	f.Close()
	// Rebuilding unchanged sources gives the same packages: nothing to upload.
	if second := sha(); second["hello"] != first["hello"] || second["worker"] != first["worker"] {
		t.Errorf("rebuild changed the packages: %v then %v", first, second)
	}
}

// checkBootstrap checks that a zip holds just an executable Linux bootstrap.
func checkBootstrap(t *testing.T, path string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm()&0o100 == 0 {
		t.Fatalf("hello's package holds %v, want only an executable bootstrap", zr.File)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("bootstrap is for %v, want x86_64 (the default architecture)", f.Machine)
	}
}

func TestGoBuildErrorsNameTheFunction(t *testing.T) {
	dir := goProject(t)
	if err := os.WriteFile(filepath.Join(dir, "cmd", "hello", "main.go"), []byte("package main\n\nfunc main() { undefined() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), p, t.TempDir())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`function "hello"`)) || !bytes.Contains([]byte(err.Error()), []byte("undefined")) {
		t.Fatalf("Build = %v, want the compiler's error for function hello", err)
	}
}

// A go1.x handler's binary is written where the handler says: a symlink on
// that path must not let the build write outside the project.
func TestGoBuildOutputStaysInTheProject(t *testing.T) {
	dir := goProject(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), p, t.TempDir())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("outside the project")) {
		t.Fatalf("Build = %v, want a refusal to write outside the project", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the build wrote %v outside the project", entries)
	}
}

// A go.mod asking for another toolchain is not downloaded and run.
func TestGoBuildUsesTheLocalToolchain(t *testing.T) {
	dir := goProject(t)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/gofns\n\ngo 1.99\n\ntoolchain go1.99.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), p, t.TempDir())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("GOTOOLCHAIN=local")) {
		t.Fatalf("Build = %v, want go build to refuse the toolchain go.mod asks for", err)
	}
}
