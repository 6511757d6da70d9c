package packaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// esbuildConfig is custom.esbuild as serverless-esbuild reads it: esbuild's
// own options plus the plugin's (external/exclude, outputFileExtension).
type esbuildConfig struct {
	Bundle              *bool             `json:"bundle"`
	Minify              bool              `json:"minify"`
	Sourcemap           json.RawMessage   `json:"sourcemap"`
	SourcesContent      *bool             `json:"sourcesContent"`
	Target              json.RawMessage   `json:"target"`
	Platform            string            `json:"platform"`
	Format              string            `json:"format"`
	External            []string          `json:"external"`
	Exclude             json.RawMessage   `json:"exclude"`
	Define              map[string]string `json:"define"`
	Loader              map[string]string `json:"loader"`
	Tsconfig            string            `json:"tsconfig"`
	KeepNames           bool              `json:"keepNames"`
	MainFields          []string          `json:"mainFields"`
	Conditions          []string          `json:"conditions"`
	ResolveExtensions   []string          `json:"resolveExtensions"`
	Alias               map[string]string `json:"alias"`
	Banner              map[string]string `json:"banner"`
	Footer              map[string]string `json:"footer"`
	OutputFileExtension string            `json:"outputFileExtension"`
}

// esbuildIgnored are serverless-esbuild settings that do not change what
// nimbus builds: how the plugin installs, zips or watches.
var esbuildIgnored = []string{
	"packager", "packagerOptions", "installExtraArgs", "concurrency", "zipConcurrency", "keepOutputDirectory",
	"watch", "nativeZip", "disableIncremental", "outputBuildFolder", "outputWorkFolder", "packagePath",
	"excludeFiles", "skipBuild", "skipBuildExcludeFns", "stripEntryResolveExtensions", "logLevel",
}

// esbuildOptions are the settings of one service, decoded once.
type esbuildOptions struct {
	cfg      esbuildConfig
	exclude  []string // external and not packaged
	excluded bool     // exclude was set (else the runtime's default applies)
	noPack   bool     // exclude '*': no node_modules in the package
	notes    []string // settings nimbus does not apply
}

