// Package stepfunctions serves the Step Functions API (JSON 1.0,
// X-Amz-Target AWSStepFunctions.*) over internal/workflows.
package stepfunctions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/workflows"
)

// TargetPrefix is the X-Amz-Target prefix of Step Functions operations.
const TargetPrefix = "AWSStepFunctions."

// MaxRequestBytes bounds a request (a definition is at most 1 MiB).
const MaxRequestBytes = 2 << 20

// API is the Step Functions endpoint.
type API struct {
	Service *workflows.Service
	Logger  *slog.Logger
}

var answer = jsonproto.Answer{ContentType: jsonproto.JSON10}

type handler func(a *API, ctx context.Context, body []byte) (any, error)

var ops = map[string]handler{
	"CreateStateMachine":             (*API).createStateMachine,
	"DescribeStateMachine":           (*API).describeStateMachine,
	"UpdateStateMachine":             (*API).updateStateMachine,
	"DeleteStateMachine":             (*API).deleteStateMachine,
	"ListStateMachines":              (*API).listStateMachines,
	"StartExecution":                 (*API).startExecution,
	"StartSyncExecution":             (*API).startSyncExecution,
	"DescribeExecution":              (*API).describeExecution,
	"ListExecutions":                 (*API).listExecutions,
	"GetExecutionHistory":            (*API).getExecutionHistory,
	"StopExecution":                  (*API).stopExecution,
	"ValidateStateMachineDefinition": (*API).validateDefinition,
	"TagResource":                    (*API).tagResource,
	"UntagResource":                  (*API).untagResource,
	"ListTagsForResource":            (*API).listTags,
	"SendTaskSuccess":                (*API).sendTaskSuccess,
	"SendTaskFailure":                (*API).sendTaskFailure,
	"SendTaskHeartbeat":              (*API).sendTaskHeartbeat,
	"CreateActivity":                 (*API).createActivity,
	"DescribeActivity":               (*API).describeActivity,
	"DeleteActivity":                 (*API).deleteActivity,
	"ListActivities":                 (*API).listActivities,
	"GetActivityTask":                (*API).getActivityTask,
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := jsonproto.Operation(r, TargetPrefix)
	body, err := jsonproto.Body(w, r, MaxRequestBytes)
	if err != nil {
		answer.Error(w, http.StatusRequestEntityTooLarge, "ValidationException", "The request is too large.")
		return
	}
	h, ok := ops[op]
	if !ok {
		answer.Error(w, http.StatusBadRequest, "UnknownOperationException", "The operation "+op+" is not supported by nimbus.")
		return
	}
	out, err := h(a, r.Context(), body)
	if err != nil {
		a.writeErr(w, op, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	data, err := json.Marshal(out)
	if err != nil {
		a.writeErr(w, op, err)
		return
	}
	answer.Write(w, http.StatusOK, data)
}

var codes = map[workflows.Kind]string{
	workflows.KindInvalid:           "ValidationException",
	workflows.KindInvalidName:       "InvalidName",
	workflows.KindInvalidArn:        "InvalidArn",
	workflows.KindInvalidDefinition: "InvalidDefinition",
	workflows.KindMachineNotFound:   "StateMachineDoesNotExist",
	workflows.KindMachineExists:     "StateMachineAlreadyExists",
	workflows.KindExecutionNotFound: "ExecutionDoesNotExist",
	workflows.KindExecutionExists:   "ExecutionAlreadyExists",
	workflows.KindResourceNotFound:  "ResourceNotFound",
	workflows.KindInvalidToken:      "InvalidToken",
	workflows.KindTaskTimedOut:      "TaskTimedOut",
	workflows.KindInvalidOutput:     "InvalidOutput",
	workflows.KindActivityNotFound:  "ActivityDoesNotExist",
}

func (a *API) writeErr(w http.ResponseWriter, op string, err error) {
	if ae, ok := auth.AsError(err); ok {
		auth.WriteError(w, auth.ProtocolJSON, ae)
		return
	}
	var we *workflows.Error
	if errors.As(err, &we) {
		answer.Error(w, http.StatusBadRequest, codes[we.Kind], we.Message)
		return
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		answer.Error(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if store.IsNoSpace(err) {
		answer.Error(w, http.StatusServiceUnavailable, "ServiceUnavailable", err.Error())
		return
	}
	if a.Logger != nil {
		a.Logger.Error("step functions request failed", "op", op, "err", err)
	}
	answer.Error(w, http.StatusInternalServerError, "InternalFailure", err.Error())
}

// authMachine parses a state machine ARN strictly (this platform's region
// and account; a version or alias suffix only where qualified) and
// authorizes action on the ARN rebuilt from its parts, which the caller then
// acts on: no other spelling of a machine's ARN gets past a policy on it.
func (a *API) authMachine(ctx context.Context, action, raw string, qualified bool) (string, error) {
	ref, err := a.Service.ParseMachineARN(raw, qualified)
	if err != nil {
		return "", err
	}
	arn := a.Service.ARN(ref)
	if err := auth.Authorize(ctx, action, arn, nil); err != nil {
		return "", err
	}
	return arn, nil
}

// authExecution is authMachine for an execution ARN.
func (a *API) authExecution(ctx context.Context, action, raw string) (string, error) {
	ref, err := a.Service.ParseExecutionARN(raw)
	if err != nil {
		return "", err
	}
	arn := a.Service.ARN(ref)
	if err := auth.Authorize(ctx, action, arn, nil); err != nil {
		return "", err
	}
	return arn, nil
}

func validation(msg string) error {
	return &workflows.Error{Kind: workflows.KindInvalid, Message: msg}
}

// epoch is a timestamp as JSON 1.0 writes it: seconds since the epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64), nil
}

func ts(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (a *API) createStateMachine(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
		RoleArn    string `json:"roleArn"`
		Type       string `json:"type"`
		Tags       []tag  `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "states:CreateStateMachine", a.Service.MachineARN(in.Name), nil); err != nil {
		return nil, err
	}
	if in.Definition == "" {
		return nil, validation("1 validation error detected: Value null at 'definition' failed to satisfy constraint: Member must not be null")
	}
	m := workflows.StateMachine{Name: in.Name, Definition: in.Definition, RoleARN: in.RoleArn, Type: in.Type}
	if len(in.Tags) > 0 {
		m.Tags = map[string]string{}
		for _, t := range in.Tags {
			m.Tags[t.Key] = t.Value
		}
	}
	out, err := a.Service.CreateStateMachine(ctx, m)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stateMachineArn": out.ARN, "creationDate": ts(out.Created)}, nil
}

type arnInput struct {
	StateMachineArn string `json:"stateMachineArn"`
	ExecutionArn    string `json:"executionArn"`
	ResourceArn     string `json:"resourceArn"`
}

func (a *API) describeStateMachine(ctx context.Context, body []byte) (any, error) {
	var in arnInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:DescribeStateMachine", in.StateMachineArn, true)
	if err != nil {
		return nil, err
	}
	in.StateMachineArn = arn
	m, err := a.Service.DescribeStateMachine(ctx, in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"stateMachineArn": m.ARN, "name": m.Name, "status": "ACTIVE", "definition": m.Definition,
		"roleArn": m.RoleARN, "type": m.Type, "creationDate": ts(m.Created), "revisionId": m.RevisionID,
		"loggingConfiguration": map[string]any{"level": "OFF", "includeExecutionData": false},
		"tracingConfiguration": map[string]any{"enabled": false},
	}, nil
}

func (a *API) updateStateMachine(ctx context.Context, body []byte) (any, error) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		Definition      *string `json:"definition"`
		RoleArn         *string `json:"roleArn"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:UpdateStateMachine", in.StateMachineArn, false)
	if err != nil {
		return nil, err
	}
	in.StateMachineArn = arn
	m, err := a.Service.UpdateStateMachine(ctx, in.StateMachineArn, workflows.Update{Definition: in.Definition, RoleARN: in.RoleArn})
	if err != nil {
		return nil, err
	}
	return map[string]any{"updateDate": ts(m.Updated), "revisionId": m.RevisionID}, nil
}

func (a *API) deleteStateMachine(ctx context.Context, body []byte) (any, error) {
	var in arnInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:DeleteStateMachine", in.StateMachineArn, false)
	if err != nil {
		return nil, err
	}
	in.StateMachineArn = arn
	return nil, a.Service.DeleteStateMachine(ctx, in.StateMachineArn)
}

type pageInput struct {
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

// size is a page's size: maxResults, 100 when not given (at most 1000).
func (p pageInput) size() int {
	if p.MaxResults <= 0 || p.MaxResults > 1000 {
		return 100
	}
	return p.MaxResults
}

// page returns the slice bounds of one page of n items and the next token.
func (p pageInput) page(n int) (int, int, *string, error) {
	start := 0
	if p.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.NextToken)
		if err == nil {
			start, err = strconv.Atoi(string(raw))
		}
		if err != nil || start < 0 {
			return 0, 0, nil, &workflows.Error{Kind: workflows.KindInvalid, Message: "Invalid Token: '" + p.NextToken + "'"}
		}
	}
	size := p.size()
	start = min(start, n)
	end := min(start+size, n)
	if end < n {
		tok := base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		return start, end, &tok, nil
	}
	return start, end, nil, nil
}

func (a *API) listStateMachines(ctx context.Context, body []byte) (any, error) {
	var in pageInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "states:ListStateMachines", "*", nil); err != nil {
		return nil, err
	}
	all, err := a.Service.ListStateMachines(ctx)
	if err != nil {
		return nil, err
	}
	start, end, next, err := in.page(len(all))
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, end-start)
	for _, m := range all[start:end] {
		items = append(items, map[string]any{"stateMachineArn": m.ARN, "name": m.Name, "type": m.Type, "creationDate": ts(m.Created)})
	}
	return map[string]any{"stateMachines": items, "nextToken": next}, nil
}

type startInput struct {
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Input           string `json:"input"`
}

func (a *API) startExecution(ctx context.Context, body []byte) (any, error) {
	var in startInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:StartExecution", in.StateMachineArn, true)
	if err != nil {
		return nil, err
	}
	in.StateMachineArn = arn
	ex, err := a.Service.StartExecution(ctx, workflows.Start{StateMachineARN: in.StateMachineArn, Name: in.Name, Input: in.Input})
	if err != nil {
		return nil, err
	}
	return map[string]any{"executionArn": ex.ARN, "startDate": ts(ex.Start)}, nil
}

func (a *API) startSyncExecution(ctx context.Context, body []byte) (any, error) {
	var in startInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:StartSyncExecution", in.StateMachineArn, false)
	if err != nil {
		return nil, err
	}
	in.StateMachineArn = arn
	ex, err := a.Service.StartSyncExecution(ctx, workflows.Start{StateMachineARN: in.StateMachineArn, Name: in.Name, Input: in.Input})
	if err != nil {
		return nil, err
	}
	return execution(ex, true), nil
}

func execution(ex *workflows.Execution, full bool) map[string]any {
	out := map[string]any{
		"executionArn": ex.ARN, "stateMachineArn": ex.StateMachineARN, "name": ex.Name, "status": ex.Status,
		"startDate": ts(ex.Start),
	}
	if !ex.Stop.IsZero() {
		out["stopDate"] = ts(ex.Stop)
	}
	if full {
		out["input"] = ex.Input
		out["inputDetails"] = map[string]any{"included": true}
		if ex.Status == workflows.StatusSucceeded {
			out["output"] = ex.Output
			out["outputDetails"] = map[string]any{"included": true}
		}
		if ex.HasError || ex.Error != "" {
			out["error"] = ex.Error
		}
		if ex.Cause != "" {
			out["cause"] = ex.Cause
		}
	}
	return out
}

func (a *API) describeExecution(ctx context.Context, body []byte) (any, error) {
	var in arnInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authExecution(ctx, "states:DescribeExecution", in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	in.ExecutionArn = arn
	ex, err := a.Service.DescribeExecution(ctx, in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	return execution(ex, true), nil
}

var statuses = map[string]bool{"RUNNING": true, "SUCCEEDED": true, "FAILED": true, "TIMED_OUT": true, "ABORTED": true, "PENDING_REDRIVE": true}

func (a *API) listExecutions(ctx context.Context, body []byte) (any, error) {
	var in struct {
		pageInput
		StateMachineArn string `json:"stateMachineArn"`
		StatusFilter    string `json:"statusFilter"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:ListExecutions", in.StateMachineArn, true)
	if err != nil {
		return nil, err
	}
	in.StateMachineArn = arn
	if in.StatusFilter != "" && !statuses[in.StatusFilter] {
		return nil, validation("1 validation error detected: Value '" + in.StatusFilter + "' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]")
	}
	page, after, err := a.Service.ListExecutionsPage(ctx, in.StateMachineArn, in.StatusFilter, in.size(), in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, len(page))
	for _, ex := range page {
		items = append(items, execution(ex, false))
	}
	var next *string
	if after != "" {
		next = &after
	}
	return map[string]any{"executions": items, "nextToken": next}, nil
}

func (a *API) getExecutionHistory(ctx context.Context, body []byte) (any, error) {
	var in struct {
		pageInput
		ExecutionArn string `json:"executionArn"`
		ReverseOrder bool   `json:"reverseOrder"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authExecution(ctx, "states:GetExecutionHistory", in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	in.ExecutionArn = arn
	// A page reads only its events from the store, in either order.
	tok := ""
	if in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, validation("Invalid Token: '" + in.NextToken + "'")
		}
		tok = string(raw)
	}
	read := a.Service.HistoryPage
	if in.ReverseOrder {
		read = a.Service.HistoryPageReverse
	}
	page, after, err := read(ctx, in.ExecutionArn, in.size(), tok)
	if err != nil {
		return nil, err
	}
	var next *string
	if after != "" {
		t := base64.RawURLEncoding.EncodeToString([]byte(after))
		next = &t
	}
	items := make([]map[string]any, 0, len(page))
	for _, e := range page {
		item := map[string]any{"id": e.ID, "previousEventId": e.PreviousEventID, "timestamp": ts(e.Timestamp), "type": e.Type}
		if e.Details != nil {
			item[detailsKey(e.Type)] = e.Details
		}
		items = append(items, item)
	}
	return map[string]any{"events": items, "nextToken": next}, nil
}

// detailsKey names an event's details member as HistoryEvent does:
// TaskScheduled → taskScheduledEventDetails, PassStateEntered →
// stateEnteredEventDetails.
func detailsKey(typ string) string {
	switch {
	case strings.HasSuffix(typ, "StateEntered"):
		return "stateEnteredEventDetails"
	case strings.HasSuffix(typ, "StateExited"):
		return "stateExitedEventDetails"
	}
	r := []rune(typ)
	r[0] = unicode.ToLower(r[0])
	return string(r) + "EventDetails"
}

func (a *API) stopExecution(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authExecution(ctx, "states:StopExecution", in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	in.ExecutionArn = arn
	ex, err := a.Service.StopExecution(ctx, in.ExecutionArn, in.Error, in.Cause)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stopDate": ts(ex.Stop)}, nil
}

func (a *API) validateDefinition(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Definition string `json:"definition"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "states:ValidateStateMachineDefinition", "*", nil); err != nil {
		return nil, err
	}
	err := workflows.Validate(in.Definition)
	if err == nil {
		return map[string]any{"result": "OK", "diagnostics": []any{}}, nil
	}
	var diags []map[string]any
	var ide *workflows.InvalidDefinitionError
	if errors.As(err, &ide) {
		for _, p := range ide.Problems {
			d := map[string]any{"severity": "ERROR", "code": p.Code, "message": p.Message}
			if p.Location != "" {
				d["location"] = p.Location
			}
			diags = append(diags, d)
		}
	} else {
		diags = append(diags, map[string]any{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": err.Error()})
	}
	return map[string]any{"result": "FAIL", "diagnostics": diags}, nil
}

func (a *API) tagResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
		Tags        []tag  `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:TagResource", in.ResourceArn, true)
	if err != nil {
		return nil, err
	}
	in.ResourceArn = arn
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[t.Key] = t.Value
	}
	return nil, a.Service.TagResource(ctx, in.ResourceArn, tags)
}

func (a *API) untagResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:UntagResource", in.ResourceArn, true)
	if err != nil {
		return nil, err
	}
	in.ResourceArn = arn
	return nil, a.Service.UntagResource(ctx, in.ResourceArn, in.TagKeys)
}

func (a *API) listTags(ctx context.Context, body []byte) (any, error) {
	var in arnInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authMachine(ctx, "states:ListTagsForResource", in.ResourceArn, true)
	if err != nil {
		return nil, err
	}
	in.ResourceArn = arn
	m, err := a.Service.DescribeStateMachine(ctx, in.ResourceArn)
	var we *workflows.Error
	if errors.As(err, &we) {
		return nil, &workflows.Error{Kind: workflows.KindResourceNotFound, Message: "Resource not found: '" + in.ResourceArn + "'"}
	}
	if err != nil {
		return nil, err
	}
	tags := []tag{}
	for k, v := range m.Tags {
		tags = append(tags, tag{k, v})
	}
	return map[string]any{"tags": tags}, nil
}

type taskTokenInput struct {
	TaskToken string `json:"taskToken"`
	Output    string `json:"output"`
	Error     string `json:"error"`
	Cause     string `json:"cause"`
}

// The task token operations act on no named resource: IAM grants them on
// "*", as AWS does.
func (a *API) tokenInput(ctx context.Context, action string, body []byte) (*taskTokenInput, error) {
	var in taskTokenInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, action, "*", nil); err != nil {
		return nil, err
	}
	if n := len(in.TaskToken); n < 1 || n > 2048 {
		return nil, validation("1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and 2048")
	}
	return &in, nil
}

func (a *API) sendTaskSuccess(ctx context.Context, body []byte) (any, error) {
	in, err := a.tokenInput(ctx, "states:SendTaskSuccess", body)
	if err != nil {
		return nil, err
	}
	return nil, a.Service.SendTaskSuccess(ctx, in.TaskToken, in.Output)
}

func (a *API) sendTaskFailure(ctx context.Context, body []byte) (any, error) {
	in, err := a.tokenInput(ctx, "states:SendTaskFailure", body)
	if err != nil {
		return nil, err
	}
	if len(in.Error) > 256 || len(in.Cause) > 32768 {
		return nil, validation("1 validation error detected: 'error' has at most 256 characters and 'cause' at most 32768")
	}
	return nil, a.Service.SendTaskFailure(ctx, in.TaskToken, in.Error, in.Cause)
}

func (a *API) sendTaskHeartbeat(ctx context.Context, body []byte) (any, error) {
	in, err := a.tokenInput(ctx, "states:SendTaskHeartbeat", body)
	if err != nil {
		return nil, err
	}
	return nil, a.Service.SendTaskHeartbeat(ctx, in.TaskToken)
}
