package manifest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// AWS SAM templates (template.yaml) are translated into the tree a
// serverless.yml would give for the same application, with the template's
// own nodes (and so its lines) in it; the decoder then reads that tree as it
// reads any manifest. Everything the translation does not carry over is
// reported where the template says it. See docs/adr/0035-sam-templates.md.

// samTemplateNames are tried, in order, when a directory has no serverless.yml.
var samTemplateNames = []string{"template.yaml", "template.yml"}

const (
	samTransform = "AWS::Serverless-2016-10-31"
	// samDefaultStage is the stage a template deploys as: API Gateway's
	// stage of SAM's implicit REST API is Prod.
	samDefaultStage = "prod"
	// Lambda's defaults, which SAM keeps (the Serverless Framework's are
	// 6 seconds and 1024 MB).
	samDefaultTimeout = 3
	samDefaultMemory  = 128
)

var samTopKeys = []string{"AWSTemplateFormatVersion", "Transform", "Description", "Metadata", "Parameters",
	"Mappings", "Conditions", "Globals", "Resources", "Outputs", "Rules"}

// samFunctionProps are the properties of AWS::Serverless::Function. Those in
// samIgnoredFunctionProps are accepted with a warning.
var samFunctionProps = []string{"Handler", "Runtime", "CodeUri", "InlineCode", "Timeout", "MemorySize",
	"Environment", "Policies", "Role", "FunctionName", "Description", "Events", "Architectures",
	"ReservedConcurrentExecutions", "EphemeralStorage", "Layers", "Tags", "PackageType", "DeadLetterQueue",
	"AutoPublishAlias", "DeploymentPreference", "VersionDescription", "ProvisionedConcurrencyConfig",
	"Tracing", "VpcConfig", "KmsKeyArn", "FileSystemConfigs", "CodeSigningConfigArn", "PermissionsBoundary",
	"AssumeRolePolicyDocument", "RolePath", "SnapStart", "RuntimeManagementConfig", "LoggingConfig",
	"RecursiveLoop", "AutoPublishCodeSha256", "ImageUri", "ImageConfig", "PropagateTags", "EventInvokeConfig",
	"FunctionUrlConfig", "SourceKMSKeyArn", "Connectors"}

// samAppliedFunctionProps are the function properties nimbus applies (or
// that label it: Tags).
var samAppliedFunctionProps = []string{"Handler", "Runtime", "CodeUri", "Timeout", "MemorySize", "Environment",
	"Policies", "FunctionName", "Description", "Events", "Architectures", "ReservedConcurrentExecutions",
	"EphemeralStorage", "Tags", "PropagateTags", "PackageType", "DeadLetterQueue", "EventInvokeConfig",
	"FunctionUrlConfig", "Connectors", "AutoPublishAlias", "DeploymentPreference"}

// samVersionProps belong to Lambda versions and aliases in ways nimbus does
// not apply yet (AutoPublishAlias and DeploymentPreference it does).
var samVersionProps = []string{"VersionDescription", "ProvisionedConcurrencyConfig", "AutoPublishCodeSha256"}

// samGlobalSections are the sections of Globals SAM knows.
var samGlobalSections = []string{"Function", "Api", "HttpApi", "SimpleTable", "StateMachine", "LayerVersion", "CapacityProvider"}

