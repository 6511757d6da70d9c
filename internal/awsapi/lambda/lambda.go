// Package lambda serves the AWS Lambda API (REST-JSON, 2015-03-31) so the
// AWS SDKs and CLI work against nimbus with --endpoint-url. It maps the core's
// typed errors to Lambda's error codes.
package lambda

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// API is the Lambda API edge.
type API struct {
	Invoker  *invoke.Service
	Registry *functions.Registry
	// CodeURL returns where a code package can be downloaded (GetFunction's Code.Location).
	CodeURL func(r *http.Request, sha256hex string) string
	// Async stores asynchronous invocations; nil refuses them.
	Async *async.Service
}

// Register adds the Lambda routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", a.invoke)
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invoke-async", a.invokeAsync)
	mux.HandleFunc("GET /2015-03-31/functions", a.listFunctions)
	mux.HandleFunc("GET /2015-03-31/functions/{$}", a.listFunctions)
	mux.HandleFunc("GET /2015-03-31/functions/{name}", a.getFunction)
	mux.HandleFunc("GET /2015-03-31/functions/{name}/configuration", a.getFunctionConfiguration)
	mux.HandleFunc("DELETE /2015-03-31/functions/{name}", a.deleteFunction)
	a.registerSubresources(mux)
}

const maxClientContextBytes = 3583

func (a *API) invoke(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:InvokeFunction") {
		return
	}
	name := r.PathValue("name")
	qualifier := qualifierOf(r)
	if qualifier != "" && !invoke.ValidQualifier(qualifier) {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Invalid Qualifier: "+qualifier)
		return
	}
	invType := r.Header.Get("X-Amz-Invocation-Type")
	switch invType {
	case "", "RequestResponse":
	case "DryRun":
		if _, err := a.lookup(name, qualifier); err != nil {
			writeCoreError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		a.invokeEvent(w, r, name, qualifier, false)
		return
	default:
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invType))
		return
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]", logType))
		return
	}
	var clientContext string
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		if len(cc) > maxClientContextBytes {
			writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Client context must be 3583 bytes or fewer once base64-encoded")
			return
		}
		raw, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || !json.Valid(raw) {
			writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Client context must be base64-encoded JSON")
			return
		}
		clientContext = string(raw)
	}
	payload, err := readPayload(r, invoke.MaxSyncPayloadBytes)
	if err != nil {
		writeCoreError(w, err)
		return
	}
	if !validPayload(w, payload) {
		return
	}
	if isARN(name) {
		// The core resolves names only; an ARN must also be ours.
		if _, err := a.lookup(name, qualifier); err != nil {
			writeCoreError(w, err)
			return
		}
	}
	resp, err := a.Invoker.Invoke(r.Context(), &invoke.Request{
		Function:      name,
		Qualifier:     qualifier,
		Payload:       payload,
		ClientContext: clientContext,
		TraceID:       r.Header.Get("X-Amzn-Trace-Id"),
		LogTail:       logType == "Tail",
		Source:        "lambda api",
	})
	if err != nil {
		writeCoreError(w, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Amz-Executed-Version"] = []string{resp.ExecutedVersion}
	h["X-Amzn-Requestid"] = []string{resp.RequestID}
	if resp.FunctionError != "" {
		h["X-Amz-Function-Error"] = []string{resp.FunctionError}
	}
	if logType == "Tail" {
		h["X-Amz-Log-Result"] = []string{base64.StdEncoding.EncodeToString(resp.LogTail)}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(resp.Payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Payload)
}

// invokeAsync is the deprecated InvokeAsync operation.
func (a *API) invokeAsync(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:InvokeFunction") {
		return
	}
	a.invokeEvent(w, r, r.PathValue("name"), "", true)
}

// invokeEvent stores an asynchronous invocation and answers 202 only once
// JetStream has acknowledged it (fsync'd).
func (a *API) invokeEvent(w http.ResponseWriter, r *http.Request, name, qualifier string, legacy bool) {
	if a.Async == nil {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "asynchronous invocation is not enabled on this node")
		return
	}
	payload, err := readPayload(r, async.MaxPayloadBytes)
	if err != nil {
		writeCoreError(w, err)
		return
	}
	if !validPayload(w, payload) {
		return
	}
	if isARN(name) {
		if _, err := a.lookup(name, qualifier); err != nil {
			writeCoreError(w, err)
			return
		}
	}
	var clientContext string
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		raw, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || !json.Valid(raw) || len(cc) > maxClientContextBytes {
			writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Client context must be base64-encoded JSON of 3583 bytes or fewer")
			return
		}
		clientContext = string(raw)
	}
	id, err := a.Async.Enqueue(r.Context(), &async.Request{
		Function: name, Qualifier: qualifier, Payload: payload,
		ClientContext: clientContext, TraceID: r.Header.Get("X-Amzn-Trace-Id"),
	})
	if err != nil {
		writeCoreError(w, err)
		return
	}
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{id}
	if legacy {
		h["Content-Type"] = []string{"application/json"}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"Status":202}`))
		return
	}
	h["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusAccepted)
}

// firstPayloadBuffer is what a payload's buffer starts at; it grows as
// bytes arrive.
const firstPayloadBuffer = 16 << 10

// readPayload reads at most limit bytes, answering too-large bodies with
// Lambda's error. Memory follows the bytes that arrive, not the length the
// client announces: a client announcing 6 MB and sending one byte costs
// 16 KB.
func readPayload(r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, &invoke.PayloadTooLargeError{Size: int(r.ContentLength), Limit: limit}
	}
	if b, ok := auth.BufferedBody(r); ok {
		if len(b) > limit {
			return nil, &invoke.PayloadTooLargeError{Size: len(b), Limit: limit}
		}
		return b, nil // read once by the signature check
	}
	// One byte past the end leaves room to read the EOF without growing.
	room := limit + 1
	if r.ContentLength >= 0 {
		room = int(r.ContentLength) + 1
	}
	buf := make([]byte, 0, min(room, firstPayloadBuffer))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), max(min(2*cap(buf), room), cap(buf)+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, &invoke.PayloadTooLargeError{Size: len(buf), Limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &invoke.InvalidParameterError{Message: fmt.Sprintf("the request body stopped arriving: %d bytes received in time", len(buf))}
		}
		if err != nil {
			return nil, &invoke.InvalidParameterError{Message: "reading the request body: " + err.Error()}
		}
	}
}

// FunctionConfiguration is Lambda's description of a function version.
type FunctionConfiguration struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler"`
	CodeSize         int64             `json:"CodeSize"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
	LastModified     string            `json:"LastModified"`
	CodeSha256       string            `json:"CodeSha256"`
	Version          string            `json:"Version"`
	Environment      *environment      `json:"Environment,omitempty"`
	TracingConfig    map[string]string `json:"TracingConfig"`
	RevisionID       string            `json:"RevisionId"`
	State            string            `json:"State"`
	LastUpdateStatus string            `json:"LastUpdateStatus"`
	PackageType      string            `json:"PackageType"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage map[string]int    `json:"EphemeralStorage"`
	LoggingConfig    map[string]string `json:"LoggingConfig"`
}

