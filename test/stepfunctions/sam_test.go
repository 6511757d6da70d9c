package stepfunctions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestSAMStateMachines: AWS::Serverless::StateMachine resources beside a
// function: a DefinitionUri file whose DefinitionSubstitutions name the
// function by Fn::GetAtt, Name and Type (EXPRESS), an Api event whose POST
// starts it, an EventBridgeRule event with InputPath, and Policies as the
// machine's role: StepFunctionsExecutionPolicy (naming the machine by
// Fn::GetAtt Name) lets gate start allowed, and not other.
func TestSAMStateMachines(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox, c.HTTPAddr = true, "127.0.0.1:0" })
	p.Deploy(testkit.Path(t, "test/stepfunctions/testdata/sam"))
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()

	// Name, Type and the substituted definition.
	g, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineARN + "greeter")})
	if err != nil {
		t.Fatal(err)
	}
	if g.Type != types.StateMachineTypeExpress ||
		!strings.Contains(aws.ToString(g.Definition), `"Resource":"arn:aws:lambda:us-east-1:000000000000:function:sfn-sam-dev-greet"`) {
		t.Fatalf("greeter: %v %s %v", g.Type, aws.ToString(g.Definition), err)
	}
	// The Api event: a POST starts the machine, which calls the function.
	status, _, body := post(t, p.Gateway.URL()+"/dev/greet", `{"name":"sam"}`, nil)
	var started struct{ ExecutionArn string }
	if json.Unmarshal([]byte(body), &started) != nil || status != http.StatusOK || !strings.Contains(started.ExecutionArn, ":execution:greeter:") {
		t.Fatalf("POST /greet: %d %s", status, body)
	}
	done := waitDone(t, c, started.ExecutionArn)
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"greeting":"hello sam"}` {
		t.Fatalf("greeter execution: %s %s %s", done.Status, aws.ToString(done.Output), aws.ToString(done.Cause))
	}

	// An HttpApi event: a route of the HTTP API, no stage in the path.
	status, _, body = post(t, p.Gateway.URL()+"/allowed", `{"direct":true}`, nil)
	if json.Unmarshal([]byte(body), &started) != nil || status != http.StatusOK || !strings.Contains(started.ExecutionArn, ":execution:allowed:") {
		t.Fatalf("POST /allowed: %d %s", status, body)
	}
	if d := waitDone(t, c, started.ExecutionArn); aws.ToString(d.Input) != `{"direct":true}` || d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("allowed execution: %s %s", d.Status, aws.ToString(d.Input))
	}

	// The EventBridgeRule event starts gate with the event's detail; its
	// Policies allow starting allowed...
	eb := eventbridge.NewFromConfig(p.AWSConfig())
	put := func(target string) {
		t.Helper()
		res, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("sam.shop"), DetailType: aws.String("Go"), Detail: aws.String(`{"target":"` + machineARN + target + `"}`)}}})
		if err != nil || res.FailedEntryCount != 0 {
			t.Fatalf("PutEvents: %+v %v", res, err)
		}
	}
	gateRuns := func() map[string]*sfn.DescribeExecutionOutput {
		list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN + "gate")})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*sfn.DescribeExecutionOutput{}
		for _, e := range list.Executions {
			d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != types.ExecutionStatusRunning {
				out[aws.ToString(d.Input)] = d
			}
		}
		return out
	}
	put("allowed")
	put("other")
	var runs map[string]*sfn.DescribeExecutionOutput
	waitFor(t, "gate's two executions", func() bool { runs = gateRuns(); return len(runs) == 2 })
	ok := runs[`{"target":"`+machineARN+`allowed"}`]
	if ok == nil || ok.Status != types.ExecutionStatusSucceeded || !strings.Contains(aws.ToString(ok.Output), `"Output":{"ok":true}`) {
		t.Fatalf("gate starting allowed: %+v", ok)
	}
	// ...and not other.
	denied := runs[`{"target":"`+machineARN+`other"}`]
	if denied == nil || denied.Status != types.ExecutionStatusFailed || aws.ToString(denied.Error) != "StepFunctions.AccessDeniedException" {
		t.Fatalf("gate starting other: %+v", denied)
	}
	if list, _ := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN + "other")}); list == nil || len(list.Executions) != 0 {
		t.Fatalf("other was started: %+v", list)
	}
}
