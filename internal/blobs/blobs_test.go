package blobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestPut(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := digest("hello")
	if s.Has(d) {
		t.Fatal("empty store has a blob")
	}
	if _, err := s.Put(d, strings.NewReader("hello"), 100); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.Path(d)); err != nil || string(b) != "hello" || !s.Has(d) {
		t.Fatalf("stored %q, %v", b, err)
	}
	if _, err := s.Put(digest("other"), strings.NewReader("hello"), 100); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("mismatch: %v", err)
	}
	if _, err := s.Put(digest("0123456789"), strings.NewReader("0123456789"), 5); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := s.Put("../../etc/passwd", strings.NewReader("x"), 5); err == nil {
		t.Error("a path was accepted as a digest")
	}
	entries, _ := os.ReadDir(s.dir)
	if len(entries) != 1 {
		t.Errorf("failed uploads left files: %v", entries)
	}
}

func TestRemoveIfIdleSparesRecentUse(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".upload-1"), []byte("cut by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".upload-1")); !os.IsNotExist(err) {
		t.Fatalf("an unfinished upload survived Open: %v", err)
	}
	d := digest("code")
	if _, err := s.Put(d, strings.NewReader("code"), 100); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.RemoveIfIdle(d, time.Now().Add(-time.Minute)); err != nil || removed {
		t.Fatalf("a fresh upload was removed: %v %v", removed, err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(s.Path(d), old, old); err != nil {
		t.Fatal(err)
	}
	if !s.Keep(d) {
		t.Fatal("Keep does not see the blob")
	}
	if removed, err := s.RemoveIfIdle(d, time.Now().Add(-time.Minute)); err != nil || removed {
		t.Fatalf("a blob kept just now was removed: %v %v", removed, err)
	}
	if got, err := s.Digests(); err != nil || len(got) != 1 || got[0] != d {
		t.Fatalf("Digests = %v %v", got, err)
	}
	if removed, err := s.RemoveIfIdle(d, time.Now().Add(time.Minute)); err != nil || !removed || s.Has(d) {
		t.Fatalf("an idle blob stays: %v %v", removed, err)
	}
	if s.Keep(d) || s.Keep("../x") {
		t.Fatal("Keep of a missing blob")
	}
}
