package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/runtime"
)

// LambdaInvokeResource is the optimised Lambda integration's resource.
const LambdaInvokeResource = "arn:aws:states:::lambda:invoke"

// LambdaTasks runs Task states whose resource is a Lambda function ARN or
// arn:aws:states:::lambda:invoke, through the shared invoke call.
type LambdaTasks struct {
	Invoker *invoke.Service
}

// RunTask invokes the function the task names.
func (l *LambdaTasks) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	res := req.Resource
	switch {
	case res == LambdaInvokeResource:
		return l.invokeIntegration(ctx, req)
	case strings.HasPrefix(res, "arn:aws:lambda:") && strings.Contains(res, ":function:"):
		out, err := l.call(ctx, req, res, req.Input)
		if err != nil {
			return nil, err
		}
		if len(out.Payload) == 0 || !json.Valid(out.Payload) {
			return json.RawMessage("null"), nil
		}
		return out.Payload, nil
	}
	return nil, &Failure{Name: ErrRuntime, Cause: fmt.Sprintf("the resource %s is not supported by nimbus (Lambda functions and %s are)", res, LambdaInvokeResource)}
}

// invokeIntegration runs arn:aws:states:::lambda:invoke: Parameters give
// FunctionName and Payload; the result wraps the function's answer.
func (l *LambdaTasks) invokeIntegration(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	var p struct {
		FunctionName string          `json:"FunctionName"`
		Qualifier    string          `json:"Qualifier"`
		Payload      json.RawMessage `json:"Payload"`
	}
	if err := json.Unmarshal(req.Input, &p); err != nil || p.FunctionName == "" {
		return nil, &Failure{Name: ErrRuntime, Cause: "lambda:invoke needs Parameters with a FunctionName"}
	}
	fn := p.FunctionName
	if p.Qualifier != "" {
		fn += ":" + p.Qualifier
	}
	payload := p.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	out, err := l.call(ctx, req, fn, payload)
	if err != nil {
		return nil, err
	}
	var body any = string(out.Payload)
	if json.Valid(out.Payload) {
		body = json.RawMessage(out.Payload)
	}
	data, _ := json.Marshal(map[string]any{
		"ExecutedVersion": out.ExecutedVersion,
		"Payload":         body,
		"StatusCode":      200,
		"SdkHttpMetadata": map[string]any{"HttpStatusCode": 200},
		"SdkResponseMetadata": map[string]any{
			"RequestId": out.RequestID,
		},
	})
	return data, nil
}

// call invokes fn and turns a function error into a Failure named by the
// error's type, and a platform error into Lambda.<Exception>.
func (l *LambdaTasks) call(ctx context.Context, req TaskRequest, fn string, payload []byte) (*invoke.Response, error) {
	out, err := l.Invoker.Invoke(ctx, &invoke.Request{Function: fn, Payload: payload, Source: "states " + req.StateName})
	if err != nil {
		var te *runtime.ThrottleError
		switch {
		case errors.Is(err, functions.ErrNotFound):
			return nil, &Failure{Name: "Lambda.ResourceNotFoundException", Cause: err.Error()}
		case errors.As(err, &te):
			return nil, &Failure{Name: "Lambda.TooManyRequestsException", Cause: err.Error()}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, &Failure{Name: "Lambda.ServiceException", Cause: err.Error()}
	}
	if out.FunctionError != "" {
		var fe struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		name := fe.ErrorType
		if name == "" {
			name = out.ErrorType
		}
		if name == "" {
			name = "Lambda.Unknown"
		}
		return nil, &Failure{Name: name, Cause: string(out.Payload)}
	}
	return out, nil
}