// SAMTemplate returns the SAM template in dir, or "" when there is none.
func SAMTemplate(dir string) string {
	for _, name := range samTemplateNames {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// samLoader translates one template.
type samLoader struct {
	*decoder // for its diagnostics and type checks
	dir      string
	opts     Options
	stack    string // the stack (service) name
	region   string
	params   map[string]*node
	maps     *node // Mappings
	// resources is the template's Resources.
	resources *node
	conds     *cfn.Stack
	// functions are the logical ids of the template's functions; refs to
	// them are renamed to the ids the decoder's stack gives functions.
	functions map[string]bool
	// unmodelled are logical ids SAM creates or the template declares that
	// nimbus has no resource for (APIs, roles, layers); outputs that refer
	// to them are left out.
	unmodelled map[string]string
	managed    map[string][]string // function key: managed policy ARNs
	globals    map[string]*node    // Globals sections
	httpCors   *node               // provider.httpApi.cors
	// restAuths and httpAuths are the Auth of each API by logical id
	// (samGlobalsAPI for Globals); httpAuthorizers is
	// provider.httpApi.authorizers.
	restAuths, httpAuths map[string]*samAuth
	httpAuthorizers      *node
	restCors             *node // cors of every REST API event
	python               bool  // a Python function has requirements.txt
	// inline are the files of functions whose code is InlineCode, by key.
	inline map[string]map[string][]byte
	// bundles are the functions built with esbuild, by key.
	bundles map[string]Bundle
	out     *node
}

func loadSAM(dir, file string, data []byte, opts Options) (*Project, error) {
	diags := &diagnostics{file: file}
	opts, err := withSAMConfig(dir, opts)
	if err != nil {
		diags.errorf(position{}, "", "%v", err)
		return nil, diags.errs
	}
	root := parseYAML(newSource(file, data), data, diags)
	if len(diags.errs) > 0 {
		return nil, diags.errs
	}
	if root.kind != kindMap {
		diags.errorf(root.pos, "a SAM template starts with `Transform: AWS::Serverless-2016-10-31` and `Resources:`", "the template must be a map, not %s", root.kind)
		return nil, diags.errs
	}
	markResolved(root)
	s := &samLoader{decoder: &decoder{diagnostics: diags}, dir: dir, opts: opts, functions: map[string]bool{},
		unmodelled: map[string]string{}, managed: map[string][]string{}, globals: map[string]*node{},
		inline: map[string]map[string][]byte{}, bundles: map[string]Bundle{}, restAuths: map[string]*samAuth{}, httpAuths: map[string]*samAuth{},
		httpAuthorizers: mapNode(root.pos)}
	s.out = s.translate(root)
	if len(diags.errs) > 0 {
		return nil, diags.sorted()
	}
	r := &resolver{root: s.out, dir: dir, opts: opts, lookupEnv: os.LookupEnv, diags: diags,
		instanceID: newInstanceID(), files: map[string]*node{}}
	d := &decoder{diagnostics: diags, dir: dir, file: file, generated: map[string]bool{}}
	for k := range s.inline {
		d.generated[k] = true
	}
	for k := range s.bundles {
		d.generated[k] = true
	}
	p := d.project(s.out, r)
	if len(s.bundles) > 0 {
		p.Bundles = s.bundles
	}
	for i, spec := range p.Packages {
		if len(spec.Functions) == 1 && s.inline[spec.Functions[0]] != nil {
			p.Packages[i].Files, p.Packages[i].Patterns = s.inline[spec.Functions[0]], nil
		}
	}
	for i := range p.App.Functions {
		if arns := s.managed[p.App.Functions[i].Key]; len(arns) > 0 {
			p.App.Functions[i].ManagedPolicies = arns
		}
	}
	return finishLoad(p, diags)
}

// markResolved marks every node as holding no Serverless variables: ${...}
// in a template belongs to Fn::Sub.
func markResolved(n *node) {
	n.state = resolved
	for _, e := range n.entries {
		markResolved(e.val)
	}
	for _, it := range n.items {
		markResolved(it)
	}
}

// stackName is --stack-name, else the directory's name made a valid service
// name.
func (s *samLoader) stackName() string {
	if s.opts.StackName != "" {
		if !serviceNameRE.MatchString(s.opts.StackName) {
			s.errorf(position{}, "", "stack name %q must start with a letter and contain only letters, digits and hyphens (at most 128)", s.opts.StackName)
		}
		return s.opts.StackName
	}
	var b strings.Builder
	for _, r := range filepath.Base(s.dir) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ' ':
			if b.Len() > 0 {
				if r >= '0' && r <= '9' {
					b.WriteRune(r)
				} else {
					b.WriteByte('-')
				}
			}
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 128 {
		name = name[:128]
	}
	if name == "" {
		name = "sam-app"
	}
	return name
}

func (s *samLoader) translate(root *node) *node {
	top := map[string]*entry{}
	for _, e := range root.entries {
		if !slices.Contains(samTopKeys, e.key) {
			hint := ""
			if sug := suggest(e.key, samTopKeys); sug != "" {
				hint = fmt.Sprintf("did you mean %q?", sug)
			}
			s.errorf(e.keyPos, hint, "unknown top-level section %q in the template", e.key)
			continue
		}
		top[e.key] = e
	}
	s.checkTransform(root, val(top, "Transform"))
	s.stack = s.stackName()
	s.region = s.opts.Region
	if s.region == "" {
		s.region = defaultRegion
	}
	stage := s.opts.Stage
	if stage == "" {
		stage = samDefaultStage
	}
	s.maps = val(top, "Mappings")
	s.readParameters(val(top, "Parameters"))
	if e := top["Rules"]; e != nil {
		s.warnf(e.keyPos, "", "Rules are not checked by nimbus")
	}
	// Parameters and mappings are values by now: substitute them
	// everywhere, then evaluate conditions where the CLI needs values.
	for _, k := range []string{"Conditions", "Globals", "Resources", "Outputs"} {
		if n := val(top, k); n != nil {
			s.substitute(n)
		}
	}
	conds := map[string]any{}
	if c := val(top, "Conditions"); c != nil {
		if v, err := cfn.Decode(c.toJSON()); err == nil {
			if m, ok := v.(map[string]any); ok {
				conds = m
			}
		}
	}
	s.conds = &cfn.Stack{Region: s.region, AccountID: appspec.AccountID, Name: s.stack + "-" + stage,
		Resources: map[string]cfn.Resource{}, Conditions: conds}

	pos := root.pos
	out := mapNode(pos, "service", strNode(s.stack),
		"provider", mapNode(pos, "name", strNode("aws"), "stage", strNode(stage)),
		"package", mapNode(pos, "individually", boolNode(true),
			"patterns", seqNode(strNode("!.aws-sam/**"), strNode("!samconfig.toml"), strNode("!samconfig.yaml"))))
	s.readGlobals(val(top, "Globals"))

	resources := val(top, "Resources")
	s.resources = resources
	if resources == nil {
		s.errorf(root.pos, "add `Resources:` with at least one AWS::Serverless::Function", "the template has no Resources")
		return out
	}
	if resources.kind != kindMap {
		s.errorf(resources.pos, "", "Resources must be a map of logical ids to resources, not %s", resources.describe())
		return out
	}
	// Functions first: references to them are renamed below.
	for _, e := range resources.entries {
		if t := e.val.get("Type"); t != nil && t.kind == kindString && t.str == "AWS::Serverless::Function" {
			s.functions[e.key] = true
			if resources.get(e.key+"Role") == nil {
				s.unmodelled[e.key+"Role"] = "the function's role"
			}
		}
	}
	// APIs before functions: their events need the APIs' Auth.
	for _, e := range resources.entries {
		typ, props := e.val.get("Type"), e.val.get("Properties")
		if typ == nil || typ.kind != kindString || props == nil || props.kind != kindMap {
			continue
		}
		switch typ.str {
		case "AWS::Serverless::HttpApi":
			s.httpAPI(e.key, e, props)
		case "AWS::Serverless::Api":
			s.restAPI(e.key, e, props)
		}
	}
	var cfnResources []*entry
	for _, e := range resources.entries {
		typ := e.val.get("Type")
		if e.val.kind != kindMap || typ == nil || typ.kind != kindString {
			s.errorf(e.keyPos, "", "Resources.%s has no Type", e.key)
			continue
		}
		if !strings.HasPrefix(typ.str, "AWS::Serverless::") {
			cfnResources = append(cfnResources, e)
			continue
		}
		if c := e.val.get("Condition"); c != nil && !s.condition(c, "Resources."+e.key) {
			continue
		}
		props := e.val.get("Properties")
		if props != nil && props.kind != kindMap && props.kind != kindNull {
			s.typeError(props, "Resources."+e.key+".Properties", "a map")
			continue
		}
		switch typ.str {
		case "AWS::Serverless::Function":
			s.function(out, e, props)
		case "AWS::Serverless::SimpleTable":
			cfnResources = append(cfnResources, &entry{key: e.key, keyPos: e.keyPos, val: s.simpleTable(e, props)})
		case "AWS::Serverless::HttpApi":
			s.unmodelled[e.key] = "an HTTP API"
		case "AWS::Serverless::Api":
			s.unmodelled[e.key] = "a REST API"
		case "AWS::Serverless::StateMachine":
			cfnResources = append(cfnResources, e)
		case "AWS::Serverless::LayerVersion":
			s.unmodelled[e.key] = "a layer"
			s.warnf(typ.pos, "", "Resources.%s: layers are not supported by nimbus yet; the layer is ignored", e.key)
		default:
			s.unmodelled[e.key] = typ.str
			s.warnf(typ.pos, "", "Resources.%s: nimbus does not create resources of type %s yet; it is ignored", e.key, typ.str)
		}
	}
	if s.python {
		out.entries = append(out.entries, &entry{key: "plugins", keyPos: pos, val: seqNode(strNode("serverless-python-requirements"))})
	}
	if s.httpCors != nil || len(s.httpAuthorizers.entries) > 0 {
		provider := out.get("provider")
		h := mapNode(pos)
		if s.httpCors != nil {
			h.entries = append(h.entries, &entry{key: "cors", keyPos: s.httpCors.pos, val: s.httpCors})
		}
		if len(s.httpAuthorizers.entries) > 0 {
			h.entries = append(h.entries, &entry{key: "authorizers", keyPos: s.httpAuthorizers.pos, val: s.httpAuthorizers})
		}
		provider.entries = append(provider.entries, &entry{key: "httpApi", keyPos: pos, val: h})
	}
	res := mapNode(resources.pos)
	if len(cfnResources) > 0 {
		rs := mapNode(resources.pos)
		rs.entries = cfnResources
		res.entries = append(res.entries, &entry{key: "Resources", keyPos: resources.pos, val: rs})
	}
	if c := top["Conditions"]; c != nil {
		res.entries = append(res.entries, c)
	}
	if o := val(top, "Outputs"); o != nil {
		if outputs := s.outputs(o); outputs != nil {
			res.entries = append(res.entries, &entry{key: "Outputs", keyPos: top["Outputs"].keyPos, val: outputs})
		}
	}
	if len(res.entries) > 0 {
		out.entries = append(out.entries, &entry{key: "resources", keyPos: resources.pos, val: res})
	}
	s.renameFunctionRefs(out)
	return out
}

func (s *samLoader) checkTransform(root, n *node) {
	const hint = "add `Transform: AWS::Serverless-2016-10-31` at the top: nimbus deploys SAM templates (or a serverless.yml)"
	if n == nil {
		s.errorf(root.pos, hint, "the template has no Transform: it is not a SAM template")
		return
	}
	var names []*node
	switch n.kind {
	case kindString:
		names = []*node{n}
	case kindSeq:
		names = n.items
	default:
		s.typeError(n, "Transform", "a transform name or a list of them")
		return
	}
	found := false
	for _, t := range names {
		switch {
		case t.kind == kindString && t.str == samTransform:
			found = true
		case t.kind == kindString:
			s.warnf(t.pos, "", "transform %s is not applied by nimbus", t.str)
		default:
			s.warnf(t.pos, "", "transform %s is not applied by nimbus", t.describe())
		}
	}
	if !found {
		s.errorf(n.pos, hint, "the template's Transform does not include %s", samTransform)
	}
}

// readParameters sets each parameter's value: its override, else its Default.
func (s *samLoader) readParameters(n *node) {
	s.params = map[string]*node{}
	for name := range s.opts.ParameterOverrides {
		if n.get(name) == nil {
			s.errorf(position{}, "", "--parameter-overrides sets %s, which the template does not declare in Parameters", name)
		}
	}
	if n == nil {
		return
	}
	if n.kind != kindMap {
		s.typeError(n, "Parameters", "a map of parameter names to declarations")
		return
	}
	for _, e := range n.entries {
		where := "parameter " + e.key
		f := s.paramFields(e)
		typ := "String"
		if t := val(f, "Type"); t != nil && t.kind == kindString {
			typ = t.str
		}
		var value *node
		if v, ok := s.opts.ParameterOverrides[e.key]; ok {
			value = &node{kind: kindString, str: v, pos: e.keyPos, state: resolved}
		} else if d := val(f, "Default"); d != nil {
			if str, ok := d.scalarString(); ok && d.kind != kindNull {
				value = &node{kind: kindString, str: str, pos: d.pos, state: resolved}
			} else {
				s.typeError(d, where+" Default", "a string or number")
				continue
			}
		} else {
			s.errorf(e.keyPos, fmt.Sprintf("give it a Default, or a value with --parameter-overrides %s=VALUE", e.key), "%s has no value", where)
			continue
		}
		if len(value.str) > samMaxParameterValue {
			s.errorf(value.pos, "", "%s: its value is %d bytes long; CloudFormation takes at most %d", where, len(value.str), samMaxParameterValue)
			continue
		}
		if strings.HasPrefix(typ, "AWS::SSM::Parameter::Value") {
			s.errorf(val(f, "Type").pos, "use Type: String with a Default or --parameter-overrides", "%s: parameters read from SSM (%s) are not supported by nimbus yet", where, typ)
			continue
		}
		if allowed := val(f, "AllowedValues"); allowed != nil && allowed.kind == kindSeq {
			var list []string
			for _, it := range allowed.items {
				if str, ok := it.scalarString(); ok {
					list = append(list, str)
				}
			}
			if !slices.Contains(list, value.str) {
				s.errorf(value.pos, "allowed: "+strings.Join(list, ", "), "%s: %q is not one of its AllowedValues", where, value.str)
			}
		}
		if pat := val(f, "AllowedPattern"); pat != nil && pat.kind == kindString {
			if re, err := regexp.Compile("^(?:" + pat.str + ")$"); err != nil {
				s.errorf(pat.pos, "", "%s: AllowedPattern is not a regular expression: %v", where, err)
			} else if !re.MatchString(value.str) {
				s.errorf(value.pos, "", "%s: %q does not match its AllowedPattern %s", where, value.str, pat.str)
			}
		}
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			list := &node{kind: kindSeq, pos: value.pos, state: resolved}
			for _, part := range strings.Split(value.str, ",") {
				list.items = append(list.items, &node{kind: kindString, str: strings.TrimSpace(part), pos: value.pos, state: resolved})
			}
			value = list
		}
		s.params[e.key] = value
	}
}

func (s *samLoader) paramFields(e *entry) map[string]*entry {
	known := []string{"Type", "Default", "Description", "AllowedValues", "AllowedPattern", "ConstraintDescription",
		"MaxLength", "MinLength", "MaxValue", "MinValue", "NoEcho"}
	out := map[string]*entry{}
	if e.val.kind != kindMap {
		s.typeError(e.val, "parameter "+e.key, "a map with Type and Default")
		return out
	}
	for _, pe := range e.val.entries {
		if !slices.Contains(known, pe.key) {
			s.errorf(pe.keyPos, "", "unknown key %q in parameter %s", pe.key, e.key)
			continue
		}
		out[pe.key] = pe
	}
	return out
}

var subVarRE = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// substitute replaces references to parameters with their values, and
// Fn::FindInMap with the mapping's value, in place.
func (s *samLoader) substitute(n *node) {
	if isIntrinsic(n) {
		fn, arg := n.entries[0].key, n.entries[0].val
		switch fn {
		case "Ref":
			if arg.kind == kindString {
				if v, ok := s.params[arg.str]; ok {
					if values, bytes := v.measure(); s.chargeExpansion(n.pos, values, bytes) {
						n.copyFrom(v)
					}
					return
				}
			}
		case "Fn::FindInMap":
			s.substitute(arg)
			if v := s.findInMap(n, arg); v != nil {
				n.copyFrom(v)
			}
			return
		case "Fn::Sub":
			str, vars := arg, (*node)(nil)
			if arg.kind == kindSeq && len(arg.items) == 2 {
				str, vars = arg.items[0], arg.items[1]
				s.substitute(vars)
			}
			if str.kind == kindString {
				value := func(name string) (string, bool) {
					if vars.get(name) != nil {
						return "", false
					}
					if v, ok := s.params[name]; ok && v.kind == kindString {
						return v.str, true
					}
					return "", false
				}
				// Charged before the text is built: a long value named
				// many times must fail here, not allocate first.
				added := 0
				for _, m := range subVarRE.FindAllStringSubmatch(str.str, -1) {
					if v, ok := value(m[1]); ok {
						added += len(v)
					}
				}
				if added == 0 || s.chargeExpansion(str.pos, 1, added) {
					str.str = subVarRE.ReplaceAllStringFunc(str.str, func(m string) string {
						if v, ok := value(m[2 : len(m)-1]); ok {
							return v
						}
						return m
					})
				}
			}
			return
		}
	}
	for _, e := range n.entries {
		s.substitute(e.val)
	}
	for _, it := range n.items {
		s.substitute(it)
	}
}

// findInMap evaluates Fn::FindInMap [Map, TopKey, SecondKey] once its
// arguments are plain strings.
func (s *samLoader) findInMap(n, arg *node) *node {
	if arg.kind != kindSeq || len(arg.items) < 3 {
		s.errorf(n.pos, "", "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")
		return nil
	}
	keys := make([]string, 3)
	for i := range keys {
		str, ok := arg.items[i].scalarString()
		if !ok || arg.items[i].kind == kindMap {
			return nil // an intrinsic argument nimbus leaves to the platform (and that fails there)
		}
		keys[i] = str
	}
	v := s.maps.get(keys[0]).get(keys[1]).get(keys[2])
	if v == nil {
		s.errorf(n.pos, "", "Fn::FindInMap: Mappings has no %s.%s.%s", keys[0], keys[1], keys[2])
	}
	return v
}

// condition evaluates a resource's Condition.
func (s *samLoader) condition(c *node, where string) bool {
	if c.kind != kindString {
		s.typeError(c, where+".Condition", "the name of a condition")
		return false
	}
	v, err := s.conds.Resolve(map[string]any{"Fn::If": []any{c.str, "true", "false"}})
	if err != nil {
		s.errorf(c.pos, "", "%s.Condition: %v", where, err)
		return false
	}
	return v == "true"
}

// evalIf replaces Fn::If and drops Ref AWS::NoValue under n: the CLI reads
// function properties as values.
func (s *samLoader) evalIf(n *node) {
	for i := 0; i < len(n.entries); i++ {
		e := n.entries[i]
		if s.evalIfValue(e.val) {
			n.entries = slices.Delete(n.entries, i, i+1)
			i--
		}
	}
	for i := 0; i < len(n.items); i++ {
		if s.evalIfValue(n.items[i]) {
			n.items = slices.Delete(n.items, i, i+1)
			i--
		}
	}
}

// evalIfValue evaluates v in place and reports whether it is AWS::NoValue.
func (s *samLoader) evalIfValue(v *node) bool {
	for isIntrinsic(v) {
		fn, arg := v.entries[0].key, v.entries[0].val
		if fn == "Ref" && arg.kind == kindString && arg.str == cfn.PseudoNoValue {
			return true
		}
		if fn != "Fn::If" {
			break
		}
		if arg.kind != kindSeq || len(arg.items) != 3 || arg.items[0].kind != kindString {
			s.errorf(v.pos, "", "Fn::If takes [ConditionName, value if true, value if false]")
			return false
		}
		pick := 2
		if s.condition(arg.items[0], "Fn::If") {
			pick = 1
		}
		v.copyFrom(arg.items[pick])
		v.pos = arg.items[pick].pos
	}
	s.evalIf(v)
	return false
}

func (s *samLoader) readGlobals(n *node) {
	if n == nil {
		return
	}
	if n.kind != kindMap {
		s.typeError(n, "Globals", "a map of resource kinds (Function, Api, HttpApi ...) to properties")
		return
	}
	s.evalIf(n)
	for _, e := range n.entries {
		if !slices.Contains(samGlobalSections, e.key) {
			hint := ""
			if sug := suggest(e.key, samGlobalSections); sug != "" {
				hint = fmt.Sprintf("did you mean %q?", sug)
			}
			s.errorf(e.keyPos, hint, "unknown section %q in Globals", e.key)
			continue
		}
		if e.val.kind != kindMap {
			s.typeError(e.val, "Globals."+e.key, "a map of properties")
			continue
		}
		s.globals[e.key] = e.val
		switch e.key {
		case "Function", "SimpleTable":
		case "HttpApi":
			s.httpAPI(samGlobalsAPI, e, e.val)
		case "Api":
			s.restAPI(samGlobalsAPI, e, e.val)
		default:
			s.warnf(e.keyPos, "", "Globals.%s is not applied by nimbus yet", e.key)
		}
	}
	if f := s.globals["Function"]; f != nil {
		for _, pe := range f.entries {
			switch {
			case slices.Contains([]string{"Events", "Policies", "Role", "FunctionName", "InlineCode"}, pe.key):
				s.errorf(pe.keyPos, "", "Globals.Function cannot set %s (SAM refuses it)", pe.key)
			case slices.Contains(samAppliedFunctionProps, pe.key):
			case pe.key == "Layers":
				s.warnf(pe.keyPos, "", "Globals.Function: layers are not supported by nimbus yet and are ignored")
			case slices.Contains(samVersionProps, pe.key):
				s.warnf(pe.keyPos, "", "Globals.Function: %s is not applied by nimbus yet", pe.key)
			case slices.Contains(samFunctionProps, pe.key):
				s.warnf(pe.keyPos, "", "Globals.Function: %s is not applied by nimbus yet; it is ignored", pe.key)
			default:
				hint := ""
				if sug := suggest(pe.key, samFunctionProps); sug != "" {
					hint = fmt.Sprintf("did you mean %q?", sug)
				}
				s.errorf(pe.keyPos, hint, "Globals.Function: AWS::Serverless::Function has no property %s", pe.key)
			}
		}
	}
}

// withGlobals is a function's properties with Globals.Function merged in:
// the function's own values win, maps merge key by key, lists add up.
func withGlobals(own, global *node) *node {
	if global == nil {
		return own
	}
	if own == nil || own.kind == kindNull {
		return global.clone()
	}
	out := own.clone()
	for _, ge := range global.entries {
		oe := out.get(ge.key)
		switch {
		case oe == nil:
			out.entries = append(out.entries, &entry{key: ge.key, keyPos: ge.keyPos, val: ge.val.clone()})
		case oe.kind == kindMap && ge.val.kind == kindMap && !isIntrinsic(oe) && !isIntrinsic(ge.val):
			merged := withGlobals(oe, ge.val)
			*oe = *merged
		case oe.kind == kindSeq && ge.val.kind == kindSeq && ge.key != "Architectures":
			items := slices.Concat(ge.val.clone().items, oe.items)
			oe.items = items
		}
	}
	return out
}

// httpAPI reads an AWS::Serverless::HttpApi (or Globals.HttpApi): its CORS
// settings become the service's HTTP API's.
func (s *samLoader) httpAPI(id string, e *entry, props *node) {
	where := "Resources." + e.key
	if id == samGlobalsAPI {
		where = "Globals." + e.key
	}
	if props == nil || props.kind != kindMap {
		return
	}
	for _, pe := range props.entries {
		switch pe.key {
		case "CorsConfiguration":
			s.httpCors = s.httpCorsConfig(pe.val, where+".CorsConfiguration")
		case "StageName", "Description", "Tags", "Name", "PropagateTags":
		default:
			if pe.key == "Auth" {
				s.httpAuth(id, where+".Auth", pe.val)
				continue
			}
			s.warnf(pe.keyPos, "", "%s: property %s of an HTTP API is not applied by nimbus yet", where, pe.key)
		}
	}
}

func (s *samLoader) httpCorsConfig(n *node, where string) *node {
	if n.kind == kindBool || (n.kind == kindString && (n.str == "true" || n.str == "false")) {
		return n
	}
	if n.kind != kindMap {
		s.typeError(n, where, "true or a map (AllowOrigins, AllowMethods ...)")
		return nil
	}
	names := map[string]string{"AllowOrigins": "allowedOrigins", "AllowHeaders": "allowedHeaders",
		"AllowMethods": "allowedMethods", "AllowCredentials": "allowCredentials",
		"ExposeHeaders": "exposedResponseHeaders", "MaxAge": "maxAge"}
	out := mapNode(n.pos)
	for _, e := range n.entries {
		to, ok := names[e.key]
		if !ok {
			s.errorf(e.keyPos, "", "unknown key %q in %s", e.key, where)
			continue
		}
		out.entries = append(out.entries, &entry{key: to, keyPos: e.keyPos, val: e.val})
	}
	return out
}

// restAPI reads an AWS::Serverless::Api (or Globals.Api).
func (s *samLoader) restAPI(id string, e *entry, props *node) {
	where := "Resources." + e.key
	if id == samGlobalsAPI {
		where = "Globals." + e.key
	}
	if props == nil || props.kind != kindMap {
		return
	}
	for _, pe := range props.entries {
		switch pe.key {
		case "Cors":
			s.restCors = s.restCorsConfig(pe.val, where+".Cors")
		case "StageName":
			if pe.val.kind == kindString && !strings.EqualFold(pe.val.str, samDefaultStage) {
				s.warnf(pe.val.pos, "deploy with --stage "+pe.val.str+" to serve the API under that name",
					"%s: the API is served under the stage's name (%s), not StageName", where, samDefaultStage)
			}
		case "Description", "Tags", "Name", "PropagateTags", "EndpointConfiguration", "OpenApiVersion", "MethodSettings", "TracingEnabled":
		default:
			if pe.key == "Auth" {
				s.restAuth(id, where+".Auth", pe.val)
				continue
			}
			s.warnf(pe.keyPos, "", "%s: property %s of a REST API is not applied by nimbus yet", where, pe.key)
		}
	}
}

// restCorsConfig turns SAM's Cors (values quoted for API Gateway, as in
// "'*'") into a REST event's cors.
func (s *samLoader) restCorsConfig(n *node, where string) *node {
	unquote := func(v *node) *node {
		if v.kind != kindString {
			return v
		}
		c := *v
		c.str = strings.Trim(strings.TrimSpace(c.str), "'")
		return &c
	}
	if n.kind == kindString {
		return mapNode(n.pos, "origin", unquote(n))
	}
	if n.kind != kindMap {
		s.typeError(n, where, "an origin or a map (AllowOrigin, AllowMethods, AllowHeaders ...)")
		return nil
	}
	out := mapNode(n.pos)
	for _, e := range n.entries {
		switch e.key {
		case "AllowOrigin":
			out.entries = append(out.entries, &entry{key: "origin", keyPos: e.keyPos, val: unquote(e.val)})
		case "AllowHeaders", "AllowMethods":
			v := unquote(e.val)
			list := &node{kind: kindSeq, pos: v.pos, state: resolved}
			for _, part := range strings.Split(v.str, ",") {
				if part = strings.TrimSpace(part); part != "" {
					list.items = append(list.items, &node{kind: kindString, str: part, pos: v.pos, state: resolved})
				}
			}
			key := "headers"
			if e.key == "AllowMethods" {
				key = "methods"
			}
			out.entries = append(out.entries, &entry{key: key, keyPos: e.keyPos, val: list})
		case "AllowCredentials":
			out.entries = append(out.entries, &entry{key: "allowCredentials", keyPos: e.keyPos, val: e.val})
		case "MaxAge":
			out.entries = append(out.entries, &entry{key: "maxAge", keyPos: e.keyPos, val: unquote(e.val)})
		default:
			s.errorf(e.keyPos, "", "unknown key %q in %s", e.key, where)
		}
	}
	return out
}

// simpleTable is the DynamoDB table an AWS::Serverless::SimpleTable stands
// for: one string (or given) hash key, on-demand unless provisioned.
func (s *samLoader) simpleTable(e *entry, props *node) *node {
	where := "Resources." + e.key
	props = withGlobals(props, s.globals["SimpleTable"])
	pos := e.keyPos
	keyName, keyType := strNode("id"), "S"
	out := mapNode(pos)
	billing := true
	if props != nil && props.kind == kindMap {
		for _, pe := range props.entries {
			switch pe.key {
			case "PrimaryKey":
				if pe.val.kind != kindMap {
					s.typeError(pe.val, where+".PrimaryKey", "a map with Name and Type")
					continue
				}
				for _, ke := range pe.val.entries {
					switch ke.key {
					case "Name":
						keyName = ke.val
					case "Type":
						t, _ := ke.val.scalarString()
						switch t {
						case "String":
							keyType = "S"
						case "Number":
							keyType = "N"
						case "Binary":
							keyType = "B"
						default:
							s.errorf(ke.val.pos, "", "%s.PrimaryKey.Type must be String, Number or Binary", where)
						}
					default:
						s.errorf(ke.keyPos, "", "unknown key %q in %s.PrimaryKey", ke.key, where)
					}
				}
			case "TableName", "SSESpecification":
				out.entries = append(out.entries, pe)
			case "ProvisionedThroughput":
				billing = false
				out.entries = append(out.entries, pe)
			case "Tags":
				if pe.val.kind == kindMap {
					list := &node{kind: kindSeq, pos: pe.val.pos, state: resolved}
					for _, te := range pe.val.entries {
						list.items = append(list.items, mapNode(te.keyPos, "Key", strNode(te.key), "Value", te.val))
					}
					out.entries = append(out.entries, &entry{key: "Tags", keyPos: pe.keyPos, val: list})
				}
			case "PointInTimeRecoverySpecification":
				s.warnf(pe.keyPos, "", "%s: %s is not applied by nimbus yet", where, pe.key)
			default:
				s.errorf(pe.keyPos, "", "%s: AWS::Serverless::SimpleTable has no property %s", where, pe.key)
			}
		}
	}
	if billing {
		out.entries = append(out.entries, &entry{key: "BillingMode", keyPos: pos, val: strNode("PAY_PER_REQUEST")})
	}
	out.entries = append(out.entries,
		&entry{key: "AttributeDefinitions", keyPos: pos, val: seqNode(mapNode(pos, "AttributeName", keyName, "AttributeType", strNode(keyType)))},
		&entry{key: "KeySchema", keyPos: pos, val: seqNode(mapNode(pos, "AttributeName", keyName, "KeyType", strNode("HASH")))})
	res := mapNode(pos, "Type", strNode(cfn.TypeTable), "Properties", out)
	for _, k := range []string{"Condition", "DeletionPolicy", "UpdateReplacePolicy", "DependsOn"} {
		if v := e.val.get(k); v != nil {
			res.entries = append(res.entries, &entry{key: k, keyPos: pos, val: v})
		}
	}
	return res
}

// outputs keeps the Outputs that refer only to what nimbus models.
func (s *samLoader) outputs(n *node) *node {
	if n.kind != kindMap {
		s.typeError(n, "Outputs", "a map of output names to {Value, Export}")
		return nil
	}
	out := mapNode(n.pos)
	for _, e := range n.entries {
		if id, what := s.refersToUnmodelled(e.val); id != "" {
			s.warnf(e.keyPos, "the deploy prints the service's endpoints", "output %s refers to %s (%s), which nimbus does not model; it is left out", e.key, id, what)
			continue
		}
		out.entries = append(out.entries, e)
	}
	return out
}

// refersToUnmodelled returns the first logical id under n nimbus has no
// resource for.
func (s *samLoader) refersToUnmodelled(n *node) (string, string) {
	implicit := map[string]string{"ServerlessRestApi": "SAM's implicit REST API", "ServerlessHttpApi": "SAM's implicit HTTP API",
		"ServerlessRestApiProdStage": "SAM's implicit REST API", "ServerlessDeploymentBucket": "SAM's deployment bucket"}
	check := func(id string) (string, string) {
		id, _, _ = strings.Cut(id, ".")
		if w, ok := implicit[id]; ok {
			return id, w
		}
		if w, ok := s.unmodelled[id]; ok {
			return id, w
		}
		return "", ""
	}
	if isIntrinsic(n) {
		fn, arg := n.entries[0].key, n.entries[0].val
		switch fn {
		case "Ref":
			if arg.kind == kindString {
				if id, w := check(arg.str); id != "" {
					return id, w
				}
			}
		case "Fn::GetAtt":
			if arg.kind == kindSeq && len(arg.items) > 0 && arg.items[0].kind == kindString {
				if id, w := check(arg.items[0].str); id != "" {
					return id, w
				}
			} else if arg.kind == kindString {
				if id, w := check(arg.str); id != "" {
					return id, w
				}
			}
		case "Fn::Sub":
			str := arg
			if arg.kind == kindSeq && len(arg.items) > 0 {
				str = arg.items[0]
			}
			if str.kind == kindString {
				for _, m := range subVarRE.FindAllStringSubmatch(str.str, -1) {
					if id, w := check(m[1]); id != "" {
						return id, w
					}
				}
			}
		}
	}
	for _, e := range n.entries {
		if id, w := s.refersToUnmodelled(e.val); id != "" {
			return id, w
		}
	}
	for _, it := range n.items {
		if id, w := s.refersToUnmodelled(it); id != "" {
			return id, w
		}
	}
	return "", ""
}

// renameFunctionRefs points Ref, Fn::GetAtt and Fn::Sub at a function's
// logical id to the id the platform's stack knows the function by.
func (s *samLoader) renameFunctionRefs(n *node) {
	rename := func(id string) string {
		base, rest, _ := strings.Cut(id, ".")
		if s.functions[base] {
			id = cfn.LogicalFunctionID(base)
			if rest != "" {
				id += "." + rest
			}
		}
		return id
	}
	if isIntrinsic(n) {
		fn, arg := n.entries[0].key, n.entries[0].val
		switch fn {
		case "Ref":
			if arg.kind == kindString {
				arg.str = rename(arg.str)
			}
		case "Fn::GetAtt":
			if arg.kind == kindSeq && len(arg.items) > 0 && arg.items[0].kind == kindString {
				arg.items[0].str = rename(arg.items[0].str)
			} else if arg.kind == kindString {
				arg.str = rename(arg.str)
			}
		case "Fn::Sub":
			str, vars := arg, (*node)(nil)
			if arg.kind == kindSeq && len(arg.items) == 2 {
				str, vars = arg.items[0], arg.items[1]
			}
			if str.kind == kindString {
				str.str = subVarRE.ReplaceAllStringFunc(str.str, func(m string) string {
					name := m[2 : len(m)-1]
					if vars.get(name) != nil {
						return m
					}
					return "${" + rename(name) + "}"
				})
			}
		}
	}
	for _, e := range n.entries {
		s.renameFunctionRefs(e.val)
	}
	for _, it := range n.items {
		s.renameFunctionRefs(it)
	}
}

// samManagedPolicyARN is the ARN of a managed policy SAM's Policies names.
func samManagedPolicyARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	return "arn:aws:iam::aws:policy/" + name
}

