// Package isolation runs the attacks of issue 8 against a real platform as
// root and checks that they do no harm: functions are Python handlers that
// try what an attacker's code would.
package isolation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// needIsolation skips where the host cannot isolate functions.
func needIsolation(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("isolation needs root")
	}
	sb := sandbox.New(sandbox.Config{DropPrivileges: true})
	defer sb.Close()
	if !sb.Isolated() {
		t.Skipf("this host gives no namespaces: %v", sb.NamespaceError)
	}
	if sb.MemoryLimitError != nil {
		t.Skipf("this host gives no cgroups: %v", sb.MemoryLimitError)
	}
}

// start runs a platform for the test.
func start(t *testing.T, mutate func(*server.Config)) *testkit.Platform {
	t.Helper()
	needIsolation(t)
	return testkit.Start(t, mutate)
}

// deploy writes a service of Python functions and deploys it. functions is
// the YAML under `functions:`; files are the code.
func deploy(t *testing.T, p *testkit.Platform, service, functions string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	yml := "service: " + service + "\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n" + functions
	files["serverless.yml"] = yml
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	return dir
}

type result struct {
	payload map[string]any
	errType string
	log     string
}

func invoke(t *testing.T, p *testkit.Platform, function string, event any) result {
	t.Helper()
	r, err := tryInvoke(p, function, event)
	if err != nil {
		t.Fatalf("invoke %s: %v", function, err)
	}
	return r
}

func tryInvoke(p *testkit.Platform, function string, event any) (result, error) {
	payload, _ := json.Marshal(event)
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String(function), Payload: payload, LogType: types.LogTypeTail})
	if err != nil {
		return result{}, err
	}
	var r result
	_ = json.Unmarshal(out.Payload, &r.payload)
	if out.FunctionError != nil {
		r.errType, _ = r.payload["errorType"].(string)
	}
	if out.LogResult != nil {
		raw, _ := base64.StdEncoding.DecodeString(*out.LogResult)
		r.log = string(raw)
	}
	return r, nil
}

// findProcesses returns the host pids whose command line contains want
// (arguments are separated by NUL).
func findProcesses(want string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(data), want) {
			pids = append(pids, pid)
		}
	}
	return pids
}
