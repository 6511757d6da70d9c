package packaging

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultCacheDir is where build steps keep their outputs between deploys:
// $NIMBUS_BUILD_CACHE, else nimbus/build under the user's cache directory
// (as pip and serverless-python-requirements keep theirs).
func DefaultCacheDir() string {
	if d := os.Getenv("NIMBUS_BUILD_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "nimbus", "build")
	}
	return filepath.Join(os.TempDir(), "nimbus-build-cache")
}

// writableDir makes dir if needed and says whether files can be made in it.
func writableDir(dir string) bool {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	f.Close()
	return os.Remove(f.Name()) == nil
}

// cacheMaxAge is how long an entry nobody used stays in the cache.
const cacheMaxAge = 30 * 24 * time.Hour

// hashKey is the hex SHA-256 of parts' JSON, a cache key.
func hashKey(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hashFile is the hex SHA-256 of a file's content.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cacheEntry is one directory of the cache, named by a key.
type cacheEntry struct{ dir string }

func (c cacheEntry) out() string { return filepath.Join(c.dir, "out") }

// touch marks the entry used, so pruning keeps it.
func (c cacheEntry) touch() {
	now := time.Now()
	_ = os.Chtimes(c.dir, now, now)
}

// replace makes fill's directory the entry's content atomically enough for a
// cache: fill writes into a fresh directory, which is renamed into place.
// A concurrent build of the same key costs one of them its rename, not
// correctness: both wrote the same content.
func (c cacheEntry) replace(fill func(dir string) error) error {
	parent := filepath.Dir(c.dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-*")
	if err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	if err := fill(tmp); err != nil {
		return err
	}
	old := c.dir + ".old-" + filepath.Base(tmp)
	if err := os.Rename(c.dir, old); err == nil {
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, c.dir); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return nil
}

// listTree lists the regular files under root as package files whose names
// start with prefix.
func listTree(root, prefix string) ([]file, error) {
	var out []file
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, file{rel: prefix + filepath.ToSlash(rel), abs: p, mode: info.Mode(), size: info.Size()})
		return nil
	})
	return out, err
}

// pruneCache removes entries of a cache kind (a directory of entries) unused
// for cacheMaxAge. Errors are ignored: the cache is an optimisation.
func pruneCache(kindDir string) {
	entries, err := os.ReadDir(kindDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		stale := time.Since(info.ModTime()) > cacheMaxAge
		leftover := strings.HasPrefix(e.Name(), ".tmp-") && time.Since(info.ModTime()) > time.Hour
		if stale || leftover || strings.Contains(e.Name(), ".old-") {
			_ = os.RemoveAll(filepath.Join(kindDir, e.Name()))
		}
	}
}
