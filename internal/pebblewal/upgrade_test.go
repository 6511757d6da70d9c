package pebblewal_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/objects"
	"github.com/nimbus-platform/nimbus/internal/pebblewal"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// untar unpacks a crash image made by the stores before they moved to
// pebblewal.Format: format major version 13, a flushed sstable and newer
// writes only in the log (the process ended without closing the store).
func untar(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", archive))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// formatOf is the format major version a Pebble store's marker names.
func formatOf(t *testing.T, dir string) string {
	t.Helper()
	markers, _ := filepath.Glob(filepath.Join(dir, "marker.format-version.*"))
	if len(markers) != 1 {
		t.Fatalf("%d format markers in %s", len(markers), dir)
	}
	return markers[0][strings.LastIndex(markers[0], ".")+1:]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A tables store of the old format opens, is ratcheted to Format and has
// every item, those flushed and those only in its old-format log.
func TestOldTablesStoreIsUpgraded(t *testing.T) {
	dir := untar(t, "tables-format13.tar.gz")
	if got := formatOf(t, dir); got != "013" {
		t.Fatalf("fixture at format %s, want 013", got)
	}
	ctx := context.Background()
	for round := range 2 {
		s, err := tables.Open(tables.Config{Dir: dir, Logger: quiet})
		if err != nil {
			t.Fatalf("open (round %d): %v", round, err)
		}
		if got, want := formatOf(t, dir), fmt.Sprintf("%03d", int(pebblewal.Format)); got != want {
			t.Errorf("format after open %s, want %s", got, want)
		}
		for i := range 200 {
			item, err := s.GetItem(ctx, tables.GetInput{Table: "old", Key: tables.Item{"id": tables.S(fmt.Sprintf("item-%03d", i))}})
			if err != nil || item["n"].S != fmt.Sprint(i) {
				t.Fatalf("round %d item %d: %v %v", round, i, item, err)
			}
		}
		if _, err := s.PutItem(ctx, tables.PutInput{Table: "old", Item: tables.Item{"id": tables.S(fmt.Sprintf("new-%d", round)), "n": tables.N("1")}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The same for the object index.
func TestOldObjectStoreIsUpgraded(t *testing.T) {
	dir := untar(t, "objects-format13.tar.gz")
	index := filepath.Join(dir, "index")
	if got := formatOf(t, index); got != "013" {
		t.Fatalf("fixture at format %s, want 013", got)
	}
	ctx := context.Background()
	s, err := objects.Open(objects.Config{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := formatOf(t, index), fmt.Sprintf("%03d", int(pebblewal.Format)); got != want {
		t.Errorf("format after open %s, want %s", got, want)
	}
	for i := range 100 {
		_, body, err := s.GetObject(ctx, "old", fmt.Sprintf("key-%03d", i))
		if err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		data, err := io.ReadAll(body)
		body.Close()
		if err != nil || string(data) != fmt.Sprintf("body %d", i) {
			t.Fatalf("object %d: %q %v", i, data, err)
		}
	}
}
