package dynamodb_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// notesHandler writes and reads its table with lib-dynamodb's
// DocumentClient, and tries a table its role does not grant.
const notesHandler = `const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const { DynamoDBDocumentClient, PutCommand, GetCommand, QueryCommand } = require("@aws-sdk/lib-dynamodb");
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
exports.handler = async (event) => {
  const TableName = process.env.TABLE_NAME;
  await doc.send(new PutCommand({ TableName, Item: { pk: event.pk, sk: 1, owner: "ann", note: event.note, tags: new Set(["a", "b"]) } }));
  await doc.send(new PutCommand({ TableName, Item: { pk: event.pk, sk: 2, note: "second" } }));
  const got = await doc.send(new GetCommand({ TableName, Key: { pk: event.pk, sk: 1 } }));
  const q = await doc.send(new QueryCommand({ TableName, KeyConditionExpression: "pk = :p AND sk > :s",
    ExpressionAttributeValues: { ":p": event.pk, ":s": 0 } }));
  let denied = "";
  try {
    await doc.send(new PutCommand({ TableName: event.other, Item: { id: "x" } }));
  } catch (e) {
    denied = e.name + ": " + e.message;
  }
  return { table: TableName, note: got.Item.note, tags: [...got.Item.tags].sort(), sks: q.Items.map((i) => i.sk), denied };
};
`

// pyNotesHandler does the same with boto3's Table resource and conditions.
const pyNotesHandler = `import os
import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])

def handler(event, context):
    table.put_item(Item={"pk": event["pk"], "sk": 1, "note": event["note"]})
    got = table.get_item(Key={"pk": event["pk"], "sk": 1})["Item"]
    q = table.query(KeyConditionExpression=Key("pk").eq(event["pk"]) & Key("sk").gte(1))
    denied = ""
    try:
        boto3.resource("dynamodb").Table(event["other"]).put_item(Item={"id": "x"})
    except ClientError as e:
        denied = e.response["Error"]["Code"]
    return {"note": got["note"], "count": q["Count"], "denied": denied}
`

const notesYML = `service: notes
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
  iam:
    role:
      statements:
        - Effect: Allow
          Action: [dynamodb:PutItem, dynamodb:GetItem, dynamodb:Query]
          Resource:
            Fn::GetAtt: [Notes, Arn]
functions:
  notes:
    handler: handler.handler
    environment:
      TABLE_NAME: {Ref: Notes}
      STREAM_ARN: !GetAtt Notes.StreamArn
  pynotes:
    handler: notes.handler
    runtime: python3.12
    environment:
      TABLE_NAME: {Ref: Notes}
resources:
  Resources:
    Notes:
      Type: AWS::DynamoDB::Table
      Properties:
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - {AttributeName: pk, AttributeType: S}
          - {AttributeName: sk, AttributeType: N}
          - {AttributeName: owner, AttributeType: S}
        KeySchema:
          - {AttributeName: pk, KeyType: HASH}
          - {AttributeName: sk, KeyType: RANGE}
        GlobalSecondaryIndexes:
          - IndexName: byOwner
            KeySchema: [{AttributeName: owner, KeyType: HASH}]
            Projection: {ProjectionType: ALL}
        StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
        TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
        Tags: [{Key: team, Value: notes}]
    Audit:
      Type: AWS::DynamoDB::Table
      DeletionPolicy: Retain
      Properties:
        TableName: notes-audit
        ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: "2"}
        AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
        KeySchema: [{AttributeName: id, KeyType: HASH}]
`