func parseEsbuild(raw json.RawMessage) (esbuildOptions, error) {
	var o esbuildOptions
	if len(raw) == 0 {
		return o, nil
	}
	if err := json.Unmarshal(raw, &o.cfg); err != nil {
		return o, settingErr("esbuild", "custom.esbuild: %v", err)
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(raw, &keys)
	known := map[string]bool{}
	for _, f := range []string{"bundle", "minify", "sourcemap", "sourcesContent", "target", "platform", "format", "external",
		"exclude", "define", "loader", "tsconfig", "keepNames", "mainFields", "conditions", "resolveExtensions", "alias",
		"banner", "footer", "outputFileExtension"} {
		known[f] = true
	}
	var unknown []string
	for k := range keys {
		switch {
		case known[k] || slices.Contains(esbuildIgnored, k):
		case k == "plugins":
			o.notes = append(o.notes, "custom.esbuild.plugins: esbuild plugins are JavaScript and are not run by nimbus's built-in esbuild")
		case k == "nodeExternals":
			o.notes = append(o.notes, "custom.esbuild.nodeExternals is not supported: dependencies are bundled (list the ones to keep in node_modules under external)")
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		o.notes = append(o.notes, "custom.esbuild: ignored unknown settings: "+strings.Join(unknown, ", "))
	}
	if len(o.cfg.Exclude) > 0 && string(o.cfg.Exclude) != "null" {
		o.excluded = true
		var one string
		if json.Unmarshal(o.cfg.Exclude, &one) == nil {
			o.exclude = []string{one}
		} else if err := json.Unmarshal(o.cfg.Exclude, &o.exclude); err != nil {
			return o, settingErr("esbuild.exclude", "custom.esbuild.exclude must be a list of package names or '*'")
		}
		if slices.Contains(o.exclude, "*") {
			o.noPack, o.exclude = true, nil
		}
	}
	return o, nil
}

// settingError is a mistake in a plugin's settings under custom:, reported
// at its place in the manifest (manifest.Project.CustomError).
type settingError struct{ path, msg string }

func (e *settingError) Error() string { return e.msg }

func settingErr(path, format string, args ...any) error {
	return &settingError{path: path, msg: fmt.Sprintf(format, args...)}
}

// nodeMajor is the Node.js major version of a runtime name (nodejs20.x: 20).
func nodeMajor(runtime string) int {
	v := strings.TrimSuffix(strings.TrimPrefix(runtime, "nodejs"), ".x")
	n, _ := strconv.Atoi(v)
	return n
}

// bundleJob is one esbuild run: an entry of the project and its settings.
type bundleJob struct {
	entry   string // slash path relative to the project
	out     string // the bundle's path in the package (slash)
	runtime string
	opts    api.BuildOptions
	// external packages copied from node_modules into the package
	external  []string
	sourceMap bool // the bundle carries a source map Node can use
}

// bundle is what a build produced, ready to be packaged.
type bundle struct {
	files    []file // outputs (bundle, source map) at their package paths
	modules  []file // node_modules of the external packages
	inputs   int
	cached   bool
	external []string
}

// newBundleJob decides how fn's entry is built.
func newBundleJob(dir string, o esbuildOptions, fn appspec.Function, entry string, plugin bool) (bundleJob, error) {
	c := o.cfg
	j := bundleJob{entry: entry, runtime: fn.Runtime}
	format := api.FormatCommonJS
	ext := path.Ext(entry)
	outExt := ".js"
	switch ext {
	case ".mts":
		format, outExt = api.FormatESModule, ".mjs"
	case ".cts":
		outExt = ".cjs"
	case ".mjs":
		format, outExt = api.FormatESModule, ".mjs"
	case ".cjs":
		outExt = ".cjs"
	}
	switch c.Format {
	case "", "cjs":
		if c.Format == "cjs" {
			format = api.FormatCommonJS
		}
	case "esm":
		format = api.FormatESModule
		if outExt == ".js" {
			// Node treats .js as CommonJS without "type": "module" beside it.
			outExt = ".mjs"
		}
	default:
		return j, settingErr("esbuild.format", "custom.esbuild.format %q: Lambda runs cjs or esm", c.Format)
	}
	if c.OutputFileExtension != "" {
		if !slices.Contains([]string{".js", ".mjs", ".cjs"}, c.OutputFileExtension) {
			return j, settingErr("esbuild.outputFileExtension", "custom.esbuild.outputFileExtension %q must be .js, .mjs or .cjs", c.OutputFileExtension)
		}
		outExt = c.OutputFileExtension
	}
	j.out = strings.TrimSuffix(entry, ext) + outExt

	bundleAll := c.Bundle == nil || *c.Bundle
	sourcemap := api.SourceMapNone
	if !plugin {
		// Serverless v4's built-in build maps stack traces by default.
		sourcemap = api.SourceMapLinked
	}
	if len(c.Sourcemap) > 0 {
		var b bool
		var s string
		switch {
		case json.Unmarshal(c.Sourcemap, &b) == nil:
			sourcemap = api.SourceMapNone
			if b {
				sourcemap = api.SourceMapLinked
			}
		case json.Unmarshal(c.Sourcemap, &s) == nil:
			switch s {
			case "linked":
				sourcemap = api.SourceMapLinked
			case "inline":
				sourcemap = api.SourceMapInline
			case "external":
				sourcemap = api.SourceMapExternal
			case "both":
				sourcemap = api.SourceMapInlineAndExternal
			default:
				return j, settingErr("esbuild.sourcemap", "custom.esbuild.sourcemap %q must be true, false, linked, inline, external or both", s)
			}
		default:
			return j, settingErr("esbuild.sourcemap", "custom.esbuild.sourcemap must be true, false, linked, inline, external or both")
		}
	}
	// Node reads linked and inline maps with --enable-source-maps (Node 12.12+).
	j.sourceMap = sourcemap == api.SourceMapLinked || sourcemap == api.SourceMapInline || sourcemap == api.SourceMapInlineAndExternal

	target, engines, err := esTargets(c.Target, fn.Runtime)
	if err != nil {
		return j, err
	}
	platform := api.PlatformNode
	switch c.Platform {
	case "", "node":
	case "neutral":
		platform = api.PlatformNeutral
	case "browser":
		platform = api.PlatformBrowser
	default:
		return j, settingErr("esbuild.platform", "custom.esbuild.platform %q must be node, neutral or browser", c.Platform)
	}
	exclude := o.exclude
	if !o.excluded {
		// As Serverless v4's build: the runtime brings the AWS SDK (v2 up
		// to Node 16, v3 from Node 18; nimbus serves v3 on NODE_PATH).
		exclude = []string{"@aws-sdk/*"}
		if m := nodeMajor(fn.Runtime); m > 0 && m < 18 {
			exclude = []string{"aws-sdk"}
		}
	}
	external := slices.Concat(c.External, exclude)
	for _, e := range c.External {
		// A pattern (esbuild's * wildcard) names no one package to copy.
		if !excluded(exclude, e) && !o.noPack && !strings.Contains(e, "*") {
			j.external = append(j.external, e)
		}
	}
	loaders := map[string]api.Loader{}
	for k, v := range c.Loader {
		l, ok := loaderNames[v]
		if !ok {
			return j, settingErr("esbuild.loader."+k, "custom.esbuild.loader %q: unknown loader %q", k, v)
		}
		loaders[k] = l
	}
	sourcesContent := api.SourcesContentInclude
	if c.SourcesContent != nil && !*c.SourcesContent {
		sourcesContent = api.SourcesContentExclude
	}
	tsconfig := ""
	if c.Tsconfig != "" {
		tsconfig = filepath.Join(dir, filepath.FromSlash(c.Tsconfig))
	}
	j.opts = api.BuildOptions{
		EntryPoints: []string{filepath.Join(dir, filepath.FromSlash(entry))},
		// Write nothing: the output path is where the bundle sits in the
		// package, so the source map's paths resolve in /var/task.
		Outfile:           filepath.Join(dir, filepath.FromSlash(j.out)),
		Write:             false,
		AllowOverwrite:    true,
		AbsWorkingDir:     dir,
		Bundle:            bundleAll,
		Metafile:          true,
		Platform:          platform,
		Format:            format,
		Target:            target,
		Engines:           engines,
		Sourcemap:         sourcemap,
		SourcesContent:    sourcesContent,
		MinifyWhitespace:  c.Minify,
		MinifyIdentifiers: c.Minify,
		MinifySyntax:      c.Minify,
		KeepNames:         c.KeepNames,
		External:          external,
		Define:            c.Define,
		Loader:            loaders,
		Tsconfig:          tsconfig,
		MainFields:        c.MainFields,
		Conditions:        c.Conditions,
		ResolveExtensions: c.ResolveExtensions,
		Alias:             c.Alias,
		Banner:            c.Banner,
		Footer:            c.Footer,
		LogLevel:          api.LogLevelSilent,
	}
	return j, nil
}

// excluded says whether name matches one of the exclude entries, which may
// hold a * wildcard as esbuild's external does.
func excluded(exclude []string, name string) bool {
	for _, e := range exclude {
		if prefix, suffix, ok := strings.Cut(e, "*"); ok {
			if len(name) >= len(prefix)+len(suffix) && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) {
				return true
			}
		} else if e == name {
			return true
		}
	}
	return false
}

var loaderNames = map[string]api.Loader{
	"base64": api.LoaderBase64, "binary": api.LoaderBinary, "copy": api.LoaderCopy, "css": api.LoaderCSS,
	"dataurl": api.LoaderDataURL, "default": api.LoaderDefault, "empty": api.LoaderEmpty, "file": api.LoaderFile,
	"js": api.LoaderJS, "json": api.LoaderJSON, "jsx": api.LoaderJSX, "text": api.LoaderText, "ts": api.LoaderTS,
	"tsx": api.LoaderTSX,
}

var esVersions = map[string]api.Target{
	"esnext": api.ESNext, "es5": api.ES5, "es6": api.ES2015, "es2015": api.ES2015, "es2016": api.ES2016,
	"es2017": api.ES2017, "es2018": api.ES2018, "es2019": api.ES2019, "es2020": api.ES2020, "es2021": api.ES2021,
	"es2022": api.ES2022, "es2023": api.ES2023, "es2024": api.ES2024, "es2025": api.ES2025,
}

// esTargets reads custom.esbuild.target ("node18", "es2020", or a list);
// by default the function's Node.js version, as serverless-esbuild does.
func esTargets(raw json.RawMessage, runtime string) (api.Target, []api.Engine, error) {
	var list []string
	if len(raw) > 0 && string(raw) != "null" {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			list = []string{one}
		} else if err := json.Unmarshal(raw, &list); err != nil {
			return 0, nil, settingErr("esbuild.target", "custom.esbuild.target must be a string or a list, such as node20")
		}
	} else if m := nodeMajor(runtime); m > 0 {
		list = []string{"node" + strconv.Itoa(m)}
	}
	target := api.DefaultTarget
	var engines []api.Engine
	for _, t := range list {
		t = strings.ToLower(strings.TrimSpace(t))
		if v, ok := esVersions[t]; ok {
			target = v
			continue
		}
		if v, ok := strings.CutPrefix(t, "node"); ok && v != "" && strings.Trim(v, "0123456789.") == "" {
			engines = append(engines, api.Engine{Name: api.EngineNode, Version: v})
			continue
		}
		return 0, nil, settingErr("esbuild.target", "custom.esbuild.target %q: use nodeNN or esYYYY", t)
	}
	return target, engines, nil
}

