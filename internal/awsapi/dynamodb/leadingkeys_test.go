package dynamodb_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// tenantYML gives its function item access to the Tenants table, only in
// the partition "tenant-a" (ForAllValues:StringEquals dynamodb:LeadingKeys,
// the fine-grained access control pattern of AWS's documentation).
const tenantYML = `service: tenant
provider:
  name: aws
  runtime: nodejs20.x
  iam:
    role:
      statements:
        - Effect: Allow
          Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:Query, dynamodb:Scan,
                   dynamodb:BatchGetItem, dynamodb:BatchWriteItem]
          Resource:
            Fn::GetAtt: [Tenants, Arn]
          Condition:
            ForAllValues:StringEquals:
              dynamodb:LeadingKeys: [tenant-a]
functions:
  fn:
    handler: handler.handler
resources:
  Resources:
    Tenants:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: Tenants
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - {AttributeName: pk, AttributeType: S}
          - {AttributeName: sk, AttributeType: N}
        KeySchema:
          - {AttributeName: pk, KeyType: HASH}
          - {AttributeName: sk, KeyType: RANGE}
`

// TestLeadingKeysLimitAFunctionToItsPartition: with the credentials the
// platform gives the function, it reads and writes its own partition and is
// refused every other one (single items, Query, batches), and Scan, which
// cannot say which partitions it reads, is refused as AWS refuses it.
func TestLeadingKeysLimitAFunctionToItsPartition(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	p.Deploy(writeIndexApp(t, tenantYML))
	admin := awsddb.NewFromConfig(p.AWSConfig(), func(o *awsddb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	for _, pk := range []string{"tenant-a", "tenant-b"} {
		if _, err := admin.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Tenants"), Item: item{"pk": s(pk), "sk": n("1"), "v": s("of " + pk)}}); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := p.Auth.FunctionCredentials("tenant-dev-fn", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	fn := awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)})
	table := aws.String("Tenants")
	key := func(pk string) item { return item{"pk": s(pk), "sk": n("1")} }

	// Its own partition.
	got, err := fn.GetItem(ctx, &awsddb.GetItemInput{TableName: table, Key: key("tenant-a")})
	if err != nil || got.Item["v"].(*types.AttributeValueMemberS).Value != "of tenant-a" {
		t.Fatalf("own item: %v %v", got, err)
	}
	if _, err := fn.PutItem(ctx, &awsddb.PutItemInput{TableName: table, Item: item{"pk": s("tenant-a"), "sk": n("2")}}); err != nil {
		t.Fatalf("put own: %v", err)
	}
	if _, err := fn.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: table, Key: key("tenant-a"), UpdateExpression: aws.String("SET w = :w"),
		ExpressionAttributeValues: item{":w": s("x")}}); err != nil {
		t.Fatalf("update own: %v", err)
	}
	q, err := fn.Query(ctx, &awsddb.QueryInput{TableName: table, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("tenant-a")}})
	if err != nil || q.Count != 2 {
		t.Fatalf("query own: %v %v", q, err)
	}
	if _, err := fn.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"Tenants": {Keys: []item{key("tenant-a")}}}}); err != nil {
		t.Fatalf("batch get own: %v", err)
	}

	// Another partition, in every form.
	denied := func(what string, err error) {
		t.Helper()
		apiError(t, err, "AccessDeniedException", "is not authorized to perform: dynamodb:")
	}
	_, err = fn.GetItem(ctx, &awsddb.GetItemInput{TableName: table, Key: key("tenant-b")})
	denied("get", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: table, Item: item{"pk": s("tenant-b"), "sk": n("9")}})
	denied("put", err)
	_, err = fn.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: table, Key: key("tenant-b")})
	denied("delete", err)
	_, err = fn.Query(ctx, &awsddb.QueryInput{TableName: table, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("tenant-b")}})
	denied("query", err)
	_, err = fn.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"Tenants": {Keys: []item{key("tenant-a"), key("tenant-b")}}}})
	denied("batch get", err)
	_, err = fn.BatchWriteItem(ctx, &awsddb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"Tenants": {
		{PutRequest: &types.PutRequest{Item: item{"pk": s("tenant-a"), "sk": n("3")}}}, {PutRequest: &types.PutRequest{Item: item{"pk": s("tenant-b"), "sk": n("3")}}}}}})
	denied("batch write", err)
	_, err = fn.Scan(ctx, &awsddb.ScanInput{TableName: table})
	denied("scan", err)

	// Nothing refused changed anything.
	all, err := admin.Scan(ctx, &awsddb.ScanInput{TableName: table})
	if err != nil {
		t.Fatal(err)
	}
	if all.Count != 3 {
		t.Fatalf("table holds %d items after the refusals, want 3: %v", all.Count, all.Items)
	}
	b, err := admin.GetItem(ctx, &awsddb.GetItemInput{TableName: table, Key: key("tenant-b")})
	if err != nil || b.Item == nil {
		t.Fatalf("tenant-b's item after a refused delete: %v %v", b, err)
	}
}
