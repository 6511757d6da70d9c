package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// goBuild is a Go function the deploy compiles: the main package in src,
// written to out.
type goBuild struct {
	key, src, out, arch string
	// bootstrap: out is a zip of its own holding only the binary, named
	// bootstrap (provided.* runtimes); else out is the handler's path in the
	// project, packaged by the function's patterns (go1.x).
	bootstrap bool
	// root is the project's directory and buildDir the deploy's build
	// folder: the only places the binary may be written.
	root, buildDir string
}

// findGoBuilds lists the Go functions whose binary a main package of the
// project builds (manifest.GoMain). Functions with a prebuilt artifact are
// left alone.
func findGoBuilds(p *manifest.Project, outDir string) []goBuild {
	artifact := map[string]bool{}
	for _, spec := range p.Packages {
		if spec.Artifact != "" {
			for _, k := range spec.Functions {
				artifact[k] = true
			}
		}
	}
	var out []goBuild
	for _, fn := range p.App.Functions {
		if artifact[fn.Key] {
			continue
		}
		src, bootstrap := manifest.GoMain(p.Dir, fn)
		if src == "" {
			continue
		}
		b := goBuild{key: fn.Key, src: src, arch: goArch(fn.Architecture), bootstrap: bootstrap, root: p.Dir, buildDir: outDir}
		if bootstrap {
			b.out = filepath.Join(outDir, "go", fn.Key, "bootstrap")
		} else {
			b.out = filepath.Join(p.Dir, filepath.FromSlash(fn.Handler))
		}
		out = append(out, b)
	}
	return out
}

func goArch(architecture string) string {
	if architecture == "arm64" {
		return "arm64"
	}
	return "amd64"
}

// run compiles b as Lambda runs Go: linux, static (CGO_ENABLED=0), without
// the RPC shim (-tags lambda.norpc), reproducibly (-trimpath, no VCS stamp),
// so an unchanged source gives the same bytes and the deploy uploads nothing.
// Go's build cache, keyed by content, makes an unchanged rebuild quick.
func (b goBuild) run(ctx context.Context) error {
	if err := b.confined(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.out), 0o755); err != nil {
		return err
	}
	// The real path: go looks for go.mod above the directory it runs in.
	src, err := filepath.EvalSymlinks(b.src)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", b.out, ".")
	cmd.Dir = src
	// go build compiles and links; it runs no code of the project (no
	// build scripts, no go:generate). What could run something else is shut:
	// cgo (a C compiler on the project's files and #cgo flags) and a
	// toolchain the project's go.mod asks for (GOTOOLCHAIN=auto would
	// download and run it). go build leaves go.mod alone (-mod=readonly is
	// its default) and fetches only modules go.sum pins.
	cmd.Env = append(slices.Clone(os.Environ()), "GOOS=linux", "GOARCH="+b.arch, "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("function %q: go build in %s: %w\n%s", b.key, b.src, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// confined checks that the binary is written inside the project or the
// deploy's own build folder, whatever symlinks the handler's path crosses.
func (b goBuild) confined() error {
	if b.root == "" {
		return nil
	}
	// The nearest folder that exists: the rest is made under it.
	dir, rest := filepath.Dir(b.out), ""
	real, err := filepath.EvalSymlinks(dir)
	for err != nil && filepath.Dir(dir) != dir {
		dir, rest = filepath.Dir(dir), filepath.Join(filepath.Base(dir), rest)
		real, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return err
	}
	dir = filepath.Join(real, rest)
	for _, root := range []string{b.root, b.buildDir} {
		if real, err := filepath.EvalSymlinks(root); err == nil && within(real, dir) {
			return nil
		}
	}
	return fmt.Errorf("function %q: go build would write %s, outside the project's directory", b.key, b.out)
}

// buildGo compiles p's Go functions and moves those packaged as bootstrap
// into packages of their own, each a prebuilt zip.
func buildGo(ctx context.Context, p *manifest.Project, outDir string, progress func(string, ...any)) error {
	builds := findGoBuilds(p, outDir)
	for _, b := range builds {
		rel, _ := filepath.Rel(p.Dir, b.src)
		progress("Building %s from %s (go build, linux/%s)", b.key, filepath.ToSlash(rel), b.arch)
		if err := b.run(ctx); err != nil {
			return err
		}
		if !b.bootstrap {
			continue
		}
		st, err := os.Stat(b.out)
		if err != nil {
			return err
		}
		zipPath := filepath.Join(outDir, "go", b.key+".zip")
		if _, err := buildZip(ctx, []file{{rel: "bootstrap", abs: b.out, mode: 0o755, size: st.Size()}}, zipPath); err != nil {
			return fmt.Errorf("function %q: %w", b.key, err)
		}
		// The function leaves whatever package it was in for its own.
		for i := range p.Packages {
			p.Packages[i].Functions = slices.DeleteFunc(p.Packages[i].Functions, func(k string) bool { return k == b.key })
		}
		p.Packages = slices.DeleteFunc(p.Packages, func(s manifest.PackageSpec) bool { return len(s.Functions) == 0 })
		p.Packages = append(p.Packages, manifest.PackageSpec{Functions: []string{b.key}, Name: b.key, Artifact: zipPath})
		// As serverless-go-plugin rewrites it: the handler is what runs.
		for i := range p.App.Functions {
			if p.App.Functions[i].Key == b.key {
				p.App.Functions[i].Handler = "bootstrap"
			}
		}
	}
	return nil
}
