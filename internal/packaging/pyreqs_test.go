package packaging_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// writeWheel writes a pure-Python wheel of name and version into dir, as
// `pip wheel` would make it, holding files (paths inside the wheel).
func writeWheel(t *testing.T, dir, name, version string, files map[string]string) {
	t.Helper()
	distInfo := fmt.Sprintf("%s-%s.dist-info", name, version)
	all := map[string]string{}
	for k, v := range files {
		all[k] = v
	}
	all[distInfo+"/METADATA"] = fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	all[distInfo+"/WHEEL"] = "Wheel-Version: 1.0\nGenerator: nimbus-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
	var names []string
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	var record strings.Builder
	for _, n := range names {
		sum := sha256.Sum256([]byte(all[n]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", n, base64.RawURLEncoding.EncodeToString(sum[:]), len(all[n]))
	}
	record.WriteString(distInfo + "/RECORD,,\n")
	all[distInfo+"/RECORD"] = record.String()
	names = append(names, distInfo+"/RECORD")

	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", name, version)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(all[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// requirePip skips unless the interpreter that runs Python functions has pip.
func requirePip(t *testing.T) {
	t.Helper()
	python := "/usr/bin/python3"
	if p := os.Getenv("NIMBUS_PYTHON"); p != "" {
		python = p
	}
	if out, err := exec.Command(python, "-m", "pip", "--version").CombinedOutput(); err != nil {
		if os.Getenv("NIMBUS_REQUIRE_SDK") != "" {
			t.Fatalf("%s -m pip: %v: %s (CI installs python3-pip)", python, err, out)
		}
		t.Skipf("%s has no pip: %s", python, out)
	}
}

// pyIndex is a local package index (a find-links folder) with two tiny
// packages.
func pyIndex(t *testing.T) string {
	t.Helper()
	index := t.TempDir()
	writeWheel(t, index, "nimbus_demo", "1.2.0", map[string]string{
		"nimbus_demo/__init__.py":         "VERSION = '1.2.0'\n\ndef shout(s):\n    return s.upper() + '!'\n",
		"nimbus_demo/tests/test_shout.py": "def test_shout():\n    pass\n",
		"nimbus_demo/tests/__init__.py":   "",
		"nimbus_demo/data/greeting.txt":   "hello\n",
	})
	writeWheel(t, index, "nimbus_extra", "0.1.0", map[string]string{
		"nimbus_extra.py": "def twice(s):\n    return s + s\n",
	})
	return index
}

// pyProject is a Python service as serverless-python-requirements projects
// are written: requirements.txt at the root (boto3 among them, which the
// plugin leaves out), and a function with its own module folder.
func pyProject(t *testing.T, index string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"serverless.yml": fmt.Sprintf(`service: pyreqs
plugins:
  - serverless-python-requirements
provider:
  name: aws
  runtime: python3.11
package:
  individually: true
custom:
  pythonRequirements:
    dockerizePip: non-linux
    slim: true
    pipCmdExtraArgs: ['--no-index', '--find-links', '%s']
functions:
  hello:
    handler: handler.hello
  worker:
    handler: index.work
    module: worker
`, index),
		"requirements.txt":        "# what the API needs\nboto3>=1.20\nnimbus-demo==1.2.0\n",
		"handler.py":              "import nimbus_demo\n\ndef hello(event, context):\n    return {'said': nimbus_demo.shout(event.get('name', 'nobody')), 'version': nimbus_demo.VERSION}\n",
		"worker/requirements.txt": "nimbus_extra\n",
		"worker/index.py":         "import nimbus_extra\n\ndef work(event, context):\n    return nimbus_extra.twice('ab')\n",
	})
	return dir
}

// The requirements are installed into each package (the module function's
// from its own folder), the functions import them, and a rebuild reuses
// the install until a requirements file changes.
func TestPythonRequirementsAreInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	requirePip(t)
	dir := pyProject(t, pyIndex(t))
	cache := t.TempDir()
	p := testkit.Start(t, nil)
	p.Client.BuildCache = cache
	var steps []string
	progress := func(f string, args ...any) { steps = append(steps, fmt.Sprintf(f, args...)) }
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, progress); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	log := strings.Join(steps, "\n")
	if !strings.Contains(log, "dockerizePip is ignored") || strings.Count(log, "Installed Python requirements") != 2 || strings.Contains(log, "plugins are ignored") {
		t.Errorf("progress:\n%s\nwant a note on dockerizePip and two installs", log)
	}
	for fn, want := range map[string]string{
		"pyreqs-dev-hello":  `{"said": "BOB!", "version": "1.2.0"}`,
		"pyreqs-dev-worker": `"abab"`,
	} {
		out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"name": "bob"}`)})
		if err != nil {
			t.Fatal(err)
		}
		var got, exp any
		_ = json.Unmarshal(out.Payload, &got)
		_ = json.Unmarshal([]byte(want), &exp)
		if out.FunctionError != nil || fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("%s = %s (error %v), want %s", fn, out.Payload, aws.ToString(out.FunctionError), want)
		}
	}

	entries, steps, err := zipEntries(t, dir, cache)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(steps, "\n"))
	}
	if log := strings.Join(steps, "\n"); strings.Count(log, "pip, cached") != 2 {
		t.Errorf("rebuild progress:\n%s\nwant both installs from the cache", log)
	}
	hello, worker := entries["hello"], entries["worker"]
	for _, want := range []string{"handler.py", "nimbus_demo/__init__.py", "nimbus_demo/data/greeting.txt", "nimbus_demo-1.2.0.dist-info/METADATA", "requirements.txt"} {
		if !slices.Contains(hello, want) {
			t.Errorf("hello's package lacks %s: %v", want, hello)
		}
	}
	for _, name := range hello {
		if strings.Contains(name, "/tests/") || strings.HasSuffix(name, ".pyc") || strings.HasPrefix(name, "nimbus_extra") || strings.HasPrefix(name, "boto") {
			t.Errorf("hello's package holds %s (slim strips tests and bytecode, noDeploy boto3, nimbus_extra is worker's)", name)
		}
	}
	if !slices.Contains(worker, "index.py") || !slices.Contains(worker, "nimbus_extra.py") || slices.Contains(worker, "handler.py") || slices.ContainsFunc(worker, func(s string) bool { return strings.HasPrefix(s, "nimbus_demo") }) {
		t.Errorf("worker's package = %v, want its module folder at the root with its own requirements", worker)
	}

	writeTree(t, dir, map[string]string{"worker/requirements.txt": "nimbus_extra==0.1.0\n"})
	_, steps, err = zipEntries(t, dir, cache)
	if err != nil {
		t.Fatal(err)
	}
	if log := strings.Join(steps, "\n"); strings.Count(log, "pip, cached") != 1 {
		t.Errorf("after editing worker/requirements.txt:\n%s\nwant only the root's install cached", log)
	}
}

func TestPipFailureIsTheDeployError(t *testing.T) {
	requirePip(t)
	dir := pyProject(t, pyIndex(t))
	writeTree(t, dir, map[string]string{"requirements.txt": "nimbus-demo==9.9.9\n"})
	_, _, err := zipEntries(t, dir, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "pip install -r requirements.txt failed") || !strings.Contains(err.Error(), "No matching distribution found for nimbus-demo==9.9.9") {
		t.Fatalf("build = %v, want pip's own message", err)
	}
}

// A Pipfile or Poetry project without a requirements file is warned about,
// not silently deployed without its dependencies.
func TestPipfileWithoutRequirementsWarns(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"serverless.yml": "service: pipenv\nplugins:\n  - serverless-python-requirements\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n  a:\n    handler: app.a\n  b:\n    handler: app.b\n",
		"app.py":         "def a(e, c):\n    return 1\n\ndef b(e, c):\n    return 2\n",
		"Pipfile":        "[packages]\nrequests = \"*\"\n",
	})
	_, steps, err := zipEntries(t, dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if log := strings.Join(steps, "\n"); strings.Count(log, "has Pipfile but no requirements.txt") != 1 {
		t.Errorf("progress:\n%s\nwant one warning about the Pipfile", log)
	}
}
