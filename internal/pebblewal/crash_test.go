package pebblewal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashImage copies a store's files while it is open: what a crash at this
// moment leaves on disk (every acknowledged write is synced).
func crashImage(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	return to
}

func openStore(dir string, reused *atomic.Int64) (*pebble.DB, error) {
	return pebble.Open(dir, &pebble.Options{FS: FS(recyclingFS{vfs.Default, reused}), MemTableSize: 256 << 10, Logger: quiet{},
		FormatMajorVersion: Format})
}

// recyclingFS counts the logs Pebble recycles.
type recyclingFS struct {
	vfs.FS
	reused *atomic.Int64
}

func (fs recyclingFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	fs.reused.Add(1)
	return fs.FS.ReuseForWrite(oldname, newname, category)
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// newestLog is the store's newest write-ahead log and where its records end
// (the zeros start).
func newestLog(t *testing.T, dir string) (string, int) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no log in %s", dir)
	}
	sort.Strings(logs)
	name := logs[len(logs)-1]
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	end := len(bytes.TrimRight(data, "\x00"))
	if len(data)%ZeroChunk != 0 || end == 0 || end == len(data) {
		t.Fatalf("log %s: %d bytes, records end at %d: not a zeroed log with records", name, len(data), end)
	}
	return name, end
}

func patch(t *testing.T, name string, off int, p []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, int64(off)); err != nil {
		t.Fatal(err)
	}
}

// Crash images of a store on zeroed logs, past memtable rotations (so older
// logs were closed with their trailers, and some recycled): as they are,
// every acknowledged write is back; with the newest record torn (a crash
// during its write, before its sync acknowledged it) every earlier one is;
// with bytes of a torn later write in the zeros after the last record, every
// one is.
func TestCrashImagesOfZeroedLogs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var reused atomic.Int64
	db, err := openStore(dir, &reused)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := bytes.Repeat([]byte{'v'}, 1000)
	const n = 2000 // 2 MB: several 256 KB memtables and their logs
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	for i := range n {
		if err := db.Set(key(i), value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if reused.Load() == 0 {
		t.Fatal("no log was recycled: the test does not cover ReuseForWrite")
	}
	check := func(dir string, want int) {
		t.Helper()
		db, err := openStore(dir, new(atomic.Int64))
		if err != nil {
			t.Fatalf("reopen %s: %v", filepath.Base(dir), err)
		}
		defer db.Close()
		for i := range n {
			v, closer, err := db.Get(key(i))
			if i >= want {
				if err == nil {
					closer.Close()
				}
				continue
			}
			if err != nil {
				t.Fatalf("key %d after the crash: %v", i, err)
			}
			if !bytes.Equal(v, value) {
				t.Fatalf("key %d changed", i)
			}
			closer.Close()
		}
	}

	check(crashImage(t, dir), n)

	torn := crashImage(t, dir)
	name, end := newestLog(t, torn)
	patch(t, name, end-16, make([]byte, 16))
	check(torn, n-1)

	garbage := crashImage(t, dir)
	name, end = newestLog(t, garbage)
	patch(t, name, end, bytes.Repeat([]byte{0xab}, 300))
	check(garbage, n)
}
