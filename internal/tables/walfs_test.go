package tables

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
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
		if fi.Size() == 0 || fi.Size()%walZeroChunk != 0 {
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

// TestZeroedWALFile: records land where they would without the zeros, and
// the file grows in whole chunks ahead of them, across chunk boundaries and
// for a write larger than a chunk.
func TestZeroedWALFile(t *testing.T) {
	fs := zeroedWALFS{vfs.Default}
	name := filepath.Join(t.TempDir(), "000007.log")
	f, err := fs.Create(name, "pebble-wal")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, size := range []int{100, walZeroChunk - 200, 50, 2*walZeroChunk + 3, 7} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, p...)
		if n, err := f.Write(p); n != size || err != nil {
			t.Fatalf("write %d: %d, %v", size, n, err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < int64(len(want)) || fi.Size()%walZeroChunk != 0 || fi.Size()-int64(len(want)) >= walZeroChunk {
			t.Fatalf("after %d bytes of records the file is %d bytes", len(want), fi.Size())
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(want)], want) || bytes.ContainsFunc(got[len(want):], func(r rune) bool { return r != 0 }) {
		t.Fatal("the file is not the records followed by zeros")
	}
	// Other files are Pebble's own.
	other := filepath.Join(t.TempDir(), "000008.sst")
	g, err := fs.Create(other, "pebble-data")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.(*zeroedWAL); ok {
		t.Fatal("an sstable was zero-filled")
	}
	_ = g.Close()
}
