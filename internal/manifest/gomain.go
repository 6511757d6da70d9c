package manifest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// GoMain says which main package of the project in dir builds fn's code, as
// `make build` or serverless-go-plugin would, and how its binary is packaged
// (the deploy builds it; see internal/packaging):
//
//   - go1.x or provided.* with a handler that is a main package's directory
//     or one of its .go files (serverless-go-plugin's handler: ./cmd/hello):
//     the binary is the function's whole package, named bootstrap;
//   - go1.x with handler bin/NAME (any directory): the main package NAME/ or
//     cmd/NAME/ builds the file the handler names.
//
// src is "" when no main package builds it (other runtimes, executables
// built some other way).
func GoMain(dir string, fn appspec.Function) (src string, bootstrap bool) {
	family, _ := appspec.RuntimeFamily(fn.Runtime)
	if (family != appspec.FamilyGo && family != appspec.FamilyProvided) || fn.Handler == "" {
		return "", false
	}
	rel := filepath.FromSlash(strings.TrimSuffix(fn.Handler, "/"))
	if !filepath.IsLocal(rel) {
		return "", false
	}
	if strings.HasSuffix(rel, ".go") {
		rel = filepath.Dir(rel)
	}
	if isMainPackage(filepath.Join(dir, rel)) {
		return filepath.Join(dir, rel), true
	}
	if family != appspec.FamilyGo {
		return "", false
	}
	name := filepath.Base(rel)
	for _, cand := range []string{name, filepath.Join("cmd", name)} {
		if isMainPackage(filepath.Join(dir, cand)) {
			return filepath.Join(dir, cand), false
		}
	}
	return "", false
}

// isMainPackage reports whether dir holds Go files of package main.
func isMainPackage(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		if packageName(filepath.Join(dir, e.Name())) == "main" {
			return true
		}
	}
	return false
}

// packageName reads the package clause of a Go file, skipping comments and
// build constraints.
func packageName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inComment := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if inComment {
			_, after, ok := strings.Cut(line, "*/")
			if !ok {
				continue
			}
			inComment, line = false, strings.TrimSpace(after)
		}
		if strings.HasPrefix(line, "/*") && !strings.Contains(line, "*/") {
			inComment = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		if name, ok := strings.CutPrefix(line, "package "); ok {
			return strings.TrimSpace(strings.SplitN(name, "//", 2)[0])
		}
		return ""
	}
	return ""
}
