package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func client(t *testing.T) *dynamodb.Client {
	t.Helper()
	p := testkit.Start(t, nil)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL()),
		Credentials:  p.Credentials(),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   testkit.HTTPClient(),
	})
}

// apiError asserts err is an AWS error with code and (when msg is not
// empty) a message containing msg.
func apiError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("error = %s: %s, want %s: %s", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func createTable(t *testing.T, c *dynamodb.Client, name string, rangeKey string) {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}
	if rangeKey != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(rangeKey), AttributeType: types.ScalarAttributeTypeN})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(rangeKey), KeyType: types.KeyTypeRange})
	}
	if _, err := c.CreateTable(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func TestTables(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	out, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:             aws.String("users"),
		AttributeDefinitions:  []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("ts"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("ts"), KeyType: types.KeyTypeRange}},
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := out.TableDescription
	if d.TableStatus != types.TableStatusActive || *d.TableArn != "arn:aws:dynamodb:us-east-1:000000000000:table/users" || len(d.KeySchema) != 2 || *d.ProvisionedThroughput.ReadCapacityUnits != 5 {
		t.Fatalf("description = %+v", d)
	}
	desc, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("users")})
	if err != nil || *desc.Table.KeySchema[1].AttributeName != "ts" || desc.Table.TableStatus != types.TableStatusActive {
		t.Fatalf("describe = %+v, %v", desc, err)
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("users"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	apiError(t, err, "ResourceInUseException", "Table already exists: users")

	_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nope")})
	apiError(t, err, "ResourceNotFoundException", "Requested resource not found")

	for i := 0; i < 5; i++ {
		createTable(t, c, fmt.Sprintf("tab%d", i), "")
	}
	var names []string
	var start *string
	for pages := 0; ; pages++ {
		l, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(2), ExclusiveStartTableName: start})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.TableNames) > 2 {
			t.Fatalf("page of %d names with Limit 2", len(l.TableNames))
		}
		names = append(names, l.TableNames...)
		if l.LastEvaluatedTableName == nil {
			break
		}
		start = l.LastEvaluatedTableName
	}
	if strings.Join(names, ",") != "tab0,tab1,tab2,tab3,tab4,users" {
		t.Fatalf("listed %v", names)
	}
	del, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("tab0")})
	if err != nil || *del.TableDescription.TableName != "tab0" {
		t.Fatalf("delete = %v, %v", del, err)
	}
	_, err = c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("tab0")})
	apiError(t, err, "ResourceNotFoundException", "Requested resource not found")
	// A table created again under a deleted name starts empty.
	createTable(t, c, "t1x", "")
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t1x"), Item: map[string]types.AttributeValue{"pk": s("a")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("t1x")}); err != nil {
		t.Fatal(err)
	}
	createTable(t, c, "t1x", "")
	sc, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("t1x")})
	if err != nil || sc.Count != 0 {
		t.Fatalf("scan of a recreated table: %v, %v", sc, err)
	}
}

func TestCreateTableValidation(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	def := func(name string, typ types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: typ}
	}
	key := func(name string, kt types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
	}
	for _, c2 := range []struct {
		name string
		in   dynamodb.CreateTableInput
		msg  string
	}{
		{"undefined key attribute", dynamodb.CreateTableInput{TableName: aws.String("tbl"), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{def("other", "S")}, KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeHash)}},
			"One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [id], AttributeDefinitions: [other]"},
		{"extra definition", dynamodb.CreateTableInput{TableName: aws.String("tbl"), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{def("id", "S"), def("x", "N")}, KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeHash)}},
			"One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"},
		{"range first", dynamodb.CreateTableInput{TableName: aws.String("tbl"), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{def("id", "S")}, KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeRange)}},
			"Invalid KeySchema: The first KeySchemaElement is not a HASH key type"},
		{"provisioned without throughput", dynamodb.CreateTableInput{TableName: aws.String("tbl"),
			AttributeDefinitions: []types.AttributeDefinition{def("id", "S")}, KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeHash)}},
			"One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"},
		{"bad name", dynamodb.CreateTableInput{TableName: aws.String("a b"), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{def("id", "S")}, KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeHash)}},
			"Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{"LSI without range key", dynamodb.CreateTableInput{TableName: aws.String("tbl"), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{def("id", "S"), def("x", "S")}, KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeHash)},
			LocalSecondaryIndexes: []types.LocalSecondaryIndex{{IndexName: aws.String("ix"), KeySchema: []types.KeySchemaElement{key("id", types.KeyTypeHash), key("x", types.KeyTypeRange)}, Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}},
			"Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"},
	} {
		t.Run(c2.name, func(t *testing.T) {
			_, err := c.CreateTable(ctx, &c2.in)
			apiError(t, err, "ValidationException", c2.msg)
		})
	}
}
