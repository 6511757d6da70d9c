package manifest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// call sends one request to the gateway and returns the status and body.
func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// TestSAMItemsExample deploys examples/sam-items, a SAM template with a
// Node.js function behind HttpApi events and a SimpleTable, unmodified: the
// function answers over the gateway, reads and writes the table through the
// AWS SDK with the permissions of its DynamoDBCrudPolicy, and sees the
// variables Globals and its own Environment give it.
func TestSAMItemsExample(t *testing.T) {
	testkit.RequireSDK(t, true, false)
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0"; c.NoSandbox = true })
	ctx := context.Background()
	out, err := p.Client.Deploy(ctx, testkit.Path(t, "examples/sam-items"), manifest.Options{}, nil)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	// The only warning is the output naming SAM's implicit API.
	if w := out.Project.Warnings; len(w) != 1 || !strings.Contains(w[0].Message, "output ItemsApi refers to ServerlessHttpApi") || w[0].Line == 0 {
		t.Errorf("warnings = %v", w)
	}
	if res := out.Response; res.Service != "sam-items" || res.Stage != "prod" {
		t.Errorf("deployed %s stage %s, want sam-items stage prod", res.Service, res.Stage)
	}
	base := p.Gateway.URL()

	if status, body := call(t, http.MethodPut, base+"/items", `{"id":"b","name":"bolt","count":3}`); status != 200 ||
		!strings.Contains(body, `"table":"sam-items-prod-ItemsTable"`) {
		t.Fatalf("PUT /items = %d %s", status, body)
	}
	call(t, http.MethodPut, base+"/items", `{"id":"a","name":"anchor"}`)
	status, body := call(t, http.MethodGet, base+"/items/b", "")
	if status != 200 || !strings.Contains(body, `"name":"bolt"`) || !strings.Contains(body, `"count":3`) {
		t.Errorf("GET /items/b = %d %s", status, body)
	}
	status, body = call(t, http.MethodGet, base+"/items", "")
	var list struct {
		Greeting string `json:"greeting"`
		Items    []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &list) != nil || list.Greeting != "hello" || len(list.Items) != 2 ||
		list.Items[0].ID != "a" || list.Items[1].ID != "b" {
		t.Errorf("GET /items = %d %s", status, body)
	}
	if status, body := call(t, http.MethodDelete, base+"/items/a", ""); status != 200 {
		t.Errorf("DELETE /items/a = %d %s", status, body)
	}
	if status, body := call(t, http.MethodGet, base+"/items/a", ""); status != 404 {
		t.Errorf("GET /items/a after DELETE = %d %s", status, body)
	}

	// The table is the SimpleTable's: on-demand, keyed by its PrimaryKey.
	db := awsddb.NewFromConfig(p.AWSConfig(), func(o *awsddb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	d, err := db.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("sam-items-prod-ItemsTable")})
	if err != nil {
		t.Fatal(err)
	}
	if ks := d.Table.KeySchema; len(ks) != 1 || aws.ToString(ks[0].AttributeName) != "id" || ks[0].KeyType != types.KeyTypeHash ||
		d.Table.BillingModeSummary == nil || d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("table = %+v", d.Table)
	}
	got, err := db.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("sam-items-prod-ItemsTable"),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := got.Item["count"].(*types.AttributeValueMemberN); !ok || n.Value != "3" {
		t.Errorf("item b = %+v", got.Item)
	}

	// The Outputs resolve to what the platform created.
	var outputs []string
	for _, o := range out.Project.Outputs(p.URL()) {
		outputs = append(outputs, o.Name+"="+o.Value)
	}
	if got, want := strings.Join(outputs, " "), "ItemsFunctionArn=arn:aws:lambda:us-east-1:000000000000:function:sam-items-prod-ItemsFunction ItemsTableName=sam-items-prod-ItemsTable"; got != want {
		t.Errorf("outputs = %s, want %s", got, want)
	}

	// Globals.Function and the function's own Environment merge per key.
	fn := out.Project.Function("ItemsFunction")
	if fn.Timeout != 10 || fn.MemorySize != 256 || fn.Runtime != "nodejs20.x" || fn.Environment["GREETING"] != "hello" ||
		fn.EnvironmentRefs["TABLE_NAME"] == nil || fn.EnvironmentRefs["STAGE_NOTE"] == nil {
		t.Errorf("function = %+v", fn)
	}
}

const samPythonTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Prefix:
    Type: String
    Default: hi
Globals:
  Api:
    Cors: "'*'"
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Runtime: python3.12
      Environment:
        Variables:
          PREFIX: !Ref Prefix
          SELF: !Ref HelloFunction
      Events:
        Hello:
          Type: Api
          Properties:
            Path: /hello/{name}
            Method: get
`

const samPythonHandler = `import json
import os

def lambda_handler(event, context):
    name = event["pathParameters"]["name"]
    return {"statusCode": 200, "body": json.dumps({
        "message": os.environ["PREFIX"] + " " + name,
        "self": os.environ["SELF"],
        "stage": event["requestContext"]["stage"],
    })}
`

// TestSAMPythonRESTAPI deploys a Python function behind an Api (REST)
// event: it answers under the stage's path with payload 1.0, CORS from
// Globals.Api, a parameter overridden on the command line and a Ref to
// itself resolved.
func TestSAMPythonRESTAPI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello-app")
	for name, content := range map[string]string{"template.yaml": samPythonTemplate, "hello_world/app.py": samPythonHandler} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0"; c.NoSandbox = true })
	out, err := p.Client.Deploy(context.Background(), dir, manifest.Options{ParameterOverrides: map[string]string{"Prefix": "hello"}}, nil)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(out.Project.Warnings) != 0 {
		t.Errorf("warnings = %v", out.Project.Warnings)
	}
	req, err := http.NewRequest(http.MethodGet, p.Gateway.URL()+"/prod/hello/ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"message": "hello ann", "self": "hello-app-prod-HelloFunction", "stage": "prod"}` {
		t.Errorf("GET /prod/hello/ann = %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want * from Globals.Api.Cors", got)
	}
}
