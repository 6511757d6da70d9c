package functions

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrBadPackage means a code package cannot be unpacked.
var ErrBadPackage = errors.New("invalid code package")

// extract unpacks the zip at zipPath into dir (created atomically: a partial
// extraction never becomes visible). It refuses entries that escape dir and
// packages over limit bytes unzipped.
func extract(zipPath, dir string, limit int64) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPackage, err)
	}
	defer zr.Close()
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".extract-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	var total int64
	for _, f := range zr.File {
		name := path.Clean(strings.TrimPrefix(strings.ReplaceAll(f.Name, "\\", "/"), "/"))
		if name == "." {
			continue
		}
		if !fs.ValidPath(name) {
			return fmt.Errorf("%w: entry %q points outside the package", ErrBadPackage, f.Name)
		}
		target := filepath.Join(tmp, filepath.FromSlash(name))
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		case mode&fs.ModeSymlink != 0:
			if err := extractSymlink(f, name, target); err != nil {
				return err
			}
			continue
		case !mode.IsRegular() && mode.Type() != 0:
			return fmt.Errorf("%w: entry %q is not a regular file", ErrBadPackage, f.Name)
		}
		n, err := extractFile(f, target, mode, limit-total)
		total += n
		if err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // extracted concurrently
		}
		return err
	}
	return nil
}

func extractFile(f *zip.File, target string, mode fs.FileMode, budget int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, err
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	if n > budget {
		return n, fmt.Errorf("%w: unzipped size is over the 250 MB limit", ErrBadPackage)
	}
	return n, nil
}

func extractSymlink(f *zip.File, name, target string) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	link, err := io.ReadAll(io.LimitReader(rc, 4096))
	rc.Close()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	dest := string(link)
	resolved := path.Join(path.Dir(name), dest)
	if path.IsAbs(dest) || !fs.ValidPath(resolved) {
		return fmt.Errorf("%w: symlink %q points outside the package", ErrBadPackage, f.Name)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return os.Symlink(dest, target)
}