// esbuildVersion names the linked esbuild in cache keys.
func esbuildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/evanw/esbuild" {
				return d.Version
			}
		}
	}
	return "unknown"
}

// bundleManifest records what a cached bundle was built from.
type bundleManifest struct {
	Inputs  map[string]string `json:"inputs"` // path relative to the project: SHA-256
	Outputs []string          `json:"outputs"`
}

// run builds j, or reuses the cached bundle when every input esbuild read
// last time is unchanged.
func (j bundleJob) run(ctx context.Context, dir, cacheDir string) (bundle, error) {
	if err := ctx.Err(); err != nil {
		return bundle{}, err
	}
	key := hashKey(esbuildVersion(), dir, j.entry, j.out, optionsForKey(j.opts))
	entry := cacheEntry{dir: filepath.Join(cacheDir, "esbuild", key)}
	var b bundle
	if m, ok := readBundleManifest(entry); ok && inputsUnchanged(dir, m.Inputs) {
		entry.touch()
		for _, o := range m.Outputs {
			abs := filepath.Join(entry.out(), filepath.FromSlash(o))
			st, err := os.Stat(abs)
			if err != nil {
				ok = false
				break
			}
			b.files = append(b.files, file{rel: o, abs: abs, mode: 0o644, size: st.Size()})
		}
		if ok {
			b.cached, b.inputs = true, len(m.Inputs)
			return b, nil
		}
		b = bundle{}
	}
	res := api.Build(j.opts)
	if len(res.Errors) > 0 {
		return b, esbuildError(dir, res.Errors)
	}
	inputs, err := metafileInputs(dir, res.Metafile)
	if err != nil {
		return b, err
	}
	// Files esbuild consults without listing them as inputs.
	for _, extra := range []string{"tsconfig.json", "package.json"} {
		if _, err := os.Stat(filepath.Join(dir, extra)); err == nil {
			inputs = append(inputs, extra)
		}
	}
	if j.opts.Tsconfig != "" {
		if rel, err := filepath.Rel(dir, j.opts.Tsconfig); err == nil {
			inputs = append(inputs, filepath.ToSlash(rel))
		}
	}
	m := bundleManifest{Inputs: map[string]string{}}
	for _, in := range inputs {
		sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(in)))
		if err != nil {
			return b, fmt.Errorf("hash %s: %w", in, err)
		}
		m.Inputs[in] = sum
	}
	var outs []api.OutputFile
	for _, of := range res.OutputFiles {
		rel, err := filepath.Rel(dir, of.Path)
		if err != nil || !filepath.IsLocal(rel) {
			return b, fmt.Errorf("esbuild wrote %s outside the project", of.Path)
		}
		m.Outputs = append(m.Outputs, filepath.ToSlash(rel))
		outs = append(outs, of)
	}
	err = entry.replace(func(tmp string) error {
		for i, of := range outs {
			p := filepath.Join(tmp, "out", filepath.FromSlash(m.Outputs[i]))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, of.Contents, 0o644); err != nil {
				return err
			}
		}
		data, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "manifest.json"), data, 0o644)
	})
	if err != nil {
		return b, err
	}
	for _, o := range m.Outputs {
		abs := filepath.Join(entry.out(), filepath.FromSlash(o))
		st, err := os.Stat(abs)
		if err != nil {
			return b, fmt.Errorf("build cache: %w", err)
		}
		b.files = append(b.files, file{rel: o, abs: abs, mode: 0o644, size: st.Size()})
	}
	b.inputs = len(m.Inputs)
	return b, nil
}

