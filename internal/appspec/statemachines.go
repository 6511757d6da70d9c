package appspec

import (
	"encoding/json"
	"fmt"
	"sort"
)

// MachineEvents are the events that start one state machine, as
// serverless-step-functions declares them under
// stepFunctions.stateMachines.<key>.events: each Event's Type is `http`,
// `schedule` or `eventBridge` and its Properties the value as written. The
// gateway and the event bus read them as they read a function's events, with
// the machine's ARN as the target.
type MachineEvents struct {
	Key    string // key under stepFunctions.stateMachines
	Name   string // deployed name
	ARN    string
	Events []Event
}

// StateMachineName is the deployed name of the machine declared under key:
// its `name`, else <service>-<stage>-<key>.
func (a *Application) StateMachineName(key, name string) string {
	if name != "" {
		return name
	}
	return a.Service + "-" + a.Stage + "-" + key
}

// StateMachineARN is the ARN of the application's machine called name.
func (a *Application) StateMachineARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", a.Region, AccountID, name)
}

// StateMachineEvents lists the state machines of the stepFunctions section
// that have events, sorted by key, then the AWS::Serverless::StateMachine
// resources that have Events (SAM's event types in the section's shapes),
// sorted by logical id.
func (a *Application) StateMachineEvents() ([]MachineEvents, error) {
	out, err := a.sectionMachineEvents()
	if err != nil {
		return nil, err
	}
	sam, err := a.samMachineEvents()
	if err != nil {
		return nil, err
	}
	return append(out, sam...), nil
}

func (a *Application) sectionMachineEvents() ([]MachineEvents, error) {
	if len(a.StepFunctions) == 0 || string(a.StepFunctions) == "null" {
		return nil, nil
	}
	var sec struct {
		StateMachines map[string]struct {
			Name   json.RawMessage              `json:"name"`
			Events []map[string]json.RawMessage `json:"events"`
		} `json:"stateMachines"`
	}
	if err := json.Unmarshal(a.StepFunctions, &sec); err != nil {
		return nil, fmt.Errorf("stepFunctions: %w", err)
	}
	var out []MachineEvents
	for key, m := range sec.StateMachines {
		if len(m.Events) == 0 {
			continue
		}
		var name string
		if len(m.Name) > 0 && string(m.Name) != "null" {
			if err := json.Unmarshal(m.Name, &name); err != nil {
				return nil, fmt.Errorf("stepFunctions.stateMachines.%s.name must be a string", key)
			}
		}
		me := MachineEvents{Key: key, Name: a.StateMachineName(key, name)}
		me.ARN = a.StateMachineARN(me.Name)
		for i, ev := range m.Events {
			if len(ev) != 1 {
				return nil, fmt.Errorf("stepFunctions.stateMachines.%s.events[%d] must have exactly one key (http, schedule or eventBridge)", key, i)
			}
			for typ, props := range ev {
				me.Events = append(me.Events, Event{Type: typ, Properties: props})
			}
		}
		out = append(out, me)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// samMachineEvents reads the Events of AWS::Serverless::StateMachine
// resources: Api and HttpApi become http and httpApi routes, Schedule a
// schedule, EventBridgeRule and CloudWatchEvent an eventBridge rule.
func (a *Application) samMachineEvents() ([]MachineEvents, error) {
	resources, err := a.ParsedResources()
	if err != nil {
		return nil, err
	}
	var out []MachineEvents
	for id, r := range resources {
		if r.Type != "AWS::Serverless::StateMachine" || len(r.Properties["Events"]) == 0 {
			continue
		}
		where := "resources.Resources." + id + ".Properties"
		var name string
		if raw := r.Properties["Name"]; len(raw) > 0 {
			if err := json.Unmarshal(raw, &name); err != nil {
				return nil, fmt.Errorf("%s.Name must be a string", where)
			}
		}
		if name == "" {
			name = a.Service + "-" + a.Stage + "-" + id
		}
		me := MachineEvents{Key: id, Name: name, ARN: a.StateMachineARN(name)}
		var evs map[string]struct {
			Type       string                     `json:"Type"`
			Properties map[string]json.RawMessage `json:"Properties"`
		}
		if err := json.Unmarshal(r.Properties["Events"], &evs); err != nil {
			return nil, fmt.Errorf("%s.Events must map names to {Type, Properties}", where)
		}
		names := make([]string, 0, len(evs))
		for n := range evs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ev := evs[n]
			p := ev.Properties
			m := map[string]json.RawMessage{}
			copyKey := func(from, to string) {
				if v, ok := p[from]; ok {
					m[to] = v
				}
			}
			var typ string
			switch ev.Type {
			case "Api", "HttpApi":
				typ = "http"
				if ev.Type == "HttpApi" {
					typ = "httpApi"
				}
				copyKey("Path", "path")
				copyKey("Method", "method")
				if _, ok := m["method"]; !ok && ev.Type == "HttpApi" {
					m["method"] = json.RawMessage(`"ANY"`)
				}
			case "Schedule":
				typ = "schedule"
				copyKey("Schedule", "rate")
				copyKey("Input", "input")
				copyKey("Enabled", "enabled")
				copyKey("Name", "name")
				copyKey("Description", "description")
				if st, ok := p["State"]; ok && string(st) == `"DISABLED"` {
					m["enabled"] = json.RawMessage("false")
				}
			case "EventBridgeRule", "CloudWatchEvent":
				typ = "eventBridge"
				copyKey("Pattern", "event")
				copyKey("EventBusName", "eventBusName")
				copyKey("Input", "input")
				copyKey("InputPath", "inputPath")
				copyKey("RuleName", "name")
				if st, ok := p["State"]; ok && string(st) == `"DISABLED"` {
					m["enabled"] = json.RawMessage("false")
				}
				if tr := p["InputTransformer"]; len(tr) > 0 {
					var t map[string]json.RawMessage
					if err := json.Unmarshal(tr, &t); err != nil {
						return nil, fmt.Errorf("%s.Events.%s.Properties.InputTransformer must be a map", where, n)
					}
					m["inputTransformer"], _ = json.Marshal(map[string]json.RawMessage{
						"inputPathsMap": t["InputPathsMap"], "inputTemplate": t["InputTemplate"]})
				}
			default:
				return nil, fmt.Errorf("%s.Events.%s: event type %q is not supported by nimbus (Api, HttpApi, Schedule, EventBridgeRule and CloudWatchEvent are)", where, n, ev.Type)
			}
			props, _ := json.Marshal(m)
			me.Events = append(me.Events, Event{Type: typ, Properties: props})
		}
		out = append(out, me)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
