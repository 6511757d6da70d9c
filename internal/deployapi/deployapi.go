// Package deployapi is the platform's own API for the nimbus CLI: code
// uploads, deploys, removal, logs and status. Requests are validated again
// here; the CLI is a client like any other.
package deployapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/blobs"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// API serves /nimbus/v1.
type API struct {
	Blobs    *blobs.Store
	Registry *functions.Registry
	Logs     *logs.Store
	Runtime  *runtime.Manager
	Version  string
	// Endpoint is the base URL clients reach this API on.
	Endpoint func(r *http.Request) string
	// HTTPInfo lists a service's HTTP endpoints (the gateway's); nil: none.
	HTTPInfo func(app *appspec.Application) HTTPEndpoints
	// ExtraLogs reports log names readable besides functions' (access logs).
	ExtraLogs func(name string) bool
	// Keys manages operator access keys; nil when checking is off.
	Keys Keys
}

// Keys manages operator access keys (auth.Service).
type Keys interface {
	CreateKey(ctx context.Context, name string) (*auth.Key, error)
	ListKeys() []auth.KeyInfo
	RevokeKey(ctx context.Context, id string) error
}

// HTTPEndpoints are a service's HTTP endpoints and API keys.
type HTTPEndpoints struct {
	Endpoints []string `json:"endpoints,omitempty"` // "METHOD URL"
	// Host is the base URL of the stage's own host name, which serves all
	// of its routes whatever other services serve on the shared root.
	Host    string            `json:"host,omitempty"`
	APIKeys map[string]string `json:"apiKeys,omitempty"` // name: value
}

// Prefix is the path all routes live under.
const Prefix = "/nimbus/v1"

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("HEAD "+Prefix+"/code/{sha}", a.headCode)
	mux.HandleFunc("GET "+Prefix+"/code/{sha}", a.getCode)
	mux.HandleFunc("PUT "+Prefix+"/code/{sha}", a.putCode)
	mux.HandleFunc("POST "+Prefix+"/services", a.deploy)
	mux.HandleFunc("GET "+Prefix+"/services", a.listServices)
	mux.HandleFunc("GET "+Prefix+"/services/{name}", a.getService)
	mux.HandleFunc("DELETE "+Prefix+"/services/{name}", a.removeService)
	mux.HandleFunc("GET "+Prefix+"/functions/{name}/logs", a.readLogs)
	mux.HandleFunc("GET "+Prefix+"/status", a.status)
	mux.HandleFunc("GET "+Prefix+"/keys", a.listKeys)
	mux.HandleFunc("POST "+Prefix+"/keys", a.createKey)
	mux.HandleFunc("DELETE "+Prefix+"/keys/{id}", a.revokeKey)
}

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{Code: code, Message: msg})
}

