package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// readerHandler reads one item of each table the event names and says
// which reads its role allowed; instance is fixed per process, so a warm
// instance answers the same one.
const readerHandler = `const { DynamoDBClient, GetItemCommand } = require("@aws-sdk/client-dynamodb");
const db = new DynamoDBClient({});
const instance = Math.random().toString(36).slice(2);
exports.handler = async (event) => {
  const allowed = {};
  for (const t of event.tables) {
    try {
      await db.send(new GetItemCommand({ TableName: t, Key: { id: { S: "x" } } }));
      allowed[t] = "yes";
    } catch (e) {
      allowed[t] = e.name;
    }
  }
  return { allowed, instance, version: process.env.AWS_LAMBDA_FUNCTION_VERSION };
};
`

func writeReader(t *testing.T, dir, table string) {
	t.Helper()
	yml := fmt.Sprintf(`service: perm
provider:
  name: aws
  runtime: nodejs20.x
  versionFunctions: true
  iam:
    role:
      statements:
        - Effect: Allow
          Action: dynamodb:GetItem
          Resource: arn:aws:dynamodb:*:*:table/%s
functions:
  reader:
    handler: handler.handler
`, table)
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": readerHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type readerAnswer struct {
	Allowed  map[string]string
	Instance string
	Version  string
}

func callReader(t *testing.T, sdk *lambda.Client, qualifier string) readerAnswer {
	t.Helper()
	out, err := sdk.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("perm-dev-reader"),
		Qualifier: aws.String(qualifier), Payload: []byte(`{"tables":["tableA","tableB"]}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke %s: %v %s", qualifier, err, out.Payload)
	}
	var a readerAnswer
	if err := json.Unmarshal(out.Payload, &a); err != nil {
		t.Fatalf("answer %s: %v", out.Payload, err)
	}
	return a
}

// A published version keeps the IAM statements it was published with: v1
// may read table A only and v2 table B only, whatever $LATEST has since.
// Redeploying $LATEST leaves version 1's warm instance running.
func TestVersionKeepsItsPermissions(t *testing.T) {
	testkit.RequireSDK(t, true, false)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	db := awsddb.NewFromConfig(p.AWSConfig(), func(o *awsddb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	for _, name := range []string{"tableA", "tableB"} {
		if _, err := db.CreateTable(ctx, &awsddb.CreateTableInput{TableName: aws.String(name), BillingMode: ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	sdk := p.Lambda()
	writeReader(t, dir, "tableA")
	if v := p.Deploy(dir).Response.Versions["perm-dev-reader"]; v != "1" {
		t.Fatalf("first deploy published %q", v)
	}
	before := callReader(t, sdk, "1")
	writeReader(t, dir, "tableB")
	if v := p.Deploy(dir).Response.Versions["perm-dev-reader"]; v != "2" {
		t.Fatalf("second deploy published %q", v)
	}
	v1 := callReader(t, sdk, "1")
	v2 := callReader(t, sdk, "2")
	latest := callReader(t, sdk, "$LATEST")
	for _, c := range []struct {
		name     string
		got      readerAnswer
		a, b     string
		wantVers string
	}{
		{"version 1", v1, "yes", "AccessDeniedException", "1"},
		{"version 2", v2, "AccessDeniedException", "yes", "2"},
		{"$LATEST", latest, "AccessDeniedException", "yes", "$LATEST"},
	} {
		if c.got.Allowed["tableA"] != c.a || c.got.Allowed["tableB"] != c.b || c.got.Version != c.wantVers {
			t.Errorf("%s: %+v, want table A %s, table B %s", c.name, c.got, c.a, c.b)
		}
	}
	if v1.Instance != before.Instance {
		t.Errorf("version 1 answered from instance %s after the redeploy, %s before: the redeploy of $LATEST retired it", v1.Instance, before.Instance)
	}
}

// Publishing is bounded: at the limit PublishVersion answers
// CodeStorageExceededException, and a deploy that publishes on its own
// makes room by deleting the oldest version no alias routes to.
func TestVersionLimit(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.MaxVersions = 2 })
	ctx := context.Background()
	sdk := p.Lambda()
	dir := t.TempDir()
	for _, code := range []string{"A", "B"} {
		writeApp(t, dir, code, "hello")
		p.Deploy(dir)
		if _, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)}); err != nil {
			t.Fatal(err)
		}
	}
	writeApp(t, dir, "C", "hello")
	p.Deploy(dir)
	if _, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)}); errorCode(err) != "CodeStorageExceededException" {
		t.Fatalf("third PublishVersion with a limit of 2: %v", err)
	}
	if _, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	writeApp(t, dir, "D", "hello", "  versionFunctions: true\n")
	if v := p.Deploy(dir).Response.Versions[echo]; v != "3" {
		t.Fatalf("deploy published %q, want 3", v)
	}
	var kept []string
	for _, f := range p.Registry.Versions(echo) {
		kept = append(kept, f.Version)
	}
	if fmt.Sprint(kept) != "[1 3]" {
		t.Errorf("versions kept: %v, want [1 3] (2 pruned, 1 routed to by alias live)", kept)
	}
	if got := call(t, sdk, echo, "live"); got.Code != "A" {
		t.Errorf("alias live runs code %s", got.Code)
	}
}
