package dynamodb_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestLegacyParameters: the pre-expression parameters older apps send.
func TestLegacyParameters(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "old", "sk")
	tbl := aws.String("old")
	for i, name := range []string{"ann", "bob", "cat", "dan"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("p"), "sk": n(string(rune('1' + i))), "name": s(name), "tags": &types.AttributeValueMemberSS{Value: []string{name, "all"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Expected: Exists false refuses an existing item.
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("p"), "sk": n("1")},
		Expected: map[string]types.ExpectedAttributeValue{"pk": {Exists: aws.Bool(false)}}})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("Expected Exists=false: %v", err)
	}
	// Expected with a value and AttributeUpdates.
	out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: item{"pk": s("p"), "sk": n("1")},
		Expected: map[string]types.ExpectedAttributeValue{"name": {Value: s("ann")}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"name":   {Action: types.AttributeActionPut, Value: s("anne")},
			"visits": {Action: types.AttributeActionAdd, Value: n("2")},
			"tags":   {Action: types.AttributeActionDelete, Value: &types.AttributeValueMemberSS{Value: []string{"all"}}},
			"log":    {Action: types.AttributeActionAdd, Value: &types.AttributeValueMemberL{Value: []types.AttributeValue{s("first")}}},
		},
		ReturnValues: types.ReturnValueAllNew})
	if err != nil {
		t.Fatal(err)
	}
	want := item{"pk": s("p"), "sk": n("1"), "name": s("anne"), "visits": n("2"), "tags": &types.AttributeValueMemberSS{Value: []string{"ann"}},
		"log": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("first")}}}
	if !reflect.DeepEqual(out.Attributes, want) {
		t.Fatalf("after AttributeUpdates: %#v", out.Attributes)
	}
	// KeyConditions, QueryFilter, AttributesToGet.
	q, err := c.Query(ctx, &dynamodb.QueryInput{TableName: tbl,
		KeyConditions: map[string]types.Condition{
			"pk": {ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{s("p")}},
			"sk": {ComparisonOperator: types.ComparisonOperatorBetween, AttributeValueList: []types.AttributeValue{n("2"), n("4")}},
		},
		QueryFilter:     map[string]types.Condition{"name": {ComparisonOperator: types.ComparisonOperatorIn, AttributeValueList: []types.AttributeValue{s("bob"), s("dan")}}},
		AttributesToGet: []string{"name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Items) != 2 || !reflect.DeepEqual(q.Items[0], item{"name": s("bob")}) || q.ScannedCount != 3 {
		t.Fatalf("legacy query = %v (scanned %d)", q.Items, q.ScannedCount)
	}
	// ScanFilter with OR.
	sc, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl, ConditionalOperator: types.ConditionalOperatorOr, ScanFilter: map[string]types.Condition{
		"name":   {ComparisonOperator: types.ComparisonOperatorBeginsWith, AttributeValueList: []types.AttributeValue{s("c")}},
		"visits": {ComparisonOperator: types.ComparisonOperatorNotNull},
	}})
	if err != nil || sc.Count != 2 {
		t.Fatalf("legacy scan = %v, %v", sc, err)
	}
	g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: item{"pk": s("p"), "sk": n("2")}, AttributesToGet: []string{"name", "nothere"}})
	if err != nil || !reflect.DeepEqual(g.Item, item{"name": s("bob")}) {
		t.Fatalf("AttributesToGet = %v, %v", g.Item, err)
	}
	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: item{"pk": s("p"), "sk": n("2")}, AttributesToGet: []string{"name"}, ProjectionExpression: aws.String("sk")})
	apiError(t, err, "ValidationException", "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: tbl, KeyConditions: map[string]types.Condition{"pk": {ComparisonOperator: types.ComparisonOperatorEq}}})
	apiError(t, err, "ValidationException", "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator")
}
