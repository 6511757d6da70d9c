package stepfunctions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestWaitSurvivesSIGKILL: an execution in a Wait when its platform process
// is killed with SIGKILL resumes when the platform starts again on the same
// data, and ends once: one ExecutionStarted, one ExecutionSucceeded, no
// ExecutionAborted, ids without a gap.
func TestWaitSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	p := testkit.NewChild(t)
	p.Start()
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	def := `{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"n":1},"Next":"W"},"W":{"Type":"Wait","Seconds":3,"Next":"B"},"B":{"Type":"Pass","End":true}}}`
	m, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("sleeper"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(def)})
	if err != nil {
		t.Fatal(err)
	}
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Name: aws.String("nap")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.ExecutionArn)
	waitForEvent(t, c, arn, types.HistoryEventTypeWaitStateEntered)
	p.Kill()
	p.Start()
	done := waitDone(t, c, arn)
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"n":1}` {
		t.Fatalf("after SIGKILL and restart: %+v\n%s", done, p.Log())
	}
	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[types.HistoryEventType]int{}
	for i, e := range h.Events {
		count[e.Type]++
		if e.Id != int64(i+1) {
			t.Fatalf("event %d has id %d: %+v", i+1, e.Id, h.Events)
		}
	}
	if count[types.HistoryEventTypeExecutionStarted] != 1 || count[types.HistoryEventTypeExecutionSucceeded] != 1 ||
		count[types.HistoryEventTypeExecutionAborted] != 0 {
		t.Fatalf("history after SIGKILL: %v", count)
	}
}

// TestTaskTokenSurvivesSIGKILL: the platform is killed with SIGKILL while
// a callback task waits for its token; after a restart, the token sent
// then completes the task with its output.
func TestTaskTokenSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	p := testkit.NewChild(t)
	p.Start()
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	role := aws.String("arn:aws:iam::000000000000:role/r")
	child, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("teller"), RoleArn: role,
		Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("asker"), RoleArn: role,
		Definition: aws.String(`{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.waitForTaskToken",
			"Parameters":{"StateMachineArn":"` + aws.ToString(child.StateMachineArn) + `","Input":{"token.$":"$$.Task.Token"}},"End":true}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: parent.StateMachineArn, Name: aws.String("ask")})
	if err != nil {
		t.Fatal(err)
	}
	// The child execution's output is the token.
	var token string
	deadline := time.Now().Add(60 * time.Second)
	for token == "" {
		l, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: child.StateMachineArn, StatusFilter: types.ExecutionStatusSucceeded})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Executions) > 0 {
			d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: l.Executions[0].ExecutionArn})
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ Token string }
			if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
				t.Fatal(err)
			}
			token = out.Token
		}
		if time.Now().After(deadline) {
			t.Fatal("no child execution")
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Kill()
	p.Start()
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{"answer":"yes"}`)}); err != nil {
		t.Fatalf("SendTaskSuccess after the restart: %v\n%s", err, p.Log())
	}
	done := waitDone(t, c, aws.ToString(start.ExecutionArn))
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"answer":"yes"}` {
		t.Fatalf("after SIGKILL and restart: %+v\n%s", done, p.Log())
	}
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{}`)}); apiCode(err) != "TaskTimedOut" {
		t.Fatalf("token sent again: %v", err)
	}
}
