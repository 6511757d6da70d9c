// Package pebblewal gives Pebble stores write-ahead logs that are written
// ahead with zeros, so that a durable write's sync does not change the
// log file's size (ADR 0024).
package pebblewal

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Format is the format major version of nimbus's Pebble stores. Its logs
// carry, in every chunk, the offset up to which the log was synced when
// the chunk was written (FormatWALSyncChunks). Replay that meets a chunk it
// cannot read (a checksum mismatch, zeros) reads ahead: a later chunk that
// promises a sync past it proves the damage is a hole in acknowledged
// writes, not the log's end, and Open fails with pebble.ErrCorruption
// instead of quietly dropping the writes after the hole. Older stores are
// ratcheted to it when they are opened with it (Pebble's Open does). The
// version is pinned, not FormatNewest, so a Pebble upgrade does not move
// the stores' format unannounced.
const Format = pebble.FormatWALSyncChunks

// ZeroChunk is how far ahead of its writes a write-ahead log is filled
// with zeros.
const ZeroChunk = 1 << 20

// FS gives Pebble write-ahead logs whose space is written (with
// zeros) ahead of the log's records, so that syncing a record does not change
// the file's size.
//
// Every acknowledged write waits for an fdatasync of the log. When the write
// grows the file, the file system must also commit the new size to its
// journal (on ext4 a sync of an appended 1 KB record took 1–1.8 ms on the
// benchmark machine, against 0.13–0.23 ms for the same record overwriting
// written blocks). Pebble overwrites recycled logs, but a store has none
// until a memtable is flushed (32 MB of writes), and its own preallocation
// (fallocate with KEEP_SIZE) leaves the size to grow with every write. Here
// the size grows once per ZeroChunk instead of once per sync.
//
// Pebble reads a log's zeroed tail as its end: it already must, since its
// preallocation and recycled logs leave zeroed or stale bytes after the last
// record, and a log it closes ends with an EOF trailer before the zeros.
type zeroedFS struct {
	vfs.FS
}

// FS wraps fs so that the write-ahead logs Pebble creates through it are
// written ahead with zeros; every other file is left as fs makes it.
func FS(fs vfs.FS) vfs.FS { return zeroedFS{fs} }

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs zeroedFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return &zeroedWAL{File: f}, nil
}

func (fs zeroedFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil || !isWAL(newname) {
		return f, err
	}
	w := &zeroedWAL{File: f}
	// A recycled log's blocks are written already; zeros go after them.
	if fi, err := f.Stat(); err == nil {
		w.zeroed = fi.Size()
	}
	return w, nil
}

// zeroedWAL is a log being written. Pebble writes it sequentially from the
// start, one Write or Sync at a time.
type zeroedWAL struct {
	vfs.File
	off    int64 // where the next Write goes
	zeroed int64 // the file's bytes before this are written
	zeros  []byte
}

func (f *zeroedWAL) Write(p []byte) (int, error) {
	if end := f.off + int64(len(p)); end > f.zeroed {
		if err := f.fill(end); err != nil {
			// The record is not written: Pebble fails the write (and the
			// batches waiting on it) instead of acknowledging it.
			return 0, err
		}
	}
	n, err := f.File.Write(p)
	f.off += int64(n)
	return n, err
}

// fill writes zeros from f.zeroed to at least end, in whole chunks. It must
// not leave the log's records in a file whose zeroing failed: a record
// written past a failed fill would be zeroed by the next fill, which starts
// again at f.zeroed, after its sync had acknowledged it.
func (f *zeroedWAL) fill(end int64) error {
	if f.zeros == nil {
		f.zeros = make([]byte, ZeroChunk)
	}
	for f.zeroed < end {
		if _, err := f.File.WriteAt(f.zeros, f.zeroed); err != nil {
			return fmt.Errorf("pebblewal: write zeros ahead of the log at %d: %w", f.zeroed, err)
		}
		f.zeroed += ZeroChunk
	}
	return nil
}

// Damaged explains an error of pebble.Open on dir for a person when it is
// damage on disk (a hole before acknowledged writes in a log, a bad
// checksum), and is "" for any other error.
func Damaged(err error, dir string) string {
	if !pebble.IsCorruptionError(err) {
		return ""
	}
	return ": the store in " + dir + " is damaged on disk and is not opened, so that no acknowledged write is dropped unnoticed; restore it from a backup, or move it away to start empty"
}
