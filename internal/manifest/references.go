package manifest

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// The platform evaluates CloudFormation references on deploy (it knows where
// queues are served and what other services export); the CLI checks them
// early, with positions: unknown logical ids and malformed intrinsic
// functions are errors, references nimbus cannot evaluate are errors where a
// value is needed (environment) and warnings elsewhere.

// refUse is how a reference is used, which decides how strict the check is.
type refUse int

const (
	useValue    refUse = iota // the value is needed (environment): unsupported is an error
	useLenient                // unsupported is a warning (event definitions, IAM, resources)
	useResolved               // the CLI resolves it now (managed policy ARNs)
)

// pendingRef is a value with references, checked once every function and
// resource is known.
type pendingRef struct {
	n    *node
	what string
	use  refUse
}

// queueEndpointPlaceholder stands for the platform's address while checking.
const queueEndpointPlaceholder = "http://nimbus.invalid"

// checkStack is the stack the CLI checks references against: imports and
// queue URLs are the platform's to fill in.
func (d *decoder) checkStack() (*cfn.Stack, error) {
	s, err := cfn.NewStack(d.app, queueEndpointPlaceholder)
	if err != nil {
		return nil, err
	}
	s.Import = func(name string) (string, error) { return "imported:" + name, nil }
	return s, nil
}

