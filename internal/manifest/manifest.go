// Package manifest reads a Serverless Framework v3 serverless.yml and turns
// it into the normalised appspec.Application that nimbus deploys, plus the
// list of code packages to build. Every problem is reported with its
// file:line:column, all at once, before anything is changed.
package manifest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

const (
	defaultStage        = "dev"
	defaultRegion       = "us-east-1"
	defaultArchitecture = "x86_64"
)

// Options are the values given on the command line.
type Options struct {
	Stage  string // --stage; empty means provider.stage, else dev
	Region string // --region; empty means provider.region, else us-east-1
	// LookupEnv reads environment variables for ${env:...}; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Parameters reads ${ssm:} parameters from the platform; nil makes
	// ${ssm:} an error.
	Parameters ParameterSource
	// StackName names the service a SAM template deploys as (--stack-name);
	// empty means the template directory's name.
	StackName string
	// ParameterOverrides are a SAM template's parameter values
	// (--parameter-overrides), by name.
	ParameterOverrides map[string]string
	// ConfigEnv is the samconfig.toml environment a SAM template deploys
	// with (--config-env); empty means default.
	ConfigEnv string
}

// Project is a loaded manifest.
type Project struct {
	Dir  string // directory of the manifest
	File string // path of the manifest
	// App is fully resolved; the Code of each function is left empty for
	// packaging to fill.
	App appspec.Application
	// Packages lists the code packages to build or use; every function is in
	// exactly one.
	Packages []PackageSpec
	// Warnings are problems that do not stop a deploy, such as plugins that
	// nimbus does not run.
	Warnings ErrorList
	// Plugins are the names under `plugins:`; the deploy reproduces the
	// build steps of some of them (see BuildPlugins).
	Plugins []string
	// Custom is the resolved `custom:` section as JSON (nil when absent):
	// build steps read their plugins' settings from it.
	Custom json.RawMessage
	// Modules maps a function key to its serverless-python-requirements
	// `module:` folder, the root of its package.
	Modules map[string]string
	// Bundles are the functions a SAM template builds with esbuild
	// (Metadata.BuildMethod esbuild), by key.
	Bundles map[string]Bundle
	// customPos places the values of `custom:` by dotted path, for
	// CustomError.
	customPos map[string]position
	file      string
}

// Bundle is one function's esbuild build: its entry point (a slash path
// relative to the project) and its options in custom.esbuild's form.
type Bundle struct {
	Entry   string
	Options json.RawMessage
}

// PackageSpec is one zip to build (or a prebuilt one to use) and the
// functions whose code it is.
type PackageSpec struct {
	Functions []string // function keys
	// Name is the zip's base name: the service name for the shared package,
	// the function key for one packaged individually.
	Name string
	// Patterns is the complete ordered list applied to all files of Dir
	// (Serverless semantics: later patterns win, "!" excludes); Serverless's
	// default excludes come first.
	Patterns []string
	// Artifact is the absolute path of a prebuilt zip, used as it is; when
	// set, Patterns is empty.
	Artifact string
	// Files, when set, are the package's only files, written from memory
	// (a SAM function's InlineCode: index.js or index.py).
	Files map[string][]byte
}

// manifestNames are tried in this order, like Serverless does.
var manifestNames = []string{"serverless.yml", "serverless.yaml", "serverless.json"}

// Load reads the manifest in dir, resolves its variables, applies defaults
// and checks it, including that handler files exist. A directory without a
// serverless.yml may hold a SAM template (template.yaml) instead. The error
// is an ErrorList when the manifest itself is at fault.
func Load(dir string, opts Options) (*Project, error) {
	file := ""
	for _, name := range manifestNames {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			file = p
			break
		}
	}
	sam := false
	if file == "" {
		file, sam = SAMTemplate(dir), true
	}
	if file == "" {
		return nil, fmt.Errorf("no serverless.yml or SAM template.yaml in %s: %w", dir, os.ErrNotExist)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("manifest directory: %w", err)
	}
	if sam {
		return loadSAM(absDir, file, data, opts)
	}
	return load(absDir, file, data, opts)
}

