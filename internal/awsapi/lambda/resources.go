package lambda

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/functions"
)

// apiVersions are the path prefixes of Lambda's REST API. Every request
// under them gets a Lambda-shaped answer: the operation's, a clear
// "not implemented" naming the operation, or UnknownOperationException.
var apiVersions = []string{
	"2015-03-31", "2016-08-19", "2017-03-31", "2017-10-31", "2018-10-31",
	"2019-09-25", "2019-09-30", "2020-04-22", "2020-06-30", "2021-07-20",
	"2021-10-31", "2024-08-31",
}

// registerSubresources adds the read-only sub-resources nimbus can answer
// from what it knows, and the fallbacks.
func (a *API) registerSubresources(mux *http.ServeMux) {
	a.registerVersions(mux)
	mux.HandleFunc("GET /2015-03-31/functions/{name}/policy", a.getPolicy)
	mux.HandleFunc("GET /2019-09-30/functions/{name}/concurrency", a.getConcurrency)
	mux.HandleFunc("GET /2019-09-25/functions/{name}/event-invoke-config", a.getEventInvokeConfig)
	mux.HandleFunc("GET /2017-03-31/tags/{arn}", a.listTags)

	known := http.NewServeMux()
	for _, op := range unimplemented {
		known.Handle(op.pattern, notImplemented(op.name))
	}
	known.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("Unknown operation: %s %s", r.Method, r.URL.Path))
	})
	for _, v := range apiVersions {
		mux.Handle("/"+v+"/", known)
	}
}

// unimplemented are Lambda operations nimbus does not serve (yet): their
// callers learn which operation it is rather than meeting a bare 404.
var unimplemented = []struct{ pattern, name string }{
	{"POST /2015-03-31/functions", "CreateFunction"},
	{"POST /2015-03-31/functions/{$}", "CreateFunction"},
	{"PUT /2015-03-31/functions/{name}/code", "UpdateFunctionCode"},
	{"PUT /2015-03-31/functions/{name}/configuration", "UpdateFunctionConfiguration"},
	{"POST /2015-03-31/functions/{name}/policy", "AddPermission"},
	{"DELETE /2015-03-31/functions/{name}/policy/{sid}", "RemovePermission"},
	{"GET /2015-03-31/event-source-mappings/{$}", "ListEventSourceMappings"},
	{"POST /2015-03-31/event-source-mappings/{$}", "CreateEventSourceMapping"},
	{"GET /2015-03-31/event-source-mappings/{id}", "GetEventSourceMapping"},
	{"PUT /2015-03-31/event-source-mappings/{id}", "UpdateEventSourceMapping"},
	{"DELETE /2015-03-31/event-source-mappings/{id}", "DeleteEventSourceMapping"},
	{"GET /2016-08-19/account-settings/", "GetAccountSettings"},
	{"POST /2017-03-31/tags/{arn}", "TagResource"},
	{"DELETE /2017-03-31/tags/{arn}", "UntagResource"},
	{"PUT /2017-10-31/functions/{name}/concurrency", "PutFunctionConcurrency"},
	{"DELETE /2017-10-31/functions/{name}/concurrency", "DeleteFunctionConcurrency"},
	{"/2018-10-31/layers/", "the layer operations"},
	{"/2018-10-31/layers", "the layer operations"},
	{"PUT /2019-09-25/functions/{name}/event-invoke-config", "PutFunctionEventInvokeConfig"},
	{"POST /2019-09-25/functions/{name}/event-invoke-config", "UpdateFunctionEventInvokeConfig"},
	{"DELETE /2019-09-25/functions/{name}/event-invoke-config", "DeleteFunctionEventInvokeConfig"},
	{"GET /2019-09-25/functions/{name}/event-invoke-config/list", "ListFunctionEventInvokeConfigs"},
	{"GET /2019-09-30/functions/{name}/provisioned-concurrency", "GetProvisionedConcurrencyConfig"},
	{"PUT /2019-09-30/functions/{name}/provisioned-concurrency", "PutProvisionedConcurrencyConfig"},
	{"DELETE /2019-09-30/functions/{name}/provisioned-concurrency", "DeleteProvisionedConcurrencyConfig"},
	{"/2020-06-30/code-signing-configs/", "the code signing configuration operations"},
	{"GET /2020-06-30/functions/{name}/code-signing-config", "GetFunctionCodeSigningConfig"},
	{"PUT /2020-06-30/functions/{name}/code-signing-config", "PutFunctionCodeSigningConfig"},
	{"DELETE /2020-06-30/functions/{name}/code-signing-config", "DeleteFunctionCodeSigningConfig"},
	{"POST /2021-07-20/functions/{name}/response-streaming-invocations", "InvokeWithResponseStream"},
	{"GET /2021-07-20/functions/{name}/runtime-management-config", "GetRuntimeManagementConfig"},
	{"PUT /2021-07-20/functions/{name}/runtime-management-config", "PutRuntimeManagementConfig"},
	{"GET /2021-10-31/functions/{name}/url", "GetFunctionUrlConfig"},
	{"POST /2021-10-31/functions/{name}/url", "CreateFunctionUrlConfig"},
	{"PUT /2021-10-31/functions/{name}/url", "UpdateFunctionUrlConfig"},
	{"DELETE /2021-10-31/functions/{name}/url", "DeleteFunctionUrlConfig"},
	{"GET /2021-10-31/functions/{name}/urls", "ListFunctionUrlConfigs"},
	{"GET /2024-08-31/functions/{name}/recursion-config", "GetFunctionRecursionConfig"},
	{"PUT /2024-08-31/functions/{name}/recursion-config", "PutFunctionRecursionConfig"},
}

