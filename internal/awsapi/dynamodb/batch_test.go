package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestBatchWriteAndGet(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "left", "")
	createTable(t, c, "right", "sk")
	var puts []types.WriteRequest
	for i := 0; i < 20; i++ {
		puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: item{"pk": s(fmt.Sprint(i)), "v": n(fmt.Sprint(i))}}})
	}
	out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"left":  puts,
		"right": {{PutRequest: &types.PutRequest{Item: item{"pk": s("a"), "sk": n("1")}}}, {PutRequest: &types.PutRequest{Item: item{"pk": s("a"), "sk": n("2")}}}},
	}})
	if err != nil || len(out.UnprocessedItems) != 0 {
		t.Fatalf("batch write = %v, %v", out, err)
	}
	_, err = c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"left": {{DeleteRequest: &types.DeleteRequest{Key: item{"pk": s("0")}}}, {DeleteRequest: &types.DeleteRequest{Key: item{"pk": s("nothere")}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []item
	for i := 0; i < 20; i++ {
		keys = append(keys, item{"pk": s(fmt.Sprint(i))})
	}
	got, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		"left":  {Keys: keys, ProjectionExpression: aws.String("v")},
		"right": {Keys: []item{{"pk": s("a"), "sk": n("2")}, {"pk": s("b"), "sk": n("2")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Responses["left"]) != 19 || len(got.Responses["right"]) != 1 || len(got.UnprocessedKeys) != 0 {
		t.Fatalf("batch get = %d left, %d right", len(got.Responses["left"]), len(got.Responses["right"]))
	}
	if len(got.Responses["left"][0]) != 1 {
		t.Fatalf("projection ignored: %v", got.Responses["left"][0])
	}
	too := append(puts, puts[:6]...)
	_, err = c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"left": too}})
	apiError(t, err, "ValidationException", "Too many items requested for the BatchWriteItem call")
	_, err = c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"left": {puts[1], puts[1]}}})
	apiError(t, err, "ValidationException", "Provided list of item keys contains duplicates")
	var many []item
	for i := 0; i < 101; i++ {
		many = append(many, item{"pk": s(fmt.Sprint(i))})
	}
	_, err = c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"left": {Keys: many}}})
	apiError(t, err, "ValidationException", "Too many items requested for the BatchGetItem call")
}