func load(dir, file string, data []byte, opts Options) (*Project, error) {
	diags := &diagnostics{file: file}
	root := parseYAML(newSource(file, data), data, diags)
	if len(diags.errs) > 0 {
		return nil, diags.errs
	}
	if root.kind != kindMap {
		diags.errorf(root.pos, "a manifest starts with `service:` and `provider:`", "the manifest must be a map, not %s", root.kind)
		return nil, diags.errs
	}
	lookupEnv := opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	r := &resolver{root: root, dir: dir, opts: opts, lookupEnv: lookupEnv, diags: diags,
		instanceID: newInstanceID(), files: map[string]*node{}}
	if u := root.get("useDotenv"); u != nil && u.kind == kindBool && u.boolean {
		env, err := dotenvLookup(dir, r.currentStage(), lookupEnv)
		if err != nil {
			diags.errorf(u.pos, "", "%v", err)
		}
		r.lookupEnv = env
	}
	r.resolveAll(root)

	d := &decoder{diagnostics: diags, dir: dir, file: file}
	return finishLoad(d.project(root, r), diags)
}

// finishLoad checks a decoded project as the platform will.
func finishLoad(p *Project, diags *diagnostics) (*Project, error) {
	if len(diags.errs) > 0 {
		return nil, diags.sorted()
	}
	// The platform runs appspec's checks again; running them here too
	// catches anything the positioned checks above missed.
	check := p.App
	check.Functions = slices.Clone(p.App.Functions)
	for i := range check.Functions {
		check.Functions[i].Code = appspec.CodeRef{SHA256: strings.Repeat("0", 64), Size: 1}
	}
	if err := check.Validate(); err != nil {
		diags.errorf(position{}, "", "%v", err)
		return nil, diags.errs
	}
	p.Warnings = diags.warnings
	return p, nil
}

func newInstanceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// decoder turns the resolved tree into typed values, reporting unknown keys
// and wrong types.
type decoder struct {
	*diagnostics
	dir  string
	file string
	// generated are the functions whose code the deploy writes or builds
	// (a SAM template's InlineCode, esbuild builds): nothing on disk to check.
	generated map[string]bool
	// lenientKeys demotes unknown keys to warnings (configValidationMode: warn
	// or off), as Serverless does.
	lenientKeys bool
	quietKeys   bool
	// providerRuntimeReported avoids one error per function for a bad
	// provider.runtime.
	providerRuntimeReported bool
	// app is the application being decoded (for resource references).
	app *appspec.Application
	// pendingRefs are references checked once every function is known.
	pendingRefs []pendingRef
	// providerEnvRefs and providerIAM are the provider's settings that
	// every function inherits.
	providerEnvRefs map[string]*node
	providerIAM     iamSettings
	// hookPos are where traffic hooks are named (deployments.go).
	hookPos map[string]position
}

// fields checks that n is a map with only known keys and returns its entries
// by key. Unknown keys are reported as configValidationMode says.
func (d *decoder) fields(n *node, where string, known []string) map[string]*entry {
	return d.checkFields(n, where, known, false)
}

// strictFields is fields where an unknown key is always an error: where
// ignoring it could grant more than the user wrote (IAM statements), as
// CloudFormation would refuse it anyway.
func (d *decoder) strictFields(n *node, where string, known []string) map[string]*entry {
	return d.checkFields(n, where, known, true)
}

func (d *decoder) checkFields(n *node, where string, known []string, strict bool) map[string]*entry {
	out := map[string]*entry{}
	if n == nil || n.failed || n.kind == kindNull {
		return out
	}
	if n.kind != kindMap {
		d.errorf(n.pos, "", "%s must be a map, not %s", where, n.describe())
		return out
	}
	for _, e := range n.entries {
		if slices.Contains(known, e.key) {
			out[e.key] = e
			continue
		}
		hint := ""
		if s := suggest(e.key, known); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		} else if len(known) <= 12 {
			hint = "known keys: " + strings.Join(known, ", ")
		}
		switch {
		case strict:
			d.errorf(e.keyPos, hint, "unknown key %q in %s", e.key, where)
		case d.quietKeys:
		case d.lenientKeys:
			d.warnf(e.keyPos, hint, "unknown key %q in %s", e.key, where)
		default:
			d.errorf(e.keyPos, hint, "unknown key %q in %s", e.key, where)
		}
	}
	return out
}

func val(fields map[string]*entry, key string) *node {
	if e, ok := fields[key]; ok && e.val.kind != kindNull && !e.val.failed {
		return e.val
	}
	return nil
}

func (d *decoder) typeError(n *node, what, want string) {
	if n.failed {
		return
	}
	d.errorf(n.pos, "", "%s must be %s, not %s", what, want, n.describe())
	n.failed = true
}

// str reads a scalar as text; numbers and booleans are written out.
func (d *decoder) str(n *node, what string) (string, bool) {
	if n == nil {
		return "", false
	}
	switch n.kind {
	case kindString:
		return n.str, true
	case kindInt, kindFloat, kindBool:
		s, _ := n.scalarString()
		return s, true
	}
	d.typeError(n, what, "a string")
	return "", false
}

