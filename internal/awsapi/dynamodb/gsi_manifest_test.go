package dynamodb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// indexYML declares a table whose global indexes a test changes.
func indexYML(indexes ...string) string {
	var b strings.Builder
	b.WriteString(`service: idx
provider:
  name: aws
  runtime: nodejs20.x
functions:
  noop:
    handler: handler.handler
resources:
  Resources:
    Items:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: idx-items
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - {AttributeName: pk, AttributeType: S}
`)
	for _, ix := range indexes {
		fmt.Fprintf(&b, "          - {AttributeName: %s, AttributeType: S}\n", ix)
	}
	b.WriteString("        KeySchema: [{AttributeName: pk, KeyType: HASH}]\n")
	if len(indexes) > 0 {
		b.WriteString("        GlobalSecondaryIndexes:\n")
	}
	for _, ix := range indexes {
		fmt.Fprintf(&b, "          - IndexName: by-%s\n            KeySchema: [{AttributeName: %s, KeyType: HASH}]\n            Projection: {ProjectionType: ALL}\n", ix, ix)
	}
	return b.String()
}

func writeIndexApp(t *testing.T, yml string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": "exports.handler = async () => ({});\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestManifestIndexChanges: a redeploy of AWS::DynamoDB::Table adds a
// global index (backfilled from the items already there) and, in the next,
// removes one; a deploy that adds one and removes another, or changes an
// index's keys, is refused as CloudFormation refuses it, and changes nothing.
func TestManifestIndexChanges(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	db := awsddb.NewFromConfig(p.AWSConfig(), func(o *awsddb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	p.Deploy(writeIndexApp(t, indexYML("a")))
	for i := 0; i < 50; i++ {
		if _, err := db.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("idx-items"),
			Item: item{"pk": s(fmt.Sprint(i)), "a": s(fmt.Sprint(i % 2)), "b": s(fmt.Sprint(i % 5))}}); err != nil {
			t.Fatal(err)
		}
	}

	p.Deploy(writeIndexApp(t, indexYML("a", "b")))
	waitIndexActive(t, db, "idx-items", "by-b")
	if got := queryAll(t, db, "idx-items", "by-b", "b = :v", item{":v": s("3")}); len(got) != 10 {
		t.Fatalf("by-b after the redeploy: %d items, want 10", len(got))
	}

	for yml, want := range map[string]string{
		indexYML("c"): "a deploy can add or remove only one global secondary index of table idx-items at a time",
		strings.Replace(indexYML("a", "b"), "{AttributeName: b, KeyType: HASH}", "{AttributeName: b, KeyType: HASH}, {AttributeName: a, KeyType: RANGE}", 1): "changing the key schema or projection of global secondary index by-b",
	} {
		_, err := p.Client.Deploy(ctx, writeIndexApp(t, yml), manifest.Options{}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("deploy error = %v, want %q", err, want)
		}
	}

	p.Deploy(writeIndexApp(t, indexYML("b")))
	d, err := db.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("idx-items")})
	if err != nil {
		t.Fatal(err)
	}
	if g := d.Table.GlobalSecondaryIndexes; len(g) != 1 || aws.ToString(g[0].IndexName) != "by-b" || aws.ToInt64(g[0].ItemCount) != 50 {
		t.Fatalf("indexes after removing by-a: %+v", g)
	}
	if got := queryAll(t, db, "idx-items", "by-b", "b = :v", item{":v": s("3")}); len(got) != 10 {
		t.Fatalf("by-b after removing by-a: %d items, want 10", len(got))
	}
}
