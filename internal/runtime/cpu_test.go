package runtime_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// A function's runtime is told the CPU count its memory buys, as Lambda
// allocates CPU: an aws-lambda-go function plans with GOMAXPROCS of it, a
// Python one finds PYTHON_CPU_COUNT; a count the function sets itself wins.
func TestFunctionCPUCountFromMemory(t *testing.T) {
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/runtime/testdata/cpuinfo", filepath.Join(dir, "go.zip"), "bootstrap")
	py := "import os\n\ndef handler(event, context):\n    return {'env': os.environ.get('PYTHON_CPU_COUNT', '')}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte(py), 0o644); err != nil {
		t.Fatal(err)
	}
	yml := `service: cpu
provider:
  name: aws
  timeout: 10
functions:
  go128:
    runtime: provided.al2023
    handler: bootstrap
    memorySize: 128
    package:
      artifact: go.zip
  go4096:
    runtime: provided.al2023
    handler: bootstrap
    memorySize: 4096
    package:
      artifact: go.zip
  goOwn:
    runtime: provided.al2023
    handler: bootstrap
    memorySize: 128
    environment:
      GOMAXPROCS: "3"
    package:
      artifact: go.zip
  py128:
    runtime: python3.11
    handler: main.handler
    memorySize: 128
  py4096:
    runtime: python3.11
    handler: main.handler
    memorySize: 4096
  pyOwn:
    runtime: python3.11
    handler: main.handler
    memorySize: 4096
    environment:
      PYTHON_CPU_COUNT: "5"
`
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	p.Deploy(dir)

	// ceil(4096/1769) = 3, at most the host's cores.
	big := strconv.Itoa(min(3, goruntime.NumCPU()))
	cases := []struct {
		fn         string
		gomaxprocs string // runtime.GOMAXPROCS(0); "" for Python
		env        string
	}{
		{fn: "go128", gomaxprocs: "1", env: "1"},
		{fn: "go4096", gomaxprocs: big, env: big},
		{fn: "goOwn", gomaxprocs: "3", env: "3"},
		{fn: "py128", env: "1"},
		{fn: "py4096", env: big},
		{fn: "pyOwn", env: "5"},
	}
	lc := p.Lambda()
	for _, tc := range cases {
		out, err := lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("cpu-dev-" + tc.fn)})
		if err != nil {
			t.Fatalf("%s: %v", tc.fn, err)
		}
		if out.FunctionError != nil {
			t.Fatalf("%s: %s %s", tc.fn, *out.FunctionError, out.Payload)
		}
		var got struct {
			GOMAXPROCS int    `json:"gomaxprocs"`
			Env        string `json:"env"`
		}
		if err := json.Unmarshal(out.Payload, &got); err != nil {
			t.Fatalf("%s: %v: %s", tc.fn, err, out.Payload)
		}
		if got.Env != tc.env {
			t.Errorf("%s: CPU count in the environment = %q, want %q", tc.fn, got.Env, tc.env)
		}
		if tc.gomaxprocs != "" && strconv.Itoa(got.GOMAXPROCS) != tc.gomaxprocs {
			t.Errorf("%s: runtime.GOMAXPROCS = %d, want %s", tc.fn, got.GOMAXPROCS, tc.gomaxprocs)
		}
	}
}