// integer reads a whole number; numeric strings are accepted because
// ${env:...} always gives text.
func (d *decoder) integer(n *node, what string) (int, bool) {
	if n == nil {
		return 0, false
	}
	switch n.kind {
	case kindInt:
		if n.num >= -1<<31 && n.num <= 1<<31-1 {
			return int(n.num), true
		}
	case kindFloat:
		if n.float == float64(int(n.float)) && n.float >= -1<<31 && n.float <= 1<<31-1 {
			return int(n.float), true
		}
	case kindString:
		if i, err := strconv.Atoi(strings.TrimSpace(n.str)); err == nil {
			return i, true
		}
	}
	d.typeError(n, what, "a whole number")
	return 0, false
}

func (d *decoder) boolean(n *node, what string) (bool, bool) {
	if n == nil {
		return false, false
	}
	switch n.kind {
	case kindBool:
		return n.boolean, true
	case kindString:
		if b, err := strconv.ParseBool(n.str); err == nil && (n.str == "true" || n.str == "false") {
			return b, true
		}
	}
	d.typeError(n, what, "true or false")
	return false, false
}

func (d *decoder) stringList(n *node, what string) []string {
	if n == nil {
		return nil
	}
	if n.kind != kindSeq {
		d.typeError(n, what, "a list of strings")
		return nil
	}
	var out []string
	for i, it := range n.items {
		if s, ok := d.str(it, fmt.Sprintf("%s[%d]", what, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// environment reads a map of variables; a null value removes the variable
// (Serverless drops null environment values). Values that are CloudFormation
// references go to refs, for the platform to resolve.
func (d *decoder) environment(n *node, what string, into map[string]string, refs map[string]*node) {
	if n == nil {
		return
	}
	if n.kind != kindMap {
		d.typeError(n, what, "a map of names to values")
		return
	}
	for _, e := range n.entries {
		v := e.val
		switch {
		case v.failed:
		case v.kind == kindNull:
			delete(into, e.key)
			delete(refs, e.key)
		case isIntrinsic(v):
			delete(into, e.key)
			refs[e.key] = v
		default:
			if s, ok := d.str(v, what+"."+e.key); ok {
				into[e.key] = s
				delete(refs, e.key)
			}
		}
	}
}

// placed is a value with the position to blame for it.
type placed[T any] struct {
	value T
	pos   position
	set   bool
}

func (d *decoder) placedString(n *node, what string) placed[string] {
	s, ok := d.str(n, what)
	if !ok {
		return placed[string]{}
	}
	return placed[string]{value: s, pos: n.pos, set: true}
}

func (d *decoder) placedInt(n *node, what string) placed[int] {
	i, ok := d.integer(n, what)
	if !ok {
		return placed[int]{}
	}
	return placed[int]{value: i, pos: n.pos, set: true}
}

// packageConfig is a `package:` section, of the service or of a function.
type packageConfig struct {
	patterns, include, exclude []string
	individually               bool
	artifact                   placed[string]
	patternsPos                position
}

func (d *decoder) packageConfig(n *node, where string, known []string) packageConfig {
	f := d.fields(n, where, known)
	var pc packageConfig
	pc.patterns = d.stringList(val(f, "patterns"), "package.patterns")
	if e := f["patterns"]; e != nil {
		pc.patternsPos = e.keyPos
	}
	pc.include = d.stringList(val(f, "include"), "package.include")
	pc.exclude = d.stringList(val(f, "exclude"), "package.exclude")
	pc.individually, _ = d.boolean(val(f, "individually"), "package.individually")
	pc.artifact = d.placedString(val(f, "artifact"), "package.artifact")
	d.boolean(val(f, "excludeDevDependencies"), "package.excludeDevDependencies")
	return pc
}

// providerDefaults are the provider values that functions inherit.
type providerDefaults struct {
	runtime    placed[string]
	memorySize placed[int]
	timeout    placed[int]
	// ephemeralStorageSize is the size of /tmp in MB.
	ephemeralStorageSize placed[int]
	architecture         placed[string]
	environment          map[string]string
	logRetention         placed[int]
}

func (d *decoder) project(root *node, r *resolver) *Project {
	p := &Project{Dir: d.dir, File: d.file}
	d.app = &p.App
	// configValidationMode decides how unknown keys are reported, so it is
	// read first. Serverless v3 warns unless told otherwise.
	d.lenientKeys = true
	if m := root.get("configValidationMode"); m != nil && !m.failed {
		mode, _ := d.str(m, "configValidationMode")
		switch mode {
		case "error":
			d.lenientKeys = false
		case "warn":
		case "off":
			d.quietKeys = true
		default:
			d.errorf(m.pos, `use "error", "warn" or "off"`, "configValidationMode %q is not valid", mode)
		}
	}
	// serverless-lift constructs become functions, resources and routes
	// before anything else is read (lift.go).
	p.App.EventRoutes = d.expandConstructs(root, r.currentStage())
	top := d.fields(root, "the manifest", topLevelKeys)

	service := d.service(top)
	p.App.Service = service.value

	provider := d.fields(val(top, "provider"), "provider", providerKeys)
	if _, ok := top["provider"]; !ok {
		d.errorf(root.pos, "add `provider: {name: aws, runtime: nodejs20.x}`", "the manifest has no provider section")
	} else if name, ok := d.str(val(provider, "name"), "provider.name"); !ok {
		if val(provider, "name") == nil {
			d.errorf(top["provider"].keyPos, "add `name: aws` under provider", "provider.name is missing")
		}
	} else if name != "aws" {
		d.errorf(val(provider, "name").pos, "nimbus is compatible with AWS: set `name: aws`", "provider %q is not supported", name)
	}

	stage := r.currentStage()
	stagePos := position{}
	if opts := r.opts; opts.Stage == "" {
		if n := val(provider, "stage"); n != nil {
			stagePos = n.pos
			d.str(n, "provider.stage")
		}
	}
	if !stageRE.MatchString(stage) {
		d.errorf(stagePos, "", "stage %q must be 1 to 64 letters, digits, hyphens or underscores", stage)
	}
	p.App.Stage = stage

	region := r.currentRegion()
	if n := val(provider, "region"); n != nil && r.opts.Region == "" {
		d.str(n, "provider.region")
	}
	p.App.Region = region
	if v, ok := d.boolean(val(provider, "versionFunctions"), "provider.versionFunctions"); ok {
		p.App.VersionFunctions = v
	}

	defaults := providerDefaults{environment: map[string]string{}}
	d.providerEnvRefs = map[string]*node{}
	defaults.runtime = d.placedString(val(provider, "runtime"), "provider.runtime")
	defaults.memorySize = d.placedInt(val(provider, "memorySize"), "provider.memorySize")
	defaults.timeout = d.placedInt(val(provider, "timeout"), "provider.timeout")
	defaults.ephemeralStorageSize = d.placedInt(val(provider, "ephemeralStorageSize"), "provider.ephemeralStorageSize")
	defaults.architecture = d.placedString(val(provider, "architecture"), "provider.architecture")
	defaults.logRetention = d.placedInt(val(provider, "logRetentionInDays"), "provider.logRetentionInDays")
	d.environment(val(provider, "environment"), "provider.environment", defaults.environment, d.providerEnvRefs)
	if n := val(provider, "layers"); n != nil {
		d.warnf(n.pos, "", "layers are not supported by nimbus yet and are ignored")
	}

	svcPackage := d.packageConfig(val(top, "package"), "package", servicePackageKeys)
	if n := val(top, "frameworkVersion"); n != nil {
		d.str(n, "frameworkVersion")
	}
	useDotenv := false
	if n := val(top, "useDotenv"); n != nil {
		useDotenv, _ = d.boolean(n, "useDotenv")
	}
	pluginsLocalPath, plugins := d.plugins(val(top, "plugins"))
	p.Plugins = plugins
	if n := val(top, "custom"); n != nil {
		p.Custom = n.toJSON()
		p.file = d.file
		p.customPos = map[string]position{}
		placeCustom(n, "", 3, p.customPos)
	}
	if n := val(top, "layers"); n != nil {
		d.warnf(n.pos, "", "layers are not supported by nimbus yet and are ignored")
	}
	if n := val(top, "params"); n != nil && n.kind != kindMap {
		d.typeError(n, "params", "a map of stages to parameters")
	}
	d.stateMachines(val(top, "stepFunctions"), val(top, "resources")) // statemachines.go
	if n := val(top, "resources"); n != nil {
		p.App.Resources = n.toJSON()
	}
	if n := val(top, "stepFunctions"); n != nil { // internal/workflows reads it
		p.App.StepFunctions = n.toJSON()
	}
	d.providerIAM = d.readProviderIAM(provider)
	d.warnIgnored(provider, "provider", ignoredProviderKeys)
	// The HTTP gateway interprets these; they travel as written.
	if gw, api := val(provider, "apiGateway"), val(provider, "httpApi"); gw != nil || api != nil {
		p.App.HTTP = &appspec.HTTPSettings{}
		if gw != nil {
			p.App.HTTP.APIGateway = gw.toJSON()
		}
		if api != nil {
			p.App.HTTP.HTTPAPI = api.toJSON()
		}
	}
	if n := val(provider, "s3"); n != nil { // buckets: internal/objects reads them
		p.App.Buckets = n.toJSON()
	}

	functions := val(top, "functions")
	var fnPackages []packageConfig
	if functions != nil && functions.kind != kindMap {
		d.typeError(functions, "functions", "a map of function keys to functions")
		functions = nil
	}
	names := map[string]string{}
	for _, e := range functionEntries(functions) {
		fn, pc := d.function(e, service.value, stage, defaults)
		if other, dup := names[fn.Name]; dup && fn.Name != "" {
			d.errorf(e.keyPos, "give one of them another `name:`", "function %q has the same deployed name %q as function %q", e.key, fn.Name, other)
		}
		names[fn.Name] = e.key
		p.App.Functions = append(p.App.Functions, fn)
		fnPackages = append(fnPackages, pc)
		if m := e.val.get("module"); m != nil {
			if s, ok := d.str(m, fmt.Sprintf("function %q module", e.key)); ok && s != "" && s != "." {
				if !filepath.IsLocal(filepath.FromSlash(s)) {
					d.errorf(m.pos, "module is a folder of the service holding the function's code and requirements.txt", "function %q: module %q is not a folder inside the service", e.key, s)
				} else {
					if p.Modules == nil {
						p.Modules = map[string]string{}
					}
					p.Modules[e.key] = strings.TrimSuffix(filepath.ToSlash(filepath.Clean(s)), "/")
				}
			}
		}
	}
	d.grantHooks(p.App.Functions)
	d.checkReferences(val(top, "resources"))
	layout := packageLayout{
		dir: d.dir, configFile: filepath.Base(d.file), useDotenv: useDotenv, pluginsLocalPath: pluginsLocalPath,
		service: service.value, svc: svcPackage,
	}
	p.Packages = d.packages(layout, p.App.Functions, fnPackages)
	d.checkCode(p, functionEntries(functions), fnPackages, svcPackage)
	return p
}

func functionEntries(functions *node) []*entry {
	if functions == nil {
		return nil
	}
	return functions.entries
}

func (d *decoder) service(top map[string]*entry) placed[string] {
	e, ok := top["service"]
	if !ok || e.val.kind == kindNull {
		d.errorf(position{}, "add `service: my-service` at the top of the manifest", "the manifest has no service name")
		return placed[string]{}
	}
	n := e.val
	if n.kind == kindMap { // legacy form: service: {name: x}
		f := d.fields(n, "service", []string{"name", "awsKmsKeyArn"})
		n = val(f, "name")
		if n == nil {
			d.errorf(e.keyPos, "", "service.name is missing")
			return placed[string]{}
		}
	}
	s := d.placedString(n, "service")
	if s.set && !serviceNameRE.MatchString(s.value) {
		d.errorf(n.pos, "", "service name %q must start with a letter and contain only letters, digits and hyphens (at most 128)", s.value)
	}
	return s
}

// BuildPlugins are the plugins whose build steps the deploy reproduces
// (internal/packaging); they are used without a warning.
var BuildPlugins = []string{
	"serverless-esbuild", "serverless-plugin-typescript", "serverless-webpack",
	"serverless-python-requirements", "serverless-wsgi",
}

// plugins accepts both forms of `plugins:` and warns about those nimbus does
// not reproduce. It returns the plugins' local path, which is never packaged,
// and the plugin names.
func (d *decoder) plugins(n *node) (string, []string) {
	if n == nil {
		return "", nil
	}
	var modules []string
	localPath := ""
	switch n.kind {
	case kindSeq:
		modules = d.stringList(n, "plugins")
	case kindMap:
		f := d.fields(n, "plugins", []string{"localPath", "modules"})
		modules = d.stringList(val(f, "modules"), "plugins.modules")
		localPath, _ = d.str(val(f, "localPath"), "plugins.localPath")
	default:
		d.typeError(n, "plugins", "a list of plugin names")
	}
	d.warnPlugins(n, modules)
	return localPath, modules
}

func (d *decoder) function(e *entry, service, stage string, defaults providerDefaults) (appspec.Function, packageConfig) {
	key := e.key
	where := fmt.Sprintf("function %q", key)
	fn := appspec.Function{Key: key, Environment: map[string]string{}}
	f := d.fields(e.val, where, functionKeys)
	if e.val.kind == kindNull {
		d.errorf(e.keyPos, "add at least `handler:`", "%s is empty", where)
	}
	if n := val(f, "image"); n != nil {
		d.errorf(f["image"].keyPos, "package the code as a zip with a runtime and handler", "%s uses a container image, which nimbus does not support", where)
	}

	if !functionKeyRE.MatchString(key) {
		d.errorf(e.keyPos, "", "function key %q must contain only letters, digits, hyphens and underscores", key)
	}
	fn.Name = service + "-" + stage + "-" + key
	namePos := e.keyPos
	if n := val(f, "name"); n != nil {
		if s, ok := d.str(n, where+" name"); ok {
			fn.Name, namePos = s, n.pos
		}
	}
	if !functionNameRE.MatchString(fn.Name) {
		hint := ""
		if val(f, "name") == nil && len(fn.Name) > appspec.MaxFunctionNameLen {
			hint = "the default name is service-stage-key; set a shorter `name:`"
		}
		d.errorf(namePos, hint, "%s: deployed name %q must be 1 to 64 letters, digits, hyphens or underscores", where, fn.Name)
	}

	fn.Runtime = defaults.runtime.value
	runtimePos := defaults.runtime.pos
	if r := d.placedString(val(f, "runtime"), where+" runtime"); r.set {
		fn.Runtime, runtimePos = r.value, r.pos
	}
	family, known := appspec.RuntimeFamily(fn.Runtime)
	switch {
	case fn.Runtime == "" && val(f, "image") == nil:
		d.errorf(e.keyPos, "set provider.runtime or a runtime for the function (supported: "+strings.Join(appspec.Runtimes(), ", ")+")", "%s has no runtime", where)
	case fn.Runtime != "" && !known:
		hint := "supported runtimes: " + strings.Join(appspec.Runtimes(), ", ")
		if s := suggest(fn.Runtime, appspec.Runtimes()); s != "" {
			hint = fmt.Sprintf("did you mean %q? ", s) + hint
		}
		if runtimePos == defaults.runtime.pos {
			// Inherited from the provider: say it once, where it is written.
			if !d.providerRuntimeReported {
				d.providerRuntimeReported = true
				d.errorf(runtimePos, hint, "provider.runtime %q is not supported", fn.Runtime)
			}
		} else {
			d.errorf(runtimePos, hint, "%s: runtime %q is not supported", where, fn.Runtime)
		}
	}

	if h := d.placedString(val(f, "handler"), where+" handler"); h.set {
		fn.Handler = h.value
		if len(fn.Handler) > 128 {
			d.errorf(h.pos, "", "%s: handler is longer than 128 characters", where)
		}
	} else if family != appspec.FamilyProvided && val(f, "image") == nil && e.val.kind != kindNull && !isFailed(f, "handler") {
		d.errorf(e.keyPos, "add `handler: file.function`", "%s has no handler", where)
	}

	fn.MemorySize = d.pickInt(val(f, "memorySize"), where+" memorySize", defaults.memorySize, appspec.DefaultMemoryMB,
		appspec.MinMemoryMB, appspec.MaxMemoryMB, "MB", e.keyPos)
	fn.Timeout = d.pickInt(val(f, "timeout"), where+" timeout", defaults.timeout, appspec.DefaultTimeout,
		appspec.MinTimeoutSeconds, appspec.MaxTimeoutSeconds, "seconds", e.keyPos)
	if n := val(f, "ephemeralStorageSize"); n != nil || defaults.ephemeralStorageSize.set {
		fn.EphemeralStorageSize = d.pickInt(n, where+" ephemeralStorageSize", defaults.ephemeralStorageSize,
			appspec.DefaultEphemeralStorageMB, appspec.MinEphemeralStorageMB, appspec.MaxEphemeralStorageMB, "MB", e.keyPos)
	}

	fn.LogRetentionInDays = d.logRetention(val(f, "logRetentionInDays"), where, defaults.logRetention)

	fn.Architecture = defaultArchitecture
	archPos := defaults.architecture.pos
	if defaults.architecture.set {
		fn.Architecture = defaults.architecture.value
	}
	if a := d.placedString(val(f, "architecture"), where+" architecture"); a.set {
		fn.Architecture, archPos = a.value, a.pos
	}
	if fn.Architecture != "x86_64" && fn.Architecture != "arm64" {
		d.errorf(archPos, "", "%s: architecture %q must be x86_64 or arm64", where, fn.Architecture)
	}

	if desc := d.placedString(val(f, "description"), where+" description"); desc.set {
		fn.Description = desc.value
		if len(desc.value) > appspec.MaxDescriptionLen {
			d.errorf(desc.pos, "", "%s: description is longer than %d characters", where, appspec.MaxDescriptionLen)
		}
	}
	if rc := d.placedInt(val(f, "reservedConcurrency"), where+" reservedConcurrency"); rc.set {
		v := rc.value
		fn.ReservedConcurrency = &v
		if v < 0 {
			d.errorf(rc.pos, "", "%s: reservedConcurrency must not be negative", where)
		}
	}

	for k, v := range defaults.environment {
		fn.Environment[k] = v
	}
	refs := maps.Clone(d.providerEnvRefs)
	d.environment(val(f, "environment"), where+" environment", fn.Environment, refs)
	d.checkEnvironment(fn, refs, f["environment"], e.keyPos)
	if len(fn.Environment) == 0 {
		fn.Environment = nil
	}
	for _, k := range refKeys(refs) {
		if fn.EnvironmentRefs == nil {
			fn.EnvironmentRefs = map[string]json.RawMessage{}
		}
		fn.EnvironmentRefs[k] = refs[k].toJSON()
		d.pendingRefs = append(d.pendingRefs, pendingRef{n: refs[k], what: fmt.Sprintf("%s environment %s", where, k), use: useValue})
	}
	d.functionIAM(f, where, d.providerIAM, &fn)
	d.warnIgnored(f, where, ignoredFunctionKeys)

	fn.Events = d.events(val(f, "events"), where)
	if n := val(f, "url"); n != nil && !(n.kind == kindBool && !n.boolean) && n.kind != kindNull {
		fn.URL = n.toJSON()
	}
	d.asyncSettings(f, where, &fn)
	fn.Deployment = d.deploymentSettings(val(f, "deploymentSettings"), key, where)
	if n := val(f, "layers"); n != nil {
		d.warnf(n.pos, "", "%s: layers are not supported by nimbus yet and are ignored", where)
	}
	pc := d.packageConfig(val(f, "package"), where+" package", functionPackageKeys)
	return fn, pc
}

func isFailed(f map[string]*entry, key string) bool {
	e, ok := f[key]
	return ok && e.val.failed
}

// pickInt takes the function's value, else the provider's, else the default,
// and checks the range where the value was written.
func (d *decoder) pickInt(n *node, what string, provider placed[int], def, lo, hi int, unit string, fallback position) int {
	v := placed[int]{value: def, pos: fallback}
	if provider.set {
		v = provider
	}
	if own := d.placedInt(n, what); own.set {
		v = own
	} else if n != nil {
		return def // already reported
	}
	if v.value < lo || v.value > hi {
		d.errorf(v.pos, "", "%s %d must be between %d and %d %s", what, v.value, lo, hi, unit)
	}
	return v.value
}

// logRetentionDays are the retentions CloudWatch Logs accepts.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// logRetention is a function's logRetentionInDays, or the provider's.
func (d *decoder) logRetention(n *node, where string, provider placed[int]) int {
	v := provider
	if own := d.placedInt(n, where+" logRetentionInDays"); own.set {
		v = own
	} else if n != nil {
		return 0 // already reported
	}
	if !v.set {
		return 0
	}
	if !slices.Contains(logRetentionDays, v.value) {
		d.errorf(v.pos, "use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
			"%s: logRetentionInDays %d is not a retention CloudWatch Logs offers", where, v.value)
		return 0
	}
	return v.value
}

func (d *decoder) checkEnvironment(fn appspec.Function, refs map[string]*node, e *entry, fallback position) {
	pos := fallback
	if e != nil {
		pos = e.keyPos
	}
	size := 0
	names := slices.Sorted(mapKeys(fn.Environment))
	names = append(names, refKeys(refs)...)
	for _, k := range names {
		size += len(k) + len(fn.Environment[k])
		at := pos
		if e != nil {
			if v := e.val.get(k); v != nil {
				at = v.pos
				for _, en := range e.val.entries {
					if en.key == k {
						at = en.keyPos
					}
				}
			}
		}
		if !envKeyRE.MatchString(k) {
			d.errorf(at, "", "function %q: environment variable name %q must start with a letter and contain only letters, digits and underscores", fn.Key, k)
		}
		if reservedEnv[k] {
			d.errorf(at, "Lambda sets this variable itself", "function %q: environment variable %q is reserved", fn.Key, k)
		}
	}
	if size > appspec.MaxEnvironmentBytes {
		d.errorf(pos, "move large values to files or a parameter store", "function %q: environment variables take %d bytes, over the 4 KB limit", fn.Key, size)
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// events keeps each entry as written (with variables resolved); the event
// source packages interpret them.
func (d *decoder) events(n *node, where string) []appspec.Event {
	if n == nil {
		return nil
	}
	if n.kind != kindSeq {
		d.typeError(n, where+" events", "a list")
		return nil
	}
	var out []appspec.Event
	for i, it := range n.items {
		if it.failed {
			continue
		}
		if it.kind != kindMap || len(it.entries) != 1 {
			d.errorf(it.pos, "write each event as `- type: properties`, e.g. `- httpApi: GET /hello`",
				"%s: event #%d must be a map with a single key (the event type), not %s", where, i+1, describeEvent(it))
			continue
		}
		e := it.entries[0]
		what := fmt.Sprintf("%s event #%d (%s)", where, i+1, e.key)
		d.checkEventSource(e, what)
		d.checkEventType(e, what)
		d.pendingRefs = append(d.pendingRefs, pendingRef{n: e.val, what: what, use: useLenient})
		out = append(out, appspec.Event{Type: e.key, Properties: e.val.toJSON()})
	}
	return out
}

func describeEvent(n *node) string {
	if n.kind == kindMap {
		return fmt.Sprintf("a map with %d keys", len(n.entries))
	}
	return n.describe()
}

// packageLayout is what decides which files go into which package.
type packageLayout struct {
	dir, configFile, pluginsLocalPath, service string
	useDotenv                                  bool
	svc                                        packageConfig
}

// patterns builds the ordered pattern list the way Serverless v3 does:
// excludes (defaults, manifest, plugins, package.exclude, .env files) become
// "!" patterns, then includes and patterns follow, so they win.
func (l packageLayout) patterns(fn *packageConfig) []string {
	excludes := slices.Concat(defaultExcludes, []string{l.configFile})
	if l.pluginsLocalPath != "" {
		excludes = append(excludes, strings.TrimSuffix(l.pluginsLocalPath, "/")+"/**")
	}
	excludes = append(excludes, l.svc.exclude...)
	if l.useDotenv {
		excludes = append(excludes, ".env*")
	}
	includes := slices.Concat(l.svc.include, l.svc.patterns)
	if fn != nil {
		excludes = append(excludes, fn.exclude...)
		includes = slices.Concat(includes, fn.include, fn.patterns)
	}
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range excludes {
		if rest, ok := strings.CutPrefix(p, "!"); ok {
			add(rest)
		} else {
			add("!" + p)
		}
	}
	for _, p := range includes {
		add(p)
	}
	return out
}

func (l packageLayout) artifactPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

// packages decides which functions share a zip, following Serverless: a
// function's own artifact wins; then individual packaging; then the service
// artifact; else the one shared package.
func (d *decoder) packages(l packageLayout, fns []appspec.Function, pcs []packageConfig) []PackageSpec {
	var shared []string
	var own []PackageSpec
	warned := false
	for i, fn := range fns {
		pc := &pcs[i]
		switch {
		case pc.artifact.set:
			own = append(own, PackageSpec{Functions: []string{fn.Key}, Name: fn.Key, Artifact: l.artifactPath(pc.artifact.value)})
		case l.svc.artifact.set && !pc.individually:
			shared = append(shared, fn.Key)
		case pc.individually || l.svc.individually:
			own = append(own, PackageSpec{Functions: []string{fn.Key}, Name: fn.Key, Patterns: l.patterns(pc)})
		default:
			if len(pc.patterns) > 0 && !warned {
				warned = true
				d.warnf(pc.patternsPos, "set package.individually: true to package functions separately",
					"function-level package patterns are ignored unless the function is packaged individually")
			}
			shared = append(shared, fn.Key)
		}
	}
	var out []PackageSpec
	if len(shared) > 0 {
		spec := PackageSpec{Functions: shared, Name: l.service}
		if l.svc.artifact.set {
			spec.Artifact = l.artifactPath(l.svc.artifact.value)
		} else {
			spec.Patterns = l.patterns(nil)
		}
		out = append(out, spec)
	}
	return append(out, own...)
}

// Function returns the function with the given key, or nil.
func (p *Project) Function(key string) *appspec.Function {
	for i := range p.App.Functions {
		if p.App.Functions[i].Key == key {
			return &p.App.Functions[i]
		}
	}
	return nil
}
