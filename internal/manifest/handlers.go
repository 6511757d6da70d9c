package manifest

import (
	"archive/zip"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// handlerFiles returns the files of which one must exist for the handler to
// load, in the order they would be tried, and whether it must be executable.
// It follows the Lambda runtimes: Node.js takes the module from the handler's
// base name up to its first dot; Python splits the module from the function
// at the last dot and maps the module's dots to directories.
func handlerFiles(family, handler string) (files []string, executable bool, err error) {
	switch family {
	case appspec.FamilyProvided:
		return []string{"bootstrap"}, true, nil
	case appspec.FamilyGo:
		return []string{path.Clean(handler)}, true, nil
	case appspec.FamilyNode:
		dir, base := path.Split(handler)
		module, export, ok := strings.Cut(base, ".")
		if !ok || module == "" || export == "" {
			return nil, false, fmt.Errorf("handler %q must be file.export, e.g. handler.hello for handler.js", handler)
		}
		for _, ext := range []string{".js", ".mjs", ".cjs"} {
			files = append(files, path.Clean(dir+module+ext))
		}
		return files, false, nil
	case appspec.FamilyPython:
		dir, base := path.Split(handler)
		i := strings.LastIndex(base, ".")
		if i <= 0 || i == len(base)-1 {
			return nil, false, fmt.Errorf("handler %q must be module.function, e.g. handler.hello for handler.py", handler)
		}
		module := path.Clean(dir + strings.ReplaceAll(base[:i], ".", "/"))
		return []string{module + ".py", module + "/__init__.py"}, false, nil
	}
	return nil, false, nil
}

// checkCode checks, before anything is deployed, that each function's code is
// where its handler says: in the service directory, or in its prebuilt zip.
func (d *decoder) checkCode(p *Project, fnEntries []*entry, pcs []packageConfig, svc packageConfig) {
	zips := map[string]map[string]os.FileMode{} // artifact path -> entries, nil when unreadable
	for i, fn := range p.App.Functions {
		family, ok := appspec.RuntimeFamily(fn.Runtime)
		if !ok {
			continue // already reported
		}
		e := fnEntries[i]
		pos := e.keyPos
		if h := e.val.get("handler"); h != nil {
			pos = h.pos
		}
		if family == appspec.FamilyProvided {
			pos = e.keyPos
		}
		files, executable, err := handlerFiles(family, fn.Handler)
		if err != nil {
			d.errorf(pos, "", "function %q: %v", fn.Key, err)
			continue
		}
		artifact, artifactPos := "", position{}
		for _, spec := range p.Packages {
			if spec.Artifact != "" && containsString(spec.Functions, fn.Key) {
				artifact = spec.Artifact
				artifactPos = svc.artifact.pos
				if pcs[i].artifact.set {
					artifactPos = pcs[i].artifact.pos
				}
			}
		}
		if artifact == "" {
			d.checkDirHandler(fn, files, executable, pos)
			continue
		}
		entries, seen := zips[artifact]
		if !seen {
			entries = d.readArtifact(artifact, artifactPos)
			zips[artifact] = entries
		}
		if entries == nil {
			continue
		}
		found := false
		for _, f := range files {
			if mode, ok := entries[f]; ok {
				found = true
				if executable && mode != 0 && mode&0o111 == 0 {
					d.errorf(artifactPos, "set the executable bit before zipping (chmod +x)", "function %q: %s in %s is not executable", fn.Key, f, filepath.Base(artifact))
				}
				break
			}
		}
		if !found {
			d.errorf(artifactPos, handlerHint(family), "function %q: %s not found in artifact %s (handler %q)", fn.Key, strings.Join(files, " or "), filepath.Base(artifact), fn.Handler)
		}
	}
}

func (d *decoder) checkDirHandler(fn appspec.Function, files []string, executable bool, pos position) {
	for _, f := range files {
		st, err := os.Stat(filepath.Join(d.dir, filepath.FromSlash(f)))
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if executable && st.Mode().Perm()&0o111 == 0 {
			d.errorf(pos, "make it executable: chmod +x "+f, "function %q: %s is not executable", fn.Key, f)
		}
		return
	}
	family, _ := appspec.RuntimeFamily(fn.Runtime)
	d.errorf(pos, handlerHint(family), "function %q: handler file not found: %s (looked in %s)", fn.Key, strings.Join(files, " or "), d.dir)
}

func handlerHint(family string) string {
	switch family {
	case appspec.FamilyProvided:
		return "provided runtimes run an executable named bootstrap at the root of the package; build it first"
	case appspec.FamilyGo:
		return "go1.x runs the executable the handler names; build it first (GOOS=linux go build -o <handler>)"
	case appspec.FamilyNode:
		return "a Node.js handler is path/file.export, for path/file.js (or .mjs, .cjs)"
	case appspec.FamilyPython:
		return "a Python handler is path/module.function, for path/module.py"
	}
	return ""
}

// readArtifact lists a prebuilt zip's files with their modes (0 when the zip
// carries no Unix modes), or reports why it cannot.
func (d *decoder) readArtifact(artifact string, pos position) map[string]os.FileMode {
	if strings.HasPrefix(artifact, "s3:") || strings.Contains(artifact, "s3://") {
		d.errorf(pos, "build the zip locally and point package.artifact at it", "artifacts on S3 are not supported by nimbus: %s", artifact)
		return nil
	}
	st, err := os.Stat(artifact)
	if err != nil {
		d.errorf(pos, "build the artifact before deploying, or fix the path (relative to the manifest)", "cannot access package artifact %s: %v", artifact, err)
		return nil
	}
	if !st.Mode().IsRegular() {
		d.errorf(pos, "", "package artifact %s is not a file", artifact)
		return nil
	}
	zr, err := zip.OpenReader(artifact)
	if err != nil {
		d.errorf(pos, "package.artifact must be a zip file", "package artifact %s: %v", artifact, err)
		return nil
	}
	defer zr.Close()
	entries := map[string]os.FileMode{}
	for _, f := range zr.File {
		var mode os.FileMode
		if f.CreatorVersion>>8 == 3 { // Unix: the external attributes hold the mode
			mode = f.Mode()
		}
		entries[path.Clean(strings.TrimPrefix(f.Name, "./"))] = mode
	}
	return entries
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