func TestSecondaryIndexes(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String("orders"),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("customer"), AttributeType: "S"}, {AttributeName: aws.String("id"), AttributeType: "S"},
			{AttributeName: aws.String("status"), AttributeType: "S"}, {AttributeName: aws.String("total"), AttributeType: "N"},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("customer"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("id"), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String("by-status"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("status"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("total"), KeyType: types.KeyTypeRange}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
			{IndexName: aws.String("by-status-all"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("status"), KeyType: types.KeyTypeHash}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}},
		},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{
			{IndexName: aws.String("by-total"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("customer"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("total"), KeyType: types.KeyTypeRange}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"note"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil || len(desc.Table.GlobalSecondaryIndexes) != 2 || len(desc.Table.LocalSecondaryIndexes) != 1 || desc.Table.GlobalSecondaryIndexes[0].IndexStatus != types.IndexStatusActive {
		t.Fatalf("describe = %+v, %v", desc.Table, err)
	}
	put := func(customer, id, status string, total int) {
		t.Helper()
		it := item{"customer": s(customer), "id": s(id), "total": n(fmt.Sprint(total)), "note": s("n-" + id), "extra": s("e")}
		if status != "" {
			it["status"] = s(status)
		}
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	put("alice", "o1", "open", 30)
	put("alice", "o2", "shipped", 10)
	put("bob", "o3", "open", 20)
	put("bob", "o4", "", 5) // no status: not in the GSIs (sparse)
	put("carol", "o5", "open", 40)
	query := func(index, kc string, values item, forward bool) []item {
		t.Helper()
		in := &dynamodb.QueryInput{TableName: aws.String("orders"), IndexName: aws.String(index), KeyConditionExpression: aws.String(kc),
			ExpressionAttributeValues: values, ScanIndexForward: aws.Bool(forward)}
		if strings.Contains(kc, "#s") {
			in.ExpressionAttributeNames = map[string]string{"#s": "status"}
			if strings.Contains(kc, "#t") { // status and total are reserved words
				in.ExpressionAttributeNames["#t"] = "total"
			}
		}
		out, err := c.Query(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.Items
	}
	open := query("by-status", "#s = :s", item{":s": s("open")}, true)
	if len(open) != 3 || open[0]["total"].(*types.AttributeValueMemberN).Value != "20" || open[2]["id"].(*types.AttributeValueMemberS).Value != "o5" {
		t.Fatalf("open orders by total: %v", open)
	}
	if _, ok := open[0]["note"]; ok {
		t.Fatal("KEYS_ONLY index returned a non-key attribute")
	}
	if len(open[0]) != 4 { // customer, id, status, total
		t.Fatalf("KEYS_ONLY entry = %v", open[0])
	}
	if hi := query("by-status", "#s = :s AND #t > :t", item{":s": s("open"), ":t": n("25")}, false); len(hi) != 2 || hi[0]["id"].(*types.AttributeValueMemberS).Value != "o5" {
		t.Fatalf("open orders over 25, descending: %v", hi)
	}
	all := query("by-status-all", "#s = :s", item{":s": s("open")}, true)
	if len(all) != 3 || all[0]["extra"] == nil {
		t.Fatalf("ALL projection: %v", all)
	}
	lsi := query("by-total", "customer = :c", item{":c": s("alice")}, true)
	if len(lsi) != 2 || lsi[0]["id"].(*types.AttributeValueMemberS).Value != "o2" || lsi[0]["note"] == nil || lsi[0]["extra"] != nil {
		t.Fatalf("LSI with INCLUDE: %v", lsi)
	}
	// Changing and removing the index key moves the entry.
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("orders"), Key: item{"customer": s("alice"), "id": s("o1")},
		UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: item{":s": s("shipped")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("orders"), Key: item{"customer": s("carol"), "id": s("o5")}}); err != nil {
		t.Fatal(err)
	}
	if open := query("by-status", "#s = :s", item{":s": s("open")}, true); len(open) != 1 {
		t.Fatalf("open after changes: %v", open)
	}
	if shipped := query("by-status-all", "#s = :s", item{":s": s("shipped")}, true); len(shipped) != 2 {
		t.Fatalf("shipped after changes: %v", shipped)
	}
	// Paging through an index.
	pager := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String("orders"), IndexName: aws.String("by-status"), Limit: aws.Int32(1)})
	count := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		count += len(page.Items)
	}
	if count != 3 {
		t.Fatalf("index scan saw %d entries", count)
	}
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: item{"customer": s("x"), "id": s("y"), "status": n("1")}})
	apiError(t, err, "ValidationException", "One or more parameter values were invalid: Type mismatch for Index Key status Expected: S Actual: N IndexName: by-status")
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("orders"), IndexName: aws.String("nope"), KeyConditionExpression: aws.String("customer = :c"), ExpressionAttributeValues: item{":c": s("a")}})
	apiError(t, err, "ValidationException", "The table does not have the specified index: nope")
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("orders"), IndexName: aws.String("by-status"), Select: types.SelectAllAttributes,
		KeyConditionExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: item{":s": s("open")}})
	apiError(t, err, "ValidationException", "Select type ALL_ATTRIBUTES is not supported for global secondary index by-status")
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("orders"), IndexName: aws.String("by-status"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: item{":s": s("open")}})
	apiError(t, err, "ValidationException", "Consistent reads are not supported on global secondary indexes")
}

