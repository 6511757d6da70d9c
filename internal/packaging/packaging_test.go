package packaging

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
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
}

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"**", "a/b/c.js", true},
		{"*.js", "a.js", true},
		{"*.js", "src/a.js", false},
		{"**/*.js", "a.js", true},
		{"**/*.js", "src/deep/a.js", true},
		{"src/**", "src/a/b", true},
		{"src/**", "srcx/a", false},
		{".git/**", ".git/config", true},
		{"*", ".env", true},
		{".env*", ".env.prod", true},
		{"src/{a,b}.js", "src/b.js", true},
		{"src/{a,b}.js", "src/c.js", false},
		{"src/*.{js,json}", "src/x.json", true},
		{"./handler.js", "handler.js", true},
		{"node_modules/**/test/**", "node_modules/x/test/y.js", true},
		{"lib/?.py", "lib/a.py", true},
		{"lib/[ab].py", "lib/c.py", false},
	}
	for _, tc := range cases {
		if got := compilePattern(tc.pattern).match(tc.path); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestSelectFilesOrder(t *testing.T) {
	var files []file
	for _, name := range []string{"handler.js", "lib/a.js", "lib/a.test.js", "tests/t.js", ".git/HEAD", "serverless.yml", "README.md"} {
		files = append(files, file{rel: name})
	}
	cases := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{"defaults", []string{"!.git/**", "!serverless.yml"}, []string{"handler.js", "lib/a.js", "lib/a.test.js", "tests/t.js", "README.md"}},
		{"exclude then include wins", []string{"!lib/**", "lib/a.js"}, []string{"handler.js", "lib/a.js", "tests/t.js", ".git/HEAD", "serverless.yml", "README.md"}},
		{"include then exclude wins", []string{"!**", "lib/**", "!**/*.test.js"}, []string{"lib/a.js"}},
	}
	for _, tc := range cases {
		var got []string
		for _, f := range selectFiles(files, tc.patterns) {
			got = append(got, f.rel)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// load writes a project and loads it through the manifest package.
func load(t *testing.T, dir, yml string) *manifest.Project {
	t.Helper()
	writeTree(t, dir, map[string]string{"serverless.yml": yml})
	p, err := manifest.Load(dir, manifest.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func zipEntries(t *testing.T, path string) map[string]os.FileMode {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]os.FileMode{}
	var names []string
	for _, f := range zr.File {
		out[f.Name] = f.Mode()
		names = append(names, f.Name)
		if !f.Modified.Equal(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s modified %v, want the fixed zip epoch", f.Name, f.Modified)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	return out
}

func TestBuildSharedAndIndividual(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"handler.js":        "exports.a = async () => 1\n",
		"lib/util.js":       "",
		"tests/t.js":        "",
		".git/HEAD":         "",
		"bootstrap*":        "#!/bin/sh\n",
		"fn/b/main.py":      "def main(e, c): pass\n",
		"fn/b/helper.py":    "",
		"node_modules/x.js": "",
	})
	p := load(t, dir, `service: shop
provider: {name: aws, runtime: nodejs20.x}
package:
  patterns: ['!tests/**']
functions:
  a: {handler: handler.a}
  p: {handler: x, runtime: provided.al2023}
  b:
    handler: fn/b/main.main
    runtime: python3.12
    package:
      individually: true
      patterns: ['!**', 'fn/b/**', '!fn/b/helper.py']
`)
	out := filepath.Join(dir, ".serverless")
	arts, err := Build(context.Background(), p, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 {
		t.Fatalf("artifacts = %+v", arts)
	}
	shared, b := arts[0], arts[1]
	if !reflect.DeepEqual(shared.Functions, []string{"a", "p"}) || shared.Path != filepath.Join(out, "shop.zip") {
		t.Errorf("shared = %+v", shared)
	}
	got := zipEntries(t, shared.Path)
	wantShared := map[string]os.FileMode{"handler.js": 0o644, "lib/util.js": 0o644, "bootstrap": 0o755, "fn/b/main.py": 0o644, "fn/b/helper.py": 0o644, "node_modules/x.js": 0o644}
	if !reflect.DeepEqual(got, wantShared) {
		t.Errorf("shared entries = %v, want %v", got, wantShared)
	}
	if got := zipEntries(t, b.Path); !reflect.DeepEqual(got, map[string]os.FileMode{"fn/b/main.py": 0o644}) {
		t.Errorf("b entries = %v", got)
	}
	st, _ := os.Stat(shared.Path)
	if shared.Size != st.Size() || len(shared.SHA256) != 64 {
		t.Errorf("shared size/hash = %d/%s, file is %d", shared.Size, shared.SHA256, st.Size())
	}

	Apply(&p.App, arts)
	for _, fn := range p.App.Functions {
		want := shared
		if fn.Key == "b" {
			want = b
		}
		if fn.Code.SHA256 != want.SHA256 || fn.Code.Size != want.Size {
			t.Errorf("%s code = %+v", fn.Key, fn.Code)
		}
	}
	if err := p.App.Validate(); err != nil {
		t.Errorf("Validate after Apply: %v", err)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	build := func(mtime time.Time) string {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"handler.js": "exports.a = 1\n", "z/a.txt": "a", "b.txt": "b"})
		for _, f := range []string{"handler.js", "z/a.txt", "b.txt"} {
			os.Chtimes(filepath.Join(dir, f), mtime, mtime)
		}
		os.Chmod(filepath.Join(dir, "b.txt"), 0o600) // only the exec bit counts
		p := load(t, dir, "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  a: {handler: handler.a}\n")
		arts, err := Build(context.Background(), p, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return arts[0].SHA256
	}
	first := build(time.Now())
	second := build(time.Now().Add(-48 * time.Hour))
	if first != second {
		t.Errorf("hashes differ: %s vs %s", first, second)
	}
}

func TestBuildHandlerExcludedByPatterns(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"handler.js": "", "other.js": ""})
	p := load(t, dir, "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\npackage: {patterns: ['!handler.js']}\nfunctions:\n  a: {handler: handler.a}\n")
	_, err := Build(context.Background(), p, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `function "a"`) || !strings.Contains(err.Error(), "handler.js") {
		t.Errorf("err = %v", err)
	}
}

func TestBuildSymlinks(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeTree(t, dir, map[string]string{"handler.js": "", "real/data.txt": "data"})
	writeTree(t, outside, map[string]string{"secret.txt": "s"})
	if err := os.Symlink("real", filepath.Join(dir, "linked")); err != nil {
		t.Skip("symlinks not available:", err)
	}
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "escape.txt"))
	yml := "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  a: {handler: handler.a}\n"
	p := load(t, dir, yml)
	_, err := Build(context.Background(), p, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "escape.txt") || !strings.Contains(err.Error(), "outside the service directory") {
		t.Fatalf("err = %v, want the escaping symlink rejected", err)
	}
	p = load(t, dir, yml+"package: {patterns: ['!escape.txt']}\n")
	arts, err := Build(context.Background(), p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := zipEntries(t, arts[0].Path)
	if _, ok := got["linked/data.txt"]; !ok {
		t.Errorf("entries = %v, want the symlinked directory followed", got)
	}
}

func TestBuildSizeLimit(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"handler.js": ""})
	big, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: large on paper, cheap on disk.
	if err := big.Truncate(appspec.MaxUnzippedCodeBytes + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()
	p := load(t, dir, "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  a: {handler: handler.a}\n")
	_, err = Build(context.Background(), p, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "over Lambda's 250 MB limit") {
		t.Errorf("err = %v", err)
	}
}

func TestBuildArtifact(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "build", "fn.zip")
	os.MkdirAll(filepath.Dir(zipPath), 0o755)
	f, _ := os.Create(zipPath)
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap"}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("#!/bin/sh\n"))
	zw.Close()
	f.Close()
	p := load(t, dir, "service: shop\nprovider: {name: aws, runtime: provided.al2023}\nfunctions:\n  a: {handler: x, package: {artifact: build/fn.zip}}\n")
	arts, err := Build(context.Background(), p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(zipPath)
	if len(arts) != 1 || arts[0].Path != zipPath || arts[0].Size != st.Size() || len(arts[0].SHA256) != 64 {
		t.Errorf("artifacts = %+v", arts)
	}
}

func TestBuildSkipsOutputDir(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"handler.js": ""})
	p := load(t, dir, "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  a: {handler: handler.a}\n")
	out := filepath.Join(dir, "dist")
	first, err := Build(context.Background(), p, out)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Build(context.Background(), p, out)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].SHA256 != second[0].SHA256 {
		t.Errorf("second build differs: the output directory was packaged")
	}
}
