package pebblewal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// fullDiskFS makes the zero-fill's WriteAt fail with ENOSPC while full is
// set, as a disk that fills up between two records would.
type fullDiskFS struct {
	vfs.FS
	full *bool
}

func (fs fullDiskFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil {
		return nil, err
	}
	return fullDiskFile{f, fs.full}, nil
}

type fullDiskFile struct {
	vfs.File
	full *bool
}

func (f fullDiskFile) WriteAt(p []byte, off int64) (int, error) {
	if *f.full {
		// Part of the zeros reach the disk before it is full.
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// A zero-fill that fails fails the write it was for: the record is not
// written, so Pebble does not acknowledge it. The failure was ignored and
// the record written past the zeroed region; the next fill, once the disk
// had room again, started where the failed one had and wrote zeros over
// that record after its sync had acknowledged it.
func TestFailedFillFailsTheWrite(t *testing.T) {
	full := false
	fs := FS(fullDiskFS{vfs.Default, &full})
	name := filepath.Join(t.TempDir(), "000009.log")
	f, err := fs.Create(name, "pebble-wal")
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Repeat([]byte{'a'}, ZeroChunk-10)
	if n, err := f.Write(first); n != len(first) || err != nil {
		t.Fatalf("first record: %d, %v", n, err)
	}
	full = true
	second := bytes.Repeat([]byte{'b'}, 100) // crosses into the next chunk
	n, err := f.Write(second)
	if err == nil || !errors.Is(err, syscall.ENOSPC) || n != 0 {
		t.Errorf("a record past a failed zero-fill: %d, %v; want 0 and ENOSPC", n, err)
	}
	// Were the record acknowledged anyway, it must at least survive the next
	// fill: write the rest as a writer that ignored the error would.
	acked := first
	if n > 0 {
		acked = append(acked, second[:n]...)
	}
	full = false
	third := bytes.Repeat([]byte{'c'}, 100)
	if n, err := f.Write(third); n != len(third) || err != nil {
		t.Fatalf("record after the disk has room again: %d, %v", n, err)
	}
	acked = append(acked, third...)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(acked)], acked) {
		i := 0
		for i < len(acked) && got[i] == acked[i] {
			i++
		}
		t.Fatalf("the log differs from its written records at byte %d of %d", i, len(acked))
	}
}

// A record that ends exactly at a chunk's end grows nothing; the next byte
// grows the file by one whole chunk, and the records stay contiguous.
func TestGrowthAtARecordBoundary(t *testing.T) {
	fs := FS(vfs.Default)
	name := filepath.Join(t.TempDir(), "000011.log")
	f, err := fs.Create(name, "pebble-wal")
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var want []byte
	for _, c := range []struct {
		n    int
		size int64
	}{{ZeroChunk - 1, ZeroChunk}, {1, ZeroChunk}, {1, 2 * ZeroChunk}, {ZeroChunk - 1, 2 * ZeroChunk}, {ZeroChunk, 3 * ZeroChunk}} {
		p := bytes.Repeat([]byte{byte('a' + len(want)%26)}, c.n)
		if n, err := f.Write(p); n != c.n || err != nil {
			t.Fatal(n, err)
		}
		want = append(want, p...)
		if got := size(); got != c.size {
			t.Fatalf("after %d bytes the file is %d bytes, want %d", len(want), got, c.size)
		}
	}
	_ = f.Close()
	got, _ := os.ReadFile(name)
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatal("records moved")
	}
}
