package appspec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// AccountID is the account every nimbus ARN carries.
const AccountID = "000000000000"

// Resource types that nimbus creates from the manifest's `resources`.
const (
	TypeQueue        = "AWS::SQS::Queue"
	TypeTopic        = "AWS::SNS::Topic"
	TypeSubscription = "AWS::SNS::Subscription"
)

// Resource is one entry of `resources.Resources` (CloudFormation shaped).
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]json.RawMessage
}

// ParsedResources returns the CloudFormation resources of the application by
// logical id. Resources of other types are returned too; callers pick theirs.
func (a *Application) ParsedResources() (map[string]Resource, error) {
	out := map[string]Resource{}
	if len(a.Resources) == 0 || string(a.Resources) == "null" {
		return out, nil
	}
	var top struct {
		Resources map[string]struct {
			Type       string                     `json:"Type"`
			Properties map[string]json.RawMessage `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(a.Resources, &top); err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	for id, r := range top.Resources {
		out[id] = Resource{LogicalID: id, Type: r.Type, Properties: r.Properties}
	}
	return out, nil
}

// PhysicalName is the name a queue or topic resource gets: its QueueName or
// TopicName property, else service-stage-LogicalId (with .fifo for FIFO).
func (a *Application) PhysicalName(r Resource) string {
	prop := "QueueName"
	if r.Type == TypeTopic {
		prop = "TopicName"
	}
	var name string
	if raw, ok := r.Properties[prop]; ok {
		_ = json.Unmarshal(raw, &name)
	}
	if name != "" {
		return name
	}
	name = a.Service + "-" + a.Stage + "-" + r.LogicalID
	var fifo bool
	if raw, ok := r.Properties["FifoQueue"]; ok {
		var s any
		_ = json.Unmarshal(raw, &s)
		fifo = s == true || s == "true"
	}
	if fifo {
		name += ".fifo"
	}
	return name
}

// ResourceARN is the ARN of a queue or topic resource.
func (a *Application) ResourceARN(r Resource) string {
	switch r.Type {
	case TypeQueue:
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", a.Region, AccountID, a.PhysicalName(r))
	case TypeTopic:
		return fmt.Sprintf("arn:aws:sns:%s:%s:%s", a.Region, AccountID, a.PhysicalName(r))
	}
	return ""
}

// ResolveARN turns a value that names a queue or topic into its ARN: a plain
// ARN string, {"Fn::GetAtt": [LogicalId, "Arn"]} or {"Fn::GetAtt": "LogicalId.Arn"},
// or {"Ref": LogicalId} of a topic (whose Ref is its ARN).
func (a *Application) ResolveARN(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 {
		return "", fmt.Errorf("want an ARN or {Fn::GetAtt: [LogicalId, Arn]}, not %s", raw)
	}
	res, err := a.ParsedResources()
	if err != nil {
		return "", err
	}
	var logical string
	if g, ok := m["Fn::GetAtt"]; ok {
		var parts []string
		if err := json.Unmarshal(g, &parts); err != nil {
			var dotted string
			if err := json.Unmarshal(g, &dotted); err != nil {
				return "", fmt.Errorf("Fn::GetAtt must be [LogicalId, Arn], not %s", g)
			}
			parts = strings.SplitN(dotted, ".", 2)
		}
		if len(parts) != 2 || (parts[1] != "Arn" && parts[1] != "TopicArn") {
			return "", fmt.Errorf("attribute of Fn::GetAtt %s: only Arn is supported", g)
		}
		logical = parts[0]
	} else if r, ok := m["Ref"]; ok {
		if err := json.Unmarshal(r, &logical); err != nil {
			return "", fmt.Errorf("a Ref must name a resource, not %s", r)
		}
		if rr, ok := res[logical]; ok && rr.Type != TypeTopic {
			return "", fmt.Errorf("a Ref to %s gives a queue URL, not an ARN; use Fn::GetAtt [%s, Arn]", logical, logical)
		}
	} else {
		return "", fmt.Errorf("want an ARN or {Fn::GetAtt: [LogicalId, Arn]}, not %s", raw)
	}
	r, ok := res[logical]
	if !ok {
		return "", fmt.Errorf("resource %q is not declared in resources.Resources", logical)
	}
	if r.Type != TypeQueue && r.Type != TypeTopic {
		return "", fmt.Errorf("resource %q is a %s; only queues and topics can be referenced", logical, r.Type)
	}
	return a.ResourceARN(r), nil
}
