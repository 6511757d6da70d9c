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
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// ErrBadPackage means a code package cannot be unpacked.
var ErrBadPackage = errors.New("invalid code package")

// extractLimits bound what a package may unpack to.
type extractLimits struct {
	// Entries caps the entries of the zip, directories and empty files included.
	Entries int
	// Bytes caps the unzipped size (Lambda: 250 MB).
	Bytes int64
	// Ratio caps the compression ratio of an entry bigger than ratioFloor:
	// beyond it the entry is a bomb, not code.
	Ratio int64
	// LinkBytes caps the total length of symlink targets, which are held in
	// memory to check them.
	LinkBytes int
}

// ratioFloor is the size under which an entry's ratio is not judged: small
// files of repeated bytes legitimately compress very well.
const ratioFloor = 1 << 20

// linkHops bounds the links followed while resolving one link, as the kernel does.
const linkHops = 40

func defaultExtractLimits() extractLimits {
	return extractLimits{Entries: 100_000, Bytes: appspec.MaxUnzippedCodeBytes, Ratio: 200, LinkBytes: 1 << 20}
}

func badPackage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPackage, fmt.Sprintf(format, args...))
}

// entryKind is what an entry (or an implied parent directory) is.
type entryKind uint8

const (
	kindDir entryKind = iota + 1
	kindFile
	kindLink
)

// plannedEntry is a checked zip entry with its clean name.
type plannedEntry struct {
	f      *zip.File
	name   string // slash-separated, relative, no "." or ".." elements
	kind   entryKind
	target string // symlink target
}

// extract unpacks the zip at zipPath into dir (created atomically: a partial
// extraction never becomes visible). Every entry is checked before anything
// is written; writes go through an os.Root, so no path can leave the
// directory even through a link; symlinks are created last and only when
// they resolve inside the package.
func extract(zipPath, dir string, lim extractLimits) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	// archive/zip holds every entry of the directory in memory: count
	// them first, without allocating.
	if err := checkEntryCount(zipPath, lim.Entries); err != nil {
		return err
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPackage, err)
	}
	defer zr.Close()
	plan, dirs, err := planExtraction(zr.File, lim)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), extractTempPrefix+"*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writePlan(tmp, plan, dirs, lim.Bytes); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // extracted concurrently
		}
		return err
	}
	return nil
}

// planExtraction checks every entry without writing anything: names, types,
// duplicates, sizes, ratios, overlapping data and where links lead. It
// returns the entries to write and every directory (explicit or implied),
// parents first.
func planExtraction(files []*zip.File, lim extractLimits) ([]plannedEntry, []string, error) {
	if len(files) > lim.Entries {
		return nil, nil, badPackage("the zip has %d entries, over the limit of %d", len(files), lim.Entries)
	}
	tree := make(map[string]entryKind, len(files))
	plan := make([]plannedEntry, 0, len(files))
	var declared uint64
	linkBytes := 0
	for _, f := range files {
		name, err := cleanEntryName(f.Name)
		if err != nil {
			return nil, nil, err
		}
		if name == "" {
			continue // the package root itself ("./")
		}
		e := plannedEntry{f: f, name: name}
		mode := f.Mode()
		switch {
		case mode.IsDir():
			e.kind = kindDir
		case mode&fs.ModeSymlink != 0:
			e.kind = kindLink
		case mode.IsRegular():
			e.kind = kindFile
		default:
			return nil, nil, badPackage("entry %q is not a regular file, directory or symlink", f.Name)
		}
		if prev, dup := tree[name]; dup && (prev != kindDir || e.kind != kindDir) {
			return nil, nil, badPackage("entry %q appears twice in the zip", f.Name)
		}
		tree[name] = e.kind
		declared += f.UncompressedSize64
		if declared > uint64(lim.Bytes) {
			return nil, nil, badPackage("the unzipped size is over the %s limit", sizeText(lim.Bytes))
		}
		if f.UncompressedSize64 > ratioFloor && f.UncompressedSize64 > uint64(lim.Ratio)*f.CompressedSize64 {
			return nil, nil, badPackage("entry %q expands %d times (%d bytes from %d): a zip bomb", f.Name,
				f.UncompressedSize64/max(f.CompressedSize64, 1), f.UncompressedSize64, f.CompressedSize64)
		}
		if e.kind == kindLink {
			target, err := readLink(f)
			if err != nil {
				return nil, nil, err
			}
			linkBytes += len(target)
			if linkBytes > lim.LinkBytes {
				return nil, nil, badPackage("symlink targets total over %d bytes", lim.LinkBytes)
			}
			e.target = target
		}
		plan = append(plan, e)
	}
	if err := checkOverlap(plan); err != nil {
		return nil, nil, err
	}
	// Parents must be directories: nothing is ever written through a link
	// or into a file.
	var dirs []string
	for _, e := range plan {
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			switch tree[p] {
			case kindFile, kindLink:
				return nil, nil, badPackage("entry %q lies under %q, which is not a directory", e.f.Name, p)
			case 0:
				tree[p] = kindDir
			}
		}
	}
	for name, k := range tree {
		if k == kindDir {
			dirs = append(dirs, name)
		}
	}
	sort.Strings(dirs) // parents sort before their children
	targets := map[string]string{}
	for _, e := range plan {
		if e.kind == kindLink {
			targets[e.name] = e.target
		}
	}
	budget := linkResolveBudget
	for _, e := range plan {
		if e.kind == kindLink {
			if err := resolveLink(tree, targets, e, &budget); err != nil {
				return nil, nil, err
			}
		}
	}
	return plan, dirs, nil
}

