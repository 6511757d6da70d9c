package cfn

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func testStack(t *testing.T) *Stack {
	t.Helper()
	app := &appspec.Application{
		Service: "shop", Stage: "dev", Region: "eu-west-1",
		Functions: []appspec.Function{{Key: "create-order", Name: "shop-dev-create-order"}, {Key: "worker", Name: "custom-worker"}},
		Resources: json.RawMessage(`{"Resources":{
			"Orders":{"Type":"AWS::SQS::Queue"},
			"Named":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":{"Fn::Sub":"${AWS::StackName}-named"}}},
			"Fifo":{"Type":"AWS::SQS::Queue","Properties":{"FifoQueue":true}},
			"Alerts":{"Type":"AWS::SNS::Topic","Properties":{"TopicName":"alerts"}},
			"Bus":{"Type":"AWS::Events::EventBus","Properties":{"Name":"shop-bus"}},
			"Table":{"Type":"AWS::ElastiCache::CacheCluster","Properties":{"TableName":"t"}},
			"Users":{"Type":"AWS::DynamoDB::Table","Properties":{"TableName":{"Fn::Sub":"${AWS::StackName}-users"}}},
			"Events":{"Type":"AWS::DynamoDB::Table","Properties":{"StreamSpecification":{"StreamViewType":"NEW_IMAGE"}}},
			"Loop":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":{"Fn::GetAtt":["Loop","QueueName"]}}}
		},
		"Conditions":{
			"IsDev":{"Fn::Equals":[{"Ref":"AWS::StackName"},"shop-dev"]},
			"IsProd":{"Fn::Equals":["shop-prod",{"Ref":"AWS::StackName"}]},
			"InEurope":{"Fn::Equals":[{"Fn::Select":[0,{"Fn::Split":["-",{"Ref":"AWS::Region"}]}]},"eu"]},
			"DevInEurope":{"Fn::And":[{"Condition":"IsDev"},{"Condition":"InEurope"}]},
			"NotProd":{"Fn::Not":[{"Condition":"IsProd"}]},
			"ProdOrEurope":{"Fn::Or":[{"Condition":"IsProd"},{"Condition":"InEurope"}]},
			"Circular":{"Condition":"Circular"}
		}}`),
	}
	s, err := NewStack(app, "http://127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	s.Import = func(name string) (string, error) {
		if name == "network-SubnetID" {
			return "subnet-123", nil
		}
		return "", errors.New("not exported")
	}
	return s
}

