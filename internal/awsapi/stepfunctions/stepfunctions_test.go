package stepfunctions_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// waitDone polls DescribeExecution until the execution leaves RUNNING.
func waitDone(t *testing.T, c *sfn.Client, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		if out.Status != types.ExecutionStatusRunning {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s still RUNNING", arn)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// noHostPrefix keeps the SDK from putting "sync-" before the endpoint's
// host for StartSyncExecution: a local endpoint has no such name.
func noHostPrefix(o *sfn.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("noHostPrefix", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
	})
}

const passMachine = `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"greeting.$":"States.Format('hello {}', $.who)"},"End":true}}}`

// TestStateMachinesAndExecutions: the state machine and execution
// operations with their AWS errors, paging and history.
func TestStateMachinesAndExecutions(t *testing.T) {
	p := testkit.Start(t, nil)
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()

	_, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		Definition: aws.String(`{"StartAt":"Nowhere","States":{"A":{"Type":"Pass","End":true}}}`)})
	if apiCode(err) != "InvalidDefinition" || !strings.Contains(err.Error(), "MISSING_TRANSITION_TARGET") {
		t.Fatalf("invalid definition: %v", err)
	}
	_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad name"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(passMachine)})
	if apiCode(err) != "InvalidName" {
		t.Fatalf("invalid name: %v", err)
	}
	created, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("greeter"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		Definition: aws.String(passMachine), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	if err != nil || aws.ToString(created.StateMachineArn) != "arn:aws:states:us-east-1:000000000000:stateMachine:greeter" || created.CreationDate == nil {
		t.Fatalf("CreateStateMachine: %+v %v", created, err)
	}
	again, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("greeter"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(passMachine)})
	if err != nil || !again.CreationDate.Equal(*created.CreationDate) {
		t.Fatalf("same CreateStateMachine again: %+v %v", again, err)
	}
	_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("greeter"), RoleArn: aws.String("arn:aws:iam::000000000000:role/other"), Definition: aws.String(passMachine)})
	if apiCode(err) != "StateMachineAlreadyExists" {
		t.Fatalf("different CreateStateMachine: %v", err)
	}
	arn := created.StateMachineArn
	desc, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: arn})
	if err != nil || aws.ToString(desc.Definition) != passMachine || desc.Type != types.StateMachineTypeStandard || desc.Status != types.StateMachineStatusActive {
		t.Fatalf("DescribeStateMachine: %+v %v", desc, err)
	}
	_, err = c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:none")})
	if apiCode(err) != "StateMachineDoesNotExist" {
		t.Fatalf("missing machine: %v", err)
	}
	_, err = c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("not-an-arn")})
	if apiCode(err) != "InvalidArn" {
		t.Fatalf("bad arn: %v", err)
	}
	tags, err := c.ListTagsForResource(ctx, &sfn.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "a" {
		t.Fatalf("ListTagsForResource: %+v %v", tags, err)
	}

	for _, name := range []string{"m1", "m2", "m3"} {
		if _, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(passMachine)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pager := sfn.NewListStateMachinesPaginator(c, &sfn.ListStateMachinesInput{MaxResults: 2})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.StateMachines) > 2 {
			t.Fatalf("page of %d", len(page.StateMachines))
		}
		for _, m := range page.StateMachines {
			names = append(names, aws.ToString(m.Name))
		}
	}
	if !reflect.DeepEqual(names, []string{"greeter", "m1", "m2", "m3"}) {
		t.Fatalf("ListStateMachines: %v", names)
	}

	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: arn, Name: aws.String("run-1"), Input: aws.String(`{"who":"ann"}`)})
	if err != nil || aws.ToString(start.ExecutionArn) != "arn:aws:states:us-east-1:000000000000:execution:greeter:run-1" {
		t.Fatalf("StartExecution: %+v %v", start, err)
	}
	done := waitDone(t, c, aws.ToString(start.ExecutionArn))
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"greeting":"hello ann"}` || done.StopDate == nil {
		t.Fatalf("execution: %+v", done)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: arn, Name: aws.String("run-1"), Input: aws.String(`{"who":"ann"}`)})
	if apiCode(err) != "ExecutionAlreadyExists" {
		t.Fatalf("name reused on a finished execution: %v", err)
	}
	_, err = c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String("arn:aws:states:us-east-1:000000000000:execution:greeter:none")})
	if apiCode(err) != "ExecutionDoesNotExist" {
		t.Fatalf("missing execution: %v", err)
	}

	hist, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	var typesSeen []string
	for _, e := range hist.Events {
		typesSeen = append(typesSeen, string(e.Type))
	}
	if !reflect.DeepEqual(typesSeen, []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}) {
		t.Fatalf("history: %v", typesSeen)
	}
	if hist.Events[0].ExecutionStartedEventDetails == nil || aws.ToString(hist.Events[0].ExecutionStartedEventDetails.Input) != `{"who":"ann"}` ||
		hist.Events[1].StateEnteredEventDetails == nil || aws.ToString(hist.Events[1].StateEnteredEventDetails.Name) != "P" ||
		hist.Events[3].ExecutionSucceededEventDetails == nil || hist.Events[3].Timestamp == nil {
		t.Fatalf("history details: %+v", hist.Events)
	}
	rev, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, ReverseOrder: true, MaxResults: 3})
	if err != nil || len(rev.Events) != 3 || rev.Events[0].Type != types.HistoryEventTypeExecutionSucceeded || rev.NextToken == nil {
		t.Fatalf("reverse page: %+v %v", rev, err)
	}
	rest, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, ReverseOrder: true, MaxResults: 3, NextToken: rev.NextToken})
	if err != nil || len(rest.Events) != 1 || rest.Events[0].Type != types.HistoryEventTypeExecutionStarted || rest.NextToken != nil {
		t.Fatalf("second page: %+v %v", rest, err)
	}

	// A Wait keeps an execution RUNNING: the same name and input is the same
	// execution, StopExecution aborts it.
	waitDef := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`
	if _, err := c.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: arn, Definition: aws.String(waitDef)}); err != nil {
		t.Fatal(err)
	}
	long, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: arn, Name: aws.String("long"), Input: aws.String(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	same, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: arn, Name: aws.String("long"), Input: aws.String(`{}`)})
	if err != nil || !same.StartDate.Equal(*long.StartDate) {
		t.Fatalf("idempotent start: %+v %v", same, err)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: arn, Name: aws.String("long"), Input: aws.String(`{"x":1}`)})
	if apiCode(err) != "ExecutionAlreadyExists" {
		t.Fatalf("same name, other input: %v", err)
	}
	running, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: arn, StatusFilter: types.ExecutionStatusRunning})
	if err != nil || len(running.Executions) != 1 || aws.ToString(running.Executions[0].Name) != "long" {
		t.Fatalf("ListExecutions RUNNING: %+v %v", running, err)
	}
	if _, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: long.ExecutionArn, Error: aws.String("Enough")}); err != nil {
		t.Fatal(err)
	}
	stopped := waitDone(t, c, aws.ToString(long.ExecutionArn))
	if stopped.Status != types.ExecutionStatusAborted {
		t.Fatalf("stopped: %+v", stopped)
	}
	all, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: arn})
	if err != nil || len(all.Executions) != 2 {
		t.Fatalf("ListExecutions: %+v %v", all, err)
	}

	v, err := c.ValidateStateMachineDefinition(ctx, &sfn.ValidateStateMachineDefinitionInput{Definition: aws.String(`{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`)})
	if err != nil || v.Result != types.ValidateStateMachineDefinitionResultCodeFail || len(v.Diagnostics) == 0 {
		t.Fatalf("ValidateStateMachineDefinition: %+v %v", v, err)
	}

	// EXPRESS: StartSyncExecution answers with the result.
	if _, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("quick"), Type: types.StateMachineTypeExpress,
		RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(passMachine)}); err != nil {
		t.Fatal(err)
	}
	syncOut, err := c.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:quick"), Input: aws.String(`{"who":"bo"}`)}, noHostPrefix)
	if err != nil || syncOut.Status != types.SyncExecutionStatusSucceeded || aws.ToString(syncOut.Output) != `{"greeting":"hello bo"}` {
		t.Fatalf("StartSyncExecution: %+v %v", syncOut, err)
	}

	if _, err := c.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:m1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:m1")})
	if apiCode(err) != "StateMachineDoesNotExist" {
		t.Fatalf("deleted: %v", err)
	}
}

