package tables

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitStats polls TableStats until it reports count items of size bytes:
// after puts that skip reading the old item the figures are recounted
// lazily, so they settle rather than follow each write.
func waitStats(t *testing.T, s *Service, table string, count, size int64) {
	t.Helper()
	tb, err := s.table(table)
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err = s.TableStats(tb); err != nil {
			t.Fatal(err)
		}
		if st.ItemCount == count && st.TableSizeBytes == size {
			return
		}
	}
	t.Fatalf("stats of %s = %d items, %d bytes; want %d, %d", table, st.ItemCount, st.TableSizeBytes, count, size)
}

// TestBlindPutStatistics: PutItem on a table without indexes or stream
// skips reading the item it replaces; ItemCount and TableSizeBytes are then
// marked dirty and settle on the exact figures (inserts, overwrites,
// deletes), and what needs the old item still gets it.
func TestBlindPutStatistics(t *testing.T) {
	s := quietService(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateTable(ctx, TableSpec{TableName: "plain", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, "plain", 0, 0)
	tb, _ := s.table("plain")
	put := func(in PutInput) Item {
		t.Helper()
		in.Table = "plain"
		old, err := s.PutItem(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return old
	}
	put(PutInput{Item: Item{"id": S("a"), "v": S("xyz")}}) // 2+1 + 1+3 = 7 bytes
	if !tb.stats.dirty.Load() {
		t.Fatal("a put without condition, ReturnValues or capacity did not skip the read (figures not dirty)")
	}
	put(PutInput{Item: Item{"id": S("b")}}) // 3
	waitStats(t, s, "plain", 2, 10)
	put(PutInput{Item: Item{"id": S("a"), "v": S("xyzxyz")}}) // overwrite: 10
	waitStats(t, s, "plain", 2, 13)
	if _, err := s.DeleteItem(ctx, DeleteInput{Table: "plain", Key: Item{"id": S("b")}}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, "plain", 1, 10)

	// ALL_OLD, a condition and consumed capacity still read the old item.
	if old := put(PutInput{Item: Item{"id": S("a"), "v": S("q")}, ReturnValues: ReturnAllOld}); old["v"].S != "xyzxyz" {
		t.Errorf("ALL_OLD = %v, want the overwritten item", old)
	}
	if _, err := s.PutItem(ctx, PutInput{Table: "plain", Item: Item{"id": S("a")}, Condition: Condition{Expression: "attribute_not_exists(id)"}}); !IsKind(err, KindConditionFailed) {
		t.Errorf("conditional put over an existing item: %v, want ConditionalCheckFailedException", err)
	}
	put(PutInput{Item: Item{"id": S("big"), "v": S(strings.Repeat("x", 1500))}})
	var c Consumed
	put(PutInput{Item: Item{"id": S("big")}, Capacity: &c})
	if c.Table != 2 {
		t.Errorf("capacity of a small put over a 1.5 KB item = %v, want 2 (the larger item)", c.Table)
	}
	waitStats(t, s, "plain", 2, (2+1+1+1)+(2+3))
}

// TestBlindPutsAndConditionalWrites: puts and batch puts that skip the read, conditional
// creates and conditional deletes on one item from several goroutines keep
// the conditions' invariant (a create-if-absent succeeds only after a
// delete), and the figures settle on the item that is left (run with -race).
func TestBlindPutsAndConditionalWrites(t *testing.T) {
	s := quietService(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateTable(ctx, TableSpec{TableName: "race", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
		t.Fatal(err)
	}
	key := Item{"id": S("k")}
	var wg sync.WaitGroup
	var created, deleted int
	var mu sync.Mutex
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				switch (w + i) % 4 {
				case 0: // blind put: the item exists afterwards
					if _, err := s.PutItem(ctx, PutInput{Table: "race", Item: Item{"id": S("k"), "by": S("put")}}); err != nil {
						t.Error(err)
						return
					}
				case 3: // blind batch put (with another item), likewise
					if err := s.BatchWriteItem(ctx, map[string][]WriteRequest{"race": {{Put: Item{"id": S("k"), "by": S("batch")}}, {Put: Item{"id": S(fmt.Sprint("o", w))}}}}, nil); err != nil {
						t.Error(err)
						return
					}
				case 1: // create only if absent
					_, err := s.PutItem(ctx, PutInput{Table: "race", Item: Item{"id": S("k"), "by": S("create")}, Condition: Condition{Expression: "attribute_not_exists(id)"}})
					if err == nil {
						mu.Lock()
						created++
						mu.Unlock()
					} else if !IsKind(err, KindConditionFailed) {
						t.Error(err)
						return
					}
				case 2: // delete only if present
					_, err := s.DeleteItem(ctx, DeleteInput{Table: "race", Key: key, Condition: Condition{Expression: "attribute_exists(id)"}})
					if err == nil {
						mu.Lock()
						deleted++
						mu.Unlock()
					} else if !IsKind(err, KindConditionFailed) {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	// A create succeeds only on an absent item, and an item is absent only
	// after a successful delete (or at the start): creates ≤ deletes + 1.
	if created > deleted+1 {
		t.Errorf("%d creates-if-absent succeeded after only %d deletes", created, deleted)
	}
	if deleted == 0 {
		t.Error("no delete-if-present succeeded, though each worker puts before it deletes")
	}
	left, err := s.GetItem(ctx, GetInput{Table: "race", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	others := int64(4 * 4) // o0..o3: "id" and "oN", 4 bytes each
	if left == nil {
		waitStats(t, s, "race", 4, others)
	} else {
		waitStats(t, s, "race", 5, others+int64(left.Size()))
	}
}

// TestBlindBatchWrites: BatchWriteItem without consumed capacity on a
// table without indexes or stream writes without reading the items it
// replaces (the figures are marked dirty and settle on the exact ones);
// with capacity, or on a table with an index or a stream, in the same
// batch, the old items are still read: exact capacity, index figures and
// stream records.
func TestBlindBatchWrites(t *testing.T) {
	s := quietService(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	hashOnly := func(name string) TableSpec {
		return TableSpec{TableName: name, BillingMode: "PAY_PER_REQUEST",
			AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}
	}
	if _, err := s.CreateTable(ctx, hashOnly("plain")); err != nil {
		t.Fatal(err)
	}
	indexed := hashOnly("indexed")
	indexed.AttributeDefinitions = append(indexed.AttributeDefinitions, AttributeDefinition{AttributeName: "g", AttributeType: "S"})
	indexed.GlobalSecondaryIndexes = []IndexSpec{{IndexName: "by-g", KeySchema: []KeyElement{{AttributeName: "g", KeyType: "HASH"}}, Projection: Projection{ProjectionType: "KEYS_ONLY"}}}
	if _, err := s.CreateTable(ctx, indexed); err != nil {
		t.Fatal(err)
	}
	arn := streamTable(t, s, "streamed", ViewNewAndOldImage)
	plain, _ := s.table("plain")
	ix, _ := s.table("indexed")
	waitStats(t, s, "plain", 0, 0)
	waitStats(t, s, "indexed", 0, 0)
	batch := func(units map[string]float64, reqs map[string][]WriteRequest) {
		t.Helper()
		if err := s.BatchWriteItem(ctx, reqs, units); err != nil {
			t.Fatal(err)
		}
	}
	put := func(it Item) WriteRequest { return WriteRequest{Put: it} }
	del := func(id string) WriteRequest { return WriteRequest{DeleteKey: Item{"id": S(id)}} }

	batch(nil, map[string][]WriteRequest{
		"plain":    {put(Item{"id": S("a"), "v": S("xyz")}), put(Item{"id": S("b")})}, // 7 + 3 bytes
		"indexed":  {put(Item{"id": S("a"), "g": S("g1")}), put(Item{"id": S("b")})},  // 6 + 3, one index entry
		"streamed": {put(Item{"id": S("a"), "v": S("1")})},
	})
	if !plain.stats.dirty.Load() {
		t.Error("a batch without capacity on a plain table read the old items (figures not dirty)")
	}
	if ix.stats.dirty.Load() {
		t.Error("a batch on a table with an index did not follow its writes (figures dirty)")
	}
	waitStats(t, s, "plain", 2, 10)
	if st, err := s.TableStats(ix); err != nil || st.ItemCount != 2 || st.TableSizeBytes != 9 || st.Indexes["by-g"][0] != 1 {
		t.Errorf("indexed table figures = %+v, %v; want 2 items, 9 bytes, 1 index entry", st, err)
	}

	batch(nil, map[string][]WriteRequest{
		"plain":    {put(Item{"id": S("a"), "v": S("xyzxyz")}), del("b"), del("never")}, // a is 10 bytes now
		"indexed":  {put(Item{"id": S("a")}), put(Item{"id": S("b"), "g": S("g2")})},    // the entry moves from a to b
		"streamed": {put(Item{"id": S("a"), "v": S("2")}), put(Item{"id": S("b")})},
	})
	waitStats(t, s, "plain", 1, 10)
	if it, err := s.GetItem(ctx, GetInput{Table: "plain", Key: Item{"id": S("a")}}); err != nil || it["v"].S != "xyzxyz" {
		t.Errorf("plain a = %v, %v; want the overwritten item", it, err)
	}
	if it, err := s.GetItem(ctx, GetInput{Table: "plain", Key: Item{"id": S("b")}}); err != nil || it != nil {
		t.Errorf("plain b = %v, %v; want deleted", it, err)
	}
	if st, err := s.TableStats(ix); err != nil || st.ItemCount != 2 || st.TableSizeBytes != 1+3+5 || st.Indexes["by-g"][0] != 1 {
		t.Errorf("indexed table figures = %+v, %v; want 2 items, 9 bytes, 1 index entry", st, err)
	}
	q, err := s.Query(ctx, QueryInput{ReadInput: ReadInput{Table: "indexed", Index: "by-g", Values: map[string]Value{":g": S("g1")}}, KeyCondition: "g = :g"})
	if err != nil || len(q.Items) != 0 {
		t.Errorf("index entries of g1 after the move = %v, %v; want none", q, err)
	}
	batch(nil, map[string][]WriteRequest{"streamed": {del("a")}})
	var events []string
	for _, r := range readStream(t, s, arn) {
		_, img, old, err := r.Items()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, fmt.Sprintf("%s new=%s old=%s", r.EventName, img["v"].S, old["v"].S))
	}
	want := []string{"INSERT new=1 old=", "MODIFY new=2 old=1", "INSERT new= old=", "REMOVE new= old=2"}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("stream records = %q, want %q", events, want)
	}

	// Capacity depends on the old item: with units the old items are read.
	batch(nil, map[string][]WriteRequest{"plain": {put(Item{"id": S("big"), "v": S(strings.Repeat("x", 1500))})}})
	units := map[string]float64{}
	batch(units, map[string][]WriteRequest{"plain": {put(Item{"id": S("big")}), del("a")}})
	if units["plain"] != 2+1 {
		t.Errorf("capacity of a small put over a 1.5 KB item and a delete = %v, want 3", units["plain"])
	}
	waitStats(t, s, "plain", 1, 5)
}
