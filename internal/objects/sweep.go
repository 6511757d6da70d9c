package objects

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cockroachdb/pebble/v2"
)

type fileName [16]byte

// existingFiles lists the data files there are before the store takes
// writes: the candidates of the sweep.
func (s *Store) existingFiles() ([]fileName, error) {
	var files []fileName
	root := filepath.Join(s.cfg.Dir, "data")
	shards, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("sweep data files: %w", err)
	}
	for _, shard := range shards {
		entries, err := os.ReadDir(filepath.Join(root, shard.Name()))
		if err != nil {
			continue
		}
		for _, e := range entries {
			var n fileName
			if len(e.Name()) != 32 {
				continue
			}
			if _, err := hex.Decode(n[:], []byte(e.Name())); err == nil {
				files = append(files, n)
			}
		}
	}
	return files, nil
}

// sweep removes the data files a crash orphaned: written (whole or in
// part) in data/ but never named by a committed index entry. The
// candidates were listed before this run wrote anything, so a write of
// this run, written but not yet committed, is never taken. No entry can
// come to name a file of an earlier run, so a file no entry names in one
// consistent view of the index is garbage for good.
func (s *Store) sweep(ctx context.Context, files []fileName) (int, error) {
	if len(files) == 0 {
		return 0, nil
	}
	sort.Slice(files, func(i, j int) bool { return bytes.Compare(files[i][:], files[j][:]) < 0 })
	named := make([]bool, len(files))
	it, err := s.db.NewIter(&pebble.IterOptions{})
	if err != nil {
		return 0, err
	}
	var ref struct {
		File string `json:"file"`
	}
	for it.First(); it.Valid() && ctx.Err() == nil; it.Next() {
		if k := it.Key(); len(k) == 0 || (k[0] != prefixObject && k[0] != prefixVersion && k[0] != prefixPart) {
			continue
		}
		ref.File = ""
		meta := it.Value()
		if bytes.IndexByte(meta, 0) >= 0 { // an inline object: no file
			continue
		}
		if err := json.Unmarshal(meta, &ref); err != nil || len(ref.File) != 32 {
			continue
		}
		var n fileName
		if _, err := hex.Decode(n[:], []byte(ref.File)); err != nil {
			continue
		}
		if i := sort.Search(len(files), func(i int) bool { return bytes.Compare(files[i][:], n[:]) >= 0 }); i < len(files) && files[i] == n {
			named[i] = true
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil { // stopped part way: some names unseen
		return 0, err
	}
	removed := 0
	for i, n := range files {
		if !named[i] {
			s.removeData(hex.EncodeToString(n[:]))
			removed++
		}
	}
	return removed, nil
}

// startSweep runs the sweep in the background; Close stops and waits for it.
func (s *Store) startSweep(files []fileName) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSweep = cancel
	s.swept = make(chan struct{})
	go func() {
		defer close(s.swept)
		n, err := s.sweep(ctx, files)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("object data files not swept", "err", err)
		} else if n > 0 {
			s.log.Info("removed object data files a crash left unreferenced", "files", n)
		}
	}()
}

// Swept is closed once the start-up sweep of orphaned data files is over.
func (s *Store) Swept() <-chan struct{} { return s.swept }
