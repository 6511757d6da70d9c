package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// function adds an AWS::Serverless::Function to out's functions, in the
// shape a serverless.yml function has.
func (s *samLoader) function(out *node, e *entry, own *node) {
	where := "Resources." + e.key
	pos := e.keyPos
	if own != nil && own.kind == kindMap {
		s.evalIf(own)
	}
	props := withGlobals(own, s.globals["Function"])
	if props == nil || props.kind == kindNull {
		props = mapNode(pos)
	}
	fn := mapNode(pos)
	add := func(key string, at position, v *node) {
		fn.entries = append(fn.entries, &entry{key: key, keyPos: at, val: v})
	}
	var env, events, policies, alias, preference *entry
	timeout, memory := false, false
	for _, pe := range props.entries {
		v := pe.val
		if own.get(pe.key) == nil && !slices.Contains(samAppliedFunctionProps, pe.key) {
			continue // from Globals, which readGlobals reported once
		}
		switch pe.key {
		case "Handler":
			add("handler", pe.keyPos, v)
		case "Runtime":
			add("runtime", pe.keyPos, v)
		case "Timeout":
			timeout = true
			add("timeout", pe.keyPos, v)
		case "MemorySize":
			memory = true
			add("memorySize", pe.keyPos, v)
		case "FunctionName":
			add("name", pe.keyPos, v)
		case "Description":
			add("description", pe.keyPos, v)
		case "ReservedConcurrentExecutions":
			add("reservedConcurrency", pe.keyPos, v)
		case "Architectures":
			if v.kind != kindSeq || len(v.items) != 1 {
				s.typeError(v, where+".Architectures", "a list of one architecture (x86_64 or arm64)")
				continue
			}
			add("architecture", pe.keyPos, v.items[0])
		case "EphemeralStorage":
			if size := v.get("Size"); size != nil {
				add("ephemeralStorageSize", pe.keyPos, size)
			}
		case "Environment":
			env = pe
		case "Events":
			events = pe
		case "Policies":
			policies = pe
		case "CodeUri":
			s.codeURI(fn, e.key, pe, runtimeOf(props))
		case "InlineCode":
			s.inlineCode(e.key, where, pe, runtimeOf(props), props.get("CodeUri") != nil)
		case "PackageType":
			if str, _ := v.scalarString(); str != "Zip" {
				s.errorf(v.pos, "package the code as a zip with a runtime and handler", "%s uses a container image, which nimbus does not support", where)
			}
		case "DeadLetterQueue":
			if arn := v.get("TargetArn"); arn != nil {
				add("onError", pe.keyPos, arn)
			}
		case "EventInvokeConfig":
			s.eventInvokeConfig(fn, where, pe)
		case "FunctionUrlConfig":
			url := mapNode(pe.keyPos)
			if c := v.get("Cors"); c != nil {
				url.entries = append(url.entries, &entry{key: "cors", keyPos: pe.keyPos, val: s.urlCors(c)})
			}
			if a := v.get("AuthType"); a != nil && a.kind == kindString && a.str == "AWS_IAM" {
				url.entries = append(url.entries, &entry{key: "authorizer", keyPos: a.pos, val: strNode("aws_iam")})
			}
			add("url", pe.keyPos, url)
		case "Layers":
			s.warnf(pe.keyPos, "", "%s: layers are not supported by nimbus yet and are ignored", where)
		case "Role":
			s.warnf(pe.keyPos, "declare the function's permissions with Policies",
				"%s: Role names a role nimbus does not model; the function gets no permissions from it", where)
		case "AutoPublishAlias":
			alias = pe
		case "DeploymentPreference":
			preference = pe
		case "Tags", "PropagateTags", "Connectors":
			// Labels: nothing to apply.
		default:
			switch {
			case slices.Contains(samVersionProps, pe.key):
				s.warnf(pe.keyPos, "", "%s: %s is not applied by nimbus yet", where, pe.key)
			case slices.Contains(samFunctionProps, pe.key):
				s.warnf(pe.keyPos, "", "%s: %s is not applied by nimbus yet; it is ignored", where, pe.key)
			default:
				hint := ""
				if sug := suggest(pe.key, samFunctionProps); sug != "" {
					hint = fmt.Sprintf("did you mean %q?", sug)
				}
				s.errorf(pe.keyPos, hint, "%s: AWS::Serverless::Function has no property %s", where, pe.key)
			}
		}
	}
	if !timeout {
		add("timeout", pos, intNode(samDefaultTimeout))
	}
	if !memory {
		add("memorySize", pos, intNode(samDefaultMemory))
	}
	if env != nil {
		f := map[string]*entry{}
		if env.val.kind == kindMap {
			for _, ve := range env.val.entries {
				if ve.key != "Variables" {
					s.errorf(ve.keyPos, "", "%s.Environment has Variables only, not %s", where, ve.key)
				}
				f[ve.key] = ve
			}
		} else {
			s.typeError(env.val, where+".Environment", "a map with Variables")
		}
		if vars := val(f, "Variables"); vars != nil {
			add("environment", env.keyPos, vars)
		}
	}
	if events != nil {
		if list := s.events(events.val, where); len(list.items) > 0 {
			add("events", events.keyPos, list)
		}
	}
	if policies != nil {
		if st := s.policies(e.key, policies.val, where+".Policies"); len(st.items) > 0 {
			add("iamRoleStatements", policies.keyPos, st)
		}
	}
	if ds := s.deploymentPreference(where, alias, preference); ds != nil {
		add("deploymentSettings", alias.keyPos, ds)
	}
	goBuilt := s.goFunction(fn, runtimeOf(props))
	if md := e.val.get("Metadata"); md != nil && !goBuilt {
		if bm := md.get("BuildMethod"); bm != nil {
			if str, _ := bm.scalarString(); str == "esbuild" {
				s.esbuild(e.key, where, fn, props, md)
			} else if str != "makefile" {
				s.warnf(bm.pos, "build the code before deploying, and point CodeUri at the output", "%s: Metadata.BuildMethod %s is not reproduced by nimbus yet; CodeUri is packaged as it is", where, str)
			} else {
				s.warnf(bm.pos, "", "%s: Metadata.BuildMethod makefile is not run by nimbus; CodeUri is packaged as it is", where)
			}
		}
	}
	if props.get("CodeUri") == nil && props.get("InlineCode") == nil {
		s.warnf(pos, "point CodeUri at the function's folder", "%s has no CodeUri: the template's whole directory is packaged", where)
	}
	fns := child(out, "functions", pos)
	fns.entries = append(fns.entries, &entry{key: e.key, keyPos: e.keyPos, val: fn})
}

