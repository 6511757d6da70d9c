package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// refsYML is a service in eu-west-1 with a queue, a topic, a bus and a table;
// providerExtra goes under provider, fnExtra under function hello.
func refsYML(providerExtra, fnExtra string) string {
	return `service: shop
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
` + providerExtra + `
functions:
  hello:
    handler: handler.hello
` + fnExtra + `
  other:
    handler: handler.hello
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
    Alerts:
      Type: AWS::SNS::Topic
    Bus:
      Type: AWS::Events::EventBus
      Properties:
        Name: shop-bus
    Table:
      Type: AWS::ElastiCache::CacheCluster
`
}

func TestEnvironmentReferences(t *testing.T) {
	yml := refsYML(`  environment:
    TOPIC_ARN: {Ref: Alerts}
    STAGE: dev
    OVERRIDDEN: {Ref: Jobs}`, `    environment:
      QUEUE_URL:
        Ref: Jobs
      BUS_ARN: !GetAtt Bus.Arn
      PREFIX: !Sub "${AWS::StackName}-${AWS::Region}"
      OVERRIDDEN: plain
      FROM_OTHER: !ImportValue other-service-QueueUrl`)
	p := mustLoad(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}, Options{})
	hello := p.Function("hello")
	got := map[string]string{}
	for k, v := range hello.EnvironmentRefs {
		got[k] = string(v)
	}
	want := map[string]string{
		"TOPIC_ARN":  `{"Ref":"Alerts"}`,
		"QUEUE_URL":  `{"Ref":"Jobs"}`,
		"BUS_ARN":    `{"Fn::GetAtt":["Bus","Arn"]}`,
		"PREFIX":     `{"Fn::Sub":"${AWS::StackName}-${AWS::Region}"}`,
		"FROM_OTHER": `{"Fn::ImportValue":"other-service-QueueUrl"}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("EnvironmentRefs = %v, want %v", got, want)
	}
	if hello.Environment["OVERRIDDEN"] != "plain" || hello.Environment["STAGE"] != "dev" {
		t.Errorf("Environment = %v", hello.Environment)
	}
	other := p.Function("other")
	if len(other.EnvironmentRefs) != 2 || other.Environment["STAGE"] != "dev" {
		t.Errorf("other: refs %v, env %v", other.EnvironmentRefs, other.Environment)
	}
}

func TestReferenceErrors(t *testing.T) {
	cases := []struct {
		name, provider, fn string
		pos, msg           string
	}{
		{"unknown id", "", "    environment:\n      Q: {Ref: Job}", "11:16", `no resource "Job"`},
		{"unknown id in GetAtt", "", "    environment:\n      Q:\n        Fn::GetAtt: [Nope, Arn]", "12:21", `no resource "Nope"`},
		{"unsupported attribute", "", "    environment:\n      Q: !GetAtt Jobs.Foo", "11:17", "attribute Foo of AWS::SQS::Queue is not supported"},
		{"unsupported resource in environment", "", "    environment:\n      T: {Ref: Table}", "11:16", "AWS::ElastiCache::CacheCluster are not created by nimbus"},
		{"unsupported function in environment", "", "    environment:\n      T:\n        Fn::FindInMap: [m, a, b]", "12:24", "Fn::FindInMap is not supported"},
		{"nested in Join", "", "    environment:\n      T:\n        Fn::Join: ['', [a, {Ref: Nope}]]", "12:34", `no resource "Nope"`},
		{"malformed Sub", "", "    environment:\n      T: !Sub '${Jobs'", "11:14", "not closed"},
		{"reserved name", "", "    environment:\n      AWS_REGION: {Ref: Jobs}", "11:7", "reserved"},
		{"unknown id in event", "", "    events:\n      - sqs:\n          arn: !GetAtt [Jbos, Arn]", "12:23", "did you mean Jobs?"},
		{"unknown id in IAM", "  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: sqs:SendMessage\n          Resource: !GetAtt Nope.Arn", "", "11:28", `no resource "Nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list := loadErrors(t, map[string]string{"serverless.yml": refsYML(tc.provider, tc.fn), "handler.js": handlerJS}, Options{})
			for _, e := range list {
				if fmt.Sprintf("%d:%d", e.Line, e.Column) == tc.pos && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("no error at %s containing %q; got %v", tc.pos, tc.msg, list)
		})
	}
}

