// Package blobs keeps content-addressed files (code packages) on local disk.
// A blob is named by the hex SHA-256 of its bytes; it is fsync'd and renamed
// into place before Put returns, so an acknowledged upload survives a crash.
//
// A blob's modification time is when a client last uploaded it or asked for
// it (Keep): collection spares blobs used that recently, since a client that
// found a blob present will deploy it next.
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
	"strings"
	"sync"
	"time"
)

// ErrDigestMismatch means the uploaded bytes do not hash to the name given.
var ErrDigestMismatch = errors.New("content does not match its SHA-256")

// ErrTooLarge means the upload exceeded the size limit.
var ErrTooLarge = errors.New("content exceeds the size limit")

var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidDigest reports whether s is a lower-case hex SHA-256.
func ValidDigest(s string) bool { return digestRE.MatchString(s) }

// Store is a directory of blobs.
type Store struct {
	dir string
	// mu orders Keep and Put against RemoveIfIdle, so a blob a client was
	// just told about is not removed under it.
	mu sync.Mutex
}

const uploadPrefix = ".upload-"

// Open creates the directory if needed and removes uploads that a previous
// run left unfinished. Call it before the store takes uploads.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read blob directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), uploadPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("remove an unfinished upload: %w", err)
			}
		}
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

// Keep reports whether the blob exists and marks it as just used, so that
// collection spares it for its grace period.
func (s *Store) Keep(digest string) bool {
	if !ValidDigest(digest) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	return os.Chtimes(s.Path(digest), now, now) == nil
}

// Digests lists the stored blobs.
func (s *Store) Digests() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read blob directory: %w", err)
	}
	var out []string
	for _, e := range entries {
		if ValidDigest(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// RemoveIfIdle removes the blob unless it was uploaded or kept since
// cutoff. It reports whether the blob was removed.
func (s *Store) RemoveIfIdle(digest string, cutoff time.Time) (bool, error) {
	if !ValidDigest(digest) {
		return false, fmt.Errorf("blob name %q is not a lower-case hex SHA-256", digest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := os.Stat(s.Path(digest))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat blob: %w", err)
	}
	if st.ModTime().After(cutoff) {
		return false, nil
	}
	if err := os.Remove(s.Path(digest)); err != nil {
		return false, fmt.Errorf("remove blob: %w", err)
	}
	return true, nil
}

// Put stores r under digest, reading at most limit bytes. It verifies the
// digest and makes the file durable before returning.
func (s *Store) Put(digest string, r io.Reader, limit int64) (int64, error) {
	if !ValidDigest(digest) {
		return 0, fmt.Errorf("blob name %q is not a lower-case hex SHA-256", digest)
	}
	tmp, err := os.CreateTemp(s.dir, uploadPrefix+"*")
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
	s.mu.Lock()
	err = os.Rename(tmp.Name(), s.Path(digest))
	s.mu.Unlock()
	if err != nil {
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
