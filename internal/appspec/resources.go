package appspec

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// AccountID is the account every nimbus ARN carries.
const AccountID = "000000000000"

// managedPolicyRE matches IAM policy ARNs (AWS managed ones have account "aws").
var managedPolicyRE = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$`)

// Resource is one entry of `resources.Resources` (CloudFormation shaped).
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]json.RawMessage
}

// ParsedResources returns the CloudFormation resources of the application by
// logical id. Resources of other types are returned too; callers pick theirs.
// Names, URLs and ARNs of resources come from internal/cfn.
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
