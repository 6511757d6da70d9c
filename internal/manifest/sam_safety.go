package manifest

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A template is input from whoever wrote it: paths it names must stay in
// the project, and what its parameters and substitutions build is bounded
// like the rest of the loaded tree (limits.go).

// samMaxParameterValue is CloudFormation's limit on a parameter's value.
const samMaxParameterValue = 4096

// projectPath resolves p, a path a template names (CodeUri, DefinitionUri
// ...), inside dir. It refuses absolute paths, paths that climb out with
// "..", and paths a symlink leads out of the project; a path that does not
// exist is returned for the caller to report.
func projectPath(dir, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("the path is empty")
	}
	if filepath.IsAbs(p) || filepath.IsAbs(filepath.FromSlash(p)) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) {
		return "", fmt.Errorf("%q is an absolute path: name a path relative to the template", p)
	}
	rel := filepath.Clean(filepath.FromSlash(p))
	if rel != "." && !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%q leaves the project's directory", p)
	}
	full := filepath.Join(dir, rel)
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return full, nil // the caller reports the missing directory
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return full, nil // missing: the caller says so
	}
	if r, err := filepath.Rel(root, real); err != nil || (r != "." && !filepath.IsLocal(r)) {
		return "", fmt.Errorf("%q is a symlink to %s, outside the project's directory", p, real)
	}
	return full, nil
}

// chargeExpansion counts text a substitution made against the load's
// limits, reporting the first one that goes over them.
func (s *samLoader) chargeExpansion(at position, values, bytes int) bool {
	x := &s.diagnostics.expansion
	if x.exhausted {
		return false
	}
	if err := x.add(values, bytes); err != nil {
		x.exhausted = true
		s.errorf(at, "parameters and Fn::Sub must not multiply text without bound", "%v", err)
		return false
	}
	return true
}
