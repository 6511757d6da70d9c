package tables

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestConditionalWritesSerialise: optimistic increments (read, then write
// with "n = :old") from many goroutines lose no update: a condition is
// checked and the write applied under the item's lock.
func TestConditionalWritesSerialise(t *testing.T) {
	s := quietService(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateTable(ctx, TableSpec{TableName: "counters", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
		t.Fatal(err)
	}
	key := Item{"id": S("c")}
	if _, err := s.PutItem(ctx, PutInput{Table: "counters", Item: Item{"id": S("c"), "n": N("0")}}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var conflicts sync.Map
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for done := 0; done < each; {
				cur, err := s.GetItem(ctx, GetInput{Table: "counters", Key: key})
				if err != nil {
					t.Error(err)
					return
				}
				next, _ := addNumbers(cur["n"].S, "1", false)
				_, err = s.UpdateItem(ctx, UpdateInput{Table: "counters", Key: key, Update: "SET n = :next", Condition: Condition{Expression: "n = :old"},
					Values: map[string]Value{":next": N(next), ":old": cur["n"]}})
				if IsKind(err, KindConditionFailed) {
					conflicts.Store(w, true)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				done++
			}
		}(w)
	}
	wg.Wait()
	got, err := s.GetItem(ctx, GetInput{Table: "counters", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(workers * each); got["n"].S != want {
		t.Fatalf("counter = %s after %s successful conditional increments", got["n"].S, want)
	}
}

// TestKeyOrder: strings and binaries order bytewise, whatever bytes they
// hold, and a value's encoding is a prefix of no other value's.
func TestKeyOrder(t *testing.T) {
	vals := []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "\xff\xff"}
	var keys [][]byte
	for _, v := range vals {
		keys = append(keys, appendKeyValue(nil, B([]byte(v))))
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
		t.Fatal("binary keys are not in byte order")
	}
	for i := range keys {
		for j := range keys {
			if i != j && bytes.HasPrefix(keys[j], keys[i]) {
				t.Fatalf("encoding of %q is a prefix of %q's", vals[i], vals[j])
			}
		}
	}
	// begins_with's range holds exactly the values with the prefix.
	prefix := appendKeyPrefix(nil, S("a"))
	end := prefixEnd(prefix)
	for i, k := range keys {
		in := bytes.Compare(k, prefix) >= 0 && bytes.Compare(k, end) < 0
		if want := len(vals[i]) > 0 && vals[i][0] == 'a'; in != want {
			t.Errorf("%q in begins_with(a) range = %v", vals[i], in)
		}
	}
}

// TestDeleteTableDuringWrites: a write racing DeleteTable either lands
// before the deletion (and is deleted with the table) or fails with
// ResourceNotFoundException; nothing is left behind under the old table.
func TestDeleteTableDuringWrites(t *testing.T) {
	s := quietService(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	spec := TableSpec{TableName: "doomed", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}
	tbl, err := s.CreateTable(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := s.PutItem(ctx, PutInput{Table: "doomed", Item: Item{"id": S(fmt.Sprint(w, "-", i))}})
				if IsKind(err, KindNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	for {
		page, err := s.Scan(ctx, ScanInput{ReadInput: ReadInput{Table: "doomed", Select: SelectCount}})
		if err != nil {
			t.Fatal(err)
		}
		if page.Count >= 20 {
			break
		}
	}
	if _, err := s.DeleteTable(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	prefix := tablePrefix(tbl.ID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if it.First() {
		t.Fatalf("data left under the deleted table: %x", it.Key())
	}
}
