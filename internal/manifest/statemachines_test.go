package manifest

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestStateMachineDefinitionErrorsHavePositions: a definition's problems
// are reported at the line of the state or field at fault, in the manifest
// and in the file a SAM DefinitionUri names; intrinsic functions and
// DefinitionSubstitutions do not count as problems.
func TestStateMachineDefinitionErrorsHavePositions(t *testing.T) {
	files := map[string]string{
		"serverless.yml": `service: sm
provider:
  name: aws
stepFunctions:
  stateMachines:
    first:
      events:
        - http: {path: go, method: POST}
        - sqs: {arn: x}
      definition:
        StartAt: A
        States:
          A:
            Type: Task
            Resource:
              Fn::GetAtt: [fn, Arn]
            Next: Nowhere
resources:
  Resources:
    Second:
      Type: AWS::Serverless::StateMachine
      Properties:
        DefinitionUri: statemachine/second.asl.yaml
        DefinitionSubstitutions:
          Wait: "3"
`,
		"statemachine/second.asl.yaml": `StartAt: W
States:
  W:
    Type: Wait
    Seconds: ${Wait}
    Next: P
  P:
    Type: Pass
    Result: 1
    ResultPath: 12
    End: true
`,
	}
	list := loadErrors(t, files, Options{})
	want := []struct {
		file string
		line int
		text string
	}{
		{"serverless.yml", 11, "MISSING_END_STATE"},
		{"serverless.yml", 17, `MISSING_TRANSITION_TARGET: missing transition target "Nowhere"`},
		// ${Wait} becomes "3", text where Seconds wants a number, as on AWS.
		{"second.asl.yaml", 5, `"Seconds" must be a non-negative integer`},
		{"second.asl.yaml", 10, `"ResultPath" must be a JSONPath string`},
	}
	if len(list) != len(want) {
		t.Fatalf("errors:\n%v", list)
	}
	for i, w := range want {
		if e := list[i]; filepath.Base(e.File) != w.file || e.Line != w.line || !strings.Contains(e.Message, w.text) || !strings.Contains(e.Message, "state machine") {
			t.Errorf("error %d: %s:%d %s, want %s:%d %s", i, e.File, e.Line, e.Message, w.file, w.line, w.text)
		}
	}

	// Fixed, the file's definition travels as Definition; the sqs event
	// of the machine is a warning.
	files["statemachine/second.asl.yaml"] = strings.Replace(strings.Replace(files["statemachine/second.asl.yaml"], "ResultPath: 12", "ResultPath: $.r", 1), "Seconds: ${Wait}", "SecondsPath: $.wait", 1)
	files["serverless.yml"] = strings.Replace(files["serverless.yml"], "Next: Nowhere", "End: true", 1)
	p := mustLoad(t, files, Options{})
	var res struct {
		Resources map[string]struct{ Properties map[string]json.RawMessage }
	}
	if err := json.Unmarshal(p.App.Resources, &res); err != nil {
		t.Fatal(err)
	}
	props := res.Resources["Second"].Properties
	if _, uri := props["DefinitionUri"]; uri || !strings.Contains(string(props["Definition"]), `"StartAt":"W"`) {
		t.Errorf("resource properties: %v", props)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Line != 9 || !strings.Contains(p.Warnings[0].Message, "sqs events are not supported") {
		t.Errorf("warnings: %v", p.Warnings)
	}
}
