// Package packaging builds the code zips of a project: one shared zip or one
// per function, following Serverless's packaging patterns. Zips are
// deterministic (sorted entries, fixed times, normalised modes) so that an
// unchanged tree gives the same SHA-256 and a deploy can tell nothing changed.
package packaging

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// Artifact is a code zip on disk and the functions it serves.
type Artifact struct {
	Functions []string // function keys
	Path      string
	SHA256    string // hex digest of the zip
	Size      int64  // bytes of the zip
}

// zipTime is the modification time of every entry: the zip format's epoch,
// so that builds of the same tree are byte for byte identical.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Build makes (or, for prebuilt artifacts, hashes) every package of p,
// writing zips into outDir, and checks that each function's handler is in
// its zip. Go functions whose binary a main package of the project builds
// are compiled first (see findGoBuilds).
func Build(ctx context.Context, p *manifest.Project, outDir string) ([]Artifact, error) {
	return BuildWith(ctx, p, outDir, Options{})
}

// BuildReporting is Build, telling progress about each build step.
func BuildReporting(ctx context.Context, p *manifest.Project, outDir string, progress func(string, ...any)) ([]Artifact, error) {
	return BuildWith(ctx, p, outDir, Options{Progress: progress})
}

// Options are the settings of a build.
type Options struct {
	// Progress receives one line per build step (nil: none).
	Progress func(string, ...any)
	// CacheDir keeps build outputs between deploys ("" is DefaultCacheDir).
	CacheDir string
}

// BuildWith is Build with options. Before packaging it runs the build steps
// of the project: Go binaries, esbuild bundles of Node.js handlers, Python
// requirements and the WSGI adapter (see docs/adr/0018-build-steps.md).
func BuildWith(ctx context.Context, p *manifest.Project, outDir string, opts Options) ([]Artifact, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	if !writableDir(cacheDir) {
		// Build anyway, without reuse: the outputs live as long as the zips.
		progress("warning: build cache %s is not writable; building without it", cacheDir)
		cacheDir = filepath.Join(outDir, "build-cache")
	}
	if err := buildGo(ctx, p, outDir, progress); err != nil {
		return nil, err
	}
	steps, err := runSteps(ctx, p, cacheDir, progress)
	if se := (*settingError)(nil); errors.As(err, &se) {
		return nil, p.CustomError(se.path, "", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	var files []file
	walked := false
	used := map[string]bool{}
	var arts []Artifact
	for _, spec := range p.Packages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var art Artifact
		var err error
		if spec.Artifact != "" {
			art, err = useArtifact(spec.Artifact)
		} else if spec.Files != nil {
			art, err = buildZip(ctx, memoryFiles(spec.Files), filepath.Join(outDir, zipName(spec, used)))
		} else {
			if !walked {
				if files, err = listFiles(ctx, p.Dir, outDir); err != nil {
					return nil, err
				}
				walked = true
			}
			name := zipName(spec, used)
			var selected []file
			if selected, err = steps.assemble(p, spec, files); err == nil {
				art, err = buildZip(ctx, selected, filepath.Join(outDir, name))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", describe(spec), err)
		}
		art.Functions = slices.Clone(spec.Functions)
		if err := checkHandlers(p, art); err != nil {
			return nil, err
		}
		arts = append(arts, art)
	}
	return arts, nil
}

// Apply sets each function's Code from the artifact that holds it.
func Apply(app *appspec.Application, arts []Artifact) {
	code := map[string]appspec.CodeRef{}
	for _, a := range arts {
		for _, key := range a.Functions {
			code[key] = appspec.CodeRef{SHA256: a.SHA256, Size: a.Size}
		}
	}
	for i := range app.Functions {
		if c, ok := code[app.Functions[i].Key]; ok {
			app.Functions[i].Code = c
		}
	}
}

func describe(spec manifest.PackageSpec) string {
	if len(spec.Functions) == 1 {
		return fmt.Sprintf("of function %q", spec.Functions[0])
	}
	return fmt.Sprintf("%q (functions %s)", spec.Name, strings.Join(spec.Functions, ", "))
}

// zipName gives each package its own file name: name.zip, or name-2.zip if a
// function key clashes with the service name.
func zipName(spec manifest.PackageSpec, used map[string]bool) string {
	base := spec.Name
	if base == "" {
		base = "package"
	}
	name := base + ".zip"
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d.zip", base, i)
	}
	used[name] = true
	return name
}

// checkHandlers runs appspec's handler check on the zip, the same check the
// platform runs, so a pattern that leaves the handler out fails here.
func checkHandlers(p *manifest.Project, art Artifact) error {
	zr, err := zip.OpenReader(art.Path)
	if err != nil {
		return fmt.Errorf("open %s: %w", art.Path, err)
	}
	defer zr.Close()
	var errs []error
	for _, key := range art.Functions {
		fn := p.Function(key)
		if fn == nil {
			continue
		}
		if err := appspec.CheckHandler(zr, fn.Runtime, fn.Handler); err != nil {
			errs = append(errs, fmt.Errorf("function %q: package %s: %w", key, filepath.Base(art.Path), err))
		}
	}
	return errors.Join(errs...)
}

// memoryFiles lists files given by content, sorted by name.
func memoryFiles(m map[string][]byte) []file {
	out := make([]file, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, file{rel: name, mode: 0o644, size: int64(len(m[name])), data: m[name]})
	}
	return out
}

// file is one regular file of the service directory.
type file struct {
	rel  string // slash-separated path inside the package
	abs  string // where to read it (a symlink's target)
	mode fs.FileMode
	size int64
	// problem is set for a symlink that cannot be packaged (escaping the
	// directory, or broken); it is an error only if the file is selected.
	problem string
	// data, when set, is the content (a file a build step makes, not on disk).
	data []byte
}