// optionsForKey is the part of the options that decides the output (the
// entry and paths are keyed separately).
func optionsForKey(o api.BuildOptions) any {
	o.EntryPoints = nil
	return o
}

func readBundleManifest(c cacheEntry) (bundleManifest, bool) {
	var m bundleManifest
	data, err := os.ReadFile(filepath.Join(c.dir, "manifest.json"))
	if err != nil || json.Unmarshal(data, &m) != nil || len(m.Inputs) == 0 {
		return m, false
	}
	return m, true
}

func inputsUnchanged(dir string, inputs map[string]string) bool {
	for rel, want := range inputs {
		got, err := hashFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil || got != want {
			return false
		}
	}
	return true
}

// metafileInputs lists the files esbuild read, relative to dir.
func metafileInputs(dir, metafile string) ([]string, error) {
	var meta struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return nil, fmt.Errorf("esbuild metafile: %w", err)
	}
	var out []string
	for in := range meta.Inputs {
		p := filepath.FromSlash(in)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue // a virtual module (a define, a namespace of esbuild's own)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			continue
		}
		out = append(out, filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out, nil
}

// esbuildError turns esbuild's messages into one error naming file:line:col.
func esbuildError(dir string, msgs []api.Message) error {
	var lines []string
	for i, m := range msgs {
		if i == 10 {
			lines = append(lines, fmt.Sprintf("... and %d more errors", len(msgs)-i))
			break
		}
		lines = append(lines, formatMessage(dir, m))
	}
	return errors.New(strings.Join(lines, "\n"))
}