// NotImplementedCode is the error code of Lambda operations nimbus does not
// serve; 501 is not retried by the SDKs.
const NotImplementedCode = "NotImplemented"

func notImplemented(op string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, NotImplementedCode,
			fmt.Sprintf("nimbus does not implement Lambda's %s (%s %s); functions are configured by `nimbus deploy`", op, r.Method, r.URL.Path))
	})
}

// getPolicy is GetPolicy: no function has a resource-based policy.
func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.resolve(w, r); ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "The resource you requested does not exist.")
	}
}

// getConcurrency is GetFunctionConcurrency: the function's reservedConcurrency.
func (a *API) getConcurrency(w http.ResponseWriter, r *http.Request) {
	f, ok := a.resolve(w, r)
	if !ok {
		return
	}
	out := map[string]int{}
	if rc := f.Config.ReservedConcurrency; rc != nil {
		out["ReservedConcurrentExecutions"] = *rc
	}
	writeJSON(w, http.StatusOK, out)
}

// getEventInvokeConfig is GetFunctionEventInvokeConfig, from the
// function's asynchronous settings.
func (a *API) getEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	f, ok := a.resolve(w, r)
	if !ok {
		return
	}
	c := f.Config
	if c.MaximumRetryAttempts == nil && c.MaximumEventAge == nil && c.Destinations.OnSuccess == "" && c.Destinations.OnFailure == "" {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("The function %s doesn't have an EventInvokeConfig", f.ARN))
		return
	}
	out := map[string]any{
		"FunctionArn":  f.ARN + ":$LATEST",
		"LastModified": float64(f.LastModified.UnixMilli()) / 1000,
	}
	if c.MaximumRetryAttempts != nil {
		out["MaximumRetryAttempts"] = *c.MaximumRetryAttempts
	}
	if c.MaximumEventAge != nil {
		out["MaximumEventAgeInSeconds"] = *c.MaximumEventAge
	}
	dest := map[string]any{}
	if d := c.Destinations.OnSuccess; d != "" {
		dest["OnSuccess"] = map[string]string{"Destination": destinationARN(f, d)}
	}
	if d := c.Destinations.OnFailure; d != "" {
		dest["OnFailure"] = map[string]string{"Destination": destinationARN(f, d)}
	}
	out["DestinationConfig"] = dest
	writeJSON(w, http.StatusOK, out)
}

// destinationARN turns a destination given as a function name into the
// function's ARN, as Lambda stores it.
func destinationARN(f *functions.Function, d string) string {
	if strings.HasPrefix(d, "arn:") {
		return d
	}
	i := strings.Index(f.ARN, ":function:")
	if i < 0 {
		return d
	}
	return f.ARN[:i+len(":function:")] + d
}

// listTags is ListTags: the tags GetFunction reports.
func (a *API) listTags(w http.ResponseWriter, r *http.Request) {
	arn := r.PathValue("arn")
	if !strings.HasPrefix(arn, "arn:") {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Resource must be a function ARN")
		return
	}
	f, err := a.lookup(arn, "")
	if err != nil {
		writeCoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"Tags": map[string]string{"service": f.Service, "stage": f.Stage}})
}
