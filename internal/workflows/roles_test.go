package workflows

import (
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
