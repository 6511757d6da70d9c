package pebblewal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestZeroedWALFile: records land where they would without the zeros, and
// the file grows in whole chunks ahead of them, across chunk boundaries and
// for a write larger than a chunk.
func TestZeroedWALFile(t *testing.T) {
	fs := FS(vfs.Default)
	name := filepath.Join(t.TempDir(), "000007.log")
	f, err := fs.Create(name, "pebble-wal")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, size := range []int{100, ZeroChunk - 200, 50, 2*ZeroChunk + 3, 7} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, p...)
		if n, err := f.Write(p); n != size || err != nil {
			t.Fatalf("write %d: %d, %v", size, n, err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < int64(len(want)) || fi.Size()%ZeroChunk != 0 || fi.Size()-int64(len(want)) >= ZeroChunk {
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