func formatMessage(dir string, m api.Message) string {
	s := m.Text
	if l := m.Location; l != nil {
		f := l.File
		if filepath.IsAbs(f) {
			if rel, err := filepath.Rel(dir, f); err == nil {
				f = rel
			}
		}
		s = fmt.Sprintf("%s:%d:%d: %s", filepath.ToSlash(f), l.Line, l.Column+1, m.Text)
		if t := strings.TrimSpace(l.LineText); t != "" {
			s += "\n    " + t
		}
	}
	for _, n := range m.Notes {
		if n.Text != "" {
			s += "\n  " + n.Text
		}
	}
	return s
}

// buildBundles bundles every function of p that BundleEntry names, sets
// NODE_OPTIONS where a source map should rewrite stack traces, and returns
// the bundles by function key.
func buildBundles(ctx context.Context, p *manifest.Project, cacheDir string, progress func(string, ...any)) (map[string]bundle, error) {
	dir, err := filepath.Abs(p.Dir)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	plugin := slices.Contains(p.Plugins, "serverless-esbuild")
	var opts esbuildOptions
	parsed := false
	// Functions sharing an entry (and runtime) build once: group them first.
	type group struct {
		job  bundleJob
		keys []string
		idx  []int // into p.App.Functions
	}
	var groups []*group
	byID := map[string]*group{}
	for i := range p.App.Functions {
		fn := p.App.Functions[i]
		if artifactFunction(p, fn.Key) {
			continue
		}
		entry := manifest.BundleEntry(p.Dir, p.Plugins, fn)
		own, sam := p.Bundles[fn.Key]
		if sam {
			entry = own.Entry
		}
		if entry == "" {
			continue
		}
		if !parsed {
			parsed = true
			if opts, err = parseEsbuild(manifest.CustomSection(p.Custom, "esbuild")); err != nil {
				return nil, err
			}
			for _, n := range opts.notes {
				progress("warning: %s", n)
			}
			for _, other := range []string{"serverless-plugin-typescript", "serverless-webpack"} {
				if !plugin && slices.Contains(p.Plugins, other) {
					progress("note: %s: TypeScript handlers are bundled with nimbus's built-in esbuild in its place", other)
				}
			}
			pruneCache(filepath.Join(cacheDir, "esbuild"))
		}
		id := entry + "\x00" + fn.Runtime
		fnOpts := opts
		if sam {
			// A SAM function's BuildProperties are its own.
			id += "\x00" + string(own.Options)
			if fnOpts, err = parseEsbuild(own.Options); err != nil {
				return nil, fmt.Errorf("function %q: %w", fn.Key, err)
			}
		}
		g := byID[id]
		if g == nil {
			j, err := newBundleJob(dir, fnOpts, fn, entry, plugin || sam)
			if err != nil {
				return nil, fmt.Errorf("function %q: %w", fn.Key, err)
			}
			g = &group{job: j}
			byID[id] = g
			groups = append(groups, g)
		}
		g.keys = append(g.keys, fn.Key)
		g.idx = append(g.idx, i)
	}
	out := map[string]bundle{}
	for _, g := range groups {
		j := g.job
		b, err := j.run(ctx, dir, cacheDir)
		if err != nil {
			return nil, fmt.Errorf("%s: esbuild %s:\n%w", describeKeys(g.keys), j.entry, err)
		}
		b.external = j.external
		if b.modules, err = nodeModules(dir, j.external); err != nil {
			return nil, fmt.Errorf("%s: %w", describeKeys(g.keys), err)
		}
		how := "esbuild"
		if b.cached {
			how = "esbuild, cached"
		}
		progress("Bundled %s into %s for %s (%s, %d inputs)", j.entry, j.out, strings.Join(g.keys, ", "), how, b.inputs)
		for n, i := range g.idx {
			out[g.keys[n]] = b
			if !j.sourceMap {
				continue
			}
			env := p.App.Functions[i].Environment
			if env == nil {
				env = map[string]string{}
				p.App.Functions[i].Environment = env
			}
			if cur := env["NODE_OPTIONS"]; !strings.Contains(cur, "--enable-source-maps") {
				env["NODE_OPTIONS"] = strings.TrimSpace(cur + " --enable-source-maps")
			}
		}
	}
	return out, nil
}