// nodeAt follows a cfn error path from n to the node it names, as far as it
// exists.
func nodeAt(n *node, path []any) *node {
	for _, p := range path {
		var next *node
		switch k := p.(type) {
		case string:
			next = n.get(k)
		case int:
			if n.kind == kindSeq && k >= 0 && k < len(n.items) {
				next = n.items[k]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// checkReferences checks every pending reference and the resources section.
func (d *decoder) checkReferences(resources *node) {
	stack, err := d.checkStack()
	if err != nil {
		return // the resources section is reported by the platform's checks
	}
	seen := map[*node]bool{} // the provider's variables are every function's
	for _, p := range d.pendingRefs {
		if !seen[p.n] {
			seen[p.n] = true
			d.checkRef(stack, p)
		}
	}
	d.checkResources(stack, resources)
}

func (d *decoder) checkRef(stack *cfn.Stack, p pendingRef) {
	v, err := cfn.Decode(p.n.toJSON())
	if err != nil {
		return
	}
	_, err = stack.Resolve(v)
	if err == nil {
		return
	}
	at := p.n.pos
	ce, ok := cfn.AsError(err)
	if ok {
		at = nodeAt(p.n, ce.Path).pos
	}
	switch {
	case ok && ce.Unsupported && p.use == useLenient:
		d.warnf(at, "", "%s: %v", p.what, err)
	case ok && ce.Unsupported:
		d.errorf(at, "an environment value must resolve on nimbus, which creates queues, topics, event buses and functions", "%s: %v", p.what, err)
	default:
		d.errorf(at, "", "%s: %v", p.what, err)
	}
}

// checkResources warns about resources nimbus does not create and checks the
// references in those it does, and in Outputs.
func (d *decoder) checkResources(stack *cfn.Stack, resources *node) {
	if resources == nil || resources.kind != kindMap {
		return
	}
	if res := resources.get("Resources"); res != nil && res.kind == kindMap {
		for _, e := range res.entries {
			typ := e.val.get("Type")
			if typ == nil || typ.kind != kindString {
				d.errorf(e.keyPos, "", "resources.Resources.%s has no Type", e.key)
				continue
			}
			if !cfn.Supported(typ.str) {
				d.warnf(typ.pos, "", "resources.Resources.%s: nimbus does not create resources of type %s yet; it is ignored", e.key, typ.str)
				continue
			}
			props := e.val.get("Properties")
			if props == nil {
				continue
			}
			d.checkRef(stack, pendingRef{n: props, what: "resources.Resources." + e.key, use: useLenient})
			if props.kind != kindMap {
				d.typeError(props, "resources.Resources."+e.key+".Properties", "a map")
				continue
			}
			for _, pe := range props.entries {
				applied, known := cfn.Property(typ.str, pe.key)
				switch {
				case !known:
					hint := ""
					if sug := suggest(pe.key, cfn.Properties(typ.str)); sug != "" {
						hint = fmt.Sprintf("did you mean %q?", sug)
					}
					d.errorf(pe.keyPos, hint, "resources.Resources.%s: %s has no property %s that nimbus knows", e.key, typ.str, pe.key)
				case !applied:
					d.warnf(pe.keyPos, "", "resources.Resources.%s: property %s of %s is not applied by nimbus yet", e.key, pe.key, typ.str)
				}
			}
		}
	}
	for _, section := range []string{"Outputs"} {
		if out := resources.get(section); out != nil && out.kind == kindMap {
			for _, e := range out.entries {
				d.checkRef(stack, pendingRef{n: e.val, what: "resources." + section + "." + e.key, use: useLenient})
			}
		}
	}
	for _, e := range resources.entries {
		switch e.key {
		case "Resources", "Outputs", "Conditions", "Description", "AWSTemplateFormatVersion":
		default:
			d.warnf(e.keyPos, "", "resources.%s is not applied by nimbus", e.key)
		}
	}
}

// supportedEvents are the function event types nimbus fires.
var supportedEvents = []string{"http", "httpApi", "schedule", "sqs", "sns", "eventBridge", "stream", "s3"}

// checkEventType warns about an event nimbus would not fire.
func (d *decoder) checkEventType(e *entry, where string) {
	if slices.Contains(supportedEvents, e.key) {
		return
	}
	d.warnf(e.keyPos, "nimbus fires "+strings.Join(supportedEvents, ", ")+" events",
		"%s: nimbus does not support %s events yet; the function will not be invoked by it", where, e.key)
}

// --- IAM -----------------------------------------------------------------

// statementKeys are the elements of an IAM identity policy statement.
var statementKeys = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}

// iamSettings are the execution role settings of the provider.
type iamSettings struct {
	statements []*node
	policies   []string
}

// readProviderIAM reads provider.iam.role (statements, managedPolicies) and the
// older provider.iamRoleStatements and provider.iamManagedPolicies.
func (d *decoder) readProviderIAM(provider map[string]*entry) iamSettings {
	var s iamSettings
	if iam := val(provider, "iam"); iam != nil {
		f := d.fields(iam, "provider.iam", []string{"role", "deploymentRole"})
		if role := val(f, "role"); role != nil {
			if role.kind == kindString {
				d.warnf(role.pos, "declare the role's permissions under provider.iam.role.statements",
					"provider.iam.role names an existing role, which nimbus cannot read; functions get no permissions from it")
			} else {
				rf := d.fields(role, "provider.iam.role", []string{"name", "path", "statements", "managedPolicies", "permissionsBoundary", "permissionBoundary", "tags"})
				s.statements = append(s.statements, d.statements(val(rf, "statements"), "provider.iam.role.statements")...)
				s.policies = append(s.policies, d.managedPolicies(val(rf, "managedPolicies"), "provider.iam.role.managedPolicies")...)
			}
		}
	}
	s.statements = append(s.statements, d.statements(val(provider, "iamRoleStatements"), "provider.iamRoleStatements")...)
	s.policies = append(s.policies, d.managedPolicies(val(provider, "iamManagedPolicies"), "provider.iamManagedPolicies")...)
	if r := val(provider, "role"); r != nil {
		d.warnf(r.pos, "declare the role's permissions under provider.iam.role.statements",
			"provider.role names an existing role, which nimbus cannot read; functions get no permissions from it")
	}
	return s
}

// functionIAM sets a function's statements and managed policies: the
// provider's, or, when the function has its own iamRoleStatements (the
// serverless-iam-roles-per-function form), its own, plus the provider's when
// iamRoleStatementsInherit is true.
func (d *decoder) functionIAM(f map[string]*entry, where string, provider iamSettings, fn *appspec.Function) {
	statements, policies := provider.statements, provider.policies
	if n := val(f, "iamRoleStatements"); n != nil {
		own := d.statements(n, where+" iamRoleStatements")
		inherit := false
		if in := val(f, "iamRoleStatementsInherit"); in != nil {
			inherit, _ = d.boolean(in, where+" iamRoleStatementsInherit")
		}
		if inherit {
			statements = slices.Concat(provider.statements, own)
		} else {
			statements, policies = own, nil
		}
	}
	if n := val(f, "role"); n != nil {
		d.warnf(n.pos, "declare the function's permissions with iamRoleStatements",
			"%s: role names an existing role, which nimbus cannot read; the function gets no permissions from it", where)
	}
	if len(statements) > 0 {
		var b strings.Builder
		b.WriteByte('[')
		for i, st := range statements {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(st.toJSON())
		}
		b.WriteByte(']')
		fn.IAMStatements = []byte(b.String())
	}
	if len(policies) > 0 {
		fn.ManagedPolicies = slices.Clone(policies)
	}
}

// statements checks a list of IAM statements and returns the well-formed ones.
func (d *decoder) statements(n *node, what string) []*node {
	if n == nil {
		return nil
	}
	if n.kind != kindSeq {
		d.typeError(n, what, "a list of statements (Effect, Action, Resource)")
		return nil
	}
	var out []*node
	for i, st := range n.items {
		where := fmt.Sprintf("%s[%d]", what, i)
		if st.failed {
			continue
		}
		if st.kind != kindMap {
			d.errorf(st.pos, "a statement is a map with Effect, Action and Resource", "%s must be a map, not %s", where, st.describe())
			continue
		}
		before := len(d.errs)
		f := d.strictFields(st, where, statementKeys)
		effect := val(f, "Effect")
		switch {
		case effect == nil:
			d.errorf(st.pos, "add `Effect: Allow` or `Effect: Deny`", "%s has no Effect", where)
		case effect.kind != kindString || (effect.str != "Allow" && effect.str != "Deny"):
			d.errorf(effect.pos, "IAM knows Allow and Deny (case matters)", "%s: Effect must be Allow or Deny, not %s", where, effect.describe())
		}
		d.statementPair(st, f, where, "Action", "NotAction", d.checkActions)
		d.statementPair(st, f, where, "Resource", "NotResource", d.checkResourceList)
		if c := val(f, "Condition"); c != nil && c.kind != kindMap {
			d.typeError(c, where+".Condition", "a map of condition operators")
		} else if c != nil {
			// The platform must evaluate a condition to judge the statement.
			d.pendingRefs = append(d.pendingRefs, pendingRef{n: c, what: where + ".Condition", use: useValue})
		}
		if len(d.errs) == before {
			out = append(out, st)
		}
	}
	return out
}

// statementPair checks that exactly one of a statement's element and its Not
// form is present.
func (d *decoder) statementPair(st *node, f map[string]*entry, where, key, notKey string, check func(*node, string)) {
	a, b := val(f, key), val(f, notKey)
	switch {
	case a == nil && b == nil:
		d.errorf(st.pos, fmt.Sprintf("add %s (or %s)", key, notKey), "%s has no %s or %s", where, key, notKey)
	case a != nil && b != nil:
		d.errorf(f[notKey].keyPos, "", "%s has both %s and %s; IAM allows one", where, key, notKey)
	case a != nil:
		check(a, where+"."+key)
	default:
		check(b, where+"."+notKey)
	}
}

func (d *decoder) checkActions(n *node, what string) {
	items := []*node{n}
	if n.kind == kindSeq {
		items = n.items
		if len(items) == 0 {
			d.errorf(n.pos, "", "%s is empty", what)
		}
	}
	for _, it := range items {
		if it.kind != kindString {
			d.typeError(it, what, "an action such as sqs:SendMessage")
			continue
		}
		if it.str != "*" && !strings.Contains(it.str, ":") {
			d.errorf(it.pos, "write service:Action, e.g. sqs:SendMessage", "%s: %q is not an action", what, it.str)
		}
	}
}

func (d *decoder) checkResourceList(n *node, what string) {
	items := []*node{n}
	if n.kind == kindSeq {
		items = n.items
		if len(items) == 0 {
			d.errorf(n.pos, "", "%s is empty", what)
		}
	}
	for _, it := range items {
		switch {
		case it.kind == kindString:
		case isIntrinsic(it):
			d.pendingRefs = append(d.pendingRefs, pendingRef{n: it, what: what, use: useLenient})
		default:
			d.typeError(it, what, "an ARN, * or a CloudFormation reference")
		}
	}
}

// managedPolicies reads a list of managed policy ARNs, resolving references
// (Fn::Join with ${AWS::Partition} ...) now: they need no platform.
func (d *decoder) managedPolicies(n *node, what string) []string {
	if n == nil {
		return nil
	}
	if n.kind != kindSeq {
		d.typeError(n, what, "a list of policy ARNs")
		return nil
	}
	var out []string
	for i, it := range n.items {
		where := fmt.Sprintf("%s[%d]", what, i)
		arn := ""
		switch {
		case it.kind == kindString:
			arn = it.str
		case isIntrinsic(it):
			s, err := cfn.NewStack(d.app, "")
			if err == nil {
				arn, err = s.String(it.toJSON())
			}
			if err != nil {
				at := it.pos
				if ce, ok := cfn.AsError(err); ok {
					at = nodeAt(it, ce.Path).pos
				}
				d.errorf(at, "", "%s: %v", where, err)
				continue
			}
		default:
			d.typeError(it, where, "a policy ARN")
			continue
		}
		if !managedPolicyRE.MatchString(arn) {
			d.errorf(it.pos, "write arn:aws:iam::aws:policy/NAME", "%s: %q is not a managed policy ARN", where, arn)
			continue
		}
		out = append(out, arn)
	}
	return out
}

// refKeys lists a function's reference-valued variables, sorted.
func refKeys(m map[string]*node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// managedPolicyRE matches IAM policy ARNs (AWS managed ones have account "aws").
var managedPolicyRE = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$`)

// Keys nimbus accepts without acting on them whose absence changes how a
// function runs; they get a warning (harmless ones, such as tags, do not).
var (
	ignoredProviderKeys = []string{"vpc", "alb", "websockets", "rolePermissionsBoundary"}
	ignoredFunctionKeys = []string{"vpc", "provisionedConcurrency", "fileSystemConfig", "snapStart", "condition", "dependsOn"}
)

// warnIgnored warns about the keys of fields that nimbus does not apply.
func (d *decoder) warnIgnored(fields map[string]*entry, where string, keys []string) {
	for _, k := range keys {
		if e, ok := fields[k]; ok && e.val.kind != kindNull {
			d.warnf(e.keyPos, "", "%s: %s is not applied by nimbus yet; it is ignored", where, k)
		}
	}
}
