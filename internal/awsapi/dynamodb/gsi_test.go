package dynamodb_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// waitIndexActive polls DescribeTable until index is ACTIVE.
func waitIndexActive(t *testing.T, c *dynamodb.Client, table, index string) types.GlobalSecondaryIndexDescription {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := c.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		for _, ix := range d.Table.GlobalSecondaryIndexes {
			if aws.ToString(ix.IndexName) == index && ix.IndexStatus == types.IndexStatusActive {
				return ix
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("index %s of %s not ACTIVE: %+v", index, table, d.Table.GlobalSecondaryIndexes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queryAll reads every page of a query on an index.
func queryAll(t *testing.T, c *dynamodb.Client, table, index, kc string, values item) []item {
	t.Helper()
	var out []item
	var start map[string]types.AttributeValue
	for {
		page, err := c.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String(index),
			KeyConditionExpression: aws.String(kc), ExpressionAttributeValues: values, ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if page.LastEvaluatedKey == nil {
			return out
		}
		start = page.LastEvaluatedKey
	}
}

// TestGlobalIndexUpdates: UpdateTable deletes a global index (its entries
// go, and the index that was after it keeps its own), creates one that is
// CREATING while the existing items (more than one backfill chunk) are
// indexed alongside concurrent writes, then ACTIVE and queryable with every
// item, skipping items whose attribute has another type; DynamoDB's
// refusals for two changes at once, an existing name, an undefined key
// attribute and an unknown index.
func TestGlobalIndexUpdates(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	gsi := func(name, key string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}
	}
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("events"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"},
			{AttributeName: aws.String("a"), AttributeType: "S"}, {AttributeName: aws.String("b"), AttributeType: "S"}},
		KeySchema:              []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi("by-a", "a"), gsi("by-b", "b")},
	})
	if err != nil {
		t.Fatal(err)
	}
	const items = 600
	for i := 0; i < items; i++ {
		it := item{"pk": s(fmt.Sprint(i)), "a": s(fmt.Sprint("a", i%3)), "b": s(fmt.Sprint("b", i%2)), "grp": s(fmt.Sprint("g", i%5))}
		if i == 107 {
			it["grp"] = n("107") // another type than the new index's key: left out of it
		}
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("events"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}

	// Deleting the first index leaves the second's entries its own.
	del, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("events"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("by-a")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if g := del.TableDescription.GlobalSecondaryIndexes; len(g) != 1 || aws.ToString(g[0].IndexName) != "by-b" {
		t.Fatalf("after delete: %+v", g)
	}
	if ads := del.TableDescription.AttributeDefinitions; len(ads) != 2 {
		t.Errorf("attribute definitions after delete = %+v, want pk and b", ads)
	}
	if got := queryAll(t, c, "events", "by-b", "b = :v", item{":v": s("b1")}); len(got) != items/2 {
		t.Fatalf("by-b after deleting by-a: %d items, want %d", len(got), items/2)
	}
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("events"), IndexName: aws.String("by-a"),
		KeyConditionExpression: aws.String("a = :v"), ExpressionAttributeValues: item{":v": s("a1")}})
	apiError(t, err, "ValidationException", "The table does not have the specified index: by-a")

	// Refusals.
	create := func(name, attr string) types.GlobalSecondaryIndexUpdate {
		return types.GlobalSecondaryIndexUpdate{Create: &types.CreateGlobalSecondaryIndexAction{IndexName: aws.String(name),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(attr), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"a"}}}}
	}
	def := func(attr string, typ types.ScalarAttributeType) []types.AttributeDefinition {
		return []types.AttributeDefinition{{AttributeName: aws.String(attr), AttributeType: typ}}
	}
	_, err = c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("events"), AttributeDefinitions: def("grp", "S"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{create("x", "grp"), create("y", "grp")}})
	apiError(t, err, "LimitExceededException", "Only 1 online index can be created or deleted simultaneously per table")
	_, err = c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("events"), AttributeDefinitions: def("b", "S"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{create("by-b", "b")}})
	apiError(t, err, "ValidationException", "Attempting to create an index which already exists")
	_, err = c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("events"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{create("by-grp", "grp")}})
	apiError(t, err, "ValidationException", "Some index key attributes are not defined in AttributeDefinitions")
	_, err = c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("events"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("nope")}}}})
	apiError(t, err, "ResourceNotFoundException", "nope")

	// Create, with writers running beside the backfill.
	up, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("events"), AttributeDefinitions: def("grp", "S"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{create("by-grp", "grp")}})
	if err != nil {
		t.Fatal(err)
	}
	var created *types.GlobalSecondaryIndexDescription
	for i, ix := range up.TableDescription.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) == "by-grp" {
			created = &up.TableDescription.GlobalSecondaryIndexes[i]
		}
	}
	if created == nil || created.IndexStatus != types.IndexStatusCreating || !aws.ToBool(created.Backfilling) || up.TableDescription.TableStatus != types.TableStatusUpdating {
		t.Fatalf("UpdateTable answered %+v", up.TableDescription)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 100; i += 4 {
				// Moves items 0..99 from their group to g9 while the backfill runs.
				_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("events"), Key: item{"pk": s(fmt.Sprint(i))},
					UpdateExpression: aws.String("SET grp = :g"), ExpressionAttributeValues: item{":g": s("g9")}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitIndexActive(t, c, "events", "by-grp")
	total := 0
	for g := 0; g <= 9; g++ {
		got := queryAll(t, c, "events", "by-grp", "grp = :g", item{":g": s(fmt.Sprint("g", g))})
		want := 0
		for i := 100; i < items; i++ {
			if i%5 == g && i != 107 {
				want++
			}
		}
		if g == 9 {
			want = 100 // items 0..99, moved there during the backfill
		}
		if len(got) != want {
			t.Errorf("by-grp %d: %d items, want %d", g, len(got), want)
		}
		for _, it := range got {
			if len(it) != 3 { // pk, grp and the INCLUDEd a
				t.Fatalf("projected entry = %v", it)
			}
		}
		total += len(got)
	}
	if total != items-1 {
		t.Errorf("by-grp holds %d items, want %d (all but the one whose grp is a number)", total, items-1)
	}
}
