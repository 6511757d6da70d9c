package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// PutEventFunc puts one event on a bus, as EventBridge's PutEvents does for
// one entry: the event's id, or the entry's error code and message; err is a
// failure to store it at all.
type PutEventFunc func(ctx context.Context, bus, source, detailType, detail string) (eventID, errCode, errMessage string, err error)

// eventRoute is the EventBridge-PutEvents integration of a route
// (serverless-lift webhooks).
type eventRoute struct {
	bus, source, detailType string
}

// parseEventRoute reads an appspec.EventRoute into a route of the service's
// HTTP API.
func parseEventRoute(er appspec.EventRoute, api *serviceAPI) (*route, error) {
	method, err := parseMethod(er.Method)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(er.Path, "/") {
		return nil, fmt.Errorf("path %q must start with /", er.Path)
	}
	path, err := parsePath(er.Path)
	if err != nil {
		return nil, err
	}
	if er.EventBusName == "" || er.Source == "" {
		return nil, fmt.Errorf("an event route needs a bus and a source")
	}
	r := &route{kind: kindHTTP, api: api, cors: api.httpCORS, method: method, pattern: path, routeKey: method + " " + path,
		key: er.Construct, events: &eventRoute{bus: er.EventBusName, source: er.Source, detailType: er.DetailType}}
	if er.Authorizer != "" {
		a := api.authorizers[er.Authorizer]
		if a == nil {
			return nil, fmt.Errorf("authorizer %q is not declared under provider.httpApi.authorizers", er.Authorizer)
		}
		r.auth = a
	}
	return r, nil
}

// detailType maps the route's eventType for one request: a fixed string, a
// header, or a value of the JSON body.
func (e *eventRoute) detailTypeOf(r *http.Request, body []byte) string {
	if h, ok := strings.CutPrefix(e.detailType, "$request.header."); ok {
		return r.Header.Get(h)
	}
	if p, ok := strings.CutPrefix(e.detailType, "$request.body"); ok {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return ""
		}
		for _, k := range strings.Split(strings.TrimPrefix(p, "."), ".") {
			if k == "" {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = m[k]
		}
		switch x := v.(type) {
		case nil:
			return ""
		case string:
			return x
		default:
			b, _ := json.Marshal(x)
			return string(b)
		}
	}
	return e.detailType
}

// putEvent answers a request of an event route with what API Gateway's
// EventBridge-PutEvents integration answers: EventBridge's own PutEvents
// response, a failed entry included (still 200).
func (g *Gateway) putEvent(w http.ResponseWriter, q *request) (int, int) {
	rt := q.rt
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{q.requestID}
	h["Apigw-Requestid"] = h["X-Amzn-Requestid"]
	if g.cfg.PutEvent == nil {
		return g.writeError(w, rt, q.r.Header.Get("Origin"), errBadGateway)
	}
	id, code, msg, err := g.cfg.PutEvent(q.r.Context(), rt.events.bus, rt.events.source, rt.events.detailTypeOf(q.r, q.body), string(q.body))
	if err != nil {
		g.log.Warn("gateway: put event failed", "route", rt.routeKey, "bus", rt.events.bus, "err", err)
		return g.writeError(w, rt, q.r.Header.Get("Origin"), errInternal)
	}
	var out struct {
		Entries []map[string]string `json:"Entries"`
		Failed  int                 `json:"FailedEntryCount"`
	}
	if code != "" {
		out.Entries = []map[string]string{{"ErrorCode": code, "ErrorMessage": msg}}
		out.Failed = 1
	} else {
		out.Entries = []map[string]string{{"EventId": id}}
	}
	body, _ := json.Marshal(out)
	if rt.cors != nil {
		rt.cors.applyResponse(h, q.r.Header.Get("Origin"))
	}
	h["Content-Type"] = []string{"application/x-amz-json-1.1"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	if q.r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return http.StatusOK, len(body)
}