func TestTransactions(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "accounts", "")
	createTable(t, c, "ledger", "")
	for _, id := range []string{"a", "b"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("accounts"), Item: item{"pk": s(id), "balance": n("100")}}); err != nil {
			t.Fatal(err)
		}
	}
	transfer := func(from, to string, amount int, entry string) error {
		v := item{":amt": n(fmt.Sprint(amount))}
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: aws.String("accounts"), Key: item{"pk": s(from)}, UpdateExpression: aws.String("SET balance = balance - :amt"),
				ConditionExpression: aws.String("balance >= :amt"), ExpressionAttributeValues: v}},
			{Update: &types.Update{TableName: aws.String("accounts"), Key: item{"pk": s(to)}, UpdateExpression: aws.String("SET balance = balance + :amt"), ExpressionAttributeValues: v}},
			{Put: &types.Put{TableName: aws.String("ledger"), Item: item{"pk": s(entry), "amount": n(fmt.Sprint(amount))}, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		}})
		return err
	}
	if err := transfer("a", "b", 30, "t1"); err != nil {
		t.Fatal(err)
	}
	// Not enough money: nothing of the transaction happens.
	err := transfer("a", "b", 500, "t2")
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != 3 || *tce.CancellationReasons[0].Code != "ConditionalCheckFailed" || *tce.CancellationReasons[1].Code != "None" {
		t.Fatalf("error = %v", err)
	}
	// A repeated ledger entry cancels too.
	if err := transfer("b", "a", 1, "t1"); !errors.As(err, &tce) || *tce.CancellationReasons[2].Code != "ConditionalCheckFailed" {
		t.Fatalf("error = %v", err)
	}
	balances := func() (int, int) {
		out, err := c.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
			{Get: &types.Get{TableName: aws.String("accounts"), Key: item{"pk": s("a")}}},
			{Get: &types.Get{TableName: aws.String("accounts"), Key: item{"pk": s("b")}}},
			{Get: &types.Get{TableName: aws.String("ledger"), Key: item{"pk": s("t2")}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Responses[2].Item != nil {
			t.Fatal("the canceled transaction's ledger entry exists")
		}
		var a, b int
		fmt.Sscan(out.Responses[0].Item["balance"].(*types.AttributeValueMemberN).Value, &a)
		fmt.Sscan(out.Responses[1].Item["balance"].(*types.AttributeValueMemberN).Value, &b)
		return a, b
	}
	if a, b := balances(); a != 70 || b != 130 {
		t.Fatalf("balances %d, %d", a, b)
	}
	// Concurrent transfers keep the total.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			from, to := "a", "b"
			if i%2 == 1 {
				from, to = "b", "a"
			}
			_ = transfer(from, to, 7, fmt.Sprintf("c%d", i))
		}(i)
	}
	wg.Wait()
	if a, b := balances(); a+b != 200 {
		t.Fatalf("balances %d + %d after concurrent transfers", a, b)
	}
	// A ClientRequestToken makes a repeat a no-op, and a different request
	// under the same token an error.
	bump := func(amount string) error {
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String("token-1"), TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: aws.String("ledger"), Key: item{"pk": s("counter")}, UpdateExpression: aws.String("ADD hits :n"), ExpressionAttributeValues: item{":n": n(amount)}}},
		}})
		return err
	}
	for i := 0; i < 3; i++ {
		if err := bump("1"); err != nil {
			t.Fatal(err)
		}
	}
	counter, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("ledger"), Key: item{"pk": s("counter")}})
	if err != nil || !reflect.DeepEqual(counter.Item["hits"], n("1")) {
		t.Fatalf("counter after three tries with one token: %v, %v", counter.Item, err)
	}
	apiError(t, bump("2"), "IdempotentParameterMismatchException", "")

	_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("accounts"), Key: item{"pk": s("a")}, ConditionExpression: aws.String("attribute_exists(pk)")}},
		{Delete: &types.Delete{TableName: aws.String("accounts"), Key: item{"pk": s("a")}}},
	}})
	apiError(t, err, "ValidationException", "Transaction request cannot include multiple operations on one item")
}
