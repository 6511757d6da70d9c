package datastreams

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/functions"
)

// Declared is an AWS::Kinesis::Stream of a manifest.
type Declared struct {
	LogicalID string
	Name      string
	Shards    int
	Mode      string
}

// DeclaredStreams returns the data streams an application declares.
func DeclaredStreams(app *appspec.Application) ([]Declared, error) {
	if len(app.Resources) == 0 || string(app.Resources) == "null" {
		return nil, nil
	}
	var top struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(app.Resources, &top); err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	stack, err := cfn.NewStack(app, "")
	if err != nil {
		return nil, err
	}
	var out []Declared
	for id, r := range top.Resources {
		if r.Type != cfn.TypeDataStream {
			continue
		}
		where := "resources.Resources." + id
		name, err := stack.DataStreamName(id)
		if err != nil {
			return nil, fmt.Errorf("%s.Name: %w", where, err)
		}
		d := Declared{LogicalID: id, Name: name, Mode: "PROVISIONED"}
		if raw, ok := r.Properties["StreamModeDetails"]; ok {
			var m struct{ StreamMode string }
			if json.Unmarshal(raw, &m) != nil || (m.StreamMode != "ON_DEMAND" && m.StreamMode != "PROVISIONED") {
				return nil, fmt.Errorf("%s.StreamModeDetails: StreamMode must be ON_DEMAND or PROVISIONED", where)
			}
			d.Mode = m.StreamMode
		}
		if raw, ok := r.Properties["ShardCount"]; ok {
			v := strings.Trim(string(raw), `"`)
			if d.Shards, err = strconv.Atoi(v); err != nil || d.Shards < 1 || d.Shards > MaxShards {
				return nil, fmt.Errorf("%s.ShardCount must be between 1 and %d", where, MaxShards)
			}
		}
		if d.Shards == 0 {
			d.Shards = 1 // CloudFormation's default for a provisioned stream
			if d.Mode == "ON_DEMAND" {
				d.Shards = 4
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out, nil
}

// DeployHook creates the data streams an application declares (a
// functions.PrepareHook). Streams hold records and are kept when a
// redeploy no longer declares them; a changed shard count is refused.
func (s *Service) DeployHook(ctx context.Context, app *appspec.Application) error {
	declared, err := DeclaredStreams(app)
	if err != nil {
		return &functions.InvalidError{Err: err}
	}
	for _, d := range declared {
		st, err := s.Get(ctx, d.Name)
		if err == nil {
			if st.Service != app.Service {
				return &functions.InvalidError{Err: fmt.Errorf("resources.Resources.%s: data stream %s already exists; choose another Name", d.LogicalID, d.Name)}
			}
			if st.Shards != d.Shards {
				return &functions.InvalidError{Err: fmt.Errorf("resources.Resources.%s: changing the ShardCount of data stream %s (%d to %d) is not supported by nimbus yet", d.LogicalID, d.Name, st.Shards, d.Shards)}
			}
			continue
		}
		if !IsKind(err, KindNotFound) {
			return err
		}
		if _, err := s.Create(ctx, d.Name, d.Shards, d.Mode, app.Region, app.Service); err != nil {
			return fmt.Errorf("create data stream %s: %w", d.Name, err)
		}
	}
	return nil
}

// Inventory lists the data streams an application declares, for deploy
// summaries (a functions.Inventory).
func Inventory(app *appspec.Application) []functions.Item {
	declared, err := DeclaredStreams(app)
	if err != nil {
		return nil
	}
	out := make([]functions.Item, 0, len(declared))
	for _, d := range declared {
		out = append(out, functions.Item{Kind: "data stream", Name: d.Name, Digest: fmt.Sprint(d.Shards, d.Mode), Retained: true})
	}
	return out
}
