package tables

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBackfillResumesAfterRestart: the service closes while a new index is
// being backfilled; the next Open resumes the backfill and the index ends
// ACTIVE with every item.
func TestBackfillResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := quietService(t, dir)
	if _, err := s.CreateTable(ctx, TableSpec{TableName: "tab", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
		t.Fatal(err)
	}
	const items = 2000
	for i := 0; i < items; i++ {
		if _, err := s.PutItem(ctx, PutInput{Table: "tab", Item: Item{"id": S(fmt.Sprint(i)), "g": N(fmt.Sprint(i % 4))}}); err != nil {
			t.Fatal(err)
		}
	}
	_, sch, err := s.UpdateIndexes(ctx, "tab", []AttributeDefinition{{AttributeName: "g", AttributeType: "N"}},
		[]IndexUpdate{{Create: &IndexSpec{IndexName: "by-g", KeySchema: []KeyElement{{AttributeName: "g", KeyType: "HASH"}}, Projection: Projection{ProjectionType: "KEYS_ONLY"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sch.Indexes) != 1 || !sch.Indexes[0].Creating || sch.Indexes[0].ID != 1 {
		t.Fatalf("schema after create = %+v", sch.Indexes)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = quietService(t, dir)
	defer s.Close()
	tbl, err := s.DescribeTable(ctx, "tab")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for tbl.Index("by-g") == nil || tbl.Index("by-g").Creating {
		if time.Now().After(deadline) {
			t.Fatal("the index never became ACTIVE after the restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	total := 0
	for g := 0; g < 4; g++ {
		var start Item
		for {
			page, err := s.Query(ctx, QueryInput{ReadInput: ReadInput{Table: "tab", Index: "by-g", Values: map[string]Value{":g": N(fmt.Sprint(g))}, ExclusiveStartKey: start}, KeyCondition: "g = :g"})
			if err != nil {
				t.Fatal(err)
			}
			total += page.Count
			if start = page.LastEvaluatedKey; start == nil {
				break
			}
		}
	}
	if total != items {
		t.Fatalf("the index holds %d items, want %d", total, items)
	}
}