// writeInternal answers a failure of the platform; a full data disk is a
// temporary one, the deploy can be retried once space is freed.
func writeInternal(w http.ResponseWriter, err error) {
	if store.IsNoSpace(err) {
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", err.Error())
		return
	}
	writeError(w, http.StatusInternalServerError, "Internal", err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *API) headCode(w http.ResponseWriter, r *http.Request) {
	// A client that finds the package skips its upload and deploys it
	// next: keep it from collection meanwhile.
	if a.Blobs.Keep(r.PathValue("sha")) {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

func (a *API) getCode(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if !a.Blobs.Has(sha) {
		writeError(w, http.StatusNotFound, "NotFound", "no code package "+sha)
		return
	}
	f, err := os.Open(a.Blobs.Path(sha))
	if err != nil {
		writeInternal(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/zip")
	http.ServeContent(w, r, sha+".zip", time.Time{}, f)
}

func (a *API) putCode(w http.ResponseWriter, r *http.Request) {
	if !hasMediaType(w, r, "application/zip", "application/octet-stream") {
		return
	}
	sha := r.PathValue("sha")
	if !blobs.ValidDigest(sha) {
		writeError(w, http.StatusBadRequest, "InvalidDigest", "the code package must be named by its lower-case hex SHA-256")
		return
	}
	if a.Blobs.Keep(sha) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		return
	}
	n, err := a.Blobs.Put(sha, r.Body, appspec.MaxZippedCodeBytes)
	switch {
	case errors.Is(err, blobs.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "CodeTooLarge", fmt.Sprintf("the code package is over the %d MB limit", appspec.MaxZippedCodeBytes>>20))
	case errors.Is(err, blobs.ErrDigestMismatch):
		writeError(w, http.StatusBadRequest, "InvalidDigest", err.Error())
	case err != nil:
		writeInternal(w, err)
	default:
		writeJSON(w, http.StatusCreated, map[string]any{"sha256": sha, "size": n})
	}
}

// hasMediaType answers 415 unless the request's Content-Type is one of
// types. Browsers can send only form and text/plain bodies without asking
// first, so a page cannot deploy.
func hasMediaType(w http.ResponseWriter, r *http.Request, types ...string) bool {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && slices.Contains(types, mt) {
		return true
	}
	writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType",
		fmt.Sprintf("Content-Type %q is not accepted here; send %s", ct, strings.Join(types, " or ")))
	return false
}

// DeployResponse is what a deploy answers.
type DeployResponse struct {
	functions.DeployResult
	Functions []FunctionInfo `json:"functions"`
	HTTPEndpoints
}

// FunctionInfo tells a client how to reach a function.
type FunctionInfo struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	ARN  string `json:"arn"`
	// InvokeURL is the Lambda API URL of the function's invocations.
	InvokeURL  string `json:"invokeUrl"`
	Runtime    string `json:"runtime,omitempty"`
	Handler    string `json:"handler,omitempty"`
	MemorySize int    `json:"memorySize,omitempty"` // MB
	Timeout    int    `json:"timeout,omitempty"`    // seconds
	// Triggers are the function's events, one line each ("sqs arn:...",
	// "httpApi GET /orders", "schedule rate(1 minute)").
	Triggers []string `json:"triggers,omitempty"`
}

// Resource is something a service created besides its functions.
type Resource struct {
	Kind string `json:"kind"` // queue, topic, subscription, event bus, rule, schedule, route, ...
	Name string `json:"name"`
}

const maxDeployBody = 16 << 20

func (a *API) deploy(w http.ResponseWriter, r *http.Request) {
	if !hasMediaType(w, r, "application/json") {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDeployBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidApplication", "reading the application description: "+err.Error())
		return
	}
	if len(body) > maxDeployBody {
		writeError(w, http.StatusRequestEntityTooLarge, "InvalidApplication", fmt.Sprintf("the application description is over %d MB", maxDeployBody>>20))
		return
	}
	// Decoding would replace invalid UTF-8 with U+FFFD: deploy what was sent or nothing.
	if !utf8.Valid(body) {
		writeError(w, http.StatusBadRequest, "InvalidApplication", "the application description is not valid UTF-8")
		return
	}
	var app appspec.Application
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&app); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidApplication", "the application description is not valid JSON: "+err.Error())
		return
	}
	res, err := a.Registry.Deploy(r.Context(), &app)
	var (
		invalid  *functions.InvalidError
		conflict *functions.ConflictError
	)
	switch {
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, "InvalidApplication", err.Error())
		return
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, "Conflict", err.Error())
		return
	case err != nil:
		writeInternal(w, err)
		return
	}
	out := DeployResponse{DeployResult: *res, Functions: []FunctionInfo{}}
	if a.HTTPInfo != nil {
		out.HTTPEndpoints = a.HTTPInfo(&app)
	}
	for _, fc := range app.Functions {
		if f, ok := a.Registry.Get(fc.Name); ok {
			out.Functions = append(out.Functions, a.info(r, f))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) info(r *http.Request, f *functions.Function) FunctionInfo {
	return FunctionInfo{
		Key:        f.Config.Key,
		Name:       f.Config.Name,
		ARN:        f.ARN,
		InvokeURL:  a.Endpoint(r) + "/2015-03-31/functions/" + f.Config.Name + "/invocations",
		Runtime:    f.Config.Runtime,
		Handler:    f.Config.Handler,
		MemorySize: f.Config.MemorySize,
		Timeout:    f.Config.Timeout,
		Triggers:   triggers(f.Config),
	}
}

// triggers describes a function's events in one line each: the event type
// and its main setting as the manifest wrote it.
func triggers(f appspec.Function) []string {
	var out []string
	for _, ev := range f.Events {
		out = append(out, strings.TrimSpace(ev.Type+" "+eventDetail(ev.Properties)))
	}
	if len(f.URL) > 0 && string(f.URL) != "false" && string(f.URL) != "null" {
		out = append(out, "url")
	}
	return out
}

// eventDetail picks the setting that tells events of one type apart.
func eventDetail(props json.RawMessage) string {
	var short string
	if json.Unmarshal(props, &short) == nil {
		return short
	}
	var m map[string]any
	if json.Unmarshal(props, &m) != nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"method", "path", "arn", "queueName", "topicName", "topic", "eventBus", "rate", "name"} {
		switch v := m[k].(type) {
		case string:
			parts = append(parts, v)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					parts = append(parts, s)
				}
			}
		}
	}
	return strings.Join(parts, " ")
}

