// Package eventbridge serves the EventBridge API (JSON 1.1, X-Amz-Target
// AWSEvents.*) over the event bus, so the AWS SDKs and CLI work against nimbus.
package eventbridge

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/events"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix of EventBridge operations.
const TargetPrefix = "AWSEvents."

// MaxRequestBytes bounds a request body (PutEvents is at most 256 KB of entries).
const MaxRequestBytes = 1 << 20

// API is the EventBridge endpoint.
type API struct {
	Bus *events.Service
}

// ServeHTTP answers one JSON 1.1 request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := jsonproto.Operation(r, TargetPrefix)
	body, err := jsonproto.Body(w, r, MaxRequestBytes)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "ValidationException", "The request is too large.")
		return
	}
	h, ok := a.ops()[op]
	if !ok {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "The operation "+op+" is not supported by nimbus.")
		return
	}
	if err := a.authorize(r, op, body); err != nil {
		ae, _ := auth.AsError(err)
		auth.WriteError(w, auth.ProtocolJSON, ae)
		return
	}
	out, err := h(r, body)
	if err != nil {
		var e *events.Error
		if errors.As(err, &e) {
			status := http.StatusBadRequest
			if e.Code == events.CodeInternal {
				status = http.StatusInternalServerError
			}
			writeError(w, status, e.Code, e.Message)
			return
		}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) {
			writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
		if store.IsNoSpace(err) {
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, "InternalException", err.Error())
		return
	}
	if out == nil {
		out = struct{}{}
	}
	data, _ := json.Marshal(out)
	answer().Write(w, http.StatusOK, data)
}

// answer frames EventBridge's JSON 1.1 answers; errors also name their type
// in X-Amzn-ErrorType.
func answer() jsonproto.Answer {
	return jsonproto.Answer{ContentType: jsonproto.JSON11, ErrorTypeHeader: true}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	answer().Error(w, status, code, msg)
}

type handler func(r *http.Request, body []byte) (any, error)

// authorize checks the caller may perform op on the bus or rule it names.
func (a *API) authorize(r *http.Request, op string, body []byte) error {
	if auth.Unrestricted(r.Context()) {
		return nil
	}
	var in struct {
		Name, EventBusName, Rule, ResourceARN string
		Entries                               []struct{ EventBusName string }
	}
	_ = json.Unmarshal(body, &in) // a malformed body is the operation's error to report
	region := a.Bus.Region()
	busARN := func(name string) string {
		if strings.HasPrefix(name, "arn:") {
			return name
		}
		if name == "" {
			name = events.DefaultBus
		}
		return events.BusARN(region, appspec.AccountID, name)
	}
	resources := []string{"*"}
	switch op {
	case "PutEvents":
		resources = resources[:0]
		seen := map[string]bool{}
		for _, e := range in.Entries {
			if arn := busARN(e.EventBusName); !seen[arn] {
				seen[arn] = true
				resources = append(resources, arn)
			}
		}
	case "PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule":
		resources[0] = ruleARN(region, in.EventBusName, in.Name)
	case "PutTargets", "RemoveTargets", "ListTargetsByRule":
		resources[0] = ruleARN(region, in.EventBusName, in.Rule)
	case "CreateEventBus", "DeleteEventBus", "DescribeEventBus":
		resources[0] = busARN(in.Name)
	case "ListTagsForResource", "TagResource", "UntagResource":
		if in.ResourceARN != "" {
			resources[0] = in.ResourceARN
		}
	}
	for _, res := range resources {
		if err := auth.Authorize(r.Context(), "events:"+op, res, nil); err != nil {
			return err
		}
	}
	return nil
}

func ruleARN(region, bus, name string) string {
	if strings.HasPrefix(bus, "arn:") {
		bus = bus[strings.LastIndexByte(bus, '/')+1:]
	}
	if bus == "" {
		bus = events.DefaultBus
	}
	return events.RuleARN(region, appspec.AccountID, bus, name)
}

