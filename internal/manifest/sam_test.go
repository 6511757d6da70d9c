package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samDir writes a template and a handler folder (src/app.js, src/app.py).
func samDir(t *testing.T, template string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	for name, content := range map[string]string{
		"template.yaml": template, "src/app.js": "exports.handler = async () => ({});\n",
		"src/app.py": "def handler(event, context):\n    return {}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadSAMDir(t *testing.T, template string, opts Options) (*Project, error) {
	t.Helper()
	return Load(samDir(t, template), opts)
}

const samHeader = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"

func TestSAMGlobalsMerge(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`
Globals:
  Function:
    Runtime: python3.12
    Timeout: 20
    Architectures: [arm64]
    Environment:
      Variables:
        SHARED: global
        OVERRIDDEN: global
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      MemorySize: 512
      Environment:
        Variables:
          OVERRIDDEN: own
          OWN: yes
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: nodejs20.x
      Timeout: 5
      Architectures: [x86_64]
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings = %v", p.Warnings)
	}
	api, plain := p.Function("Api"), p.Function("Plain")
	if api.Runtime != "python3.12" || api.Timeout != 20 || api.MemorySize != 512 || api.Architecture != "arm64" ||
		api.Environment["SHARED"] != "global" || api.Environment["OVERRIDDEN"] != "own" || api.Environment["OWN"] != "yes" {
		t.Errorf("Api = %+v", api)
	}
	// Lambda's memory default (128 MB), not the Serverless Framework's.
	if plain.Runtime != "nodejs20.x" || plain.Timeout != 5 || plain.MemorySize != 128 || plain.Architecture != "x86_64" ||
		plain.Environment["OVERRIDDEN"] != "global" {
		t.Errorf("Plain = %+v", plain)
	}
	if api.Name != "shop-prod-Api" || p.App.Service != "shop" || p.App.Stage != "prod" {
		t.Errorf("service %s stage %s function name %s", p.App.Service, p.App.Stage, api.Name)
	}
	if p.Modules["Api"] != "src" {
		t.Errorf("modules = %v, want CodeUri src as the package root", p.Modules)
	}
}

func TestSAMDefaultsAndNames(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      FunctionName: custom-name
`, Options{StackName: "orders", Stage: "dev", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	fn := p.Function("Fn")
	if fn.Timeout != 3 || fn.MemorySize != 128 || fn.Name != "custom-name" || p.App.Service != "orders" || p.App.Stage != "dev" ||
		p.App.Region != "eu-west-1" {
		t.Errorf("app = %+v", p.App)
	}
}

func TestSAMParameters(t *testing.T) {
	tpl := samHeader + `
Parameters:
  Env:
    Type: String
    Default: test
    AllowedValues: [test, live]
  Size:
    Type: Number
    Default: 256
Conditions:
  IsLive: !Equals [!Ref Env, live]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      MemorySize: !Ref Size
      Timeout: !If [IsLive, 30, 5]
      Environment:
        Variables:
          ENV: !Ref Env
          LABEL: !Sub "shop-${Env}"
          ONLY_LIVE: !If [IsLive, "yes", !Ref AWS::NoValue]
  LiveOnly:
    Type: AWS::Serverless::Function
    Condition: IsLive
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
`
	p, err := loadSAMDir(t, tpl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn := p.Function("Fn")
	if fn.MemorySize != 256 || fn.Timeout != 5 || fn.Environment["ENV"] != "test" || p.Function("LiveOnly") != nil {
		t.Errorf("defaults: %+v (functions %d)", fn, len(p.App.Functions))
	}
	if raw := string(fn.EnvironmentRefs["LABEL"]); raw != `{"Fn::Sub":"shop-test"}` {
		t.Errorf("LABEL = %s", raw)
	}
	if _, ok := fn.EnvironmentRefs["ONLY_LIVE"]; ok {
		t.Errorf("ONLY_LIVE is set though IsLive is false")
	}
	p, err = loadSAMDir(t, tpl, Options{ParameterOverrides: map[string]string{"Env": "live", "Size": "1024"}})
	if err != nil {
		t.Fatal(err)
	}
	if fn := p.Function("Fn"); fn.MemorySize != 1024 || fn.Timeout != 30 || fn.Environment["ONLY_LIVE"] != "yes" || p.Function("LiveOnly") == nil {
		t.Errorf("overridden: %+v", fn)
	}
	_, err = loadSAMDir(t, tpl, Options{ParameterOverrides: map[string]string{"Env": "prod"}})
	if err == nil || !strings.Contains(err.Error(), `parameter Env: "prod" is not one of its AllowedValues`) {
		t.Errorf("a value outside AllowedValues: %v", err)
	}
}

// TestSAMErrorsNameLines: every template error points at the line at fault.
func TestSAMErrorsNameLines(t *testing.T) {
	for _, c := range []struct {
		name, template string
		line           int
		want           string
	}{
		{"no transform", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n", 1, "the template has no Transform"},
		{"unknown property", samHeader + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      Timout: 5
`, 10, `AWS::Serverless::Function has no property Timout`},
		{"bad runtime", samHeader + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs8.10
`, 9, `runtime "nodejs8.10" is not supported`},
		{"timeout out of range", samHeader + `Globals:
  Function:
    Timeout: 901
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
`, 5, "timeout 901 must be between 1 and 900"},
		{"missing handler file", samHeader + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: missing.handler
      Runtime: nodejs20.x
`, 8, "missing"},
		{"missing CodeUri folder", samHeader + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: nowhere/
      Handler: app.handler
      Runtime: nodejs20.x
`, 7, `CodeUri "nowhere/" does not exist`},
		{"unknown reference", samHeader + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      Environment:
        Variables:
          TABLE: !Ref Tabel
`, 12, `no resource "Tabel"`},
		{"parameter without value", samHeader + `Parameters:
  Name:
    Type: String
Resources: {}
`, 4, "parameter Name has no value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadSAMDir(t, c.template, Options{})
			var list ErrorList
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !asErrorList(err, &list) {
				t.Fatalf("error is not an ErrorList: %v", err)
			}
			for _, e := range list {
				if strings.Contains(e.Message, c.want) {
					if e.Line != c.line || !strings.HasSuffix(e.File, "template.yaml") {
						t.Errorf("%q at %s:%d, want line %d", e.Message, e.File, e.Line, c.line)
					}
					return
				}
			}
			t.Errorf("errors = %v, want one containing %q", err, c.want)
		})
	}
}

func asErrorList(err error, out *ErrorList) bool {
	l, ok := err.(ErrorList)
	*out = l
	return ok
}

// TestSAMUnsupportedWarns: what nimbus does not apply is a warning on the
// template's line, never silence.
func TestSAMUnsupportedWarns(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`Globals:
  Function:
    Tracing: Active
    Layers: [arn:aws:lambda:us-east-1:123456789012:layer:x:1]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      AutoPublishAlias: live
      DeploymentPreference:
        Type: AllAtOnce
      Events:
        Login:
          Type: Cognito
          Properties:
            UserPool: !Ref Pool
        Api:
          Type: HttpApi
          Properties:
            Path: /x
            Method: GET
            TimeoutInMillis: 500
            RouteSettings:
              ThrottlingBurstLimit: 5
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  Pool:
    Type: AWS::Cognito::UserPool
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{
		5:  "Tracing is not applied",
		6:  "layers are not supported",
		19: "nimbus does not support Cognito events yet",
		27: "property TimeoutInMillis of HttpApi events is not applied",
		28: "property RouteSettings of HttpApi events is not applied",
		31: "Resources.Layer: layers are not supported",
		35: "nimbus does not create resources of type AWS::Cognito::UserPool",
	}
	got := map[int]string{}
	for _, w := range p.Warnings {
		got[w.Line] = w.Message
	}
	for line, msg := range want {
		if !strings.Contains(got[line], msg) {
			t.Errorf("line %d: warning %q, want one containing %q", line, got[line], msg)
		}
	}
	if len(p.Warnings) != len(want) {
		for _, w := range p.Warnings {
			t.Logf("%d: %s", w.Line, w.Message)
		}
		t.Errorf("%d warnings, want %d", len(p.Warnings), len(want))
	}
}

// TestSAMEvents: each SAM event type becomes the event nimbus fires.
func TestSAMEvents(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`Globals:
  Api:
    Cors:
      AllowOrigin: "'*'"
      AllowHeaders: "'Content-Type,X-Api-Key'"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      Events:
        Rest:
          Type: Api
          Properties: {Path: /hello, Method: get}
        All:
          Type: HttpApi
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes), Enabled: false}
        Tock:
          Type: ScheduleV2
          Properties: {ScheduleExpression: "cron(0 12 * * ? *)", State: ENABLED}
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt Queue.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}
        News:
          Type: SNS
          Properties: {Topic: !Ref Topic, FilterPolicy: {kind: [a]}}
        Changes:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Table.StreamArn, StartingPosition: LATEST, BatchSize: 10}
        Clicks:
          Type: Kinesis
          Properties: {Stream: !GetAtt Clicks.Arn, StartingPosition: TRIM_HORIZON}
        Orders:
          Type: EventBridgeRule
          Properties: {Pattern: {source: [shop]}}
        Uploads:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: [s3:ObjectCreated:*, s3:ObjectRemoved:*]
            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}]}}
  Queue:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Clicks:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Bucket:
    Type: AWS::S3::Bucket
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings = %v", p.Warnings)
	}
	var got []string
	for _, e := range p.Function("Fn").Events {
		got = append(got, e.Type+" "+string(e.Properties))
	}
	want := []string{
		`http {"path":"/hello","method":"get","cors":{"origin":"*","headers":["Content-Type","X-Api-Key"]}}`,
		`httpApi "*"`,
		`schedule {"rate":"rate(5 minutes)","enabled":false}`,
		`schedule {"rate":"cron(0 12 * * ? *)","enabled":true}`,
		`sqs {"arn":{"Fn::GetAtt":["Queue","Arn"]},"batchSize":5,"functionResponseType":"ReportBatchItemFailures"}`,
		`sns {"arn":{"Ref":"Topic"},"filterPolicy":{"kind":["a"]}}`,
		`stream {"type":"dynamodb","arn":{"Fn::GetAtt":["Table","StreamArn"]},"startingPosition":"LATEST","batchSize":10}`,
		`stream {"type":"kinesis","arn":{"Fn::GetAtt":["Clicks","Arn"]},"startingPosition":"TRIM_HORIZON"}`,
		`eventBridge {"pattern":{"source":["shop"]}}`,
		`s3 {"bucket":"shop-prod-bucket","event":"s3:ObjectCreated:*","existing":true,"rules":[{"prefix":"in/"}]}`,
		`s3 {"bucket":"shop-prod-bucket","event":"s3:ObjectRemoved:*","existing":true,"rules":[{"prefix":"in/"}]}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSAMReferencesToFunctions: Ref, Fn::GetAtt and Fn::Sub naming a
// function reach it, and policy templates become statements.
func TestSAMReferencesToFunctions(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
  Caller:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: nodejs20.x
      Environment:
        Variables:
          WORKER: !Ref Worker
          WORKER_ARN: !GetAtt Worker.Arn
          WORKER_SUB: !Sub "${Worker}@${Worker.Arn}"
      Policies:
        - AWSLambdaBasicExecutionRole
        - LambdaInvokePolicy:
            FunctionName: !Ref Worker
        - Statement:
            - Effect: Allow
              Action: sqs:SendMessage
              Resource: "*"
Outputs:
  WorkerArn:
    Value: !GetAtt Worker.Arn
  Role:
    Value: !GetAtt CallerRole.Arn
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn := p.Function("Caller")
	refs, _ := json.Marshal(fn.EnvironmentRefs)
	if want := `{"WORKER":{"Ref":"WorkerLambdaFunction"},"WORKER_ARN":{"Fn::GetAtt":["WorkerLambdaFunction","Arn"]},"WORKER_SUB":{"Fn::Sub":"${WorkerLambdaFunction}@${WorkerLambdaFunction.Arn}"}}`; string(refs) != want {
		t.Errorf("refs = %s\nwant %s", refs, want)
	}
	if want := `[{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":[{"Fn::Sub":["arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}*",{"FunctionName":{"Ref":"WorkerLambdaFunction"}}]}]},{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]`; string(fn.IAMStatements) != want {
		t.Errorf("statements = %s\nwant %s", fn.IAMStatements, want)
	}
	if len(fn.ManagedPolicies) != 1 || fn.ManagedPolicies[0] != "arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole" {
		t.Errorf("managed = %v", fn.ManagedPolicies)
	}
	if res := string(p.App.Resources); !strings.Contains(res, `"WorkerArn"`) || strings.Contains(res, `"Role"`) {
		t.Errorf("outputs: %s", res)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Message, "output Role refers to CallerRole") {
		t.Errorf("warnings = %v", p.Warnings)
	}
}

// TestSAMGoFunction: a Go function whose CodeUri is a main package (SAM's
// BuildMethod go1.x) is built by the deploy, as `sam build` builds it.
func TestSAMGoFunction(t *testing.T) {
	dir := samDir(t, samHeader+`Resources:
  Hello:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: go1.x
    Properties:
      CodeUri: hello-world/
      Handler: bootstrap
      Runtime: provided.al2023
      Architectures: [arm64]
`)
	if err := os.MkdirAll(filepath.Join(dir, "hello-world"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello-world", "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn := p.Function("Hello")
	if src, bootstrap := GoMain(p.Dir, *fn); fn.Handler != "./hello-world" || !bootstrap || src != filepath.Join(p.Dir, "hello-world") {
		t.Errorf("handler %q: GoMain = %q, %v", fn.Handler, src, bootstrap)
	}
	if len(p.Warnings) != 0 || p.Modules["Hello"] != "" {
		t.Errorf("warnings = %v, modules = %v", p.Warnings, p.Modules)
	}
}

func TestSAMInlineCode(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(e, c):\n    return 1\n"
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var spec *PackageSpec
	for i := range p.Packages {
		if len(p.Packages[i].Functions) == 1 && p.Packages[i].Functions[0] == "Fn" {
			spec = &p.Packages[i]
		}
	}
	if spec == nil || len(spec.Files) != 1 || string(spec.Files["index.py"]) != "def handler(e, c):\n    return 1\n" || spec.Patterns != nil {
		t.Fatalf("package of Fn = %+v, want index.py alone", spec)
	}
	for _, tc := range []struct{ props, want string }{
		{"Runtime: provided.al2023\n      Handler: bootstrap\n      InlineCode: x", "InlineCode is for Node.js and Python"},
		{"Runtime: nodejs20.x\n      Handler: index.handler\n      CodeUri: src/\n      InlineCode: x", "InlineCode and CodeUri cannot both be set"},
		{"Runtime: nodejs20.x\n      Handler: index.handler\n      InlineCode: [x]", "InlineCode"},
	} {
		_, err := loadSAMDir(t, samHeader+"Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      "+tc.props+"\n", Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v, want %q", tc.props, err, tc.want)
		}
	}
}

func TestSAMAuthTranslation(t *testing.T) {
	p, err := loadSAMDir(t, samHeader+`
Resources:
  Authz:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: nodejs20.x}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Simple
        Authorizers:
          Simple:
            FunctionArn: !GetAtt Authz.Arn
            AuthorizerPayloadFormatVersion: 2.0
            EnableSimpleResponses: true
            Identity:
              Headers: [X-Key]
              ReauthorizeEvery: 30
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: nodejs20.x
      Events:
        Any:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Authorizers map[string]map[string]any `json:"authorizers"`
	}
	if err := json.Unmarshal(p.App.HTTP.HTTPAPI, &h); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.Authorizers["Simple"])
	if want := `{"enableSimpleResponses":true,"functionName":"Authz","identitySource":["$request.header.X-Key"],"payloadVersion":"2.0","resultTtlInSeconds":30,"type":"request"}`; string(got) != want {
		t.Errorf("authorizer = %s, want %s", got, want)
	}
	ev, _ := json.Marshal(p.Function("Fn").Events)
	if !strings.Contains(string(ev), `"authorizer":{"name":"Simple"}`) || !strings.Contains(string(ev), `"path":"*"`) {
		t.Errorf("events = %s, want the catch-all route with the default authorizer", ev)
	}

	for _, tc := range []struct{ auth, event, want string }{
		{"Authorizers:\n          Pool:\n            UserPoolArn: arn:aws:cognito-idp:us-east-1:1:userpool/x", "", "Cognito user pool authorizers are not supported"},
		{"Authorizers:\n          T:\n            FunctionArn: !GetAtt Authz.Arn", "Auth: {Authorizer: Other}", `authorizer "Other" is not declared`},
		{"Authorizers:\n          R:\n            FunctionArn: !GetAtt Authz.Arn\n            FunctionPayloadType: REQUEST", "", "needs an identity source"},
		{"DefaultAuthorizer: Missing", "", `DefaultAuthorizer "Missing" is not one of its Authorizers`},
		{"Authorizers:\n          T:\n            FunctionArn: !GetAtt Nowhere.Arn", "", "must name a function of the template"},
	} {
		_, err := loadSAMDir(t, samHeader+`
Resources:
  Authz:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: nodejs20.x}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth:
        `+tc.auth+`
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: nodejs20.x
      Events:
        Get:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /x
            Method: get
            `+tc.event+`
`, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Auth %q: Load = %v, want %q", tc.auth, err, tc.want)
		}
	}
}

func TestSAMConfigFile(t *testing.T) {
	template := samHeader + `
Parameters:
  Greeting: {Type: String}
  Who: {Type: String, Default: world}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: nodejs20.x
      Environment:
        Variables:
          GREETING: !Ref Greeting
          WHO: !Ref Who
`
	config := `version = 0.1
[default.global.parameters]
region = "eu-west-1"
[default.deploy.parameters]
stack_name = "shop-api"
parameter_overrides = "Greeting=hello Who=\"big world\""
[prod.deploy.parameters]
stack_name = "shop-prod"
parameter_overrides = ["Greeting=hi"]
`
	greeting := func(p *Project) string {
		env := p.Function("Fn").Environment
		return env["GREETING"] + " " + env["WHO"]
	}
	load := func(opts Options, files map[string]string) (*Project, error) {
		dir := samDir(t, template)
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return Load(dir, opts)
	}
	p, err := load(Options{}, map[string]string{"samconfig.toml": config})
	if err != nil {
		t.Fatal(err)
	}
	if p.App.Service != "shop-api" || p.App.Region != "eu-west-1" || greeting(p) != "hello big world" {
		t.Errorf("default env: service %s region %s GREETING %q", p.App.Service, p.App.Region, greeting(p))
	}
	p, err = load(Options{ConfigEnv: "prod", ParameterOverrides: map[string]string{"Who": "flag"}}, map[string]string{"samconfig.toml": config})
	if err != nil {
		t.Fatal(err)
	}
	if p.App.Service != "shop-prod" || greeting(p) != "hi flag" {
		t.Errorf("prod env with a flag: service %s GREETING %q", p.App.Service, greeting(p))
	}
	p, err = load(Options{StackName: "from-flag"}, map[string]string{"samconfig.yaml": "version: 0.1\ndefault:\n  deploy:\n    parameters:\n      stack_name: from-file\n      parameter_overrides: Greeting=hey\n"})
	if err != nil {
		t.Fatal(err)
	}
	if p.App.Service != "from-flag" || greeting(p) != "hey world" {
		t.Errorf("yaml config: service %s GREETING %q", p.App.Service, greeting(p))
	}
	if _, err := load(Options{ConfigEnv: "staging"}, map[string]string{"samconfig.toml": config}); err == nil || !strings.Contains(err.Error(), `no environment "staging"`) {
		t.Errorf("unknown env: %v", err)
	}
	if _, err := load(Options{}, map[string]string{"samconfig.toml": "[default.deploy.parameters]\nparameter_overrides = \"A=\\\"open\"\n"}); err == nil || !strings.Contains(err.Error(), "not closed") {
		t.Errorf("bad overrides: %v", err)
	}
}
