package queues

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/functions"
)

// queueProperties are the AWS::SQS::Queue properties nimbus applies, with the
// queue attribute each sets.
var queueProperties = map[string]string{
	"VisibilityTimeout":             "VisibilityTimeout",
	"MessageRetentionPeriod":        "MessageRetentionPeriod",
	"DelaySeconds":                  "DelaySeconds",
	"ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
	"MaximumMessageSize":            "MaximumMessageSize",
	"FifoQueue":                     "FifoQueue",
	"ContentBasedDeduplication":     "ContentBasedDeduplication",
	"RedrivePolicy":                 "RedrivePolicy",
}

// scalar renders a JSON scalar as SQS attribute text.
func scalar(raw json.RawMessage) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// QueueConfigs returns the queues an application declares, checked.
func QueueConfigs(app *appspec.Application) ([]Config, error) {
	res, err := app.ParsedResources()
	if err != nil {
		return nil, err
	}
	stack, err := cfn.NewStack(app, "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res))
	for id := range res {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Config
	for _, id := range ids {
		r := res[id]
		if r.Type != cfn.TypeQueue {
			continue
		}
		attrs := map[string]string{}
		for k, raw := range r.Properties {
			attr, ok := queueProperties[k]
			applied, known := cfn.Property(cfn.TypeQueue, k)
			switch {
			case known && !ok:
				continue // the name, or accepted and not applied (the CLI warned)
			case !known || !applied:
				return nil, fmt.Errorf("resources.Resources.%s: property %s of AWS::SQS::Queue is not supported", id, k)
			case k == "RedrivePolicy":
				var rp map[string]json.RawMessage
				if err := json.Unmarshal(raw, &rp); err != nil {
					return nil, fmt.Errorf("resources.Resources.%s.RedrivePolicy must be a map", id)
				}
				arn, err := queueARN(stack, rp["deadLetterTargetArn"])
				if err != nil {
					return nil, fmt.Errorf("resources.Resources.%s.RedrivePolicy.deadLetterTargetArn: %w", id, err)
				}
				mrc, _ := scalar(rp["maxReceiveCount"])
				b, _ := json.Marshal(map[string]string{"deadLetterTargetArn": arn, "maxReceiveCount": mrc})
				attrs[attr] = string(b)
			default:
				v, ok := scalar(raw)
				if !ok {
					return nil, fmt.Errorf("resources.Resources.%s.%s must be a number, string or boolean", id, k)
				}
				attrs[attr] = v
			}
		}
		name, err := stack.QueueName(id)
		if err != nil {
			return nil, fmt.Errorf("resources.Resources.%s.QueueName: %w", id, err)
		}
		c, err := BuildConfig(name, attrs)
		if err != nil {
			return nil, fmt.Errorf("resources.Resources.%s: %w", id, err)
		}
		c.Region = app.Region
		out = append(out, c)
	}
	return out, nil
}

// PrepareDeploy creates (or updates) the queues an application declares and
// checks its sqs events; it is a functions.PrepareHook.
func (s *Service) PrepareDeploy(ctx context.Context, app *appspec.Application) error {
	configs, err := QueueConfigs(app)
	if err != nil {
		return &functions.InvalidError{Err: err}
	}
	declared := map[string]bool{}
	for _, c := range configs {
		declared[c.Name] = true
	}
	for _, f := range app.Functions {
		for i, e := range f.Events {
			if e.Type != "sqs" {
				continue
			}
			m, err := ParseTrigger(app, e.Properties)
			if err != nil {
				return &functions.InvalidError{Err: fmt.Errorf("function %q event #%d (sqs): %w", f.Key, i+1, err)}
			}
			if !declared[m.Queue] {
				if _, err := s.Get(ctx, m.Queue); err != nil {
					return &functions.InvalidError{Err: fmt.Errorf("function %q event #%d (sqs): queue %s does not exist; declare it in resources or create it first", f.Key, i+1, m.Queue)}
				}
			}
		}
	}
	for _, c := range configs {
		if old, err := s.Get(ctx, c.Name); err == nil {
			c.Created = old.Created
			c.Tags = old.Tags
			if sameAttributes(old, c) && old.Region == c.Region {
				continue
			}
		} else {
			var qe *Error
			if !errors.As(err, &qe) {
				return err
			}
		}
		if _, err := s.put(ctx, c, false); err != nil {
			return fmt.Errorf("create queue %s: %w", c.Name, err)
		}
	}
	return nil
}

// queueARN resolves a value that must name a queue by ARN.
func queueARN(stack *cfn.Stack, raw json.RawMessage) (string, error) {
	arn, err := stack.String(raw)
	if err != nil {
		return "", err
	}
	if _, ok := NameFromARN(arn); !ok {
		if strings.Contains(arn, "/"+appspec.AccountID+"/") {
			return "", fmt.Errorf("%q is a queue URL (what Ref of a queue gives); use Fn::GetAtt [LogicalId, Arn]", arn)
		}
		return "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	return arn, nil
}

// Trigger is an sqs event of a function (an event source mapping).
type Trigger struct {
	Queue                 string `json:"queue"`
	BatchSize             int    `json:"batchSize"`
	MaximumBatchingWindow int    `json:"maximumBatchingWindow"`
	ReportFailures        bool   `json:"reportFailures"`
	MaximumConcurrency    int    `json:"maximumConcurrency"`
	Enabled               bool   `json:"enabled"`
}

// ParseTrigger reads an `sqs` event: a queue ARN, or a map with arn,
// batchSize (1-10000, default 10), maximumBatchingWindow (0-300 s),
// functionResponseType, maximumConcurrency (2-1000) and enabled.
func ParseTrigger(app *appspec.Application, props json.RawMessage) (Trigger, error) {
	t := Trigger{BatchSize: 10, Enabled: true, MaximumConcurrency: 5}
	var p map[string]json.RawMessage
	arnRaw := props
	if json.Unmarshal(props, &p) == nil && p["arn"] != nil {
		arnRaw = p["arn"]
		for k, raw := range p {
			switch k {
			case "arn":
			case "batchSize":
				if json.Unmarshal(raw, &t.BatchSize) != nil || t.BatchSize < 1 || t.BatchSize > 10000 {
					return t, fmt.Errorf("batchSize must be between 1 and 10000")
				}
			case "maximumBatchingWindow":
				if json.Unmarshal(raw, &t.MaximumBatchingWindow) != nil || t.MaximumBatchingWindow < 0 || t.MaximumBatchingWindow > 300 {
					return t, fmt.Errorf("maximumBatchingWindow must be between 0 and 300 seconds")
				}
			case "functionResponseType":
				var v string
				if json.Unmarshal(raw, &v) != nil || v != "ReportBatchItemFailures" {
					return t, fmt.Errorf("functionResponseType must be ReportBatchItemFailures")
				}
				t.ReportFailures = true
			case "maximumConcurrency":
				if json.Unmarshal(raw, &t.MaximumConcurrency) != nil || t.MaximumConcurrency < 2 || t.MaximumConcurrency > 1000 {
					return t, fmt.Errorf("maximumConcurrency must be between 2 and 1000")
				}
			case "enabled":
				if json.Unmarshal(raw, &t.Enabled) != nil {
					return t, fmt.Errorf("enabled must be true or false")
				}
			case "filterPatterns":
				return t, fmt.Errorf("filterPatterns are not supported by nimbus yet")
			default:
				return t, fmt.Errorf("unknown property %q", k)
			}
		}
	}
	stack, err := cfn.NewStack(app, "")
	if err != nil {
		return t, err
	}
	arn, err := queueARN(stack, arnRaw)
	if err != nil {
		return t, err
	}
	name, _ := NameFromARN(arn)
	if t.BatchSize > 10 && t.MaximumBatchingWindow == 0 {
		return t, fmt.Errorf("a batchSize over 10 needs a maximumBatchingWindow of at least 1 second")
	}
	t.Queue = name
	return t, nil
}

// Inventory lists the queues an application declares, for deploy summaries
// (a functions.Inventory). Queues stay when no longer declared.
func Inventory(app *appspec.Application) []functions.Item {
	configs, err := QueueConfigs(app)
	if err != nil {
		return nil
	}
	out := make([]functions.Item, 0, len(configs))
	for _, c := range configs {
		c.Created, c.Modified = 0, 0
		digest, _ := json.Marshal(c)
		out = append(out, functions.Item{Kind: "queue", Name: c.Name, Digest: string(digest), Retained: true})
	}
	return out
}
