package functions

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type entry struct {
	name, body string
	mode       os.FileMode
}

func writeZip(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "code.zip")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtract(t *testing.T) {
	zp := writeZip(t, []entry{
		{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		{name: "lib/a.js", body: "x"},
		{name: "link", body: "lib/a.js", mode: os.ModeSymlink | 0o777},
	})
	dir := filepath.Join(t.TempDir(), "out")
	if err := extract(zp, dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "bootstrap"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("bootstrap: %v %v", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "link")); err != nil || string(b) != "x" {
		t.Fatalf("symlink: %q %v", b, err)
	}
	// A second extraction of the same package is a no-op.
	if err := extract(zp, dir, 1<<20); err != nil {
		t.Fatal(err)
	}
}

func TestExtractRefusesBadPackages(t *testing.T) {
	tests := map[string][]entry{
		"zip slip":         {{name: "../escape.txt", body: "x"}},
		"absolute symlink": {{name: "l", body: "/etc/passwd", mode: os.ModeSymlink | 0o777}},
		"escaping symlink": {{name: "a/l", body: "../../x", mode: os.ModeSymlink | 0o777}},
		"too large":        {{name: "big", body: string(make([]byte, 2048))}},
	}
	for name, entries := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			err := extract(writeZip(t, entries), dir, 1024)
			if !errors.Is(err, ErrBadPackage) {
				t.Fatalf("extract = %v, want ErrBadPackage", err)
			}
			if _, statErr := os.Stat(dir); statErr == nil {
				t.Fatal("a refused package left its directory behind")
			}
		})
	}
	if err := extract(filepath.Join(t.TempDir(), "missing.zip"), filepath.Join(t.TempDir(), "o"), 1024); !errors.Is(err, ErrBadPackage) {
		t.Fatalf("missing zip: %v", err)
	}
}
