package dynamodb_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestRestart: tables, items and index entries are on disk and come back
// with the platform; table ids are not reused after a restart.
func TestRestart(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	newClient := func(url string) *dynamodb.Client {
		return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
			Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	}
	c := newClient(p.URL())
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("kept"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}, {AttributeName: aws.String("g"), AttributeType: "S"}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("by-g"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := item{"pk": s("a"), "g": s("group"), "n": n("1.5"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x")}}}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("kept"), Item: want}); err != nil {
		t.Fatal(err)
	}
	createTable(t, c, "dropped", "")
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("dropped"), Item: item{"pk": s("old")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("dropped")}); err != nil {
		t.Fatal(err)
	}

	p = p.Restart()
	c = newClient(p.URL())
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("kept"), Key: item{"pk": s("a")}})
	if err != nil || !reflect.DeepEqual(got.Item, want) {
		t.Fatalf("after restart: %v, %v", got.Item, err)
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("kept"), IndexName: aws.String("by-g"), KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: item{":g": s("group")}})
	if err != nil || q.Count != 1 {
		t.Fatalf("index after restart: %v, %v", q, err)
	}
	list, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || len(list.TableNames) != 1 || list.TableNames[0] != "kept" {
		t.Fatalf("tables after restart: %v, %v", list, err)
	}
	createTable(t, c, "dropped", "")
	sc, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("dropped")})
	if err != nil || sc.Count != 0 {
		t.Fatalf("recreated table after restart: %v, %v", sc, err)
	}
	other, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("kept")})
	if err != nil || other.Count != 1 {
		t.Fatalf("kept table after recreating another: %v, %v", other, err)
	}
}
