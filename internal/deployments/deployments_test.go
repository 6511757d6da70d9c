package deployments_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/deployments"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// clock is the shifting engine's clock, moved by the test: a shift's five
// minutes pass when the test says so, not while invokes are counted.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func withClock(c *clock) func(*server.Config) {
	return func(cfg *server.Config) {
		cfg.NoSandbox = true
		cfg.DeploymentClock = c.Now
		cfg.DeploymentTick = 20 * time.Millisecond
	}
}

const samTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: shift-echo
      Handler: handler.echo
      Runtime: nodejs20.x
      CodeUri: .
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Alarms: [EchoErrors]
        Hooks:
          PreTraffic: !Ref PreHook
  PreHook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: shift-prehook
      Handler: hook.pre
      Runtime: python3.12
      CodeUri: .
      Environment:
        Variables:
          OUTCOME: OUTCOME_VALUE
`

const hookPy = `import os
import boto3

def pre(event, context):
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=os.environ["OUTCOME"])
    return "reported"
`

func writeSAM(t *testing.T, dir, code, outcome string) {
	t.Helper()
	files := map[string]string{
		"template.yaml": strings.ReplaceAll(samTemplate, "OUTCOME_VALUE", outcome),
		"handler.js":    "exports.echo = async () => ({ code: '" + code + "', version: process.env.AWS_LAMBDA_FUNCTION_VERSION });\n",
		"hook.py":       hookPy,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type answer struct{ Code, Version string }

func invokeAlias(t *testing.T, sdk *lambda.Client, fn string) answer {
	t.Helper()
	out, err := sdk.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn + ":live"), Payload: []byte(`{}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke %s:live: %v", fn, err)
	}
	var a answer
	if err := json.Unmarshal(out.Payload, &a); err != nil {
		t.Fatalf("answer %s: %v", out.Payload, err)
	}
	return a
}

