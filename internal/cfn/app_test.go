package cfn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func deployApp(statements string) *appspec.Application {
	return &appspec.Application{
		Service: "shop", Stage: "dev", Region: "eu-west-1",
		Functions: []appspec.Function{{
			Key: "api", Name: "shop-dev-api",
			Environment:     map[string]string{"PLAIN": "x", "DROPPED": "y"},
			EnvironmentRefs: map[string]json.RawMessage{"QUEUE": json.RawMessage(`{"Ref":"Jobs"}`), "DROPPED": json.RawMessage(`{"Ref":"AWS::NoValue"}`), "PORT": json.RawMessage(`{"Fn::Select":[0,[8080]]}`)},
			IAMStatements:   json.RawMessage(statements),
			Events:          []appspec.Event{{Type: "sqs", Properties: json.RawMessage(`{"arn":{"Fn::GetAtt":["Jobs","Arn"]},"batchSize":5}`)}},
		}},
		Resources: json.RawMessage(`{"Resources":{
			"Jobs":{"Type":"AWS::SQS::Queue","Properties":{"RedrivePolicy":{"deadLetterTargetArn":{"Fn::GetAtt":["Dlq","Arn"]},"maxReceiveCount":3}}},
			"Dlq":{"Type":"AWS::SQS::Queue"},
			"Table":{"Type":"AWS::ElastiCache::CacheCluster","Properties":{"StreamSpecification":{"Ref":"AWS::NoValue"}}}}}`),
	}
}

func TestResolveDeploy(t *testing.T) {
	app := deployApp(`[{"Effect":"Allow","Action":"sqs:*","Resource":[{"Fn::GetAtt":["Jobs","Arn"]},{"Fn::Sub":"arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:other"}]}]`)
	warnings, err := ResolveDeploy(app, nil, nil, DeployOptions{QueueEndpoint: "http://127.0.0.1:9000"})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("ResolveDeploy: %v, warnings %v", err, warnings)
	}
	f := app.Functions[0]
	want := map[string]string{"PLAIN": "x", "QUEUE": "http://127.0.0.1:9000/000000000000/shop-dev-Jobs", "PORT": "8080"}
	if len(f.Environment) != len(want) || f.EnvironmentRefs != nil {
		t.Fatalf("Environment = %v, refs = %v", f.Environment, f.EnvironmentRefs)
	}
	for k, v := range want {
		if f.Environment[k] != v {
			t.Errorf("%s = %q, want %q", k, f.Environment[k], v)
		}
	}
	if got, want := string(f.IAMStatements), `[{"Action":"sqs:*","Effect":"Allow","Resource":["arn:aws:sqs:eu-west-1:000000000000:shop-dev-Jobs","arn:aws:sqs:eu-west-1:000000000000:other"]}]`; got != want {
		t.Errorf("IAMStatements = %s\nwant %s", got, want)
	}
	if got, want := string(f.Events[0].Properties), `{"arn":"arn:aws:sqs:eu-west-1:000000000000:shop-dev-Jobs","batchSize":5}`; got != want {
		t.Errorf("event = %s, want %s", got, want)
	}
	if !strings.Contains(string(app.Resources), `"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:000000000000:shop-dev-Dlq"`) {
		t.Errorf("resources = %s", app.Resources)
	}
	if !strings.Contains(string(app.Resources), `"StreamSpecification":{"Ref":"AWS::NoValue"}`) {
		t.Errorf("a resource nimbus does not create was changed: %s", app.Resources)
	}
}

// Statements naming resources nimbus does not create never grant more than
// the manifest asked for.
func TestResolveDeployStatementsNeverWiden(t *testing.T) {
	table := `{"Fn::GetAtt":["Table","Arn"]}`
	cases := []struct{ name, in, want string }{
		{"allow keeps what resolves", `[{"Effect":"Allow","Action":"dynamodb:*","Resource":[` + table + `,"arn:aws:sqs:*"]}]`,
			`[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:sqs:*"]}]`},
		{"allow with nothing left goes", `[{"Effect":"Allow","Action":"dynamodb:*","Resource":` + table + `}]`, `[]`},
		{"allow NotResource goes", `[{"Effect":"Allow","Action":"dynamodb:*","NotResource":[` + table + `]}]`, `[]`},
		{"deny NotResource still denies", `[{"Effect":"Deny","Action":"dynamodb:*","NotResource":[` + table + `]}]`,
			`[{"Action":"dynamodb:*","Effect":"Deny","NotResource":["arn:aws:nimbus:::unresolved-reference"]}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := deployApp(tc.in)
			warnings, err := ResolveDeploy(app, nil, nil, DeployOptions{QueueEndpoint: "http://q"})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(app.Functions[0].IAMStatements); got != tc.want {
				t.Errorf("statements = %s, want %s", got, tc.want)
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], "AWS::ElastiCache::CacheCluster") {
				t.Errorf("warnings = %v", warnings)
			}
		})
	}
}

func TestResolveDeployErrors(t *testing.T) {
	app := deployApp(`[]`)
	app.Functions[0].EnvironmentRefs["BAD"] = json.RawMessage(`{"Ref":"Table"}`)
	if _, err := ResolveDeploy(app, nil, nil, DeployOptions{}); err == nil || !strings.Contains(err.Error(), `function "api" environment BAD: Ref Table`) {
		t.Errorf("err = %v", err)
	}
	app = deployApp(`[]`)
	app.Functions[0].EnvironmentRefs["LIST"] = json.RawMessage(`{"Fn::Split":[",","a,b"]}`)
	if _, err := ResolveDeploy(app, nil, nil, DeployOptions{}); err == nil || !strings.Contains(err.Error(), "must be a string") {
		t.Errorf("err = %v", err)
	}
}

// A resource whose Condition is false is not created: the resolved
// application no longer declares it.
func TestResolveDeployResourceConditions(t *testing.T) {
	app := deployApp(`[]`)
	app.Resources = json.RawMessage(`{"Resources":{
		"Jobs":{"Type":"AWS::SQS::Queue"},
		"Dlq":{"Type":"AWS::SQS::Queue","Condition":"IsProd"},
		"Audit":{"Type":"AWS::SQS::Queue","Condition":"IsDev","Properties":{"DelaySeconds":{"Fn::If":["IsDev",5,0]}}}},
		"Conditions":{"IsProd":{"Fn::Equals":[{"Ref":"AWS::StackName"},"shop-prod"]},"IsDev":{"Fn::Not":[{"Condition":"IsProd"}]}}}`)
	app.Functions[0].Events = nil
	if _, err := ResolveDeploy(app, nil, nil, DeployOptions{QueueEndpoint: "http://q"}); err != nil {
		t.Fatal(err)
	}
	res, err := app.ParsedResources()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res["Dlq"]; ok || len(res) != 2 {
		t.Errorf("resources = %v, want Jobs and Audit", res)
	}
	if got := string(res["Audit"].Properties["DelaySeconds"]); got != "5" {
		t.Errorf("Audit DelaySeconds = %s", got)
	}
}

// BenchmarkResolveDeploy measures a deploy's resolution: one function with
// references in its environment, statements, events and resources.
func BenchmarkResolveDeploy(b *testing.B) {
	stmts := `[{"Effect":"Allow","Action":"sqs:*","Resource":[{"Fn::GetAtt":["Jobs","Arn"]},{"Fn::Sub":"arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:other"}]}]`
	for b.Loop() {
		app := deployApp(stmts)
		if _, err := ResolveDeploy(app, nil, nil, DeployOptions{QueueEndpoint: "http://127.0.0.1:9000"}); err != nil {
			b.Fatal(err)
		}
	}
}
