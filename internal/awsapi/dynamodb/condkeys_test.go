package dynamodb_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// condKeysYML grants its function fine-grained access as AWS's documented
// policies do: Profiles only through the attributes pk, name and email
// (ForAllValues dynamodb:Attributes, with dynamodb:Select
// SPECIFIC_ATTRIBUTES if present); Audit only without ReturnValues beyond
// NONE/UPDATED_NEW and without consumed capacity; Owned only in the
// partition named by the caller's ${aws:userid}.
const condKeysYML = `service: ckeys
provider:
  name: aws
  runtime: nodejs20.x
  iam:
    role:
      statements:
        - Effect: Allow
          Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:Query, dynamodb:BatchGetItem, dynamodb:PartiQLSelect]
          Resource:
            Fn::GetAtt: [Profiles, Arn]
          Condition:
            ForAllValues:StringEquals:
              dynamodb:Attributes: [pk, name, email]
            StringEqualsIfExists:
              dynamodb:Select: SPECIFIC_ATTRIBUTES
        - Effect: Allow
          Action: [dynamodb:PutItem, dynamodb:UpdateItem]
          Resource:
            Fn::GetAtt: [Audit, Arn]
          Condition:
            StringEqualsIfExists:
              dynamodb:ReturnValues: [NONE, UPDATED_NEW]
              dynamodb:ReturnConsumedCapacity: NONE
        - Effect: Allow
          Action: [dynamodb:GetItem, dynamodb:PutItem]
          Resource:
            Fn::GetAtt: [Owned, Arn]
          Condition:
            ForAllValues:StringEquals:
              # IAM's own ${aws:userid}, which Serverless would read as
              # one of its variables, spelt through Fn::Join.
              dynamodb:LeadingKeys:
                - Fn::Join: ["", ["$", "{aws:userid}"]]
functions:
  fn:
    handler: handler.handler
resources:
  Resources:
    Profiles:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: Profiles
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
    Audit:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: Audit
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
    Owned:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: Owned
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
`