// waitFor polls a function's latest deployment until cond holds.
func waitFor(t *testing.T, e *deployments.Engine, function string, what string, cond func(d *deployments.Deployment) bool) deployments.Deployment {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last deployments.Deployment
	for time.Now().Before(deadline) {
		all, err := e.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			if d.Function == function {
				last = d
				if cond(&d) {
					return d
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("deployment of %s never %s: last %+v (hook %+v)", function, what, last, last.Hook)
	return last
}

func aliasOf(t *testing.T, p *testkit.Platform, fn string) (string, map[string]float64) {
	t.Helper()
	out, err := p.Lambda().GetAlias(context.Background(), &lambda.GetAliasInput{FunctionName: aws.String(fn), Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]float64
	if out.RoutingConfig != nil {
		w = out.RoutingConfig.AdditionalVersionWeights
	}
	return aws.ToString(out.FunctionVersion), w
}

// A SAM function with AutoPublishAlias and a Canary10Percent5Minutes
// DeploymentPreference: the first deploy creates the alias on version 1;
// the next runs the PreTraffic hook, which reports Succeeded through the
// CodeDeploy API with its own credentials, then sends about 10% of the
// alias's invokes to version 2 until five minutes (of the engine's clock)
// pass, then promotes version 2.
func TestSAMCanaryShiftsThenPromotes(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := testkit.Start(t, withClock(c))
	sdk := p.Lambda()
	dir := t.TempDir()
	writeSAM(t, dir, "A", "Succeeded")
	out := p.Deploy(dir)
	if v := out.Response.Versions["shift-echo"]; v != "1" {
		t.Fatalf("first deploy published %q", v)
	}
	if len(out.Response.Deployments) != 0 {
		t.Errorf("the first deploy shifted traffic: %v", out.Response.Deployments)
	}
	warned := false
	for _, w := range out.Project.Warnings {
		warned = warned || strings.Contains(w.Message, "EchoErrors")
	}
	if !warned {
		t.Errorf("no warning that alarm EchoErrors is not watched: %+v", out.Project.Warnings)
	}
	if got := invokeAlias(t, sdk, "shift-echo"); got.Code != "A" || got.Version != "1" {
		t.Fatalf("live after the first deploy: %+v", got)
	}

	writeSAM(t, dir, "B", "Succeeded")
	out = p.Deploy(dir)
	id := out.Response.Deployments["shift-echo"]
	if id == "" || out.Response.Versions["shift-echo"] != "2" {
		t.Fatalf("second deploy: versions %v deployments %v", out.Response.Versions, out.Response.Deployments)
	}
	e := p.Deployments()
	waitFor(t, e, "shift-echo", "reached the canary step", func(d *deployments.Deployment) bool {
		return d.ID == id && d.Phase == "AllowTraffic" && d.Weight == 0.1 || d.Done()
	})
	if v, w := aliasOf(t, p, "shift-echo"); v != "1" || w["2"] != 0.1 {
		t.Fatalf("alias during the canary: version %s weights %v", v, w)
	}
	// 10% of 1,000 is 100; 50 to 160 is more than five standard deviations wide.
	counts := map[string]int{}
	for range 1000 {
		got := invokeAlias(t, sdk, "shift-echo")
		if (got.Version == "2") != (got.Code == "B") {
			t.Fatalf("version %s ran code %s", got.Version, got.Code)
		}
		counts[got.Version]++
	}
	if counts["2"] < 50 || counts["2"] > 160 {
		t.Errorf("canary split over 1,000 invokes: %v, want about 100 on version 2", counts)
	}
	c.Add(5 * time.Minute)
	d := waitFor(t, e, "shift-echo", "succeeded", func(d *deployments.Deployment) bool { return d.Done() })
	if d.Status != deployments.Succeeded {
		t.Fatalf("deployment ended %s: %s", d.Status, d.Message)
	}
	if v, w := aliasOf(t, p, "shift-echo"); v != "2" || len(w) != 0 {
		t.Fatalf("alias after promotion: version %s weights %v", v, w)
	}
	for range 20 {
		if got := invokeAlias(t, sdk, "shift-echo"); got.Code != "B" {
			t.Fatalf("after promotion live ran %+v", got)
		}
	}
}

// A PreTraffic hook that reports Failed rolls the deployment back: the alias
// never leaves version 1, which keeps answering with the old code.
func TestPreTrafficHookFailedRollsBack(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := testkit.Start(t, withClock(c))
	dir := t.TempDir()
	writeSAM(t, dir, "A", "Failed")
	p.Deploy(dir)
	writeSAM(t, dir, "B", "Failed")
	id := p.Deploy(dir).Response.Deployments["shift-echo"]
	if id == "" {
		t.Fatal("no deployment started")
	}
	d := waitFor(t, p.Deployments(), "shift-echo", "ended", func(d *deployments.Deployment) bool { return d.ID == id && d.Done() })
	if d.Status != deployments.Failed || !strings.Contains(d.Message, "reported Failed") {
		t.Fatalf("deployment: %s %q", d.Status, d.Message)
	}
	if v, w := aliasOf(t, p, "shift-echo"); v != "1" || len(w) != 0 {
		t.Fatalf("alias after rollback: version %s weights %v", v, w)
	}
	for range 20 {
		if got := invokeAlias(t, p.Lambda(), "shift-echo"); got.Code != "A" || got.Version != "1" {
			t.Fatalf("after rollback live ran %+v", got)
		}
	}
}

// A PreTraffic hook that never reports a final status (it says Pending) fails
// the deployment when the hook timeout (an hour) passes on the engine's
// clock; the alias stays on version 1.
func TestSilentHookTimesOut(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := testkit.Start(t, withClock(c))
	dir := t.TempDir()
	writeSAM(t, dir, "A", "Pending")
	p.Deploy(dir)
	writeSAM(t, dir, "B", "Pending")
	id := p.Deploy(dir).Response.Deployments["shift-echo"]
	e := p.Deployments()
	// The hook ran and reported Pending: the deployment waits.
	waitFor(t, e, "shift-echo", "had its hook invoked", func(d *deployments.Deployment) bool {
		return d.ID == id && d.Hook != nil && d.Hook.Invoked
	})
	if v, w := aliasOf(t, p, "shift-echo"); v != "1" || len(w) != 0 {
		t.Fatalf("alias while the hook runs: version %s weights %v", v, w)
	}
	c.Add(59 * time.Minute)
	c.Add(time.Minute)
	d := waitFor(t, e, "shift-echo", "ended", func(d *deployments.Deployment) bool { return d.ID == id && d.Done() })
	if d.Status != deployments.Failed || !strings.Contains(d.Message, "did not report within 1h0m0s") {
		t.Fatalf("deployment: %s %q", d.Status, d.Message)
	}
	if got := invokeAlias(t, p.Lambda(), "shift-echo"); got.Code != "A" {
		t.Fatalf("after the timeout live ran %+v", got)
	}
}

// An HTTP API route of a function with AutoPublishAlias invokes the alias:
// after a rolled-back deploy, $LATEST has the new code but the route still
// answers with the alias's version.
func TestRouteInvokesAlias(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := testkit.Start(t, func(cfg *server.Config) {
		withClock(c)(cfg)
		cfg.HTTPAddr = "127.0.0.1:0"
	})
	dir := t.TempDir()
	route := "      Events:\n        Get:\n          Type: HttpApi\n          Properties: {Path: /echo, Method: GET}\n  PreHook:"
	write := func(code string) {
		writeSAM(t, dir, code, "Failed")
		tpl, err := os.ReadFile(filepath.Join(dir, "template.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(strings.Replace(string(tpl), "  PreHook:", route, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("A")
	p.Deploy(dir)
	write("B")
	id := p.Deploy(dir).Response.Deployments["shift-echo"]
	waitFor(t, p.Deployments(), "shift-echo", "rolled back", func(d *deployments.Deployment) bool { return d.ID == id && d.Done() })
	for range 10 {
		resp, err := http.Get(p.Gateway.URL() + "/echo")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"code":"A"`) || !strings.Contains(string(body), `"version":"1"`) {
			t.Fatalf("GET /echo = %d %s, want version 1's code A", resp.StatusCode, body)
		}
	}
}
