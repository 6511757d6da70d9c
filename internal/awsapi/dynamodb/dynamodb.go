// Package dynamodb serves the DynamoDB API (JSON 1.0, X-Amz-Target
// DynamoDB_20120810.*) over the tables core, so the AWS SDKs and CLI work
// against nimbus.
package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// TargetPrefix is the X-Amz-Target prefix of DynamoDB operations.
const TargetPrefix = "DynamoDB_20120810."

// MaxRequestBytes bounds a request body (DynamoDB's limit is 16 MB).
const MaxRequestBytes = 16 << 20

// API is the DynamoDB endpoint.
type API struct {
	Tables *tables.Service
	Logger *slog.Logger
	// Authorize, when set, decides whether the caller may perform action
	// ("dynamodb:PutItem") on resource (a table or index ARN).
	Authorize func(ctx context.Context, action, resource string) error
	// AuthorizeKeys, when set, is used instead of Authorize for requests
	// whose condition keys matter (dynamodb:LeadingKeys of item operations,
	// Queries and Scans) when the caller is not an operator.
	AuthorizeKeys func(ctx context.Context, action, resource string, keys *auth.MultiKeys) error
}

// handler is an operation, a method expression: a method value would be
// allocated on every request.
type handler func(a *API, ctx context.Context, body []byte) (any, error)

// ServeHTTP answers one JSON 1.0 request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := jsonproto.Operation(r, TargetPrefix)
	body, err := jsonproto.Body(w, r, MaxRequestBytes)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "ValidationException", "Request size exceeded 16777216 bytes")
		return
	}
	h := a.handler(op)
	if h == nil {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	out, err := h(a, r.Context(), body)
	if err != nil {
		a.writeErr(w, op, err)
		return
	}
	var data []byte
	switch out := out.(type) {
	case nil:
		data = []byte("{}")
	case rawBody:
		data = out
	default:
		if data, err = json.Marshal(out); err != nil {
			a.writeErr(w, op, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, data)
}

// rawBody is a response the handler wrote itself (the item-heavy ones:
// encoding/json would re-validate every attribute value written by
// MarshalJSON).
type rawBody []byte

// answer frames DynamoDB's answers: JSON 1.0 with the X-Amz-Crc32 the SDKs
// check the body against, and errors without an empty message.
func answer() jsonproto.Answer {
	return jsonproto.Answer{ContentType: jsonproto.JSON10, CRC32: true, OmitEmptyMessage: true}
}

func writeJSON(w http.ResponseWriter, status int, data []byte) {
	answer().Write(w, status, data)
}

func (a *API) writeErr(w http.ResponseWriter, op string, err error) {
	var te *tables.Error
	if errors.As(err, &te) {
		code := map[tables.ErrorKind]string{
			tables.KindValidation:          "ValidationException",
			tables.KindNotFound:            "ResourceNotFoundException",
			tables.KindInUse:               "ResourceInUseException",
			tables.KindConditionFailed:     "ConditionalCheckFailedException",
			tables.KindTransactionCanceled: "TransactionCanceledException",
			tables.KindIdempotentMismatch:  "IdempotentParameterMismatchException",
			tables.KindLimitExceeded:       "LimitExceededException",
			tables.KindDuplicateItem:       "DuplicateItemException",
		}[te.Kind]
		if code == "" {
			code = "InternalServerError"
		}
		body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": te.Message}
		if te.Item != nil {
			body["Item"] = wireItem(te.Item)
		}
		if te.Reasons != nil {
			type reason struct {
				Code    string
				Message string   `json:",omitempty"`
				Item    wireItem `json:",omitempty"`
			}
			rs := make([]reason, len(te.Reasons))
			for i, r := range te.Reasons {
				rs[i] = reason{Code: r.Code, Message: r.Message, Item: wireItem(r.Item)}
			}
			body["CancellationReasons"] = rs
		}
		status := http.StatusBadRequest
		if code == "InternalServerError" {
			status = http.StatusInternalServerError
		}
		data, _ := json.Marshal(body)
		writeJSON(w, status, data)
		return
	}
	var denied *deniedError
	if errors.As(err, &denied) {
		writeError(w, http.StatusBadRequest, "AccessDeniedException", denied.Error())
		return
	}
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &ue) {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	if a.Logger != nil {
		a.Logger.Error("dynamodb request failed", "op", op, "err", err)
	}
	writeError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	answer().Error(w, status, "com.amazonaws.dynamodb.v20120810#"+code, msg)
}

// authorize is the one place every operation passes with its IAM action and
// the ARN of the table (or index) it touches.
func (a *API) authorize(ctx context.Context, action, resource string) error {
	if a.Authorize == nil {
		return nil
	}
	if err := a.Authorize(ctx, iamAction(action), resource); err != nil {
		return &deniedError{err}
	}
	return nil
}

// iamAction is "dynamodb:"+action, without building the string for the
// item operations.
func iamAction(action string) string {
	switch action {
	case "GetItem":
		return "dynamodb:GetItem"
	case "PutItem":
		return "dynamodb:PutItem"
	case "UpdateItem":
		return "dynamodb:UpdateItem"
	case "DeleteItem":
		return "dynamodb:DeleteItem"
	case "Query":
		return "dynamodb:Query"
	}
	return "dynamodb:" + action
}

// deniedError is a refusal by Authorize; it answers AccessDeniedException
// with Authorize's message.
type deniedError struct{ err error }

func (e *deniedError) Error() string { return e.err.Error() }
func (e *deniedError) Unwrap() error { return e.err }

func decode[T any](body []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
