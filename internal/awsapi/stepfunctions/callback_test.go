package stepfunctions_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestFunctionCompletesTaskToken: a .waitForTaskToken Lambda task gives a
// real Python function its $$.Task.Token; the function completes it through
// the AWS SDK with its own credentials (a heartbeat and success allowed by
// its IAM statement, a failure denied), and the execution ends with the
// output it sent. Tokens unknown or malformed are refused as AWS does.
func TestFunctionCompletesTaskToken(t *testing.T) {
	testkit.RequireSDK(t, false, true)
	p := testkit.Start(t, nil)
	p.Deploy("internal/awsapi/stepfunctions/testdata/callback")
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:approval"), Input: aws.String(`{"order":42}`)})
	if err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, c, aws.ToString(out.ExecutionArn))
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"failureDenied":"AccessDeniedException","order":42}` {
		t.Fatalf("execution: %+v %s %s", done.Status, aws.ToString(done.Output), aws.ToString(done.Cause))
	}
	_, err = c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(strings.Repeat("ab", 32)), Output: aws.String(`{}`)})
	if apiCode(err) != "TaskTimedOut" {
		t.Fatalf("unknown token: %v", err)
	}
	_, err = c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String("forged")})
	if apiCode(err) != "InvalidToken" {
		t.Fatalf("malformed token: %v", err)
	}
}
