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
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(infoManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte("exports.api = async () => ({statusCode: 200});\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte("def worker(event, context):\n    return None\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
	for _, want := range []string{"service orders  stage dev", "orders-dev-worker", "python3.12", "512 MB", "30s", "schedule rate(1 hour)", "orders-jobs"} {
		if !strings.Contains(text, want) {
			t.Errorf("info does not show %q:\n%s", want, text)
		}
	}
}
