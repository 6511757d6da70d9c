package deployapi_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const summaryYML = `service: summ
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
functions:
  api:
    handler: handler.handler
    events:
      - httpApi: GET /orders
      - schedule: rate(1 hour)
      - sqs:
          arn: !GetAtt Jobs.Arn
  worker:
    handler: handler.handler
    events:
      - sns:
          arn: !Ref Alerts
      - eventBridge:
          pattern:
            source: [summ.test]
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        VisibilityTimeout: 30
    Alerts:
      Type: AWS::SNS::Topic
`

func deploySummary(t *testing.T, p *testkit.Platform, yml string) []string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": "exports.handler = async () => ({})\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return lines(out.Response.Changes)
}

func lines(changes []functions.Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, fmt.Sprintf("%s %s %s", c.Action, c.Kind, c.Name))
	}
	return out
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("no change %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d changes, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}

// The deploy summary names every function, queue, topic, subscription, rule,
// schedule and route a deploy created, updated or removed, one line each.
func TestDeploySummary(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	got := deploySummary(t, p, summaryYML)
	wantLines(t, got,
		"created function summ-dev-api",
		"created function summ-dev-worker",
		"created queue summ-dev-Jobs",
		"created topic summ-dev-Alerts",
		"created subscription summ-dev-Alerts -> lambda arn:aws:lambda:eu-west-1:000000000000:function:summ-dev-worker",
		"created schedule summ-dev-api-schedule-1",
		"created rule summ-dev-worker-rule-1",
		"created route GET http://",
	)

	// Change the queue, drop the schedule and the topic's subscriber.
	next := strings.Replace(summaryYML, "VisibilityTimeout: 30", "VisibilityTimeout: 60", 1)
	next = strings.Replace(next, "      - schedule: rate(1 hour)\n", "", 1)
	next = strings.Replace(next, "      - sns:\n          arn: !Ref Alerts\n", "", 1)
	got = deploySummary(t, p, next)
	wantLines(t, got,
		"updated function summ-dev-api",
		"updated function summ-dev-worker",
		"updated queue summ-dev-Jobs",
		"retained subscription summ-dev-Alerts -> lambda",
		"removed schedule summ-dev-api-schedule-1",
	)

	res, err := p.Client.Remove(context.Background(), "summ")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, lines(res.Changes),
		"removed function summ-dev-api",
		"removed function summ-dev-worker",
		"retained queue summ-dev-Jobs",
		"retained topic summ-dev-Alerts",
		"removed rule summ-dev-worker-rule-1",
		"removed route GET http://",
	)
}