func TestResourceReferenceErrors(t *testing.T) {
	yml := refsYML("", "") + `    Dlq:
      Type: AWS::SQS::Queue
      Properties:
        RedrivePolicy:
          deadLetterTargetArn: !GetAtt Jbs.Arn
          maxReceiveCount: 3
`
	list := loadErrors(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}, Options{})
	if len(list) != 1 || list[0].Line != 29 || !strings.Contains(list[0].Message, "did you mean Jobs?") {
		t.Errorf("errors = %v", list)
	}
}

func TestHonestWarnings(t *testing.T) {
	yml := refsYML(`  iam:
    role:
      statements:
        - Effect: Allow
          Action: dynamodb:GetItem
          Resource: !GetAtt Table.Arn`, `    vpc: {securityGroupIds: [sg-1], subnetIds: [subnet-1]}
    events:
      - alexaSkill: amzn1.ask.skill.1
      - sqs:
          arn: !GetAtt Jobs.Arn
      - stream: !GetAtt Table.StreamArn`) + `  Outputs:
    TableName:
      Value: !Ref Table
  Mappings:
    Sizes: {dev: {mem: 128}}
`
	p := mustLoad(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}, Options{})
	var got []string
	for _, w := range p.Warnings {
		got = append(got, fmt.Sprintf("%d:%d %s", w.Line, w.Column, w.Message))
	}
	want := []string{
		"11:28 provider.iam.role.statements[0].Resource: Fn::GetAtt Table.Arn: resources of type AWS::ElastiCache::CacheCluster are not created by nimbus",
		"15:5 function \"hello\": vpc is not applied by nimbus yet",
		"17:9 function \"hello\" event #1 (alexaSkill): nimbus does not support alexaSkill events yet",
		"20:24 function \"hello\" event #3 (stream): Fn::GetAtt Table.StreamArn: resources of type AWS::ElastiCache::CacheCluster",
		"34:13 resources.Resources.Table: nimbus does not create resources of type AWS::ElastiCache::CacheCluster yet",
		"37:18 resources.Outputs.TableName: Ref Table: resources of type AWS::ElastiCache::CacheCluster",
		"38:3 resources.Mappings is not applied by nimbus",
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("no warning %q in\n%s", w, joined)
		}
	}
}

func TestIAMStatements(t *testing.T) {
	provider := `  iam:
    role:
      statements:
        - Effect: Allow
          Action: [sqs:SendMessage]
          Resource: !GetAtt Jobs.Arn
      managedPolicies:
        - arn:aws:iam::aws:policy/AmazonSNSFullAccess
        - Fn::Join: ['', ['arn:', {Ref: AWS::Partition}, ':iam::aws:policy/AmazonSQSFullAccess']]
  iamRoleStatements:
    - Effect: Deny
      NotAction: sns:*
      NotResource: ['*']`
	cases := []struct {
		name, fn       string
		wantStatements string
		wantPolicies   string
	}{
		{"provider only", "",
			`[{"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":{"Fn::GetAtt":["Jobs","Arn"]}},{"Effect":"Deny","NotAction":"sns:*","NotResource":["*"]}]`,
			"[arn:aws:iam::aws:policy/AmazonSNSFullAccess arn:aws:iam::aws:policy/AmazonSQSFullAccess]"},
		{"per function replaces", "    iamRoleStatements:\n      - Effect: Allow\n        Action: sns:Publish\n        Resource: !Ref Alerts",
			`[{"Effect":"Allow","Action":"sns:Publish","Resource":{"Ref":"Alerts"}}]`, "[]"},
		{"per function inherits", "    iamRoleStatementsInherit: true\n    iamRoleStatements:\n      - Effect: Allow\n        Action: sns:Publish\n        Resource: !Ref Alerts",
			`[{"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":{"Fn::GetAtt":["Jobs","Arn"]}},{"Effect":"Deny","NotAction":"sns:*","NotResource":["*"]},{"Effect":"Allow","Action":"sns:Publish","Resource":{"Ref":"Alerts"}}]`,
			"[arn:aws:iam::aws:policy/AmazonSNSFullAccess arn:aws:iam::aws:policy/AmazonSQSFullAccess]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoad(t, map[string]string{"serverless.yml": refsYML(provider, tc.fn), "handler.js": handlerJS}, Options{})
			f := p.Function("hello")
			if string(f.IAMStatements) != tc.wantStatements {
				t.Errorf("IAMStatements = %s\nwant %s", f.IAMStatements, tc.wantStatements)
			}
			if !json.Valid(f.IAMStatements) {
				t.Errorf("IAMStatements are not JSON")
			}
			if got := fmt.Sprint(f.ManagedPolicies); got != tc.wantPolicies {
				t.Errorf("ManagedPolicies = %s, want %s", got, tc.wantPolicies)
			}
			if other := p.Function("other"); len(other.IAMStatements) == 0 {
				t.Errorf("function other lost the provider's statements")
			}
		})
	}
}

