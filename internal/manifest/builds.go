package manifest

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Extensions esbuild bundles as entry points, in the order serverless-esbuild
// resolves a handler's file.
var (
	tsExtensions = []string{".ts", ".tsx", ".mts", ".cts"}
	jsExtensions = []string{".js", ".mjs", ".cjs", ".jsx"}
)

// BundleEntry is the file (slash-separated, relative to dir) that the deploy
// bundles with esbuild for fn, or "" when fn's code is packaged as it is:
// with the serverless-esbuild plugin every Node.js handler is bundled, else a
// handler whose file is TypeScript and has no JavaScript beside it
// (serverless-plugin-typescript, serverless-webpack, or none).
func BundleEntry(dir string, plugins []string, fn appspec.Function) string {
	if family, _ := appspec.RuntimeFamily(fn.Runtime); family != appspec.FamilyNode {
		return ""
	}
	d, base := path.Split(fn.Handler)
	i := strings.Index(base, ".")
	if i <= 0 {
		return ""
	}
	file := path.Clean(d + base[:i])
	if !filepath.IsLocal(filepath.FromSlash(file)) {
		return ""
	}
	exists := func(ext string) bool {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(file+ext)))
		return err == nil && st.Mode().IsRegular()
	}
	esbuild := slices.Contains(plugins, "serverless-esbuild")
	if !esbuild && slices.ContainsFunc(jsExtensions[:3], exists) {
		return "" // compiled already, or plain JavaScript
	}
	for _, ext := range tsExtensions {
		if exists(ext) {
			return file + ext
		}
	}
	if esbuild {
		for _, ext := range jsExtensions {
			if exists(ext) {
				return file + ext
			}
		}
	}
	return ""
}

// WSGIHandler is the handler of serverless-wsgi functions, a module the
// deploy writes into the package.
const WSGIHandler = "wsgi_handler.handler"

// UsesWSGI says whether fn is served by the WSGI adapter the deploy adds:
// its handler is wsgi_handler.handler and the service configures
// serverless-wsgi.
func UsesWSGI(p *Project, fn appspec.Function) bool {
	if fn.Handler != WSGIHandler {
		return false
	}
	if family, _ := appspec.RuntimeFamily(fn.Runtime); family != appspec.FamilyPython {
		return false
	}
	return slices.Contains(p.Plugins, "serverless-wsgi") || CustomSection(p.Custom, "wsgi") != nil
}

// CustomSection is custom.<name> as JSON, or nil when absent.
func CustomSection(custom json.RawMessage, name string) json.RawMessage {
	var m map[string]json.RawMessage
	if len(custom) == 0 || json.Unmarshal(custom, &m) != nil {
		return nil
	}
	v := m[name]
	if string(v) == "null" {
		return nil
	}
	return v
}