func TestResolve(t *testing.T) {
	s := testStack(t)
	tests := []struct {
		name, in string
		want     any
	}{
		// Pseudo parameters.
		{"Ref region", `{"Ref":"AWS::Region"}`, "eu-west-1"},
		{"Ref account", `{"Ref":"AWS::AccountId"}`, appspec.AccountID},
		{"Ref stack name", `{"Ref":"AWS::StackName"}`, "shop-dev"},
		{"Ref partition", `{"Ref":"AWS::Partition"}`, "aws"},
		{"Ref URL suffix", `{"Ref":"AWS::URLSuffix"}`, "amazonaws.com"},
		// Resources: a queue's Ref is its URL, a topic's its ARN, a bus's its name.
		{"Ref queue", `{"Ref":"Orders"}`, "http://127.0.0.1:9000/000000000000/shop-dev-Orders"},
		{"Ref named queue", `{"Ref":"Named"}`, "http://127.0.0.1:9000/000000000000/shop-dev-named"},
		{"Ref fifo queue", `{"Ref":"Fifo"}`, "http://127.0.0.1:9000/000000000000/shop-dev-Fifo.fifo"},
		{"GetAtt queue Arn", `{"Fn::GetAtt":["Orders","Arn"]}`, "arn:aws:sqs:eu-west-1:000000000000:shop-dev-Orders"},
		{"GetAtt queue Arn dotted", `{"Fn::GetAtt":"Orders.Arn"}`, "arn:aws:sqs:eu-west-1:000000000000:shop-dev-Orders"},
		{"GetAtt QueueName", `{"Fn::GetAtt":["Named","QueueName"]}`, "shop-dev-named"},
		{"GetAtt QueueUrl", `{"Fn::GetAtt":["Orders","QueueUrl"]}`, "http://127.0.0.1:9000/000000000000/shop-dev-Orders"},
		{"Ref topic", `{"Ref":"Alerts"}`, "arn:aws:sns:eu-west-1:000000000000:alerts"},
		{"GetAtt TopicArn", `{"Fn::GetAtt":["Alerts","TopicArn"]}`, "arn:aws:sns:eu-west-1:000000000000:alerts"},
		{"GetAtt TopicName", `{"Fn::GetAtt":["Alerts","TopicName"]}`, "alerts"},
		{"Ref bus", `{"Ref":"Bus"}`, "shop-bus"},
		{"GetAtt bus Arn", `{"Fn::GetAtt":["Bus","Arn"]}`, "arn:aws:events:eu-west-1:000000000000:event-bus/shop-bus"},
		{"GetAtt bus Name", `{"Fn::GetAtt":["Bus","Name"]}`, "shop-bus"},
		{"Ref function", `{"Ref":"CreateDashorderLambdaFunction"}`, "shop-dev-create-order"},
		{"GetAtt function Arn", `{"Fn::GetAtt":["WorkerLambdaFunction","Arn"]}`, "arn:aws:lambda:eu-west-1:000000000000:function:custom-worker"},
		// Fn::Join (AWS's examples).
		{"Join simple", `{"Fn::Join":[":",["a","b","c"]]}`, "a:b:c"},
		{"Join with Refs", `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":s3:::elasticbeanstalk-*-",{"Ref":"AWS::AccountId"}]]}`, "arn:aws:s3:::elasticbeanstalk-*-000000000000"},
		{"Join of Split", `{"Fn::Join":["-",{"Fn::Split":["|","a|b"]}]}`, "a-b"},
		{"Join empty", `{"Fn::Join":[",",[]]}`, ""},
		// Fn::Select.
		{"Select", `{"Fn::Select":["1",["apples","grapes","oranges","mangoes"]]}`, "grapes"},
		{"Select number index", `{"Fn::Select":[0,["apples"]]}`, "apples"},
		{"Select GetAZs", `{"Fn::Select":[0,{"Fn::GetAZs":""}]}`, "eu-west-1a"},
		{"Select GetAZs Ref region", `{"Fn::Select":[1,{"Fn::GetAZs":{"Ref":"AWS::Region"}}]}`, "eu-west-1b"},
		// Fn::Split.
		{"Split", `{"Fn::Split":["|","a|b|c"]}`, []any{"a", "b", "c"}},
		{"Split empty values", `{"Fn::Split":["|","a||c|"]}`, []any{"a", "", "c", ""}},
		{"Split of a GetAtt", `{"Fn::Split":[":",{"Fn::GetAtt":["Orders","Arn"]}]}`, []any{"arn", "aws", "sqs", "eu-west-1", "000000000000", "shop-dev-Orders"}},
		{"Select of Split", `{"Fn::Select":[5,{"Fn::Split":[":",{"Fn::GetAtt":["Orders","Arn"]}]}]}`, "shop-dev-Orders"},
		// Fn::Sub.
		{"Sub pseudo", `{"Fn::Sub":"arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-jobs"}`, "arn:aws:sqs:eu-west-1:000000000000:shop-dev-jobs"},
		{"Sub resource", `{"Fn::Sub":"${Alerts}"}`, "arn:aws:sns:eu-west-1:000000000000:alerts"},
		{"Sub resource attribute", `{"Fn::Sub":"${Orders.Arn}/*"}`, "arn:aws:sqs:eu-west-1:000000000000:shop-dev-Orders/*"},
		{"Sub literal", `{"Fn::Sub":"${!Literal}-${AWS::Region}"}`, "${Literal}-eu-west-1"},
		{"Sub variables", `{"Fn::Sub":["www.${Domain}",{"Domain":{"Ref":"Bus"}}]}`, "www.shop-bus"},
		{"Sub vpc example", `{"Fn::Sub":["arn:aws:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${vpc}",{"vpc":"vpc-1"}]}`, "arn:aws:ec2:eu-west-1:000000000000:vpc/vpc-1"},
		{"Sub no vars", `{"Fn::Sub":"plain"}`, "plain"},
		// Tables: Ref is the name, generated as stack-LogicalId without TableName.
		{"Ref table", `{"Ref":"Users"}`, "shop-dev-users"},
		{"Ref generated table", `{"Ref":"Events"}`, "shop-dev-Events"},
		{"GetAtt table Arn", `{"Fn::GetAtt":["Users","Arn"]}`, "arn:aws:dynamodb:eu-west-1:000000000000:table/shop-dev-users"},
		{"GetAtt table StreamArn", `{"Fn::GetAtt":["Events","StreamArn"]}`, "arn:aws:dynamodb:eu-west-1:000000000000:table/shop-dev-Events/stream/" + TableStreamLabel},
		{"Sub table index", `{"Fn::Sub":"${Users.Arn}/index/*"}`, "arn:aws:dynamodb:eu-west-1:000000000000:table/shop-dev-users/index/*"},
		// Fn::ImportValue.
		{"ImportValue", `{"Fn::ImportValue":"network-SubnetID"}`, "subnet-123"},
		{"ImportValue Sub", `{"Fn::ImportValue":{"Fn::Sub":"network-SubnetID"}}`, "subnet-123"},
		// Fn::If and conditions.
		{"If true", `{"Fn::If":["IsDev","small","large"]}`, "small"},
		{"If false", `{"Fn::If":["IsProd","large",{"Ref":"AWS::NoValue"}]}`, nil},
		{"If in map drops key", `{"a":{"Fn::If":["IsProd","x",{"Ref":"AWS::NoValue"}]},"b":1}`, map[string]any{"b": json.Number("1")}},
		{"If And", `{"Fn::If":["DevInEurope",{"Ref":"Bus"},"no"]}`, "shop-bus"},
		{"If Not", `{"Fn::If":["NotProd","yes","no"]}`, "yes"},
		{"If Or", `{"Fn::If":["ProdOrEurope","yes","no"]}`, "yes"},
		// Fn::Base64.
		{"Base64", `{"Fn::Base64":"AWS CloudFormation"}`, "QVdTIENsb3VkRm9ybWF0aW9u"},
		// Nesting and AWS::NoValue.
		{"nested map", `{"a":{"Ref":"AWS::Region"},"b":[1,{"Ref":"AWS::NoValue"},"x"],"c":{"Ref":"AWS::NoValue"}}`,
			map[string]any{"a": "eu-west-1", "b": []any{json.Number("1"), "x"}}},
		{"no intrinsics", `{"Ref":"AWS::Region","Other":1}`, map[string]any{"Ref": "AWS::Region", "Other": json.Number("1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Resolve(v)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Resolve(%s) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	s := testStack(t)
	tests := []struct {
		name, in, want string
		unsupported    bool
		path           string
	}{
		{"unknown id", `{"Ref":"Order"}`, `no resource "Order" is declared in resources.Resources (or as a function); did you mean Orders?`, false, "Ref"},
		{"unknown GetAtt id", `{"Fn::GetAtt":["Nope","Arn"]}`, `no resource "Nope"`, false, "Fn::GetAtt"},
		{"framework resource", `{"Fn::Sub":"arn:aws:s3:::${ServerlessDeploymentBucket}/*"}`, "the Serverless Framework generates ServerlessDeploymentBucket", true, "Fn::Sub"},
		{"framework log group", `{"Fn::GetAtt":["HelloLogGroup","Arn"]}`, "the Serverless Framework generates HelloLogGroup", true, "Fn::GetAtt"},
		{"unsupported type", `{"Ref":"Table"}`, "resources of type AWS::ElastiCache::CacheCluster are not created by nimbus", true, "Ref"},
		{"table without stream", `{"Fn::GetAtt":["Users","StreamArn"]}`, "table Users has no StreamSpecification", false, "Fn::GetAtt"},
		{"unsupported attribute", `{"Fn::GetAtt":["Orders","Foo"]}`, "attribute Foo of AWS::SQS::Queue is not supported (nimbus gives Arn, QueueName, QueueUrl)", true, "Fn::GetAtt"},
		{"unsupported function", `{"Fn::FindInMap":["m","a","b"]}`, "Fn::FindInMap is not supported by nimbus", true, "Fn::FindInMap"},
		{"unknown condition", `{"Fn::If":["Nope","a","b"]}`, "condition Nope is not declared", false, "Fn::If[0]"},
		{"circular condition", `{"Fn::If":["Circular","a","b"]}`, "condition Circular refers to itself", false, ""},
		{"If malformed", `{"Fn::If":["IsDev","a"]}`, "Fn::If takes [ConditionName", false, "Fn::If"},
		{"unsupported pseudo", `{"Ref":"AWS::NotificationARNs"}`, "pseudo parameter AWS::NotificationARNs is not supported", true, "Ref"},
		{"Ref not string", `{"Ref":["a"]}`, "Ref takes the logical id", false, "Ref"},
		{"GetAtt malformed", `{"Fn::GetAtt":["Orders"]}`, "Fn::GetAtt takes [LogicalId, Attribute], not 1 items", false, "Fn::GetAtt"},
		{"GetAtt no dot", `{"Fn::GetAtt":"Orders"}`, "must be LogicalId.Attribute", false, "Fn::GetAtt"},
		{"Sub unclosed", `{"Fn::Sub":"a-${AWS::Region"}`, "${ is not closed", false, "Fn::Sub"},
		{"Sub unknown", `{"Fn::Sub":"${Nope}"}`, `no resource "Nope"`, false, "Fn::Sub"},
		{"Sub bad vars", `{"Fn::Sub":["x",["y"]]}`, "the variables of Fn::Sub must be a map", false, "Fn::Sub[1]"},
		{"Join not list", `{"Fn::Join":[":","a"]}`, "Fn::Join needs a list here", false, "Fn::Join[1]"},
		{"Join map item", `{"Fn::Join":[":",["a",{"b":1}]]}`, "Fn::Join value #2", false, "Fn::Join[1][1]"},
		{"Select out of range", `{"Fn::Select":["4",["a"]]}`, "index 4 is out of range for a list of 1", false, "Fn::Select"},
		{"Select bad index", `{"Fn::Select":["x",["a"]]}`, "whole number", false, "Fn::Select[0]"},
		{"Split bad", `{"Fn::Split":["",""]}`, "delimiter of Fn::Split", false, "Fn::Split[0]"},
		{"Split too many", `{"Fn::Split":[",","` + strings.Repeat(",", 20000) + `"]}`, "Fn::Split makes 20001 values, more than 10000", false, "Fn::Split"},
		{"ImportValue missing", `{"Fn::ImportValue":"other"}`, "Fn::ImportValue other: not exported", false, "Fn::ImportValue"},
		{"self reference", `{"Ref":"Loop"}`, "Loop.QueueName refers to itself", false, ""},
		{"nested path", `{"a":[{"b":{"Ref":"Nope"}}]}`, `no resource "Nope"`, false, "a[0].b.Ref"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Resolve(v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Resolve(%s) error = %v, want it to contain %q", tc.in, err, tc.want)
			}
			ce, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is not a *cfn.Error", err)
			}
			if ce.Unsupported != tc.unsupported {
				t.Errorf("Unsupported = %v, want %v", ce.Unsupported, tc.unsupported)
			}
			if tc.path != "" && ce.PathString() != tc.path {
				t.Errorf("path = %q, want %q", ce.PathString(), tc.path)
			}
		})
	}
}

func TestQueueURLNeedsPlatform(t *testing.T) {
	s := testStack(t)
	s.QueueEndpoint = ""
	if _, err := s.Resolve(map[string]any{"Ref": "Orders"}); err == nil {
		t.Fatal("a queue URL resolved without knowing where queues are served")
	}
	if v, err := s.Resolve(map[string]any{"Fn::GetAtt": []any{"Orders", "Arn"}}); err != nil || v != "arn:aws:sqs:eu-west-1:000000000000:shop-dev-Orders" {
		t.Fatalf("Arn = %v, %v", v, err)
	}
}

func TestPartitions(t *testing.T) {
	for region, want := range map[string]string{"eu-west-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"} {
		if got := Partition(region); got != want {
			t.Errorf("Partition(%s) = %s, want %s", region, got, want)
		}
	}
	if got := URLSuffix("cn-north-1"); got != "amazonaws.com.cn" {
		t.Errorf("URLSuffix(cn-north-1) = %s", got)
	}
}

func TestLogicalFunctionID(t *testing.T) {
	for key, want := range map[string]string{
		"hello": "HelloLambdaFunction", "create-order": "CreateDashorderLambdaFunction", "a_b": "AUnderscorebLambdaFunction",
	} {
		if got := LogicalFunctionID(key); got != want {
			t.Errorf("LogicalFunctionID(%q) = %q, want %q", key, got, want)
		}
	}
}

// Properties that each refer to the next one twice would take 2^n
// evaluations; the resolver stops early with an error instead.
func TestResolveBlowUpIsBounded(t *testing.T) {
	res := `"Q0":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"q"}}`
	for i := 1; i <= 40; i++ {
		res += fmt.Sprintf(`,"Q%d":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":{"Fn::Sub":"${Q%d.QueueName}${Q%d.QueueName}"}}}`, i, i-1, i-1)
	}
	app := &appspec.Application{Service: "s", Stage: "dev", Region: "us-east-1", Resources: json.RawMessage(`{"Resources":{` + res + `}}`)}
	s, err := NewStack(app, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Resolve(map[string]any{"Fn::GetAtt": []any{"Q40", "QueueName"}})
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want a bound to stop the evaluation", err)
	}
}

// Many references to one long name stop before they exhaust memory.
func TestResolveOutputIsBounded(t *testing.T) {
	name := strings.Repeat("q", 1<<20)
	app := &appspec.Application{Service: "s", Stage: "dev", Region: "us-east-1",
		Resources: json.RawMessage(`{"Resources":{"Q":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"` + name + `"}}}}`)}
	s, err := NewStack(app, "")
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]any, 200)
	for i := range refs {
		refs[i] = map[string]any{"Fn::GetAtt": []any{"Q", "QueueName"}}
	}
	if _, err := s.Resolve(refs); err == nil || !strings.Contains(err.Error(), "MB of text") {
		t.Fatalf("err = %v, want the output bound", err)
	}
}
