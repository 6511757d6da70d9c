package manifest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// deploymentSettingsKeys are serverless-plugin-canary-deployments' keys of
// a function's deploymentSettings (the SAM loader writes the same).
var deploymentSettingsKeys = []string{"type", "alias", "preTrafficHook", "postTrafficHook", "alarms",
	"triggerConfigurations", "stages"}

// deploymentSettings decodes a function's deploymentSettings: publish a
// version on each deploy that changes it and move an alias to it, at once
// or by traffic shifting (docs/adr/0038-traffic-shifting.md).
func (d *decoder) deploymentSettings(n *node, fnKey, where string) *appspec.Deployment {
	if n == nil {
		return nil
	}
	where += " deploymentSettings"
	f := d.fields(n, where, deploymentSettingsKeys)
	dep := &appspec.Deployment{}
	if a := d.placedString(val(f, "alias"), where+" alias"); a.set {
		dep.Alias = a.value
		if err := validAlias(a.value); err != "" {
			d.errorf(a.pos, "", "%s alias %q %s", where, a.value, err)
		}
	} else if len(f) > 0 {
		d.errorf(n.pos, "name the alias that clients and event sources invoke, e.g. `alias: Live`", "%s has no alias", where)
	}
	if t := d.placedString(val(f, "type"), where+" type"); t.set {
		dep.Type = t.value
		if _, ok := appspec.LookupShift(t.value); !ok {
			hint := ""
			if s := suggest(t.value, appspec.ShiftNames()); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			d.errorf(t.pos, hint, "%s type %q is none of CodeDeploy's predefined configurations (%s)", where, t.value, strings.Join(appspec.ShiftNames(), ", "))
		}
	}
	for hk, dst := range map[string]*string{"preTrafficHook": &dep.PreTrafficHook, "postTrafficHook": &dep.PostTrafficHook} {
		if h := d.placedString(val(f, hk), where+" "+hk); h.set {
			*dst = h.value
			if d.hookPos == nil {
				d.hookPos = map[string]position{}
			}
			d.hookPos[fnKey+"\x00"+h.value] = h.pos
		}
	}
	if a := val(f, "alarms"); a != nil {
		if a.kind != kindSeq {
			d.typeError(a, where+" alarms", "a list")
		} else {
			for _, it := range a.items {
				if s, ok := it.scalarString(); ok {
					dep.Alarms = append(dep.Alarms, s)
				} else {
					dep.Alarms = append(dep.Alarms, string(it.toJSON()))
				}
			}
			if len(dep.Alarms) > 0 {
				d.warnf(a.pos, "", "%s alarms: nimbus has no CloudWatch alarms, so a traffic shift does not watch %s and does not roll back on them", where, strings.Join(dep.Alarms, ", "))
			}
		}
	}
	if e := f["triggerConfigurations"]; e != nil {
		d.warnf(e.keyPos, "", "%s triggerConfigurations: CodeDeploy notifications are not sent by nimbus", where)
	}
	if dep.Alias == "" {
		return nil
	}
	return dep
}

// validAlias says what is wrong with an alias name, or "".
func validAlias(s string) string {
	if len(s) == 0 || len(s) > 128 {
		return "must be 1 to 128 characters"
	}
	digits := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "must contain only letters, digits, hyphens and underscores"
		}
		digits = digits && c >= '0' && c <= '9'
	}
	if digits {
		return "must not be only digits (those name versions)"
	}
	return ""
}

// hookStatement is what a traffic hook of function needs: to report its
// outcome, for that function's deployments only (their deployment group is
// named after the function), so a hook cannot settle another tenant's shift.
func hookStatement(function string) string {
	return `{"Effect":"Allow","Action":"codedeploy:PutLifecycleEventHookExecutionStatus","Resource":"arn:aws:codedeploy:*:*:deploymentgroup:` + function + `/*"}`
}

// grantHooks resolves the traffic hooks of each function's deployment to
// deployed names and lets each hook function report its outcome, as the
// canary plugin and SAM's hook examples grant it.
func (d *decoder) grantHooks(fns []appspec.Function) {
	byKey := map[string]int{}
	for i, f := range fns {
		byKey[f.Key] = i
		byKey[f.Name] = i
	}
	for i := range fns {
		dep := fns[i].Deployment
		if dep == nil {
			continue
		}
		for _, h := range []*string{&dep.PreTrafficHook, &dep.PostTrafficHook} {
			if *h == "" {
				continue
			}
			j, ok := byKey[*h]
			if !ok {
				d.errorf(d.hookPos[fns[i].Key+"\x00"+*h], "name a function of this service", "function %q: traffic hook %q is not a function of this service", fns[i].Key, *h)
				continue
			}
			*h = fns[j].Name
			addStatement(&fns[j], hookStatement(fns[i].Name))
		}
	}
}

// addStatement appends one IAM statement to a function's role.
func addStatement(f *appspec.Function, statement string) {
	var list []json.RawMessage
	if len(f.IAMStatements) > 0 && json.Unmarshal(f.IAMStatements, &list) != nil {
		return // validation reports it
	}
	for _, s := range list {
		if string(s) == statement {
			return
		}
	}
	list = append(list, json.RawMessage(statement))
	f.IAMStatements, _ = json.Marshal(list)
}
