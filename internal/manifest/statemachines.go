package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/workflows"
)

// machineEventTypes are the serverless-step-functions events nimbus wires.
var machineEventTypes = []string{"http", "schedule", "eventBridge"}

// stateMachines checks the state machines of the stepFunctions section and
// of AWS::Serverless::StateMachine resources before anything is deployed:
// a definition's problems are reported at the line of the state or field at
// fault (in the manifest, or in the file a DefinitionUri names), and a
// local DefinitionUri is read into Definition, since the platform cannot
// see the project's files. It runs before resources are encoded.
func (d *decoder) stateMachines(stepFunctions, resources *node) {
	if sms := stepFunctions.get("stateMachines"); sms != nil && sms.kind == kindMap {
		for _, e := range sms.entries {
			m := e.val
			if m == nil || m.kind != kindMap {
				continue
			}
			if def := m.get("definition"); def != nil {
				d.checkDefinition(def, nil, fmt.Sprintf("state machine %q", e.key))
			}
			if evs := m.get("events"); evs != nil && evs.kind == kindSeq {
				for _, ev := range evs.items {
					if ev.kind != kindMap || len(ev.entries) != 1 {
						d.errorf(ev.pos, "write `- http: {path, method}`, `- schedule: rate(1 hour)` or `- eventBridge: {event: ...}`", "a state machine event has exactly one key")
						continue
					}
					if k := ev.entries[0].key; !contains(machineEventTypes, k) {
						d.warnf(ev.entries[0].keyPos, "nimbus starts state machines on http, schedule and eventBridge events", "state machine %q: %s events are not supported by nimbus and are ignored", e.key, k)
					}
				}
			}
		}
	}
	res := resources.get("Resources")
	if res == nil || res.kind != kindMap {
		return
	}
	for _, e := range res.entries {
		r := e.val
		if r == nil || r.kind != kindMap || r.get("Type") == nil || r.get("Type").str != "AWS::Serverless::StateMachine" {
			continue
		}
		props := r.get("Properties")
		if props == nil || props.kind != kindMap {
			continue
		}
		subs := map[string]string{}
		if s := props.get("DefinitionSubstitutions"); s != nil && s.kind == kindMap {
			for _, se := range s.entries {
				if v, ok := se.val.scalarString(); ok {
					subs[se.key] = v
				}
			}
		}
		for i, pe := range props.entries {
			if pe.key != "DefinitionUri" {
				continue
			}
			def := d.definitionFile(pe.val)
			if def == nil {
				continue
			}
			props.entries[i] = &entry{key: "Definition", keyPos: pe.keyPos, val: def}
		}
		if def := props.get("Definition"); def != nil {
			d.checkDefinition(def, subs, fmt.Sprintf("state machine %s", e.key))
		}
	}
}

// definitionFile reads a DefinitionUri naming a local JSON or YAML file.
func (d *decoder) definitionFile(uri *node) *node {
	if uri.kind != kindString {
		d.errorf(uri.pos, "put the definition in a file of the project and name it, e.g. DefinitionUri: statemachine/order.asl.json", "DefinitionUri: only a local file is supported, not %s", uri.describe())
		return nil
	}
	path, err := projectPath(d.dir, uri.str)
	if err != nil {
		d.errorf(uri.pos, "", "DefinitionUri %v", err)
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		d.errorf(uri.pos, "", "DefinitionUri: %v", err)
		return nil
	}
	before := len(d.errs)
	def := parseYAML(newSource(path, data), data, d.diagnostics)
	if len(d.errs) > before {
		return nil
	}
	return def
}

// checkDefinition validates a definition as CreateStateMachine will, with
// intrinsic functions (resolved on deploy) standing in as text, and places
// each problem on the node its location names.
func (d *decoder) checkDefinition(def *node, subs map[string]string, what string) {
	if def.kind == kindString { // a definition written as JSON text has no inner positions
		return
	}
	data, _ := json.Marshal(placeholders(def, subs))
	_, err := workflows.Parse(data)
	var bad *workflows.InvalidDefinitionError
	if !errors.As(err, &bad) {
		return
	}
	for _, p := range bad.Problems {
		at := def
		if p.Location != "" {
			at = locate(def, p.Location)
		}
		if next := at.get("Next"); next != nil && p.Code == "MISSING_TRANSITION_TARGET" && strings.Contains(p.Message, strconv.Quote(next.str)) {
			at = next
		}
		d.errorf(at.pos, "", "%s: invalid definition: %s", what, p.String())
	}
}

// placeholders converts a definition to plain values, with intrinsic
// functions as text and ${name} substitutions applied.
func placeholders(n *node, subs map[string]string) any {
	switch n.kind {
	case kindMap:
		if len(n.entries) == 1 && (n.entries[0].key == "Ref" || strings.HasPrefix(n.entries[0].key, "Fn::")) {
			return "arn:aws:lambda:us-east-1:000000000000:function:resolved-on-deploy"
		}
		out := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			out[e.key] = placeholders(e.val, subs)
		}
		return out
	case kindSeq:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = placeholders(it, subs)
		}
		return out
	case kindString:
		s := n.str
		for k, v := range subs {
			s = strings.ReplaceAll(s, "${"+k+"}", v)
		}
		return s
	case kindInt:
		return json.Number(strconv.FormatInt(n.num, 10))
	case kindFloat:
		return n.float
	case kindBool:
		return n.boolean
	}
	return nil
}

// locate follows a definition problem's location (/States/Name/Field) to
// the deepest node that exists.
func locate(def *node, location string) *node {
	at := def
	for _, part := range strings.Split(strings.Trim(location, "/"), "/") {
		next := at.child(part)
		if next == nil {
			break
		}
		at = next
	}
	return at
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