// TestConditionKeysOfRequests: a function holding the platform's
// credentials is allowed and refused by dynamodb:Attributes,
// dynamodb:Select, dynamodb:ReturnValues, dynamodb:ReturnConsumedCapacity
// and a ${aws:userid} policy variable, through aws-sdk-go-v2.
func TestConditionKeysOfRequests(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	p.Deploy(writeIndexApp(t, condKeysYML))
	admin := awsddb.NewFromConfig(p.AWSConfig(), func(o *awsddb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	if _, err := admin.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Profiles"),
		Item: item{"pk": s("u1"), "name": s("Ann"), "email": s("ann@example.com"), "secret": s("hunter2")}}); err != nil {
		t.Fatal(err)
	}
	fc, err := p.Auth.FunctionCredentials("ckeys-dev-fn", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	fn := awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)})
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want allowed", what, err)
		}
	}
	denied := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want AccessDeniedException", what)
			return
		}
		apiError(t, err, "AccessDeniedException", "is not authorized to perform: dynamodb:")
	}
	profiles := aws.String("Profiles")
	key := item{"pk": s("u1")}

	// dynamodb:Attributes and dynamodb:Select.
	got, err := fn.GetItem(ctx, &awsddb.GetItemInput{TableName: profiles, Key: key, ProjectionExpression: aws.String("#n, email"),
		ExpressionAttributeNames: map[string]string{"#n": "name"}})
	allowed("get of allowed attributes", err)
	if err == nil && (len(got.Item) != 2 || got.Item["name"].(*types.AttributeValueMemberS).Value != "Ann") {
		t.Errorf("get of allowed attributes = %v", got.Item)
	}
	_, err = fn.GetItem(ctx, &awsddb.GetItemInput{TableName: profiles, Key: key})
	denied("get of the whole item (Select ALL_ATTRIBUTES)", err)
	_, err = fn.GetItem(ctx, &awsddb.GetItemInput{TableName: profiles, Key: key, ProjectionExpression: aws.String("email, secret")})
	denied("get of a disallowed attribute", err)
	_, err = fn.GetItem(ctx, &awsddb.GetItemInput{TableName: profiles, Key: key, AttributesToGet: []string{"name"}})
	allowed("get with legacy AttributesToGet", err)
	_, err = fn.BatchGetItem(ctx, &awsddb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"Profiles": {Keys: []item{key}, ProjectionExpression: aws.String("secret")}}})
	denied("batch get of a disallowed attribute", err)
	_, err = fn.Query(ctx, &awsddb.QueryInput{TableName: profiles, KeyConditionExpression: aws.String("pk = :p"), ProjectionExpression: aws.String("email"),
		ExpressionAttributeValues: item{":p": s("u1")}})
	allowed("query of allowed attributes", err)
	_, err = fn.Query(ctx, &awsddb.QueryInput{TableName: profiles, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("u1")}})
	denied("query of whole items", err)
	_, err = fn.Query(ctx, &awsddb.QueryInput{TableName: profiles, KeyConditionExpression: aws.String("pk = :p"), ProjectionExpression: aws.String("email"),
		FilterExpression: aws.String("secret = :s"), ExpressionAttributeValues: item{":p": s("u1"), ":s": s("hunter2")}})
	denied("query filtering on a disallowed attribute", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: profiles, Item: item{"pk": s("u2"), "name": s("Bob")}})
	allowed("put of allowed attributes", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: profiles, Item: item{"pk": s("u3"), "secret": s("x")}})
	denied("put of a disallowed attribute", err)
	_, err = fn.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: profiles, Key: key, UpdateExpression: aws.String("SET email = :e"),
		ExpressionAttributeValues: item{":e": s("a@example.com")}})
	allowed("update of an allowed attribute", err)
	_, err = fn.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: profiles, Key: key, UpdateExpression: aws.String("REMOVE secret")})
	denied("update of a disallowed attribute", err)
	_, err = fn.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: profiles, Key: key, UpdateExpression: aws.String("SET email = :e"),
		ConditionExpression: aws.String("attribute_exists(secret)"), ExpressionAttributeValues: item{":e": s("b@example.com")}})
	denied("update conditioned on a disallowed attribute", err)

	_, err = fn.ExecuteStatement(ctx, &awsddb.ExecuteStatementInput{Statement: aws.String(`SELECT email FROM "Profiles" WHERE pk = 'u1'`)})
	denied("PartiQL, whose attributes are not worked out", err)

	// dynamodb:ReturnValues and dynamodb:ReturnConsumedCapacity.
	audit := aws.String("Audit")
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: audit, Item: item{"pk": s("a")}})
	allowed("put without ReturnValues", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: audit, Item: item{"pk": s("a")}, ReturnValues: types.ReturnValueNone})
	allowed("put with ReturnValues NONE", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: audit, Item: item{"pk": s("a")}, ReturnValues: types.ReturnValueAllOld})
	denied("put with ReturnValues ALL_OLD", err)
	_, err = fn.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: audit, Key: item{"pk": s("a")}, UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: item{":v": n("1")}, ReturnValues: types.ReturnValueUpdatedNew})
	allowed("update with ReturnValues UPDATED_NEW", err)
	_, err = fn.UpdateItem(ctx, &awsddb.UpdateItemInput{TableName: audit, Key: item{"pk": s("a")}, UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: item{":v": n("2")}, ReturnValues: types.ReturnValueAllNew})
	denied("update with ReturnValues ALL_NEW", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: audit, Item: item{"pk": s("b")}, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	denied("put with ReturnConsumedCapacity TOTAL", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: audit, Item: item{"pk": s("b")}, ReturnConsumedCapacity: types.ReturnConsumedCapacityNone})
	allowed("put with ReturnConsumedCapacity NONE", err)

	// ${aws:userid}: the assumed role's id and the function's name.
	owned := aws.String("Owned")
	uid := auth.RoleID(appspec.AccountID, "ckeys-dev-us-east-1-lambdaRole") + ":ckeys-dev-fn"
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: owned, Item: item{"pk": s(uid), "v": s("mine")}})
	allowed("put in the caller's own partition", err)
	_, err = fn.GetItem(ctx, &awsddb.GetItemInput{TableName: owned, Key: item{"pk": s(uid)}})
	allowed("get in the caller's own partition", err)
	_, err = fn.PutItem(ctx, &awsddb.PutItemInput{TableName: owned, Item: item{"pk": s("someone-else")}})
	denied("put in another partition", err)

	// Nothing refused changed anything.
	all, err := admin.Scan(ctx, &awsddb.ScanInput{TableName: profiles})
	if err != nil {
		t.Fatal(err)
	}
	if all.Count != 2 {
		t.Errorf("Profiles holds %d items, want 2 (u1 and u2)", all.Count)
	}
	u1, err := admin.GetItem(ctx, &awsddb.GetItemInput{TableName: profiles, Key: key})
	if err != nil || u1.Item["secret"] == nil || u1.Item["email"].(*types.AttributeValueMemberS).Value != "a@example.com" {
		t.Errorf("u1 after the function's updates = %v, %v", u1, err)
	}
}
