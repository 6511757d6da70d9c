package dynamodb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestBatchGetResponseLimit: a BatchGetItem whose items pass 16 MB answers
// what it read and returns the rest as UnprocessedKeys, which a second
// call reads; ConsumedCapacity counts each table's items (4 KB units,
// halved for eventually consistent reads).
func TestBatchGetResponseLimit(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "big", "")
	createTable(t, c, "small", "")
	const items = 45 // × 390 KB > 16 MB
	blob := s(strings.Repeat("b", 390*1024))
	var keys []map[string]types.AttributeValue
	for i := 0; i < items; i++ {
		k := item{"pk": s(fmt.Sprint(i))}
		keys = append(keys, k)
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("big"), Item: item{"pk": s(fmt.Sprint(i)), "blob": blob}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("small"), Item: item{"pk": s("x"), "v": n("1")}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		RequestItems: map[string]types.KeysAndAttributes{"big": {Keys: keys}, "small": {Keys: []map[string]types.AttributeValue{{"pk": s("x")}}, ConsistentRead: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	got := len(out.Responses["big"])
	left := len(out.UnprocessedKeys["big"].Keys)
	if got == 0 || left == 0 || got+left != items || got > 16*1024/390+1 {
		t.Fatalf("read %d, unprocessed %d of %d", got, left, items)
	}
	// Tables are read in name order: small comes after big's limit.
	if len(out.Responses["small"]) != 0 || len(out.UnprocessedKeys["small"].Keys) != 1 || !aws.ToBool(out.UnprocessedKeys["small"].ConsistentRead) {
		t.Errorf("small: read %v, unprocessed %+v", out.Responses["small"], out.UnprocessedKeys["small"])
	}
	units := map[string]float64{}
	for _, cc := range out.ConsumedCapacity {
		units[aws.ToString(cc.TableName)] = aws.ToFloat64(cc.CapacityUnits)
	}
	if units["big"] != float64(got)*98/2 { // 390 KB = 98 units of 4 KB, halved
		t.Errorf("consumed capacity = %v, want big %v", units, float64(got)*98/2)
	}
	again, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: out.UnprocessedKeys, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Responses["big"]) != left || len(again.Responses["small"]) != 1 || len(again.UnprocessedKeys) != 0 {
		t.Fatalf("second call read %d of %d and %v, unprocessed %v", len(again.Responses["big"]), left, again.Responses["small"], again.UnprocessedKeys)
	}
	for _, cc := range again.ConsumedCapacity {
		if aws.ToString(cc.TableName) == "small" && aws.ToFloat64(cc.CapacityUnits) != 1 {
			t.Errorf("a consistent read of a small item: %v units, want 1", aws.ToFloat64(cc.CapacityUnits))
		}
	}
}

// TestBatchAndTransactionCapacity: BatchWriteItem reports a unit per KB
// written per table (deleting nothing costs one), TransactWriteItems twice
// that, TransactGetItems twice a consistent read.
func TestBatchAndTransactionCapacity(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "cap-a", "")
	createTable(t, c, "cap-b", "")
	kb3 := s(strings.Repeat("x", 2500)) // with its key: 3 KB
	units := func(list []types.ConsumedCapacity) map[string]float64 {
		m := map[string]float64{}
		for _, cc := range list {
			m[aws.ToString(cc.TableName)] = aws.ToFloat64(cc.CapacityUnits)
		}
		return m
	}
	bw, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, RequestItems: map[string][]types.WriteRequest{
		"cap-a": {{PutRequest: &types.PutRequest{Item: item{"pk": s("1"), "v": kb3}}}, {PutRequest: &types.PutRequest{Item: item{"pk": s("2")}}}},
		"cap-b": {{DeleteRequest: &types.DeleteRequest{Key: item{"pk": s("none")}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := units(bw.ConsumedCapacity); got["cap-a"] != 4 || got["cap-b"] != 1 {
		t.Errorf("BatchWriteItem capacity = %v, want cap-a 4, cap-b 1", got)
	}
	tw, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("cap-a"), Item: item{"pk": s("3"), "v": kb3}}},
		{Put: &types.Put{TableName: aws.String("cap-b"), Item: item{"pk": s("1")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := units(tw.ConsumedCapacity); got["cap-a"] != 6 || got["cap-b"] != 2 {
		t.Errorf("TransactWriteItems capacity = %v, want cap-a 6, cap-b 2", got)
	}
	tg, err := c.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String("cap-a"), Key: item{"pk": s("1")}}},
		{Get: &types.Get{TableName: aws.String("cap-a"), Key: item{"pk": s("3")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := units(tg.ConsumedCapacity); got["cap-a"] != 4 {
		t.Errorf("TransactGetItems capacity = %v, want cap-a 4", got)
	}
}
