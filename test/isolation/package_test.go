package isolation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

const listPy = `import os

def handler(event, context):
    return {'files': sorted(os.listdir('.'))}
`

// TestDeployRefusesHandlersOutsideThePackage: a deployer who writes the
// application description by hand (past the CLI's own checks) cannot name a
// handler outside the package, relative or absolute, for any runtime: the
// platform refuses the deploy and the previous version keeps serving.
func TestDeployRefusesHandlersOutsideThePackage(t *testing.T) {
	p := start(t, nil)
	dir := deploy(t, p, "climb", "  fn:\n    handler: list.handler\n", map[string]string{"list.py": listPy})
	for _, c := range []struct{ runtime, handler string }{
		{"python3.11", "../../../etc/passwd.handler"},
		{"python3.11", "/etc/passwd.handler"},
		{"python3.11", "....etc.passwd.handler"},
		{"nodejs20.x", "../../../usr/lib/node.handler"},
		{"nodejs20.x", "/var/runtime/index.handler"},
		{"go1.x", "../../../bin/sh"},
		{"go1.x", "/bin/sh"},
	} {
		_, err := p.Client.DeployWith(context.Background(), dir, manifest.Options{}, nil, func(app *appspec.Application) {
			app.Functions[0].Runtime, app.Functions[0].Handler = c.runtime, c.handler
		})
		if err == nil {
			t.Errorf("%s handler %q: deployed", c.runtime, c.handler)
		} else if !strings.Contains(err.Error(), c.handler) {
			t.Errorf("%s handler %q: %v, want an error naming the handler", c.runtime, c.handler, err)
		}
	}
	if got := invoke(t, p, "climb-dev-fn", map[string]any{}).payload["files"]; got == nil {
		t.Errorf("the deployed version stopped serving: %v", got)
	}
}

// TestFileNamesWithControlCharacters: file names with a newline, a carriage
// return or terminal escapes go into the package and come out under the
// same names; nothing in between splits or rewrites them.
func TestFileNamesWithControlCharacters(t *testing.T) {
	p := start(t, nil)
	names := []string{"line\nbreak.txt", "carriage\rreturn.txt", "esc\x1b[31mred.txt", "tab\tname.txt"}
	files := map[string]string{"list.py": listPy}
	for _, n := range names {
		files[n] = "x"
	}
	dir := deploy(t, p, "names", "  fn:\n    handler: list.handler\n", files)
	if _, err := os.Stat(filepath.Join(dir, names[0])); err != nil {
		t.Fatal(err)
	}
	got, _ := invoke(t, p, "names-dev-fn", map[string]any{}).payload["files"].([]any)
	seen := map[string]bool{}
	for _, g := range got {
		s, _ := g.(string)
		seen[s] = true
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("%q is not in the function's directory: %q", n, got)
		}
	}
}
