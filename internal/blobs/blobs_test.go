package blobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
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