func writeNotes(t *testing.T, yml string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": notesHandler, "notes.py": pyNotesHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestManifestTables: tables declared in serverless.yml are created on
// deploy with the service's region, Ref and Fn::GetAtt resolve, a function
// granted its table by GetAtt reads and writes it with the DocumentClient and
// is refused any other table, a key schema change is refused, and removing
// the service deletes its tables except the retained one.
func TestManifestTables(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	db := awsddb.NewFromConfig(p.AWSConfig(), func(o *awsddb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	createTable(t, db, "elsewhere", "")

	out := p.Deploy(writeNotes(t, notesYML))
	// Every property is applied: the CLI warns about nothing.
	if w := out.Project.Warnings; len(w) != 0 {
		t.Errorf("warnings = %+v", w)
	}
	changes := map[string]string{}
	for _, c := range out.Response.Changes {
		changes[c.Kind+" "+c.Name] = c.Action
	}
	if changes["table notes-dev-Notes"] != "created" || changes["table notes-audit"] != "created" {
		t.Errorf("changes = %v", out.Response.Changes)
	}

	d, err := db.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("notes-dev-Notes")})
	if err != nil {
		t.Fatal(err)
	}
	tbl := d.Table
	if got, want := aws.ToString(tbl.TableArn), "arn:aws:dynamodb:eu-west-1:000000000000:table/notes-dev-Notes"; got != want {
		t.Errorf("TableArn = %s, want %s", got, want)
	}
	if len(tbl.KeySchema) != 2 || aws.ToString(tbl.KeySchema[1].AttributeName) != "sk" || len(tbl.GlobalSecondaryIndexes) != 1 ||
		tbl.BillingModeSummary == nil || tbl.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("table = %+v", tbl)
	}
	// The stream's ARN is the one Fn::GetAtt StreamArn resolved to.
	if got, want := aws.ToString(tbl.LatestStreamArn), aws.ToString(tbl.TableArn)+"/stream/1970-01-01T00:00:00.000"; got != want ||
		tbl.StreamSpecification == nil || tbl.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Errorf("LatestStreamArn = %s, want %s (%+v)", got, want, tbl.StreamSpecification)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &awsddb.DescribeTimeToLiveInput{TableName: aws.String("notes-dev-Notes")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expiresAt" {
		t.Errorf("TTL = %+v, %v", ttl, err)
	}
	tags, err := db.ListTagsOfResource(ctx, &awsddb.ListTagsOfResourceInput{ResourceArn: tbl.TableArn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "notes" {
		t.Errorf("tags = %+v, %v", tags, err)
	}
	audit, err := db.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("notes-audit")})
	if err != nil {
		t.Fatal(err)
	}
	if pt := audit.Table.ProvisionedThroughput; pt == nil || aws.ToInt64(pt.WriteCapacityUnits) != 2 {
		t.Errorf("audit throughput = %+v", pt)
	}

	inv, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("notes-dev-notes"),
		Payload: []byte(`{"pk":"n1","note":"hello","other":"elsewhere"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if inv.FunctionError != nil {
		t.Fatalf("%s: %s", *inv.FunctionError, inv.Payload)
	}
	var res struct {
		Table, Note, Denied string
		Tags                []string
		Sks                 []int
	}
	if err := json.Unmarshal(inv.Payload, &res); err != nil {
		t.Fatalf("%s: %v", inv.Payload, err)
	}
	if res.Table != "notes-dev-Notes" || res.Note != "hello" || strings.Join(res.Tags, ",") != "a,b" || len(res.Sks) != 2 || res.Sks[0] != 1 || res.Sks[1] != 2 {
		t.Errorf("function saw %s", inv.Payload)
	}
	if !strings.HasPrefix(res.Denied, "AccessDeniedException") {
		t.Errorf("a put on a table not granted: %q, want AccessDeniedException", res.Denied)
	}
	inv, err = p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("notes-dev-pynotes"),
		Payload: []byte(`{"pk":"p1","note":"from python","other":"elsewhere"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if inv.FunctionError != nil {
		t.Fatalf("%s: %s", *inv.FunctionError, inv.Payload)
	}
	if got, want := string(inv.Payload), `{"note": "from python", "count": 1, "denied": "AccessDeniedException"}`; got != want {
		t.Errorf("boto3 function returned %s, want %s", got, want)
	}
	// The function's writes are in the table, as the operator sees it.
	key := item{"pk": s("n1"), "sk": &types.AttributeValueMemberN{Value: "1"}}
	got1, err := db.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("notes-dev-Notes"), Key: key})
	if err != nil || got1.Item == nil {
		t.Fatalf("GetItem: %v, %v", got1, err)
	}
	if got := got1.Item["tags"]; got == nil {
		t.Errorf("item = %v", got1.Item)
	} else if ss, ok := got.(*types.AttributeValueMemberSS); !ok || len(ss.Value) != 2 {
		t.Errorf("tags = %#v, want a string set", got)
	}

	// Changing the key schema needs a replacement: refused, nothing changes.
	changed := strings.Replace(notesYML, "{AttributeName: sk, AttributeType: N}", "{AttributeName: sk, AttributeType: S}", 1)
	_, err = p.Client.Deploy(ctx, writeNotes(t, changed), manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "changing the KeySchema of table notes-dev-Notes") || !strings.Contains(err.Error(), "replaces it") {
		t.Fatalf("key schema change: %v", err)
	}
	if got, err := db.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("notes-dev-Notes"), Key: key}); err != nil || got.Item == nil {
		t.Fatalf("after a refused deploy: %v, %v", got, err)
	}

	// A table created through the API is not taken over by a manifest.
	taken := strings.Replace(notesYML, "TableName: notes-audit", "TableName: elsewhere", 1)
	_, err = p.Client.Deploy(ctx, writeNotes(t, taken), manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "table elsewhere already exists (created through the DynamoDB API)") {
		t.Fatalf("deploy over an API table: %v", err)
	}

	// Removing the service deletes Notes and keeps the retained Audit.
	rm, err := p.Client.Remove(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Warnings) != 0 {
		t.Errorf("remove warnings: %v", rm.Warnings)
	}
	_, err = db.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("notes-dev-Notes")})
	apiError(t, err, "ResourceNotFoundException", "notes-dev-Notes")
	for _, name := range []string{"notes-audit", "elsewhere"} {
		if _, err := db.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("%s after removal: %v", name, err)
		}
	}
}
