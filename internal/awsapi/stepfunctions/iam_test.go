package stepfunctions_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestFunctionStartsExecution: a Python function starts an execution with
// its own credentials where its IAM statement allows (allowed-*) and is
// refused on another state machine.
func TestFunctionStartsExecution(t *testing.T) {
	testkit.RequireSDK(t, false, true)
	p := testkit.Start(t, nil)
	p.Deploy("internal/awsapi/stepfunctions/testdata/iam")
	call := func(arn string) map[string]any {
		t.Helper()
		payload, _ := json.Marshal(map[string]string{"arn": arn})
		out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("sfn-iam-dev-starter"), Payload: payload})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke: %v %s", err, out.Payload)
		}
		var m map[string]any
		if err := json.Unmarshal(out.Payload, &m); err != nil {
			t.Fatalf("answer %s: %v", out.Payload, err)
		}
		return m
	}
	got := call("arn:aws:states:us-east-1:000000000000:stateMachine:allowed-one")
	arn, _ := got["executionArn"].(string)
	if arn == "" {
		t.Fatalf("allowed start: %v", got)
	}
	done := waitDone(t, sfn.NewFromConfig(p.AWSConfig()), arn)
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"from":"function"}` {
		t.Fatalf("execution: %+v", done)
	}
	// An AWS::StepFunctions::StateMachine resource: Fn::Sub and
	// DefinitionSubstitutions resolved on deploy.
	got = call("arn:aws:states:us-east-1:000000000000:stateMachine:allowed-res")
	arn, _ = got["executionArn"].(string)
	if arn == "" {
		t.Fatalf("allowed start of the resource machine: %v", got)
	}
	done = waitDone(t, sfn.NewFromConfig(p.AWSConfig()), arn)
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"greeting":"hello","region":"us-east-1"}` {
		t.Fatalf("resource machine execution: %+v", done)
	}
	if got := call("arn:aws:states:us-east-1:000000000000:stateMachine:other-one"); got["error"] != "AccessDeniedException" {
		t.Fatalf("denied start: %v", got)
	}
}
