// Package dispatch routes the AWS APIs that share the endpoint's POST /:
// JSON-protocol services by X-Amz-Target, query-protocol services by the
// form's Action.
package dispatch

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/awsapi/sqs"
)

// QueryService answers query-protocol (form-encoded) actions.
type QueryService interface {
	IsAction(action string) bool
	ServeQuery(w http.ResponseWriter, r *http.Request, form url.Values)
}

// Dispatcher routes POST / to the services.
type Dispatcher struct {
	SQS *sqs.API
	// Query services besides SQS (SNS ...), tried in order.
	Query []QueryService
	// JSON routes other JSON-protocol services by X-Amz-Target prefix
	// (e.g. "AWSEvents." for EventBridge).
	JSON map[string]http.Handler
}

// Register adds POST / and POST /{account}/{queue} (the SQS query protocol's
// queue URLs) to mux.
func (d *Dispatcher) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /{$}", d.serve)
	mux.HandleFunc("POST /"+appspec.AccountID+"/{queue}", d.serve)
}

type sqsQuery struct{ *sqs.API }

func (s sqsQuery) IsAction(a string) bool { return sqs.IsAction(a) }

func (d *Dispatcher) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if strings.HasPrefix(target, "AmazonSQS.") && d.SQS != nil {
		d.SQS.ServeJSON(w, r)
		return
	}
	if target != "" {
		if i := strings.IndexByte(target, '.'); i > 0 {
			if h := d.JSON[target[:i+1]]; h != nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		// A JSON-protocol call of a service (or operation) not served here:
		// AWS's JSON error, not a query-protocol one about a missing Action.
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		body, _ := json.Marshal(map[string]string{"__type": "UnknownOperationException",
			"message": "The operation " + target + " is not supported by this endpoint."})
		_, _ = w.Write(body)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, sqs.MaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		sqs.WriteQueryError(w, http.StatusBadRequest, "MalformedQueryString", "The request body could not be parsed: "+err.Error())
		return
	}
	form := r.Form
	action := form.Get("Action")
	if action == "" {
		sqs.WriteQueryError(w, http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action (or the header X-Amz-Target).")
		return
	}
	services := d.Query
	if d.SQS != nil {
		services = append([]QueryService{sqsQuery{d.SQS}}, services...)
	}
	for _, s := range services {
		if s.IsAction(action) {
			s.ServeQuery(w, r, form)
			return
		}
	}
	sqs.WriteQueryError(w, http.StatusBadRequest, "InvalidAction", "The action "+action+" is not valid for this endpoint.")
}