// goFunction makes a Go function whose CodeUri is a main package (SAM's
// BuildMethod go1.x) built by the deploy: its handler becomes that folder,
// which the deploy compiles into bootstrap (GoMain), as `sam build` does.
func (s *samLoader) goFunction(fn *node, runtime string) bool {
	family, _ := appspec.RuntimeFamily(runtime)
	if family != appspec.FamilyGo && family != appspec.FamilyProvided {
		return false
	}
	for i, e := range fn.entries {
		if e.key != "module" || !isMainPackage(filepath.Join(s.dir, filepath.FromSlash(e.val.str))) {
			continue
		}
		dir := e.val
		fn.entries = slices.Delete(fn.entries, i, i+1)
		h := &node{kind: kindString, str: "./" + dir.str, pos: dir.pos, state: resolved}
		if old := fn.get("handler"); old != nil {
			h.pos = old.pos
			for _, he := range fn.entries {
				if he.key == "handler" {
					he.val = h
				}
			}
		} else {
			fn.entries = append(fn.entries, &entry{key: "handler", keyPos: dir.pos, val: h})
		}
		return true
	}
	return false
}

// inlineCode packages a function's InlineCode as CloudFormation does: a
// zip holding one file named index (index.js, index.py).
func (s *samLoader) inlineCode(key, where string, pe *entry, runtime string, codeURI bool) {
	if codeURI {
		s.errorf(pe.keyPos, "keep one of them", "%s: InlineCode and CodeUri cannot both be set", where)
		return
	}
	if pe.val.kind != kindString {
		s.typeError(pe.val, where+".InlineCode", "the function's source code as a string")
		return
	}
	family, _ := appspec.RuntimeFamily(runtime)
	var name string
	switch family {
	case appspec.FamilyNode:
		name = "index.js"
	case appspec.FamilyPython:
		name = "index.py"
	default:
		s.errorf(pe.keyPos, "point CodeUri at the function's folder", "%s: InlineCode is for Node.js and Python functions, not %q", where, runtime)
		return
	}
	s.inline[key] = map[string][]byte{name: []byte(pe.val.str)}
}

