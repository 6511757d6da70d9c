package manifest

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// checkCode checks, before anything is deployed, that each function's code is
// where its handler says: in the service directory, or in its prebuilt zip.
// The check is appspec's, the same the platform runs on the uploaded zip.
func (d *decoder) checkCode(p *Project, fnEntries []*entry, pcs []packageConfig, svc packageConfig) {
	artifacts := map[string]*zip.ReadCloser{} // nil when unreadable (already reported)
	defer func() {
		for _, zr := range artifacts {
			if zr != nil {
				zr.Close()
			}
		}
	}()
	dirFS := os.DirFS(d.dir)
	for i, fn := range p.App.Functions {
		family, ok := appspec.RuntimeFamily(fn.Runtime)
		if !ok || (fn.Handler == "" && family != appspec.FamilyProvided) {
			continue // already reported
		}
		e := fnEntries[i]
		pos := e.keyPos
		if h := e.val.get("handler"); h != nil && family != appspec.FamilyProvided {
			pos = h.pos
		}
		artifact, artifactPos := "", position{}
		for _, spec := range p.Packages {
			if spec.Artifact != "" && slices.Contains(spec.Functions, fn.Key) {
				artifact, artifactPos = spec.Artifact, svc.artifact.pos
				if pcs[i].artifact.set {
					artifactPos = pcs[i].artifact.pos
				}
			}
		}
		if artifact == "" {
			if d.generated[fn.Key] {
				continue // written or built by the deploy
			}
			if src, _ := GoMain(d.dir, fn); src != "" {
				continue // the deploy builds it
			}
			if BundleEntry(d.dir, p.Plugins, fn) != "" || UsesWSGI(p, fn) {
				continue // the deploy builds or writes it
			}
			code := dirFS
			if m := p.Modules[fn.Key]; m != "" {
				code = os.DirFS(filepath.Join(d.dir, filepath.FromSlash(m)))
			}
			if err := appspec.CheckHandler(code, fn.Runtime, fn.Handler); err != nil {
				d.errorf(pos, handlerHint(family), "function %q: %v (in %s)", fn.Key, err, d.dir)
			}
			continue
		}
		zr, seen := artifacts[artifact]
		if !seen {
			zr = d.openArtifact(artifact, artifactPos)
			artifacts[artifact] = zr
		}
		if zr == nil {
			continue
		}
		if err := appspec.CheckHandler(zr, fn.Runtime, fn.Handler); err != nil {
			d.errorf(artifactPos, handlerHint(family), "function %q: artifact %s: %v", fn.Key, filepath.Base(artifact), err)
		}
	}
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
	case appspec.FamilyRuby:
		return "a Ruby handler is path/file.method or path/file.Module::Class.method, for path/file.rb"
	case appspec.FamilyJava:
		return "a Java handler is package.Class::method or package.Class, in the package's jar or classes"
	}
	return ""
}

// openArtifact opens a prebuilt zip, or reports why it cannot.
func (d *decoder) openArtifact(artifact string, pos position) *zip.ReadCloser {
	if strings.HasPrefix(artifact, "s3:") || strings.Contains(artifact, "s3://") {
		d.errorf(pos, "build the zip locally and point package.artifact at it", "artifacts on S3 are not supported by nimbus: %s", artifact)
		return nil
	}
	st, err := os.Stat(artifact)
	if err != nil {
		d.errorf(pos, "build the artifact before deploying, or fix the path (relative to the manifest)", "cannot access package artifact: %v", err)
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
	return zr
}