func decode[T any](body []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// epoch is a JSON 1.1 timestamp (seconds since the epoch, maybe fractional).
type epoch float64

func toEpoch(t time.Time) epoch { return epoch(float64(t.UnixMilli()) / 1000) }

func (a *API) ops() map[string]handler {
	b := a.Bus
	return map[string]handler{
		"PutEvents": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				Entries []struct {
					Source, DetailType, Detail, EventBusName, TraceHeader string
					Resources                                             []string
					Time                                                  *float64
				}
			}](body)
			if err != nil {
				return nil, err
			}
			entries := make([]events.Entry, len(in.Entries))
			for i, e := range in.Entries {
				entries[i] = events.Entry{Source: e.Source, DetailType: e.DetailType, Detail: e.Detail, Resources: e.Resources, EventBusName: e.EventBusName, TraceHeader: e.TraceHeader}
				if e.Time != nil {
					sec, frac := math.Modf(*e.Time)
					t := time.Unix(int64(sec), int64(frac*1e9))
					entries[i].Time = &t
				}
			}
			res, err := b.PutEvents(r.Context(), entries)
			if err != nil {
				return nil, err
			}
			type result struct {
				EventId      string `json:",omitempty"` //nolint:revive // AWS's field name
				ErrorCode    string `json:",omitempty"`
				ErrorMessage string `json:",omitempty"`
			}
			out := struct {
				FailedEntryCount int
				Entries          []result
			}{Entries: make([]result, len(res))}
			for i, e := range res {
				out.Entries[i] = result{EventId: e.EventID, ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage}
				if e.ErrorCode != "" {
					out.FailedEntryCount++
				}
			}
			return out, nil
		},
		"PutRule": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				Name, EventPattern, ScheduleExpression, State, Description, EventBusName, RoleArn string
			}](body)
			if err != nil {
				return nil, err
			}
			rule := events.Rule{Name: in.Name, Bus: in.EventBusName, ScheduleExpression: in.ScheduleExpression, State: in.State, Description: in.Description}
			if in.EventPattern != "" {
				rule.EventPattern = json.RawMessage(in.EventPattern)
			}
			arn, err := b.PutRule(r.Context(), rule)
			if err != nil {
				return nil, err
			}
			return map[string]string{"RuleArn": arn}, nil
		},
		"DescribeRule": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ Name, EventBusName string }](body)
			if err != nil {
				return nil, err
			}
			rule, err := b.DescribeRule(in.EventBusName, in.Name)
			if err != nil {
				return nil, err
			}
			return a.ruleOut(rule), nil
		},
		"DeleteRule": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				Name, EventBusName string
				Force              bool
			}](body)
			if err != nil {
				return nil, err
			}
			return nil, b.DeleteRule(r.Context(), in.EventBusName, in.Name, in.Force)
		},
		"EnableRule": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ Name, EventBusName string }](body)
			if err != nil {
				return nil, err
			}
			return nil, b.SetRuleState(r.Context(), in.EventBusName, in.Name, events.StateEnabled)
		},
		"DisableRule": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ Name, EventBusName string }](body)
			if err != nil {
				return nil, err
			}
			return nil, b.SetRuleState(r.Context(), in.EventBusName, in.Name, events.StateDisabled)
		},
		"ListRules": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				NamePrefix, EventBusName, NextToken string
				Limit                               int
			}](body)
			if err != nil {
				return nil, err
			}
			rules, err := b.ListRules(in.EventBusName, in.NamePrefix)
			if err != nil {
				return nil, err
			}
			page, next, err := paginate(rules, in.Limit, in.NextToken)
			if err != nil {
				return nil, err
			}
			out := struct {
				Rules     []map[string]any
				NextToken string `json:",omitempty"`
			}{Rules: []map[string]any{}, NextToken: next}
			for _, rule := range page {
				out.Rules = append(out.Rules, a.ruleOut(rule))
			}
			return out, nil
		},
		"PutTargets": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				Rule, EventBusName string
				Targets            []events.Target
			}](body)
			if err != nil {
				return nil, err
			}
			failed, err := b.PutTargets(r.Context(), in.EventBusName, in.Rule, in.Targets)
			if err != nil {
				return nil, err
			}
			return failedOut(failed), nil
		},
		"RemoveTargets": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				Rule, EventBusName string
				Ids                []string
				Force              bool
			}](body)
			if err != nil {
				return nil, err
			}
			failed, err := b.RemoveTargets(r.Context(), in.EventBusName, in.Rule, in.Ids)
			if err != nil {
				return nil, err
			}
			return failedOut(failed), nil
		},
		"ListTargetsByRule": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				Rule, EventBusName, NextToken string
				Limit                         int
			}](body)
			if err != nil {
				return nil, err
			}
			rule, err := b.DescribeRule(in.EventBusName, in.Rule)
			if err != nil {
				return nil, err
			}
			page, next, err := paginate(rule.Targets, in.Limit, in.NextToken)
			if err != nil {
				return nil, err
			}
			if page == nil {
				page = []events.Target{}
			}
			return struct {
				Targets   []events.Target
				NextToken string `json:",omitempty"`
			}{page, next}, nil
		},
		"ListRuleNamesByTarget": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ TargetArn, EventBusName string }](body)
			if err != nil {
				return nil, err
			}
			names, err := b.ListRuleNamesByTarget(in.EventBusName, in.TargetArn)
			if err != nil {
				return nil, err
			}
			if names == nil {
				names = []string{}
			}
			return map[string]any{"RuleNames": names}, nil
		},
		"TestEventPattern": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ EventPattern, Event string }](body)
			if err != nil {
				return nil, err
			}
			ok, err := events.TestEventPattern([]byte(in.EventPattern), []byte(in.Event))
			if err != nil {
				return nil, err
			}
			return map[string]bool{"Result": ok}, nil
		},
		"CreateEventBus": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ Name, Description, EventSourceName string }](body)
			if err != nil {
				return nil, err
			}
			if in.EventSourceName != "" {
				return nil, &events.Error{Code: events.CodeValidation, Message: "Partner event sources are not supported by nimbus."}
			}
			info, err := b.CreateBus(r.Context(), in.Name, in.Description)
			if err != nil {
				return nil, err
			}
			out := map[string]string{"EventBusArn": info.ARN}
			if info.Description != "" {
				out["Description"] = info.Description
			}
			return out, nil
		},
		"DeleteEventBus": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ Name string }](body)
			if err != nil {
				return nil, err
			}
			return nil, b.DeleteBus(r.Context(), in.Name)
		},
		"DescribeEventBus": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct{ Name string }](body)
			if err != nil {
				return nil, err
			}
			info, err := b.DescribeBus(in.Name)
			if err != nil {
				return nil, err
			}
			return busOut(info), nil
		},
		"ListEventBuses": func(r *http.Request, body []byte) (any, error) {
			in, err := decode[struct {
				NamePrefix, NextToken string
				Limit                 int
			}](body)
			if err != nil {
				return nil, err
			}
			page, next, err := paginate(b.ListBuses(in.NamePrefix), in.Limit, in.NextToken)
			if err != nil {
				return nil, err
			}
			out := struct {
				EventBuses []map[string]any
				NextToken  string `json:",omitempty"`
			}{EventBuses: []map[string]any{}, NextToken: next}
			for _, bi := range page {
				out.EventBuses = append(out.EventBuses, busOut(bi))
			}
			return out, nil
		},
		"ListTagsForResource": func(r *http.Request, body []byte) (any, error) {
			return map[string]any{"Tags": []any{}}, nil
		},
	}
}

