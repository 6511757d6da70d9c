package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const infoManifest = `service: orders
provider:
  name: aws
  runtime: nodejs20.x
  memorySize: 256
  timeout: 7
functions:
  api:
    handler: handler.api
    events:
      - httpApi: GET /orders
  worker:
    handler: handler.worker
    runtime: python3.12
    memorySize: 512
    timeout: 30
    events:
      - sqs:
          arn: !GetAtt Jobs.Arn
      - schedule: rate(1 hour)
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: orders-jobs
`

// runCLI runs the CLI in process against p, signing with p's key, and
// returns what it printed on its output.
func runCLI(t *testing.T, p *testkit.Platform, args ...string) (string, error) {
	t.Helper()
	for _, kv := range p.AWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(append([]string{"--endpoint", p.URL()}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestInfoJSONListsWhatWasDeployed(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	writeOrders(t, dir)
	p.Deploy(dir)

	out, err := runCLI(t, p, "info", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var services []deployapi.ServiceInfo
	if err := json.Unmarshal([]byte(out), &services); err != nil {
		t.Fatalf("info --json is not a JSON list of services: %v\n%s", err, out)
	}
	if len(services) != 1 || services[0].Service != "orders" || services[0].Stage != "dev" {
		t.Fatalf("services = %+v, want orders in stage dev", services)
	}
	s := services[0]
	fns := map[string]deployapi.FunctionInfo{}
	for _, f := range s.Functions {
		fns[f.Key] = f
	}
	api, worker := fns["api"], fns["worker"]
	if api.Name != "orders-dev-api" || api.Runtime != "nodejs20.x" || api.MemorySize != 256 || api.Timeout != 7 {
		t.Errorf("api = %+v", api)
	}
	if !slices.Equal(api.Triggers, []string{"httpApi GET /orders"}) {
		t.Errorf("api triggers = %q", api.Triggers)
	}
	if worker.Name != "orders-dev-worker" || worker.Runtime != "python3.12" || worker.MemorySize != 512 || worker.Timeout != 30 {
		t.Errorf("worker = %+v", worker)
	}
	if len(worker.Triggers) != 2 || !strings.HasPrefix(worker.Triggers[0], "sqs arn:") || !strings.HasSuffix(worker.Triggers[0], ":orders-jobs") ||
		worker.Triggers[1] != "schedule rate(1 hour)" {
		t.Errorf("worker triggers = %q, want the queue's ARN and the schedule", worker.Triggers)
	}
	if len(s.Endpoints) != 1 || !strings.HasPrefix(s.Endpoints[0], "GET ") || !strings.HasSuffix(s.Endpoints[0], "/orders") {
		t.Errorf("endpoints = %q, want GET .../orders", s.Endpoints)
	}
	var kinds []string
	for _, r := range s.Resources {
		kinds = append(kinds, r.Kind+" "+r.Name)
	}
	if !slices.ContainsFunc(kinds, func(k string) bool { return strings.HasPrefix(k, "queue ") && strings.Contains(k, "orders-jobs") }) {
		t.Errorf("resources = %q, want the queue orders-jobs", kinds)
	}

	text, err := runCLI(t, p, "info")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"service: orders  stage: dev", "orders-dev-worker", "python3.12", "512 MB", "30s", "schedule rate(1 hour)", "orders-jobs"} {
		if !strings.Contains(text, want) {
			t.Errorf("info does not show %q:\n%s", want, text)
		}
	}
}

func TestUnknownFunctionNamesGetHelp(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	writeOrders(t, dir)
	p.Deploy(dir)

	// A typo outside any project: the closest deployed name.
	t.Chdir(t.TempDir())
	_, err := runCLI(t, p, "invoke", "orders-dev-wroker")
	if err == nil || !strings.Contains(err.Error(), "did you mean orders-dev-worker?") {
		t.Errorf("invoke of a misspelt name: %v, want a did-you-mean", err)
	}
	// A function key where no serverless.yml maps it: the deployed name it ends.
	_, err = runCLI(t, p, "logs", "worker")
	if err == nil || !strings.Contains(err.Error(), "did you mean orders-dev-worker?") {
		t.Errorf("logs worker: %v, want did you mean orders-dev-worker?", err)
	}

	// A broken serverless.yml here: say so and where, not "not deployed".
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "serverless.yml"), []byte("service: orders\nprovider:\n  name: aws\nfunctions:\n  worker:\n    handler: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(broken)
	_, err = runCLI(t, p, "logs", "worker")
	if err == nil || !strings.Contains(err.Error(), "serverless.yml:") || strings.Contains(err.Error(), "not deployed") {
		t.Errorf("logs worker with a broken serverless.yml: %v, want the manifest's error with its position", err)
	}
}

func TestServiceLogs(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	writeOrders(t, dir)
	p.Deploy(dir)
	for _, fn := range []string{"orders-dev-api", "orders-dev-worker"} {
		if _, err := runCLI(t, p, "invoke", fn); err != nil {
			t.Fatalf("invoke %s: %v", fn, err)
		}
	}
	// Logs reach the store asynchronously: read until both functions' REPORT lines are in.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := runCLI(t, p, "logs", "--service", "orders", "--start-time", "10mins ago", "--filter", "REPORT")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(out, "orders-dev-api ") == 1 && strings.Count(out, "orders-dev-worker ") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs --service orders shows no REPORT line of each function:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An end time before the invocations leaves them out.
	out, err := runCLI(t, p, "logs", "--service", "orders", "--start-time", "10mins ago", "--end-time", "5mins ago")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("logs up to 5 minutes ago printed records:\n%s", out)
	}
}

func TestParseLogTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"5mins ago":            now.Add(-5 * time.Minute),
		"2 hours ago":          now.Add(-2 * time.Hour),
		"1d":                   now.Add(-24 * time.Hour),
		"2026-01-02 10:11:12":  time.Date(2026, 1, 2, 10, 11, 12, 0, time.UTC),
		"2026-01-02T10:11:12Z": time.Date(2026, 1, 2, 10, 11, 12, 0, time.UTC),
	} {
		got, err := parseLogTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseLogTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseLogTime("tomorrowish", now); err == nil {
		t.Error("parseLogTime accepted nonsense")
	}
}

func writeOrders(t *testing.T, dir string) {
	t.Helper()
	for name, body := range map[string]string{
		"serverless.yml": infoManifest,
		"handler.js":     "exports.api = async () => ({statusCode: 200});\n",
		"handler.py":     "def worker(event, context):\n    return None\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
