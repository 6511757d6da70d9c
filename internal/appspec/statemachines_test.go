package appspec

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStateMachineEvents(t *testing.T) {
	app := &Application{Service: "svc", Stage: "dev", Region: "eu-west-1",
		StepFunctions: json.RawMessage(`{"stateMachines":{
			"b":{"name":"named","events":[{"http":{"path":"x","method":"POST"}},{"schedule":"rate(1 hour)"}]},
			"a":{"events":[{"eventBridge":{"event":{"source":["s"]}}}]},
			"quiet":{"definition":{}}}}`),
		Resources: json.RawMessage(`{"Resources":{"Sam":{"Type":"AWS::Serverless::StateMachine","Properties":{"Events":{
			"E":{"Type":"EventBridgeRule","Properties":{"Pattern":{"source":["s"]},"State":"DISABLED","InputTransformer":{"InputPathsMap":{"a":"$.a"},"InputTemplate":"<a>"}}},
			"H":{"Type":"HttpApi","Properties":{"Path":"/h"}},
			"S":{"Type":"Schedule","Properties":{"Schedule":"rate(5 minutes)","Input":"{\"k\":1}"}}}}}}}`),
	}
	got, err := app.StateMachineEvents()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range got {
		b.WriteString(m.Key + " " + m.ARN + "\n")
		for _, ev := range m.Events {
			b.WriteString("  " + ev.Type + " " + string(ev.Properties) + "\n")
		}
	}
	want := `a arn:aws:states:eu-west-1:000000000000:stateMachine:svc-dev-a
  eventBridge {"event":{"source":["s"]}}
b arn:aws:states:eu-west-1:000000000000:stateMachine:named
  http {"path":"x","method":"POST"}
  schedule "rate(1 hour)"
Sam arn:aws:states:eu-west-1:000000000000:stateMachine:svc-dev-Sam
  eventBridge {"enabled":false,"event":{"source":["s"]},"inputTransformer":{"inputPathsMap":{"a":"$.a"},"inputTemplate":"\u003ca\u003e"}}
  httpApi {"method":"ANY","path":"/h"}
  schedule {"input":"{\"k\":1}","rate":"rate(5 minutes)"}
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	bad := &Application{Service: "svc", Stage: "dev", Region: "us-east-1",
		Resources: json.RawMessage(`{"Resources":{"M":{"Type":"AWS::Serverless::StateMachine","Properties":{"Events":{"Q":{"Type":"SQS","Properties":{}}}}}}}`)}
	if _, err := bad.StateMachineEvents(); err == nil || !strings.Contains(err.Error(), `event type "SQS" is not supported`) {
		t.Errorf("unsupported SAM event: %v", err)
	}
}