// describeKeys names functions in an error: function "a", or functions "a", "b".
func describeKeys(keys []string) string {
	if len(keys) == 1 {
		return fmt.Sprintf("function %q", keys[0])
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return "functions " + strings.Join(q, ", ")
}

func artifactFunction(p *manifest.Project, key string) bool {
	for _, s := range p.Packages {
		if s.Artifact != "" && slices.Contains(s.Functions, key) {
			return true
		}
	}
	return false
}

// nodeModules lists the files of the external packages and of the packages
// they depend on, from the project's node_modules, as serverless-esbuild
// installs them beside the bundle.
func nodeModules(dir string, names []string) ([]file, error) {
	var out []file
	seen := map[string]bool{}
	var add func(name, from string) error
	add = func(name, from string) error {
		pkgDir := ""
		// Node's resolution: node_modules folders from the requiring
		// package up to the project.
		for d := from; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, "node_modules", filepath.FromSlash(name))
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				pkgDir = cand
				break
			}
			if d == dir || !strings.HasPrefix(d, dir) {
				break
			}
		}
		if pkgDir == "" {
			return fmt.Errorf("external package %q is not in node_modules (run npm install in %s)", name, dir)
		}
		if seen[pkgDir] {
			return nil
		}
		seen[pkgDir] = true
		rel, err := filepath.Rel(dir, pkgDir)
		if err != nil || !filepath.IsLocal(rel) {
			rel = filepath.Join("node_modules", name)
		}
		files, err := listTree(pkgDir, filepath.ToSlash(rel)+"/")
		if err != nil {
			return fmt.Errorf("external package %q: %w", name, err)
		}
		out = append(out, files...)
		var pj struct {
			Dependencies         map[string]string `json:"dependencies"`
			OptionalDependencies map[string]string `json:"optionalDependencies"`
		}
		if data, err := os.ReadFile(filepath.Join(pkgDir, "package.json")); err == nil {
			_ = json.Unmarshal(data, &pj)
		}
		deps := slices.Sorted(maps.Keys(pj.Dependencies))
		for _, d := range deps {
			if err := add(d, pkgDir); err != nil {
				return err
			}
		}
		for _, d := range slices.Sorted(maps.Keys(pj.OptionalDependencies)) {
			if _, required := pj.Dependencies[d]; !required {
				_ = add(d, pkgDir) // optional: absent is fine
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n, dir); err != nil {
			return nil, err
		}
	}
	return out, nil
}
