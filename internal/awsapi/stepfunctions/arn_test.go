package stepfunctions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestDeniedMachineUnreachableByAnySpelling: a function whose policy allows
// states:* but denies the machine "secret" and its executions is refused on
// every spelling of their ARNs (a suffix, another region or account, other
// case, a trailing colon) and leaves them as they were; the same calls on an
// allowed machine succeed.
func TestDeniedMachineUnreachableByAnySpelling(t *testing.T) {
	testkit.RequireSDK(t, false, true)
	p := testkit.Start(t, nil)
	p.Deploy("internal/awsapi/stepfunctions/testdata/deny")
	ctx := context.Background()
	c := sfn.NewFromConfig(p.AWSConfig())
	const (
		base    = "arn:aws:states:us-east-1:000000000000:"
		secret  = base + "stateMachine:secret"
		run     = base + "execution:secret:run1"
		openArn = base + "stateMachine:open"
	)
	if _, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(secret), Name: aws.String("run1")}); err != nil {
		t.Fatalf("operator StartExecution: %v", err)
	}
	invoke := func(calls [][2]any) []string {
		t.Helper()
		payload, _ := json.Marshal(map[string]any{"calls": calls})
		out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("sfn-deny-dev-caller"), Payload: payload})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke: %v %s", err, out.Payload)
		}
		var got []string
		if err := json.Unmarshal(out.Payload, &got); err != nil || len(got) != len(calls) {
			t.Fatalf("answer %s: %v", out.Payload, err)
		}
		return got
	}
	machineOps := func(arn string) [][2]any {
		return [][2]any{
			{"describe_state_machine", map[string]any{"stateMachineArn": arn}},
			{"start_execution", map[string]any{"stateMachineArn": arn, "name": "intruder"}},
			{"list_executions", map[string]any{"stateMachineArn": arn}},
			{"update_state_machine", map[string]any{"stateMachineArn": arn, "definition": `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`}},
			{"tag_resource", map[string]any{"resourceArn": arn, "tags": []map[string]string{{"key": "k", "value": "v"}}}},
			{"untag_resource", map[string]any{"resourceArn": arn, "tagKeys": []string{"k"}}},
			{"list_tags_for_resource", map[string]any{"resourceArn": arn}},
			{"delete_state_machine", map[string]any{"stateMachineArn": arn}},
		}
	}
	execOps := func(arn string) [][2]any {
		return [][2]any{
			{"describe_execution", map[string]any{"executionArn": arn}},
			{"get_execution_history", map[string]any{"executionArn": arn}},
			{"stop_execution", map[string]any{"executionArn": arn}},
		}
	}
	machineSpellings := map[string]string{
		secret:                       "AccessDeniedException",
		secret + ":x":                "", // a qualifier: not the machine (any refusal)
		secret + ":1":                "",
		secret + ":":                 "InvalidArn",
		secret + "::":                "InvalidArn",
		secret + ":x:y":              "InvalidArn",
		secret + " ":                 "InvalidArn",
		base + "stateMachine:Secret": "",
		base + "statemachine:secret": "InvalidArn",
		"arn:aws:states:eu-west-1:000000000000:stateMachine:secret":    "InvalidArn",
		"arn:aws:states:us-east-1:111111111111:stateMachine:secret":    "InvalidArn",
		"arn:aws:states::000000000000:stateMachine:secret":             "InvalidArn",
		"arn:aws:states:us-east-1::stateMachine:secret":                "InvalidArn",
		"arn:aws-cn:states:us-east-1:000000000000:stateMachine:secret": "InvalidArn",
		"arn:aws:STATES:us-east-1:000000000000:stateMachine:secret":    "InvalidArn",
		"ARN:aws:states:us-east-1:000000000000:stateMachine:secret":    "InvalidArn",
		"arn:aws:states:US-EAST-1:000000000000:stateMachine:secret":    "InvalidArn",
	}
	execSpellings := map[string]string{
		run:                              "AccessDeniedException",
		run + ":x":                       "InvalidArn",
		run + ":":                        "InvalidArn",
		base + "execution:Secret:run1":   "",
		base + "Execution:secret:run1":   "InvalidArn",
		base + "execution:secret:x:run1": "InvalidArn",
		"arn:aws:states:eu-west-1:000000000000:execution:secret:run1": "InvalidArn",
		"arn:aws:states:us-east-1:111111111111:execution:secret:run1": "InvalidArn",
	}
	var calls [][2]any
	var want []string
	for arn, code := range machineSpellings {
		for _, op := range machineOps(arn) {
			if arn == base+"stateMachine:Secret" && op[0] == "delete_state_machine" {
				continue // deleting a machine that does not exist succeeds, as on AWS
			}
			calls = append(calls, op)
			want = append(want, code)
		}
	}
	for arn, code := range execSpellings {
		for _, op := range execOps(arn) {
			calls = append(calls, op)
			want = append(want, code)
		}
	}
	got := invoke(calls)
	for i, g := range got {
		arn := calls[i][1].(map[string]any)
		if g == "ok" || (want[i] != "" && g != want[i]) {
			t.Errorf("%s %v: %s, want %s", calls[i][0], arn, g, cmp(want[i]))
		}
	}
	// The denied machine and its execution are as they were.
	m, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(secret)})
	if err != nil || !strings.Contains(aws.ToString(m.Definition), "Wait") {
		t.Fatalf("secret machine after the calls: %v %v", m, err)
	}
	tags, err := c.ListTagsForResource(ctx, &sfn.ListTagsForResourceInput{ResourceArn: aws.String(secret)})
	if err != nil || len(tags.Tags) != 0 {
		t.Fatalf("secret tags: %v %v", tags, err)
	}
	ex, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(run)})
	if err != nil || ex.Status != types.ExecutionStatusRunning {
		t.Fatalf("secret execution: %v %v", ex, err)
	}
	list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(secret)})
	if err != nil || len(list.Executions) != 1 {
		t.Fatalf("secret executions: %v %v", list, err)
	}
	// The same calls on an allowed machine pass: the refusals above are the
	// policy's and the parser's, not a broken function.
	started := invoke([][2]any{{"start_execution", map[string]any{"stateMachineArn": openArn, "name": "mine"}}})
	openCalls := append(machineOps(openArn)[:7], execOps(base + "execution:open:mine")[:2]...)
	for i, g := range append(started, invoke(openCalls)...) {
		if g != "ok" {
			t.Errorf("allowed call %d: %s", i, g)
		}
	}
}

func cmp(code string) string {
	if code == "" {
		return "a refusal"
	}
	return code
}