// listFiles lists every file under root, following symlinks that stay
// inside root. skipDir (the output directory) is left out so that earlier
// builds never end up in a package.
func listFiles(ctx context.Context, root, skipDir string) ([]file, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("service directory: %w", err)
	}
	if abs, err := filepath.Abs(skipDir); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			skipDir = real
		} else {
			skipDir = abs
		}
	}
	var files []file
	var visit func(dir, rel string, ancestors []string) error
	visit = func(dir, rel string, ancestors []string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read %s: %w", dir, err)
		}
		for _, e := range entries {
			abs := filepath.Join(dir, e.Name())
			name := e.Name()
			if rel != "" {
				name = rel + "/" + e.Name()
			}
			info, err := e.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", abs, err)
			}
			if info.Mode()&fs.ModeSymlink != 0 {
				target, err := filepath.EvalSymlinks(abs)
				if err != nil {
					files = append(files, file{rel: name, problem: "is a broken symlink"})
					continue
				}
				if !within(realRoot, target) {
					files = append(files, file{rel: name, problem: fmt.Sprintf("is a symlink to %s, outside the service directory", target)})
					continue
				}
				if info, err = os.Stat(target); err != nil {
					return fmt.Errorf("stat %s: %w", abs, err)
				}
				abs = target
			}
			switch {
			case info.IsDir():
				real, err := filepath.EvalSymlinks(abs)
				if err != nil {
					return fmt.Errorf("resolve %s: %w", abs, err)
				}
				if slices.Contains(ancestors, real) || real == skipDir {
					continue // a symlink loop, or our own output
				}
				if err := visit(abs, name, append(ancestors, real)); err != nil {
					return err
				}
			case info.Mode().IsRegular():
				files = append(files, file{rel: name, abs: abs, mode: info.Mode(), size: info.Size()})
			}
		}
		return nil
	}
	if err := visit(root, "", []string{realRoot}); err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.rel, b.rel) })
	return files, nil
}

func within(root, target string) bool {
	rel, err := filepath.Rel(root, target)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// buildZip writes files into a zip at dest, atomically.
func buildZip(ctx context.Context, files []file, dest string) (Artifact, error) {
	if len(files) == 0 {
		return Artifact{}, errors.New("no file matches the package patterns")
	}
	var total int64
	for _, f := range files {
		if f.problem != "" {
			return Artifact{}, fmt.Errorf("%s %s; exclude it with a pattern such as \"!%s\"", f.rel, f.problem, f.rel)
		}
		total += f.size
	}
	if total > appspec.MaxUnzippedCodeBytes {
		return Artifact{}, fmt.Errorf("code is %d MB unzipped, over Lambda's %d MB limit; exclude what the function does not need with package.patterns",
			total>>20, appspec.MaxUnzippedCodeBytes>>20)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return Artifact{}, fmt.Errorf("create output directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".nimbus-package-*.zip")
	if err != nil {
		return Artifact{}, fmt.Errorf("create zip: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()

	hash := sha256.New()
	counter := &countingWriter{}
	buf := bufio.NewWriter(io.MultiWriter(tmp, hash, counter))
	zw := zip.NewWriter(buf)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return Artifact{}, err
		}
		if err := addFile(zw, f); err != nil {
			return Artifact{}, err
		}
	}
	if err := zw.Close(); err != nil {
		return Artifact{}, fmt.Errorf("write zip: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return Artifact{}, fmt.Errorf("write zip: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Artifact{}, fmt.Errorf("write zip: %w", err)
	}
	if counter.n > appspec.MaxZippedCodeBytes {
		return Artifact{}, fmt.Errorf("zip is %d MB, over the %d MB limit", counter.n>>20, appspec.MaxZippedCodeBytes>>20)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return Artifact{}, fmt.Errorf("write zip: %w", err)
	}
	return Artifact{Path: dest, SHA256: hex.EncodeToString(hash.Sum(nil)), Size: counter.n}, nil
}

func addFile(zw *zip.Writer, f file) error {
	hdr := &zip.FileHeader{Name: f.rel, Method: zip.Deflate, Modified: zipTime}
	// Only the executable bit matters to Lambda; normalising the rest keeps
	// the hash independent of umask.
	mode := fs.FileMode(0o644)
	if f.mode.Perm()&0o111 != 0 {
		mode = 0o755
	}
	hdr.SetMode(mode)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("zip %s: %w", f.rel, err)
	}
	if f.data != nil {
		if _, err := w.Write(f.data); err != nil {
			return fmt.Errorf("zip %s: %w", f.rel, err)
		}
		return nil
	}
	r, err := os.Open(f.abs)
	if err != nil {
		return fmt.Errorf("zip %s: %w", f.rel, err)
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("zip %s: %w", f.rel, err)
	}
	return nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// useArtifact hashes a prebuilt zip and checks it against Lambda's limits.
func useArtifact(path string) (Artifact, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", path, err)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
	}
	zr.Close()
	if total > appspec.MaxUnzippedCodeBytes {
		return Artifact{}, fmt.Errorf("artifact %s is %d MB unzipped, over Lambda's %d MB limit", path, total>>20, appspec.MaxUnzippedCodeBytes>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact: %w", err)
	}
	defer f.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, f)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", path, err)
	}
	if n > appspec.MaxZippedCodeBytes {
		return Artifact{}, fmt.Errorf("artifact %s is %d MB, over the %d MB limit", path, n>>20, appspec.MaxZippedCodeBytes>>20)
	}
	return Artifact{Path: path, SHA256: hex.EncodeToString(hash.Sum(nil)), Size: n}, nil
}
