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
// that have events, sorted by key.
func (a *Application) StateMachineEvents() ([]MachineEvents, error) {
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