func runtimeOf(props *node) string {
	if r := props.get("Runtime"); r != nil && r.kind == kindString {
		return r.str
	}
	return ""
}

// codeURI makes the folder CodeUri names the root of the function's package,
// or uses the zip it names.
func (s *samLoader) codeURI(fn *node, key string, pe *entry, runtime string) {
	v := pe.val
	if v.kind != kindString {
		s.errorf(v.pos, "point CodeUri at a folder (or .zip) next to the template", "Resources.%s: CodeUri in S3 is not supported by nimbus", key)
		return
	}
	if _, err := projectPath(s.dir, v.str); err != nil {
		s.errorf(v.pos, "point CodeUri at a folder (or .zip) inside the template's directory", "Resources.%s: CodeUri %v", key, err)
		return
	}
	rel := filepath.Clean(filepath.FromSlash(v.str))
	st, err := os.Stat(filepath.Join(s.dir, rel))
	switch {
	case err != nil:
		s.errorf(v.pos, "", "Resources.%s: CodeUri %q does not exist", key, v.str)
	case st.Mode().IsRegular():
		fn.entries = append(fn.entries, &entry{key: "package", keyPos: pe.keyPos, val: mapNode(v.pos, "artifact", v)})
	case rel == ".":
	default:
		fn.entries = append(fn.entries, &entry{key: "module", keyPos: pe.keyPos, val: &node{kind: kindString, str: filepath.ToSlash(rel), pos: v.pos, state: resolved}})
		if family, _ := appspec.RuntimeFamily(runtime); family == appspec.FamilyPython {
			if _, err := os.Stat(filepath.Join(s.dir, rel, "requirements.txt")); err == nil {
				s.python = true
			}
		}
	}
	if st != nil && st.IsDir() && rel == "." {
		if family, _ := appspec.RuntimeFamily(runtime); family == appspec.FamilyPython {
			if _, err := os.Stat(filepath.Join(s.dir, "requirements.txt")); err == nil {
				s.python = true
			}
		}
	}
}

func (s *samLoader) eventInvokeConfig(fn *node, where string, pe *entry) {
	for _, e := range pe.val.entries {
		switch e.key {
		case "MaximumRetryAttempts":
			fn.entries = append(fn.entries, &entry{key: "maximumRetryAttempts", keyPos: e.keyPos, val: e.val})
		case "MaximumEventAgeInSeconds":
			fn.entries = append(fn.entries, &entry{key: "maximumEventAge", keyPos: e.keyPos, val: e.val})
		case "DestinationConfig":
			dest := mapNode(e.keyPos)
			for _, de := range e.val.entries {
				key := map[string]string{"OnSuccess": "onSuccess", "OnFailure": "onFailure"}[de.key]
				target := de.val.get("Destination")
				if key == "" || target == nil {
					s.warnf(de.keyPos, "", "%s.EventInvokeConfig.DestinationConfig.%s is not applied by nimbus", where, de.key)
					continue
				}
				dest.entries = append(dest.entries, &entry{key: key, keyPos: de.keyPos, val: target})
			}
			if len(dest.entries) > 0 {
				fn.entries = append(fn.entries, &entry{key: "destinations", keyPos: e.keyPos, val: dest})
			}
		default:
			s.warnf(e.keyPos, "", "%s.EventInvokeConfig.%s is not applied by nimbus", where, e.key)
		}
	}
}