// TestLambdaTasks: a serverless.yml's stepFunctions state machine (its
// Fn::GetAtt, Ref and Fn::Sub resolved on deploy) runs Task states that
// invoke deployed Node.js functions (by function ARN and through
// lambda:invoke): a Retry absorbs a first failure, a Map runs a Task per
// item and a Catch takes the function's error type.
func TestLambdaTasks(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	p := testkit.Start(t, nil)
	p.Deploy("internal/awsapi/stepfunctions/testdata/app")
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	m, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:pipeline")})
	if err != nil || !strings.Contains(aws.ToString(m.Definition), `"Resource":"arn:aws:lambda:us-east-1:000000000000:function:sfn-app-dev-first"`) {
		t.Fatalf("deployed state machine: %+v %v", m, err)
	}
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Input: aws.String(`{"numbers":[1,2,3]}`)})
	if err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, c, aws.ToString(start.ExecutionArn))
	if done.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("execution: %s %s %s", done.Status, aws.ToString(done.Error), aws.ToString(done.Cause))
	}
	var out struct {
		Items   []int `json:"items"`
		Doubled []int `json:"doubled"`
		Caught  struct {
			Error string `json:"Error"`
			Cause string `json:"Cause"`
		} `json:"caught"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(done.Output)), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Items, []int{1, 2, 3}) || !reflect.DeepEqual(out.Doubled, []int{2, 4, 6}) ||
		out.Caught.Error != "Boom" || !strings.Contains(out.Caught.Cause, "it blew up") {
		t.Fatalf("output: %s", aws.ToString(done.Output))
	}
	hist, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[types.HistoryEventType]int{}
	for _, e := range hist.Events {
		count[e.Type]++
	}
	if count[types.HistoryEventTypeTaskFailed] != 2 || count[types.HistoryEventTypeTaskSucceeded] != 4 ||
		count[types.HistoryEventTypeMapIterationSucceeded] != 3 || count[types.HistoryEventTypeChoiceStateEntered] != 1 ||
		count[types.HistoryEventTypeExecutionSucceeded] != 1 {
		t.Fatalf("history counts: %v", count)
	}
}

// TestResumeAfterRestart: an execution in a Wait when the platform stops
// completes after it starts again on the same data, exactly once.
func TestResumeAfterRestart(t *testing.T) {
	p := testkit.Start(t, nil)
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
	// Stop once the Wait has been entered.
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) > 0 && h.Events[len(h.Events)-1].Type == types.HistoryEventTypeWaitStateEntered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no WaitStateEntered: %+v", h.Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p = p.Restart()
	c = sfn.NewFromConfig(p.AWSConfig())
	done := waitDone(t, c, aws.ToString(start.ExecutionArn))
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"n":1}` {
		t.Fatalf("after restart: %+v", done)
	}
	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	count := map[types.HistoryEventType]int{}
	for _, e := range h.Events {
		count[e.Type]++
	}
	if count[types.HistoryEventTypeExecutionStarted] != 1 || count[types.HistoryEventTypeExecutionSucceeded] != 1 ||
		count[types.HistoryEventTypePassStateEntered] != 2 {
		t.Fatalf("history after restart: %v", count)
	}
}
