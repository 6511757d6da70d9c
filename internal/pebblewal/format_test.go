package pebblewal

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// A hole in the middle of the newest log (a lost page that reads as zeros,
// or rotten bytes) with acknowledged writes after it: in Format, Open fails
// with ErrCorruption; in the format the stores had before, replay stopped
// at the hole and the writes after it were gone without a word.
func TestHoleMidLogIsCorruption(t *testing.T) {
	const n = 300 // 300 KB of records: about ten 32 KB blocks, one log
	value := bytes.Repeat([]byte{'v'}, 1000)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	open := func(dir string, format pebble.FormatMajorVersion) (*pebble.DB, error) {
		return pebble.Open(dir, &pebble.Options{FS: FS(vfs.Default), MemTableSize: 64 << 20, Logger: quiet{}, FormatMajorVersion: format})
	}
	for _, tc := range []struct {
		name string
		hole []byte
	}{
		{"zeroed page", make([]byte, 4096)},
		{"rotten bytes", bytes.Repeat([]byte{0x5a}, 64)},
	} {
		for _, format := range []pebble.FormatMajorVersion{Format, pebble.FormatMinSupported} {
			t.Run(fmt.Sprintf("%s/format %d", tc.name, format), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "store")
				db, err := open(dir, format)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				for i := range n {
					if err := db.Set(key(i), value, pebble.Sync); err != nil {
						t.Fatal(err)
					}
				}
				image := crashImage(t, dir)
				name, end := newestLog(t, image)
				patch(t, name, end/2, tc.hole)
				crashed, err := open(image, format)
				if format == Format {
					if err == nil {
						crashed.Close()
						t.Fatal("a log with a hole before acknowledged writes opened")
					}
					if !pebble.IsCorruptionError(err) {
						t.Fatalf("open: %v, want pebble.ErrCorruption", err)
					}
					return
				}
				// The old format: documents the gap this format closes.
				if err != nil {
					t.Fatalf("old format: open failed (%v): it used to drop the tail quietly", err)
				}
				defer crashed.Close()
				if _, closer, err := crashed.Get(key(n - 1)); err == nil {
					closer.Close()
					t.Fatal("old format: the last write survived the hole")
				}
			})
		}
	}
}
