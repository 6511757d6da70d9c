package deployments_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/deployments"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const canaryYML = `service: lin
plugins:
  - serverless-plugin-canary-deployments
provider:
  name: aws
  runtime: nodejs20.x
functions:
  echo:
    handler: handler.echo
    deploymentSettings:
      type: Linear10PercentEvery1Minute
      alias: live
`

func writeLinear(t *testing.T, dir, code string) {
	t.Helper()
	for name, content := range map[string]string{
		"serverless.yml": canaryYML,
		"handler.js":     "exports.echo = async () => ({ code: '" + code + "', version: process.env.AWS_LAMBDA_FUNCTION_VERSION });\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A serverless.yml with serverless-plugin-canary-deployments' deploymentSettings
// shifts linearly; a restart in the middle of the shift resumes it from the
// state in the bucket, and it ends with version 2 promoted.
func TestLinearShiftResumesAfterRestart(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := testkit.Start(t, withClock(c))
	dir := t.TempDir()
	writeLinear(t, dir, "A")
	if out := p.Deploy(dir); len(out.Project.Warnings) != 0 {
		t.Errorf("warnings: %+v", out.Project.Warnings)
	}
	writeLinear(t, dir, "B")
	id := p.Deploy(dir).Response.Deployments["lin-dev-echo"]
	if id == "" {
		t.Fatal("no deployment started")
	}
	waitFor(t, p.Deployments(), "lin-dev-echo", "at 10%", func(d *deployments.Deployment) bool { return d.Weight == 0.1 })
	c.Add(time.Minute)
	waitFor(t, p.Deployments(), "lin-dev-echo", "at 20%", func(d *deployments.Deployment) bool { return d.Weight == 0.2 })

	p = p.Restart()
	if v, w := aliasOf(t, p, "lin-dev-echo"); v != "1" || w["2"] != 0.2 {
		t.Fatalf("alias after the restart: version %s weights %v", v, w)
	}
	c.Add(time.Minute)
	waitFor(t, p.Deployments(), "lin-dev-echo", "at 30%", func(d *deployments.Deployment) bool { return d.Weight == 0.3 })
	if v, w := aliasOf(t, p, "lin-dev-echo"); v != "1" || w["2"] != 0.3 {
		t.Fatalf("alias at the third step: version %s weights %v", v, w)
	}
	c.Add(10 * time.Minute)
	d := waitFor(t, p.Deployments(), "lin-dev-echo", "ended", func(d *deployments.Deployment) bool { return d.Done() })
	if d.Status != deployments.Succeeded || d.ID != id {
		t.Fatalf("deployment %s ended %s: %s", d.ID, d.Status, d.Message)
	}
	if v, w := aliasOf(t, p, "lin-dev-echo"); v != "2" || len(w) != 0 {
		t.Fatalf("alias after the shift: version %s weights %v", v, w)
	}
	if got := invokeAlias(t, p.Lambda(), "lin-dev-echo"); got.Code != "B" {
		t.Fatalf("live ran %+v", got)
	}
}
