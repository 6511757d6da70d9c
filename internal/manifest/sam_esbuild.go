package manifest

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// esbuild reads Metadata BuildMethod: esbuild and its BuildProperties, as
// `sam build` applies them: the entry point (relative to CodeUri) is
// bundled with nimbus's built-in esbuild, and the bundle, at the entry's
// path with .js, becomes the function's code, so the handler keeps
// naming it.
func (s *samLoader) esbuild(key, where string, fn, props, md *node) {
	module := ""
	if m := fn.get("module"); m != nil && m.kind == kindString {
		module = m.str
	}
	h := fn.get("handler")
	if h == nil || h.kind != kindString {
		return // reported as a missing handler
	}
	opts := map[string]any{"sourcemap": false}
	var entry string
	bp := md.get("BuildProperties")
	if bp != nil && bp.kind != kindMap {
		s.typeError(bp, where+".Metadata.BuildProperties", "a map (EntryPoints, Minify, Target ...)")
		return
	}
	strList := func(n *node) []string {
		var out []string
		if n.kind == kindString {
			for _, p := range strings.Split(n.str, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out
		}
		for _, it := range n.items {
			if str, ok := it.scalarString(); ok {
				out = append(out, str)
			}
		}
		return out
	}
	// pairs reads ["key=value", ...] (OutExtension, Loader, Banner).
	pairs := func(n *node) map[string]string {
		out := map[string]string{}
		for _, p := range strList(n) {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				s.errorf(n.pos, "write KEY=VALUE, e.g. .js=.mjs", "%s.Metadata.BuildProperties: %q is not KEY=VALUE", where, p)
				continue
			}
			out[k] = v
		}
		return out
	}
	if bp == nil {
		bp = mapNode(md.pos)
	}
	for _, e := range bp.entries {
		v := e.val
		switch e.key {
		case "EntryPoints":
			list := strList(v)
			if len(list) == 0 {
				s.errorf(v.pos, "", "%s.Metadata.BuildProperties.EntryPoints names no file", where)
				return
			}
			if len(list) > 1 {
				s.warnf(v.pos, "", "%s: only the first of EntryPoints (%s) is the function's code", where, list[0])
			}
			entry = path.Join(module, list[0])
			if _, err := projectPath(s.dir, entry); err != nil {
				s.errorf(v.pos, "", "%s.Metadata.BuildProperties.EntryPoints: %v", where, err)
				return
			}
		case "Minify":
			opts["minify"] = v.kind == kindBool && v.boolean
		case "Sourcemap":
			opts["sourcemap"] = v.kind == kindBool && v.boolean
		case "Target":
			str, _ := v.scalarString()
			opts["target"] = str
		case "Format":
			str, _ := v.scalarString()
			opts["format"] = str
		case "Platform":
			str, _ := v.scalarString()
			opts["platform"] = str
		case "External":
			opts["external"] = strList(v)
		case "MainFields":
			opts["mainFields"] = strList(v)
		case "OutExtension":
			if ext := pairs(v)[".js"]; ext != "" {
				opts["outputFileExtension"] = ext
			}
		case "Loader":
			opts["loader"] = pairs(v)
		case "Banner":
			opts["banner"] = pairs(v)
		case "Footer":
			opts["footer"] = pairs(v)
		case "Define":
			opts["define"] = pairs(v)
		case "KeepNames":
			opts["keepNames"] = v.kind == kindBool && v.boolean
		case "UseNpmCi", "SkipBuild":
		default:
			s.warnf(e.keyPos, "", "%s.Metadata.BuildProperties.%s is not applied by nimbus", where, e.key)
		}
	}
	if entry == "" {
		// The handler's file, as sam build finds it when EntryPoints is left out.
		file, _, _ := strings.Cut(path.Base(h.str), ".")
		base := path.Join(module, path.Dir(h.str), file)
		for _, ext := range []string{".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"} {
			if st, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(base+ext))); err == nil && st.Mode().IsRegular() {
				entry = base + ext
				break
			}
		}
		if entry == "" {
			s.errorf(h.pos, "name the file under Metadata.BuildProperties.EntryPoints", "%s: esbuild has no entry point: no %s.ts or .js", where, base)
			return
		}
	}
	raw, _ := json.Marshal(opts)
	s.bundles[key] = Bundle{Entry: entry, Options: raw}
}