type environment struct {
	Variables map[string]string `json:"Variables"`
}

// configuration describes a version: a published one by its qualified ARN
// (fn:3), $LATEST by the function's.
func configuration(f *functions.Function) FunctionConfiguration {
	c := f.Config
	arn := f.ARN
	if f.Version != functions.Latest {
		arn += ":" + f.Version
	}
	out := FunctionConfiguration{
		FunctionName:     c.Name,
		FunctionArn:      arn,
		Runtime:          c.Runtime,
		Role:             fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-%s-lambdaRole", accountOf(f.ARN), f.Service, f.Stage, f.Region),
		Handler:          c.Handler,
		CodeSize:         c.Code.Size,
		Description:      c.Description,
		Timeout:          c.Timeout,
		MemorySize:       c.MemorySize,
		LastModified:     f.LastModified.UTC().Format("2006-01-02T15:04:05.000-0700"),
		CodeSha256:       f.CodeSha256,
		Version:          f.Version,
		TracingConfig:    map[string]string{"Mode": "PassThrough"},
		RevisionID:       f.RevisionID,
		State:            "Active",
		LastUpdateStatus: "Successful",
		PackageType:      "Zip",
		Architectures:    []string{c.Architecture},
		EphemeralStorage: map[string]int{"Size": 512},
		LoggingConfig:    map[string]string{"LogFormat": "Text", "LogGroup": "/aws/lambda/" + c.Name},
	}
	if len(c.Environment) > 0 {
		out.Environment = &environment{Variables: c.Environment}
	}
	return out
}

func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return ""
}

func (a *API) listFunctions(w http.ResponseWriter, r *http.Request) {
	if err := auth.Authorize(r.Context(), "lambda:ListFunctions", "*", nil); err != nil {
		writeAuthError(w, err)
		return
	}
	q := r.URL.Query()
	maxItems := 50
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "MaxItems must be between 1 and 10000")
			return
		}
		maxItems = n
	}
	all := a.Registry.List()
	start := 0
	if marker := q.Get("Marker"); marker != "" {
		start = len(all)
		for i, f := range all {
			if f.Config.Name > marker {
				start = i
				break
			}
		}
	}
	end := min(start+maxItems, len(all))
	out := struct {
		Functions  []FunctionConfiguration `json:"Functions"`
		NextMarker *string                 `json:"NextMarker,omitempty"`
	}{Functions: []FunctionConfiguration{}}
	for _, f := range all[start:end] {
		out.Functions = append(out.Functions, configuration(f))
	}
	if end < len(all) {
		next := all[end-1].Config.Name
		out.NextMarker = &next
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) resolve(w http.ResponseWriter, r *http.Request) (*functions.Function, bool) {
	f, err := a.lookup(r.PathValue("name"), qualifierOf(r))
	if err != nil {
		writeCoreError(w, err)
		return nil, false
	}
	return f, true
}