// ServiceInfo describes a deployed service.
type ServiceInfo struct {
	Service   string         `json:"service"`
	Stage     string         `json:"stage"`
	Region    string         `json:"region"`
	Functions []FunctionInfo `json:"functions"`
	HTTPEndpoints
	// Resources are the queues, topics, buses, rules, schedules and routes
	// the service created.
	Resources []Resource `json:"resources"`
}

func (a *API) serviceInfo(r *http.Request, app *appspec.Application) ServiceInfo {
	si := ServiceInfo{Service: app.Service, Stage: app.Stage, Region: app.Region, Functions: []FunctionInfo{}, Resources: []Resource{}}
	for _, it := range a.Registry.Items(app) {
		si.Resources = append(si.Resources, Resource{Kind: it.Kind, Name: it.Name})
	}
	if a.HTTPInfo != nil {
		si.HTTPEndpoints = a.HTTPInfo(app)
	}
	for _, fc := range app.Functions {
		if f, ok := a.Registry.Get(fc.Name); ok {
			si.Functions = append(si.Functions, a.info(r, f))
		}
	}
	return si
}

// listServices lists every deployed stage of every service, by service
// and stage.
func (a *API) listServices(w http.ResponseWriter, r *http.Request) {
	apps := a.Registry.Services()
	slices.SortFunc(apps, func(x, y appspec.Application) int {
		return strings.Compare(x.ID(), y.ID())
	})
	out := []ServiceInfo{}
	for i := range apps {
		out = append(out, a.serviceInfo(r, &apps[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// stageOf names what a request addresses: the service in the path, the
// stage in ?stage= (none: the service's only stage).
func stageOf(r *http.Request) (name, what string) {
	name = r.PathValue("name")
	if stage := r.URL.Query().Get("stage"); stage != "" {
		return appspec.AppID(name, stage), fmt.Sprintf("stage %s of service %q", stage, name)
	}
	return name, fmt.Sprintf("service %q", name)
}

// getService describes one stage of a service (?stage=), or the only
// stage deployed.
func (a *API) getService(w http.ResponseWriter, r *http.Request) {
	name, what := stageOf(r)
	app, ok := a.Registry.Service(name)
	if !ok {
		if r.URL.Query().Get("stage") == "" && len(a.Registry.Stages(name)) > 1 {
			writeError(w, http.StatusConflict, "AmbiguousStage", fmt.Sprintf("%s has several stages deployed; name one with ?stage=", what))
			return
		}
		writeError(w, http.StatusNotFound, "NotFound", what+" is not deployed")
		return
	}
	writeJSON(w, http.StatusOK, a.serviceInfo(r, app))
}

func (a *API) removeService(w http.ResponseWriter, r *http.Request) {
	name, what := stageOf(r)
	res, err := a.Registry.Remove(r.Context(), name)
	var invalid *functions.InvalidError
	if errors.Is(err, functions.ErrNotFound) {
		writeError(w, http.StatusNotFound, "NotFound", what+" is not deployed")
		return
	}
	if errors.Is(err, functions.ErrAmbiguous) {
		writeError(w, http.StatusConflict, "AmbiguousStage", err.Error())
		return
	}
	if errors.As(err, &invalid) {
		writeError(w, http.StatusConflict, "Conflict", err.Error())
		return
	}
	if err != nil {
		writeInternal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// readLogs streams a function's log records as JSON lines.
func (a *API) readLogs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.Registry.Get(name); !ok && (a.ExtraLogs == nil || !a.ExtraLogs(name)) {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("function %q is not deployed", name))
		return
	}
	q := logs.Query{Function: name, Filter: r.URL.Query().Get("filter"), Follow: r.URL.Query().Get("follow") == "true"}
	if s := r.URL.Query().Get("since"); s != "" {
		since, err := ParseSince(s, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, "InvalidParameter", err.Error())
			return
		}
		q.Since = since
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	err := a.Logs.Read(r.Context(), q, func(rec logs.Record) error {
		if err := enc.Encode(rec); err != nil {
			return err
		}
		if q.Follow && flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		_ = enc.Encode(map[string]string{"error": err.Error()})
		return
	}
	if n := a.Logs.DroppedOf(name); n > 0 && !q.Follow {
		_ = enc.Encode(logs.Record{Time: time.Now(), Function: name, Dropped: n})
	}
}

// ParseSince accepts a duration before now ("10m", "2h") or an RFC 3339 time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("since %q must not be negative", s)
		}
		return now.Add(-d), nil
	}
	if strings.HasSuffix(s, "d") {
		if d, err := time.ParseDuration(strings.TrimSuffix(s, "d") + "h"); err == nil && d >= 0 {
			return now.Add(-24 * d), nil
		}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q is neither a duration (10m, 2h, 1d) nor an RFC 3339 time", s)
	}
	return t, nil
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"version":         a.Version,
		"functions":       len(a.Registry.List()),
		"instances":       a.Runtime.Stats(),
		"droppedLogLines": a.Logs.Dropped(),
		"isolation":       a.Runtime.Isolation(),
		"memoryInUseMB":   a.Runtime.MemoryInUseMB(),
	})
}

// CreateKeyRequest names a new operator key.
type CreateKeyRequest struct {
	Name string `json:"name"`
}

func (a *API) keysOff(w http.ResponseWriter) bool {
	if a.Keys == nil {
		writeError(w, http.StatusBadRequest, "AuthenticationOff", "the platform runs with --no-auth: it has no access keys")
		return true
	}
	return false
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	if a.keysOff(w) {
		return
	}
	writeJSON(w, http.StatusOK, a.Keys.ListKeys())
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	if a.keysOff(w) {
		return
	}
	var req CreateKeyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "the body must be {\"name\": \"...\"}: "+err.Error())
		return
	}
	if len(req.Name) > 64 || strings.ContainsAny(req.Name, "/:\n ") {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "a key name is at most 64 characters, without spaces, '/' or ':'")
		return
	}
	k, err := a.Keys.CreateKey(r.Context(), req.Name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	if a.keysOff(w) {
		return
	}
	err := a.Keys.RevokeKey(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, auth.ErrNoSuchKey):
		writeError(w, http.StatusNotFound, "NoSuchEntity", err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "Internal", err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