func TestIAMStatementErrors(t *testing.T) {
	stmt := func(body string) string { return "  iam:\n    role:\n      statements:\n        - " + body }
	cases := []struct {
		name, provider, fn, pos, msg string
	}{
		{"missing Effect", stmt("Action: sqs:*\n          Resource: '*'"), "", "9:11", "has no Effect"},
		{"bad Effect", stmt("Effect: allow\n          Action: sqs:*\n          Resource: '*'"), "", "9:19", "Effect must be Allow or Deny"},
		{"no Action", stmt("Effect: Allow\n          Resource: '*'"), "", "9:11", "has no Action or NotAction"},
		{"no Resource", stmt("Effect: Allow\n          Action: sqs:*"), "", "9:11", "has no Resource or NotResource"},
		{"both Resource forms", stmt("Effect: Allow\n          Action: sqs:*\n          Resource: '*'\n          NotResource: '*'"), "", "12:11", "has both Resource and NotResource"},
		{"bad action", stmt("Effect: Allow\n          Action: SendMessage\n          Resource: '*'"), "", "10:19", "is not an action"},
		{"Principal", stmt("Effect: Allow\n          Principal: '*'\n          Action: sqs:*\n          Resource: '*'"), "", "10:11", `unknown key "Principal"`},
		{"not a list", "  iamRoleStatements:\n    Effect: Allow", "", "7:5", "provider.iamRoleStatements"},
		{"bad managed policy", "  iamManagedPolicies:\n    - AmazonSQSFullAccess", "", "7:7", "is not a managed policy ARN"},
		{"function statement", "", "    iamRoleStatements:\n      - Effect: Allow\n        Action: sqs:*", "11:9", "has no Resource or NotResource"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list := loadErrors(t, map[string]string{"serverless.yml": refsYML(tc.provider, tc.fn), "handler.js": handlerJS}, Options{})
			for _, e := range list {
				if fmt.Sprintf("%d:%d", e.Line, e.Column) == tc.pos && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("no error at %s containing %q; got %v", tc.pos, tc.msg, list)
		})
	}
}

func TestResourceProperties(t *testing.T) {
	yml := refsYML("", "") + `    Audit:
      Type: AWS::SQS::Queue
      Properties:
        KmsMasterKeyId: alias/aws/sqs
        VisibilityTimeout: 30
`
	p := mustLoad(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}, Options{})
	found := false
	for _, w := range p.Warnings {
		found = found || (w.Line == 28 && w.Column == 9 && strings.Contains(w.Message, "property KmsMasterKeyId of AWS::SQS::Queue is not applied by nimbus yet"))
	}
	if !found {
		t.Errorf("warnings = %v", p.Warnings)
	}
	list := loadErrors(t, map[string]string{"serverless.yml": yml + "        VisibilityTimout: 30\n", "handler.js": handlerJS}, Options{})
	if len(list) != 1 || list[0].Line != 30 || list[0].Hint != `did you mean "VisibilityTimeout"?` || !strings.Contains(list[0].Message, "AWS::SQS::Queue has no property VisibilityTimout") {
		t.Errorf("errors = %v", list)
	}
}
