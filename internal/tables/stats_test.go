package tables

import (
	"context"
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

// TestBlindPutsAndConditionalWrites: puts that skip the read, conditional
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
			for i := 0; i < 50; i++ {
				switch (w + i) % 3 {
				case 0: // blind put: the item exists afterwards
					if _, err := s.PutItem(ctx, PutInput{Table: "race", Item: Item{"id": S("k"), "by": S("put")}}); err != nil {
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
	if left == nil {
		waitStats(t, s, "race", 0, 0)
	} else {
		waitStats(t, s, "race", 1, int64(left.Size()))
	}
}
