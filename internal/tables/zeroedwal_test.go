package tables

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/pebblewal"
)

// copyDir copies a store's files as they are now: with the store still open,
// the copy is what a crash at this moment leaves on disk (every acknowledged
// write is synced).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestZeroedWAL: the log is written with zeros ahead of its records, and a
// store reopens with every acknowledged write after a clean close and after a
// crash (the log's zeroed tail read as its end).
func TestZeroedWAL(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tables")
	s := quietService(t, dir)
	if _, err := s.CreateTable(ctx, TableSpec{TableName: "wal", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
		t.Fatal(err)
	}
	payload := S(strings.Repeat("x", 1000))
	const n = 1500 // 1.5 MB of records: memtables (and logs) of 256 KB, 512 KB, ...
	for i := range n {
		if _, err := s.PutItem(ctx, PutInput{Table: "wal", Item: Item{"id": S(fmt.Sprint(i)), "data": payload}}); err != nil {
			t.Fatal(err)
		}
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no write-ahead log in %s (%v)", dir, err)
	}
	for _, name := range logs {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 || fi.Size()%pebblewal.ZeroChunk != 0 {
			t.Fatalf("log %s is %d bytes, not written ahead in whole chunks", name, fi.Size())
		}
	}

	crashed := filepath.Join(t.TempDir(), "crashed")
	copyDir(t, dir, crashed)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, crashed} {
		s := quietService(t, d)
		for i := range n {
			item, err := s.GetItem(ctx, GetInput{Table: "wal", Key: Item{"id": S(fmt.Sprint(i))}})
			if err != nil {
				t.Fatal(err)
			}
			if item == nil || !item["data"].Equal(payload) {
				t.Fatalf("%s: item %d is %v after reopening", filepath.Base(d), i, item)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