// urlCors maps a function URL's Cors (AllowOrigins ...) to the url's cors.
func (s *samLoader) urlCors(n *node) *node {
	if n.kind != kindMap {
		return n
	}
	names := map[string]string{"AllowOrigins": "allowedOrigins", "AllowHeaders": "allowedHeaders",
		"AllowMethods": "allowedMethods", "AllowCredentials": "allowCredentials",
		"ExposeHeaders": "exposedResponseHeaders", "MaxAge": "maxAge"}
	out := mapNode(n.pos)
	for _, e := range n.entries {
		if to, ok := names[e.key]; ok {
			out.entries = append(out.entries, &entry{key: to, keyPos: e.keyPos, val: e.val})
		} else {
			s.warnf(e.keyPos, "", "FunctionUrlConfig.Cors.%s is not applied by nimbus", e.key)
		}
	}
	return out
}

// samEventKinds are the event types nimbus fires, with the properties each
// applies; other properties of those events are warned about.
var samEventKinds = map[string][]string{
	"Api":             {"Path", "Method", "RestApiId", "Auth"},
	"HttpApi":         {"Path", "Method", "ApiId", "PayloadFormatVersion", "Auth"},
	"Schedule":        {"Schedule", "Enabled", "State", "Input", "Name", "Description"},
	"ScheduleV2":      {"ScheduleExpression", "State", "Input", "Name", "Description"},
	"SQS":             {"Queue", "BatchSize", "Enabled", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig"},
	"SNS":             {"Topic", "FilterPolicy", "FilterPolicyScope"},
	"S3":              {"Bucket", "Events", "Filter"},
	"DynamoDB":        {"Stream", "StartingPosition", "StartingPositionTimestamp", "BatchSize", "Enabled", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "ParallelizationFactor", "FunctionResponseTypes", "FilterCriteria"},
	"Kinesis":         {"Stream", "StartingPosition", "StartingPositionTimestamp", "BatchSize", "Enabled", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "ParallelizationFactor", "FunctionResponseTypes", "FilterCriteria"},
	"EventBridgeRule": {"Pattern", "EventBusName", "Input", "InputPath", "State", "RuleName"},
	"CloudWatchEvent": {"Pattern", "EventBusName", "Input", "InputPath", "State"},
}

// events turns a function's Events map into serverless.yml's events list.
func (s *samLoader) events(n *node, where string) *node {
	list := &node{kind: kindSeq, pos: n.pos, state: resolved}
	if n.kind != kindMap {
		s.typeError(n, where+".Events", "a map of event names to {Type, Properties}")
		return list
	}
	for _, e := range n.entries {
		what := fmt.Sprintf("%s.Events.%s", where, e.key)
		if e.val.kind != kindMap {
			s.typeError(e.val, what, "a map with Type and Properties")
			continue
		}
		typ := e.val.get("Type")
		if typ == nil || typ.kind != kindString {
			s.errorf(e.keyPos, "", "%s has no Type", what)
			continue
		}
		known, ok := samEventKinds[typ.str]
		if !ok {
			s.warnf(typ.pos, "nimbus fires Api, HttpApi, Schedule, ScheduleV2, SQS, SNS, S3, DynamoDB, Kinesis, EventBridgeRule and CloudWatchEvent events",
				"%s: nimbus does not support %s events yet; the function will not be invoked by it", what, typ.str)
			continue
		}
		props := e.val.get("Properties")
		if props == nil {
			props = mapNode(e.keyPos)
		}
		if props.kind != kindMap {
			s.typeError(props, what+".Properties", "a map")
			continue
		}
		f := map[string]*entry{}
		for _, pe := range props.entries {
			if slices.Contains(known, pe.key) {
				f[pe.key] = pe
				continue
			}
			s.warnf(pe.keyPos, "", "%s: property %s of %s events is not applied by nimbus yet", what, pe.key, typ.str)
		}
		list.items = append(list.items, s.event(typ.str, what, e.keyPos, props, f)...)
	}
	return list
}

// event is the serverless.yml form of one SAM event (an S3 event with
// several Events gives several).
func (s *samLoader) event(typ, what string, pos position, props *node, f map[string]*entry) []*node {
	ev := mapNode(props.pos)
	set := func(key, from string) {
		if v := val(f, from); v != nil {
			ev.entries = append(ev.entries, &entry{key: key, keyPos: f[from].keyPos, val: v})
		}
	}
	one := func(kind string, v *node) []*node { return []*node{mapNode(pos, kind, v)} }
	enabledFromState := func(key string) {
		if st := val(f, key); st != nil {
			if str, _ := st.scalarString(); str != "" {
				ev.entries = append(ev.entries, &entry{key: "enabled", keyPos: f[key].keyPos, val: boolNode(strings.EqualFold(str, "ENABLED"))})
			}
		}
	}
	switch typ {
	case "Api":
		set("path", "Path")
		set("method", "Method")
		if s.restCors != nil {
			ev.entries = append(ev.entries, &entry{key: "cors", keyPos: s.restCors.pos, val: s.restCors})
		}
		if auth := s.eventAuth(true, s.apiID(f, "RestApiId"), what, f); auth != nil {
			ev.entries = append(ev.entries, &entry{key: "authorizer", keyPos: pos, val: auth})
		}
		return one("http", ev)
	case "HttpApi":
		auth := s.eventAuth(false, s.apiID(f, "ApiId"), what, f)
		if auth != nil {
			ev.entries = append(ev.entries, &entry{key: "authorizer", keyPos: pos, val: auth})
		}
		if val(f, "Path") == nil && val(f, "Method") == nil {
			if auth != nil {
				ev.entries = append(ev.entries, &entry{key: "path", keyPos: pos, val: strNode("*")})
				return one("httpApi", ev)
			}
			return one("httpApi", &node{kind: kindString, str: "*", pos: pos, state: resolved})
		}
		set("path", "Path")
		set("method", "Method")
		if val(f, "Method") == nil {
			ev.entries = append(ev.entries, &entry{key: "method", keyPos: pos, val: strNode("*")})
		}
		if val(f, "Path") == nil {
			s.errorf(pos, "", "%s: an HttpApi event with a Method needs a Path", what)
		}
		if v := val(f, "PayloadFormatVersion"); v != nil {
			if str, _ := v.scalarString(); str != "2.0" {
				s.warnf(v.pos, "", "%s: nimbus sends HTTP API events in payload format 2.0", what)
			}
		}
		return one("httpApi", ev)
	case "Schedule":
		set("rate", "Schedule")
		set("enabled", "Enabled")
		enabledFromState("State")
		set("input", "Input")
		set("name", "Name")
		set("description", "Description")
		return one("schedule", ev)
	case "ScheduleV2":
		set("rate", "ScheduleExpression")
		enabledFromState("State")
		set("input", "Input")
		set("name", "Name")
		set("description", "Description")
		return one("schedule", ev)
	case "SQS":
		set("arn", "Queue")
		set("batchSize", "BatchSize")
		set("enabled", "Enabled")
		set("maximumBatchingWindow", "MaximumBatchingWindowInSeconds")
		s.responseTypes(ev, f)
		if sc := val(f, "ScalingConfig"); sc != nil {
			if mc := sc.get("MaximumConcurrency"); mc != nil {
				ev.entries = append(ev.entries, &entry{key: "maximumConcurrency", keyPos: mc.pos, val: mc})
			}
		}
		return one("sqs", ev)
	case "SNS":
		set("arn", "Topic")
		set("filterPolicy", "FilterPolicy")
		set("filterPolicyScope", "FilterPolicyScope")
		return one("sns", ev)
	case "DynamoDB", "Kinesis":
		ev.entries = append(ev.entries, &entry{key: "type", keyPos: pos, val: strNode(strings.ToLower(typ))})
		set("arn", "Stream")
		set("startingPosition", "StartingPosition")
		set("startingPositionTimestamp", "StartingPositionTimestamp")
		set("batchSize", "BatchSize")
		set("enabled", "Enabled")
		set("maximumBatchingWindow", "MaximumBatchingWindowInSeconds")
		set("maximumRetryAttempts", "MaximumRetryAttempts")
		set("maximumRecordAgeInSeconds", "MaximumRecordAgeInSeconds")
		set("bisectBatchOnFunctionError", "BisectBatchOnFunctionError")
		set("parallelizationFactor", "ParallelizationFactor")
		s.responseTypes(ev, f)
		if fc := val(f, "FilterCriteria"); fc != nil {
			if filters := fc.get("Filters"); filters != nil && filters.kind == kindSeq {
				patterns := &node{kind: kindSeq, pos: filters.pos, state: resolved}
				for _, it := range filters.items {
					if p := it.get("Pattern"); p != nil {
						patterns.items = append(patterns.items, p)
					}
				}
				ev.entries = append(ev.entries, &entry{key: "filterPatterns", keyPos: f["FilterCriteria"].keyPos, val: patterns})
			}
		}
		return one("stream", ev)
	case "EventBridgeRule", "CloudWatchEvent":
		set("pattern", "Pattern")
		set("eventBus", "EventBusName")
		set("input", "Input")
		set("inputPath", "InputPath")
		set("name", "RuleName")
		enabledFromState("State")
		return one("eventBridge", ev)
	case "S3":
		return s.s3Events(what, pos, f)
	}
	return nil
}

func (s *samLoader) responseTypes(ev *node, f map[string]*entry) {
	rt := val(f, "FunctionResponseTypes")
	if rt == nil {
		return
	}
	if rt.kind == kindSeq {
		for _, it := range rt.items {
			if it.kind == kindString && it.str == "ReportBatchItemFailures" {
				ev.entries = append(ev.entries, &entry{key: "functionResponseType", keyPos: f["FunctionResponseTypes"].keyPos, val: it})
				return
			}
		}
	}
	s.errorf(rt.pos, "", "FunctionResponseTypes must be [ReportBatchItemFailures]")
}

// s3Events subscribes the function to a bucket of the template, one event
// per S3 event type.
func (s *samLoader) s3Events(what string, pos position, f map[string]*entry) []*node {
	b := val(f, "Bucket")
	if b == nil {
		s.errorf(pos, "", "%s: Bucket is required", what)
		return nil
	}
	var id string
	if isIntrinsic(b) && b.entries[0].key == "Ref" && b.entries[0].val.kind == kindString {
		id = b.entries[0].val.str
	}
	name := ""
	if id != "" {
		if bn := s.bucketName(id); bn != "" {
			name = bn
		}
	}
	if name == "" {
		s.errorf(b.pos, "SAM requires `Bucket: !Ref SomeBucket` naming an AWS::S3::Bucket of the template", "%s: Bucket must refer to a bucket of the template", what)
		return nil
	}
	var rules *node
	if fl := val(f, "Filter"); fl != nil {
		rules = &node{kind: kindSeq, pos: fl.pos, state: resolved}
		for _, r := range fl.get("S3Key").get("Rules").items {
			n, v := r.get("Name"), r.get("Value")
			if n == nil || v == nil {
				continue
			}
			key := strings.ToLower(n.str)
			if key != "prefix" && key != "suffix" {
				s.errorf(n.pos, "", "%s: a filter rule's Name is prefix or suffix", what)
				continue
			}
			rules.items = append(rules.items, mapNode(r.pos, key, v))
		}
	}
	evs := val(f, "Events")
	var types []*node
	switch {
	case evs == nil:
		s.errorf(pos, "e.g. Events: s3:ObjectCreated:*", "%s: Events is required", what)
	case evs.kind == kindSeq:
		types = evs.items
	default:
		types = []*node{evs}
	}
	var out []*node
	for _, t := range types {
		ev := mapNode(t.pos, "bucket", &node{kind: kindString, str: name, pos: b.pos, state: resolved}, "event", t, "existing", boolNode(true))
		if rules != nil {
			ev.entries = append(ev.entries, &entry{key: "rules", keyPos: rules.pos, val: rules})
		}
		out = append(out, mapNode(pos, "s3", ev))
	}
	return out
}

// bucketName is the name of the template's bucket id, or "".
func (s *samLoader) bucketName(id string) string {
	res := s.resource(id)
	if res == nil || res.get("Type") == nil || res.get("Type").str != cfn.TypeBucket {
		return ""
	}
	if n := res.get("Properties").get("BucketName"); n != nil {
		if n.kind == kindString {
			return n.str
		}
		return ""
	}
	return cfn.GeneratedBucketName(s.conds.Name, id)
}

// resource is the template's resource id, or nil.
func (s *samLoader) resource(id string) *node {
	return s.resources.get(id)
}

// deploymentPreference turns AutoPublishAlias and DeploymentPreference into
// the canary plugin's deploymentSettings, which the function decoder reads.
func (s *samLoader) deploymentPreference(where string, alias, pref *entry) *node {
	if alias == nil {
		if pref != nil {
			s.errorf(pref.keyPos, "add AutoPublishAlias: Live (the alias traffic shifts on)", "%s: DeploymentPreference needs AutoPublishAlias, as in SAM", where)
		}
		return nil
	}
	ds := mapNode(alias.keyPos)
	put := func(key string, at position, v *node) {
		ds.entries = append(ds.entries, &entry{key: key, keyPos: at, val: v})
	}
	put("alias", alias.keyPos, alias.val)
	if pref == nil || pref.val.kind == kindNull {
		return ds
	}
	if pref.val.kind != kindMap {
		s.typeError(pref.val, where+".DeploymentPreference", "a map")
		return ds
	}
	for _, pe := range pref.val.entries {
		switch pe.key {
		case "Type":
			put("type", pe.keyPos, pe.val)
		case "Alarms":
			put("alarms", pe.keyPos, pe.val)
		case "Enabled":
			if b, ok := pe.val.scalarString(); ok && b == "false" {
				return mapNode(alias.keyPos, "alias", alias.val)
			}
		case "Hooks":
			if pe.val.kind != kindMap {
				s.typeError(pe.val, where+".DeploymentPreference.Hooks", "a map of PreTraffic and PostTraffic")
				continue
			}
			for _, he := range pe.val.entries {
				key := map[string]string{"PreTraffic": "preTrafficHook", "PostTraffic": "postTrafficHook"}[he.key]
				if key == "" {
					s.errorf(he.keyPos, "", "%s.DeploymentPreference.Hooks has PreTraffic and PostTraffic, not %s", where, he.key)
					continue
				}
				hv := he.val
				if isIntrinsic(hv) && hv.entries[0].key == "Ref" && hv.entries[0].val.kind == kindString {
					hv = strNode(hv.entries[0].val.str)
				}
				put(key, he.keyPos, hv)
			}
		case "TriggerConfigurations":
			put("triggerConfigurations", pe.keyPos, pe.val)
		case "Role", "PassthroughCondition":
			// The platform drives the shift itself: no CodeDeploy role.
		default:
			s.errorf(pe.keyPos, "", "%s.DeploymentPreference has no property %s", where, pe.key)
		}
	}
	return ds
}
