package workflows

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func TestSAMPolicies(t *testing.T) {
	app := &appspec.Application{Service: "s", Stage: "dev", Region: "us-east-1"}
	cases := []struct {
		name     string
		policies any
		want     string // "" for not modelled
	}{
		{"templates", []any{
			map[string]any{"LambdaInvokePolicy": map[string]any{"FunctionName": "f"}},
			map[string]any{"StepFunctionsExecutionPolicy": map[string]any{"StateMachineName": "m"}},
		}, `[{"Action":["lambda:InvokeFunction"],"Effect":"Allow","Resource":["arn:aws:lambda:us-east-1:000000000000:function:f","arn:aws:lambda:us-east-1:000000000000:function:f:*"]},{"Action":["states:StartExecution"],"Effect":"Allow","Resource":"arn:aws:states:us-east-1:000000000000:stateMachine:m"}]`},
		{"inline document", map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": "states:*", "Resource": "*"}}},
			`[{"Action":"states:*","Effect":"Allow","Resource":"*"}]`},
		{"a managed policy", []any{"AWSStepFunctionsFullAccess", map[string]any{"LambdaInvokePolicy": map[string]any{"FunctionName": "f"}}}, ""},
		{"an unknown template", []any{map[string]any{"DynamoDBCrudPolicy": map[string]any{"TableName": "t"}}}, ""},
	}
	for _, c := range cases {
		got, err := samPolicies(app, c.policies)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %s %v, want %s", c.name, got, err, c.want)
		}
	}
}

// TestLambdaTasksFollowDeclaredRole: with role statements declared for a
// machine, a Lambda task (function ARN or lambda:invoke, with a name or a
// qualifier) runs only on the functions they allow; the others fail with
// Lambda.AWSLambdaException, which a Catch can take.
func TestLambdaTasksFollowDeclaredRole(t *testing.T) {
	s := openService(t, Config{Tasks: echoTasks{}})
	ctx := context.Background()
	def := `{"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:allowed","ResultPath":"$.a","Next":"B"},
		"B":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"allowed","Qualifier":"live","Payload":{}},"ResultPath":"$.b","Next":"C"},
		"C":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName.$":"$.fn"},
			"Catch":[{"ErrorEquals":["Lambda.AWSLambdaException"],"ResultPath":"$.denied","Next":"Done"}],"ResultPath":"$.c","Next":"Done"},
		"Done":{"Type":"Succeed"}}}`
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "roled", RoleARN: "arn:aws:iam::000000000000:role/roled", Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.putRolePolicy(ctx, "roled", json.RawMessage(`[{"Effect":"Allow","Action":"lambda:InvokeFunction",
		"Resource":["arn:aws:lambda:us-east-1:000000000000:function:allowed","arn:aws:lambda:us-east-1:000000000000:function:allowed:*"]}]`)); err != nil {
		t.Fatal(err)
	}
	run := func(fn string) *Execution {
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Input: `{"fn":"` + fn + `"}`})
		if err != nil {
			t.Fatal(err)
		}
		return waitEnded(t, s, ex.ARN)
	}
	ok := run("allowed")
	if ok.Status != StatusSucceeded || strings.Contains(ok.Output, "denied") {
		t.Fatalf("allowed: %+v", ok)
	}
	no := run("secret")
	if no.Status != StatusSucceeded || !strings.Contains(no.Output, `"Error":"Lambda.AWSLambdaException"`) ||
		!strings.Contains(no.Output, "role/roled is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:secret") {
		t.Fatalf("denied: %+v", no)
	}
}