// IsSAM reports whether the project was loaded from a SAM template.
func (p *Project) IsSAM() bool { return slices.Contains(samTemplateNames, filepath.Base(p.File)) }

// Output is one of the template's Outputs, resolved.
type Output struct {
	Name, Value string
	// Err is set when the CLI cannot resolve the value (a queue URL, an
	// import): the platform knows it.
	Err error
}

// Outputs resolves the application's Outputs as the platform names its
// resources (queue URLs need the platform's address, which queueEndpoint
// gives; empty leaves them unresolved).
func (p *Project) Outputs(queueEndpoint string) []Output {
	var t struct {
		Outputs map[string]struct {
			Value any `json:"Value"`
		} `json:"Outputs"`
	}
	v, err := cfn.Decode(p.App.Resources)
	if err != nil {
		return nil
	}
	raw, _ := json.Marshal(v)
	if json.Unmarshal(raw, &t) != nil || len(t.Outputs) == 0 {
		return nil
	}
	stack, err := cfn.NewStack(&p.App, queueEndpoint)
	if err != nil {
		return nil
	}
	var out []Output
	for _, name := range slices.Sorted(maps.Keys(t.Outputs)) {
		o := Output{Name: name}
		r, err := stack.Resolve(t.Outputs[name].Value)
		if err == nil {
			switch x := r.(type) {
			case string:
				o.Value = x
			default:
				b, _ := json.Marshal(x)
				o.Value = string(b)
			}
		}
		o.Err = err
		out = append(out, o)
	}
	return out
}
