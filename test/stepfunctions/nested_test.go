package stepfunctions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// waitDone polls DescribeExecution until the execution leaves RUNNING.
func waitDone(t *testing.T, c *sfn.Client, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	var out *sfn.DescribeExecutionOutput
	waitFor(t, "execution "+arn+" to end", func() bool {
		var err error
		out, err = c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		return out.Status != types.ExecutionStatusRunning
	})
	return out
}

// TestNestedExecutions: a parent machine starts children through the Step
// Functions integration: startExecution answers {ExecutionArn, StartDate}
// at once, .sync waits and answers the child's description with its output
// as text, .sync:2 with its output as JSON, and a child that fails fails the
// parent's task with States.TaskFailed and the child's description as the
// cause.
func TestNestedExecutions(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(testkit.Path(t, "test/stepfunctions/testdata/nested"))
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN + "parent"), Input: aws.String(`{"n": 3}`)})
	if err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, c, aws.ToString(start.ExecutionArn))
	if done.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("parent: %s %s %s", done.Status, aws.ToString(done.Error), aws.ToString(done.Cause))
	}
	var out struct {
		Forgot struct {
			ExecutionArn string
			StartDate    int64
		}
		Sync struct {
			ExecutionArn, Status, Output, Input string
			StartDate, StopDate                 int64
			OutputDetails                       struct{ Included bool }
		}
		Sync2 struct {
			Doubled int
			Status  string
		}
		Broken struct{ Error, Cause string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(done.Output)), &out); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	if !strings.Contains(out.Forgot.ExecutionArn, ":execution:child:") || out.Forgot.StartDate < now-600_000 || out.Forgot.StartDate > now {
		t.Errorf("startExecution result: %+v", out.Forgot)
	}
	if out.Sync.Status != "SUCCEEDED" || out.Sync.Output != `{"doubled":6}` || !out.Sync.OutputDetails.Included ||
		out.Sync.StopDate < out.Sync.StartDate || !strings.Contains(out.Sync.Input, aws.ToString(start.ExecutionArn)) {
		t.Errorf(".sync result: %+v", out.Sync)
	}
	if out.Sync2.Status != "SUCCEEDED" || out.Sync2.Doubled != 10 {
		t.Errorf(".sync:2 result: %+v", out.Sync2)
	}
	var cause struct{ Status, Error, Cause string }
	if out.Broken.Error != "States.TaskFailed" || json.Unmarshal([]byte(out.Broken.Cause), &cause) != nil ||
		cause.Status != "FAILED" || cause.Error != "ChildBroke" || cause.Cause != "on purpose" {
		t.Errorf("failed child: %+v", out.Broken)
	}
	// The fire-and-forget child ran too, with its own input.
	fd := waitDone(t, c, out.Forgot.ExecutionArn)
	if fd.Status != types.ExecutionStatusSucceeded || aws.ToString(fd.Output) != `{"doubled":2}` {
		t.Errorf("fire-and-forget child: %s %s", fd.Status, aws.ToString(fd.Output))
	}
	// The history shows the integration's task events.
	hist, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := 0
	for _, e := range hist.Events {
		if d := e.TaskScheduledEventDetails; d != nil && strings.Contains(aws.ToString(d.Resource), "startExecution") {
			scheduled++
		}
	}
	if scheduled != 4 {
		t.Errorf("%d startExecution tasks scheduled, want 4", scheduled)
	}
}

// TestNestedExecutionRole: a machine whose role: names an AWS::IAM::Role of
// the template starts only what the role's inline policy allows.
func TestNestedExecutionRole(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(testkit.Path(t, "test/stepfunctions/testdata/nested"))
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	m, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineARN + "guarded")})
	if err != nil || aws.ToString(m.RoleArn) != "arn:aws:iam::000000000000:role/sfn-nested-dev-GuardedRole" {
		t.Fatalf("guarded: %v %v", m, err)
	}
	run := func(target string) *sfn.DescribeExecutionOutput {
		t.Helper()
		start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN + "guarded"),
			Input: aws.String(`{"target":"` + machineARN + target + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return waitDone(t, c, aws.ToString(start.ExecutionArn))
	}
	if d := run("child"); d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("starting child: %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	d := run("failing")
	if d.Status != types.ExecutionStatusFailed || aws.ToString(d.Error) != "StepFunctions.AccessDeniedException" ||
		!strings.Contains(aws.ToString(d.Cause), "sfn-nested-dev-GuardedRole is not authorized to perform: states:StartExecution") {
		t.Fatalf("starting failing: %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
}