func busOut(b events.BusInfo) map[string]any {
	m := map[string]any{"Name": b.Name, "Arn": b.ARN}
	if b.Description != "" {
		m["Description"] = b.Description
	}
	if b.CreatedAt.Unix() > 0 {
		m["CreationTime"] = toEpoch(b.CreatedAt)
	}
	return m
}

func (a *API) ruleOut(r *events.Rule) map[string]any {
	m := map[string]any{
		"Name":         r.Name,
		"Arn":          a.Bus.RuleARN(r),
		"State":        r.State,
		"EventBusName": r.Bus,
		"CreatedBy":    a.Bus.AccountID(),
	}
	if len(r.EventPattern) > 0 {
		m["EventPattern"] = string(r.EventPattern)
	}
	if r.ScheduleExpression != "" {
		m["ScheduleExpression"] = r.ScheduleExpression
	}
	if r.Description != "" {
		m["Description"] = r.Description
	}
	if r.ManagedBy != "" {
		m["ManagedBy"] = "nimbus:" + r.ManagedBy
	}
	return m
}

func failedOut(failed []events.FailedTarget) any {
	type entry struct{ TargetId, ErrorCode, ErrorMessage string } //nolint:revive // AWS's field names
	out := struct {
		FailedEntryCount int
		FailedEntries    []entry
	}{FailedEntries: []entry{}}
	for _, f := range failed {
		out.FailedEntries = append(out.FailedEntries, entry{f.ID, f.Code, f.Message})
	}
	out.FailedEntryCount = len(out.FailedEntries)
	return out
}

// paginate returns one page of items: NextToken is the index of the next item.
func paginate[T any](items []T, limit int, token string) ([]T, string, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", &events.Error{Code: events.CodeValidation, Message: "The NextToken is not valid."}
		}
		start = n
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}