func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// cleanEntryName turns a zip entry's name into a relative slash path,
// refusing absolute names and ".." anywhere.
func cleanEntryName(raw string) (string, error) {
	if strings.IndexByte(raw, 0) >= 0 {
		return "", badPackage("entry %q has a NUL byte in its name", raw)
	}
	name := strings.ReplaceAll(raw, "\\", "/") // zips made on Windows
	if strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':') {
		return "", badPackage("entry %q has an absolute name", raw)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", badPackage("entry %q points outside the package (..)", raw)
		default:
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/"), nil
}

func readLink(f *zip.File) (string, error) {
	if f.UncompressedSize64 >= 4096 {
		return "", badPackage("symlink %q has a target of %d bytes", f.Name, f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadPackage, f.Name, err)
	}
	target := string(b)
	switch {
	case target == "" || strings.IndexByte(target, 0) >= 0:
		return "", badPackage("symlink %q has an invalid target", f.Name)
	case strings.HasPrefix(target, "/"):
		return "", badPackage("symlink %q points outside the package (absolute target %q)", f.Name, target)
	}
	return target, nil
}

// checkOverlap refuses entries whose compressed data overlap: the trick of
// zip bombs that expand one small stream many times.
func checkOverlap(plan []plannedEntry) error {
	type span struct {
		start, end int64
		name       string
	}
	spans := make([]span, 0, len(plan))
	for _, e := range plan {
		off, err := e.f.DataOffset()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadPackage, e.f.Name, err)
		}
		spans = append(spans, span{off, off + int64(e.f.CompressedSize64), e.f.Name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return badPackage("entries %q and %q share compressed data: a zip bomb", spans[i-1].name, spans[i].name)
		}
	}
	return nil
}

// linkResolveBudget bounds the path elements walked to check every link of
// one package, so crafted chains cannot make the check slow.
const linkResolveBudget = 4 << 20

// resolveLink resolves link e inside the package's tree as the kernel would,
// following the package's other links, and refuses it if it leads out. A
// target that does not exist is followed by name only, so ".." after it
// still counts.
func resolveLink(tree map[string]entryKind, targets map[string]string, e plannedEntry, budget *int) error {
	escape := func() error {
		return badPackage("symlink %q points outside the package (target %q)", e.f.Name, e.target)
	}
	var stack []string
	if d := path.Dir(e.name); d != "." {
		stack = strings.Split(d, "/")
	}
	pending := strings.Split(e.target, "/")
	hops := 0
	for len(pending) > 0 {
		if *budget--; *budget < 0 {
			return badPackage("symlinks are too intricate to check (at %q)", e.f.Name)
		}
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return escape()
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		p := strings.Join(stack, "/")
		if tree[p] != kindLink {
			continue
		}
		if hops++; hops > linkHops {
			return badPackage("symlink %q: too many levels of links", e.f.Name)
		}
		next := targets[p]
		if strings.HasPrefix(next, "/") {
			return escape()
		}
		stack = stack[:len(stack)-1]
		pending = append(strings.Split(next, "/"), pending...)
	}
	return nil
}

// writePlan writes the checked entries under dir through an os.Root:
// directories first, then files, then links, so no write can follow a link.
func writePlan(dir string, plan []plannedEntry, dirs []string, limit int64) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, d := range dirs {
		if err := root.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadPackage, d, err)
		}
		if err := root.Chmod(d, 0o755); err != nil { // whatever the umask
			return err
		}
	}
	var total int64
	for _, e := range plan {
		if e.kind != kindFile {
			continue
		}
		n, err := writeFile(root, e, limit-total, limit)
		total += n
		if err != nil {
			return err
		}
	}
	for _, e := range plan {
		if e.kind != kindLink {
			continue
		}
		if err := root.Symlink(e.target, e.name); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadPackage, e.f.Name, err)
		}
	}
	return nil
}

func writeFile(root *os.Root, e plannedEntry, budget, limit int64) (int64, error) {
	perm := fs.FileMode(0o644)
	if e.f.Mode()&0o111 != 0 {
		perm = 0o755
	}
	rc, err := e.f.Open()
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrBadPackage, e.f.Name, err)
	}
	defer rc.Close()
	// O_EXCL also refuses to open through a link at the last element.
	out, err := root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrBadPackage, e.f.Name, err)
	}
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if err == nil {
		err = out.Chmod(perm) // whatever the umask
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("%w: %s: %v", ErrBadPackage, e.f.Name, err)
	}
	if n > budget {
		return n, badPackage("the unzipped size is over the %s limit", sizeText(limit))
	}
	return n, nil
}
