package streamsource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/events/pattern"
)

// Trigger is a `stream` event of a function (an event source mapping).
type Trigger struct {
	Type                 string `json:"type"` // dynamodb or kinesis
	ARN                  string `json:"arn"`
	BatchSize            int    `json:"batchSize"`
	BatchWindow          int    `json:"batchWindow"`      // seconds
	StartingPosition     string `json:"startingPosition"` // TRIM_HORIZON, LATEST, AT_TIMESTAMP
	StartingTimestamp    int64  `json:"startingTimestamp,omitempty"`
	MaximumRetryAttempts int    `json:"maximumRetryAttempts"`      // -1: until the records expire
	MaximumRecordAge     int    `json:"maximumRecordAgeInSeconds"` // -1: no limit
	Bisect               bool   `json:"bisect"`
	ReportFailures       bool   `json:"reportFailures"`
	// Filters are the filterPatterns, each a pattern's JSON.
	Filters     []string `json:"filters,omitempty"`
	OnFailure   string   `json:"onFailure,omitempty"` // SQS queue or SNS topic ARN
	Parallelism int      `json:"parallelizationFactor"`
	Enabled     bool     `json:"enabled"`
}

// ParseTrigger reads a `stream` event as the Serverless Framework writes
// it: an ARN, or a map with type, arn and the settings Lambda's event source
// mappings have. The arn is resolved (the stored application is).
func ParseTrigger(props json.RawMessage) (Trigger, error) {
	t := Trigger{BatchSize: 100, StartingPosition: "TRIM_HORIZON", MaximumRetryAttempts: -1, MaximumRecordAge: -1, Parallelism: 1, Enabled: true}
	var arn string
	if json.Unmarshal(props, &arn) == nil {
		t.ARN = arn
		return t, t.finish()
	}
	var p map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(props))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return t, fmt.Errorf("a stream event is an ARN or a map with arn")
	}
	intIn := func(raw json.RawMessage, name string, lo, hi int, dst *int) error {
		if json.Unmarshal(raw, dst) != nil || *dst < lo || *dst > hi {
			return fmt.Errorf("%s must be a whole number between %d and %d", name, lo, hi)
		}
		return nil
	}
	for k, raw := range p {
		var err error
		switch k {
		case "arn":
			if json.Unmarshal(raw, &t.ARN) != nil {
				return t, fmt.Errorf("arn must be a stream ARN (Fn::GetAtt [Table, StreamArn] resolves to one), not %s", raw)
			}
		case "type":
			if json.Unmarshal(raw, &t.Type) != nil || (t.Type != "dynamodb" && t.Type != "kinesis") {
				return t, fmt.Errorf("type must be dynamodb or kinesis")
			}
		case "batchSize":
			err = intIn(raw, k, 1, 10000, &t.BatchSize)
		case "batchWindow", "maximumBatchingWindow":
			err = intIn(raw, k, 0, 300, &t.BatchWindow)
		case "startingPosition":
			if json.Unmarshal(raw, &t.StartingPosition) != nil || !slices.Contains([]string{"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"}, t.StartingPosition) {
				return t, fmt.Errorf("startingPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP")
			}
		case "startingPositionTimestamp":
			var f float64
			if json.Unmarshal(raw, &f) != nil || f <= 0 {
				return t, fmt.Errorf("startingPositionTimestamp must be a time in seconds since the epoch")
			}
			t.StartingTimestamp = int64(f * float64(time.Second))
		case "maximumRetryAttempts":
			err = intIn(raw, k, -1, 10000, &t.MaximumRetryAttempts)
		case "maximumRecordAgeInSeconds":
			if err = intIn(raw, k, -1, 604800, &t.MaximumRecordAge); err == nil && t.MaximumRecordAge >= 0 && t.MaximumRecordAge < 60 {
				err = fmt.Errorf("maximumRecordAgeInSeconds must be -1 or between 60 and 604800")
			}
		case "bisectBatchOnFunctionError":
			if json.Unmarshal(raw, &t.Bisect) != nil {
				return t, fmt.Errorf("bisectBatchOnFunctionError must be true or false")
			}
		case "functionResponseType":
			var v string
			if json.Unmarshal(raw, &v) != nil || v != "ReportBatchItemFailures" {
				return t, fmt.Errorf("functionResponseType must be ReportBatchItemFailures")
			}
			t.ReportFailures = true
		case "parallelizationFactor":
			err = intIn(raw, k, 1, 10, &t.Parallelism)
		case "enabled":
			if json.Unmarshal(raw, &t.Enabled) != nil {
				return t, fmt.Errorf("enabled must be true or false")
			}
		case "filterPatterns":
			var list []json.RawMessage
			if json.Unmarshal(raw, &list) != nil {
				return t, fmt.Errorf("filterPatterns must be a list of patterns")
			}
			if len(list) > 5 {
				return t, fmt.Errorf("filterPatterns: at most 5 patterns")
			}
			for i, f := range list {
				if err := pattern.Validate(f); err != nil {
					return t, fmt.Errorf("filterPatterns[%d]: %w", i, err)
				}
				t.Filters = append(t.Filters, string(f))
			}
		case "destinations":
			var d map[string]json.RawMessage
			if json.Unmarshal(raw, &d) != nil {
				return t, fmt.Errorf("destinations must be a map with onFailure")
			}
			for dk, dv := range d {
				if dk != "onFailure" {
					return t, fmt.Errorf("destinations: only onFailure exists for stream events, not %s", dk)
				}
				var arn string
				if json.Unmarshal(dv, &arn) != nil {
					var m struct{ Arn, Type string }
					if json.Unmarshal(dv, &m) != nil || m.Arn == "" {
						return t, fmt.Errorf("destinations.onFailure must be an SQS queue or SNS topic ARN, or a map with arn")
					}
					arn = m.Arn
				}
				if !strings.HasPrefix(arn, "arn:") || (arnService(arn) != "sqs" && arnService(arn) != "sns") {
					return t, fmt.Errorf("destinations.onFailure must be an SQS queue or SNS topic ARN, not %q", arn)
				}
				t.OnFailure = arn
			}
		case "consumer", "tumblingWindowInSeconds":
			return t, fmt.Errorf("%s is not supported by nimbus yet", k)
		default:
			return t, fmt.Errorf("unknown property %q", k)
		}
		if err != nil {
			return t, err
		}
	}
	return t, t.finish()
}

func (t *Trigger) finish() error {
	svc := arnService(t.ARN)
	if !strings.HasPrefix(t.ARN, "arn:") || (svc != "dynamodb" && svc != "kinesis") {
		return fmt.Errorf("arn must be a DynamoDB table stream or a Kinesis stream ARN, not %q", t.ARN)
	}
	if svc == "dynamodb" && !strings.Contains(t.ARN, "/stream/") {
		return fmt.Errorf("%q is a table's ARN; a stream event needs the table's stream: Fn::GetAtt [Table, StreamArn]", t.ARN)
	}
	if t.Type == "" {
		t.Type = svc
	}
	if t.Type != svc {
		return fmt.Errorf("type %s does not match the %s ARN %s", t.Type, svc, t.ARN)
	}
	if t.StartingPosition == "AT_TIMESTAMP" && t.StartingTimestamp == 0 {
		return fmt.Errorf("startingPosition AT_TIMESTAMP needs startingPositionTimestamp")
	}
	return nil
}

// arnService is the service part of an ARN.
func arnService(arn string) string {
	parts := strings.SplitN(arn, ":", 4)
	if len(parts) < 4 {
		return ""
	}
	return parts[2]
}