func (a *API) getFunction(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:GetFunction") {
		return
	}
	f, ok := a.resolve(w, r)
	if !ok {
		return
	}
	out := map[string]any{
		"Configuration": configuration(f),
		"Code": map[string]string{
			"RepositoryType": "S3",
			"Location":       a.CodeURL(r, f.Config.Code.SHA256),
		},
		"Tags": map[string]string{"service": f.Service, "stage": f.Stage},
	}
	if f.Config.ReservedConcurrency != nil {
		out["Concurrency"] = map[string]int{"ReservedConcurrentExecutions": *f.Config.ReservedConcurrency}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getFunctionConfiguration(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:GetFunctionConfiguration") {
		return
	}
	if f, ok := a.resolve(w, r); ok {
		writeJSON(w, http.StatusOK, configuration(f))
	}
}

func (a *API) deleteFunction(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:DeleteFunction") {
		return
	}
	q := qualifierOf(r)
	if q == "" {
		if _, pq, err := invoke.ParseName(r.PathValue("name")); err == nil {
			q = pq
		}
	}
	switch {
	case invoke.IsVersion(q):
		a.deleteVersion(w, r, q)
		return
	case q != "" && q != functions.Latest:
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias")
		return
	}
	f, ok := a.resolve(w, r)
	if !ok {
		return
	}
	if err := a.Registry.DeleteFunction(r.Context(), f.Config.Name); err != nil {
		writeCoreError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// qualifierOf is the Qualifier query parameter; an invoke without a query
// (the usual one) skips parsing it into a map.
func qualifierOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("Qualifier")
}

// authorize checks the caller may perform action on the function the path
// names, qualified as the request is (function:name:qualifier), as IAM sees it.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, action string) bool {
	ctx := r.Context()
	if auth.Unrestricted(ctx) {
		return true
	}
	if err := auth.Authorize(ctx, action, a.functionARN(r.PathValue("name"), qualifierOf(r)), nil); err != nil {
		writeAuthError(w, err)
		return false
	}
	return true
}

func (a *API) functionARN(name, qualifier string) string {
	fn, q, err := invoke.ParseName(name)
	if err != nil {
		fn = name
	}
	if qualifier == "" {
		qualifier = q
	}
	arn := "arn:aws:lambda:us-east-1:" + appspec.AccountID + ":function:" + fn
	if f, ok := a.Registry.Get(fn); ok {
		arn = f.ARN
	}
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return arn
}

func writeAuthError(w http.ResponseWriter, err error) {
	ae, ok := auth.AsError(err)
	if !ok {
		writeCoreError(w, err)
		return
	}
	auth.WriteError(w, auth.ProtocolRESTJSON, ae)
}

// writeCoreError maps the core's typed errors to Lambda's error codes.
func writeCoreError(w http.ResponseWriter, err error) {
	var (
		notFound *invoke.NotFoundError
		invalid  *invoke.InvalidParameterError
		tooLarge *invoke.PayloadTooLargeError
		asyncBig *async.PayloadTooLargeError
		throttle *runtime.ThrottleError
	)
	if coreConflict(w, err) {
		return
	}
	switch {
	case errors.As(err, &notFound):
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", notFound.Error())
	case errors.Is(err, functions.ErrNotFound):
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", err.Error())
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", invalid.Message)
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", tooLarge.Limit))
	case errors.As(err, &asyncBig):
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", async.MaxPayloadBytes))
	case errors.As(err, &throttle):
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusTooManyRequests, "TooManyRequestsException", map[string]any{
			"Type": "User", "message": throttle.Error(), "Reason": throttle.Reason, "retryAfterSeconds": "1",
		})
	case errors.Is(err, runtime.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "ServiceException", err.Error())
	case store.IsNoSpace(err):
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "ServiceException", err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSONError(w, status, code, map[string]any{"Type": "User", "message": msg})
}

func writeJSONError(w http.ResponseWriter, status int, code string, body map[string]any) {
	if status >= 500 {
		body["Type"] = "Service"
	}
	w.Header().Set("X-Amzn-ErrorType", code)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", invoke.NewRequestID())
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
