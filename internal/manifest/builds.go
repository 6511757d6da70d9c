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

// placeCustom records where each value of custom: is, by dotted path, down
// to depth levels.
func placeCustom(n *node, prefix string, depth int, out map[string]position) {
	if n == nil || n.kind != kindMap || depth == 0 {
		return
	}
	for _, e := range n.entries {
		path := e.key
		if prefix != "" {
			path = prefix + "." + e.key
		}
		out[path] = e.val.pos
		if !e.val.pos.valid() {
			out[path] = e.keyPos
		}
		placeCustom(e.val, path, depth-1, out)
	}
}

// CustomError is a manifest error about custom.<path> (dotted, such as
// "esbuild.format"), placed at that value, or at the closest enclosing one
// the manifest has, so that build steps report their settings' mistakes as
// the manifest's own are.
func (p *Project) CustomError(path, hint, format string, args ...any) error {
	d := diagnostics{file: p.file}
	pos := position{}
	for q := path; q != ""; {
		if at, ok := p.customPos[q]; ok && at.valid() {
			pos = at
			break
		}
		i := strings.LastIndex(q, ".")
		if i < 0 {
			break
		}
		q = q[:i]
	}
	return d.newError(pos, hint, format, args...)
}
