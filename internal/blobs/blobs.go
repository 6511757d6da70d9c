// Package blobs keeps content-addressed files (code packages) on local disk.
// A blob is named by the hex SHA-256 of its bytes; it is fsync'd and renamed
// into place before Put returns, so an acknowledged upload survives a crash.
package blobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// ErrDigestMismatch means the uploaded bytes do not hash to the name given.
var ErrDigestMismatch = errors.New("content does not match its SHA-256")

// ErrTooLarge means the upload exceeded the size limit.
var ErrTooLarge = errors.New("content exceeds the size limit")

var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidDigest reports whether s is a lower-case hex SHA-256.
func ValidDigest(s string) bool { return digestRE.MatchString(s) }

// Store is a directory of blobs.
type Store struct{ dir string }

// Open creates the directory if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob directory: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Path is where the blob with the digest lives (whether or not it exists).
func (s *Store) Path(digest string) string { return filepath.Join(s.dir, digest) }

// Has reports whether the blob exists.
func (s *Store) Has(digest string) bool {
	if !ValidDigest(digest) {
		return false
	}
	_, err := os.Stat(s.Path(digest))
	return err == nil
}

// Put stores r under digest, reading at most limit bytes. It verifies the
// digest and makes the file durable before returning.
func (s *Store) Put(digest string, r io.Reader, limit int64) (int64, error) {
	if !ValidDigest(digest) {
		return 0, fmt.Errorf("blob name %q is not a lower-case hex SHA-256", digest)
	}
	tmp, err := os.CreateTemp(s.dir, ".upload-*")
	if err != nil {
		return 0, fmt.Errorf("create temporary blob: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, limit+1))
	if err != nil {
		return n, fmt.Errorf("write blob: %w", err)
	}
	if n > limit {
		return n, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return n, fmt.Errorf("%w: got %s", ErrDigestMismatch, got)
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("sync blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("close blob: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path(digest)); err != nil {
		return n, fmt.Errorf("store blob: %w", err)
	}
	return n, syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
