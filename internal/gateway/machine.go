package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// StartMachineFunc starts an execution of the state machine arn with input,
// as API Gateway's Step Functions integration calls StartExecution (or
// StartSyncExecution when sync is set). It returns the action's JSON answer,
// or the AWS error code and message of a refused start; err is a failure to
// start at all.
type StartMachineFunc func(ctx context.Context, arn, input string, sync bool) (answer []byte, errCode, errMessage string, err error)

// machineRoute is the Step Functions integration of a route
// (serverless-step-functions `http` events).
type machineRoute struct {
	arn  string
	sync bool // action: StartSyncExecution
}

// parseMachineEvent reads a state machine's `http` event: a REST API route
// (path, method, cors, private, authorizer as for functions) whose
// integration starts the machine; or an `httpApi` one (SAM's HttpApi), a
// route of the HTTP API.
func parseMachineEvent(typ string, raw json.RawMessage, api *serviceAPI, names map[string]string, arn string) (*route, error) {
	var r *route
	var err error
	if typ == "httpApi" {
		r, err = parseHTTPEvent(raw, api)
	} else {
		r, err = parseRESTEvent(raw, api, names)
	}
	if err != nil {
		return nil, err
	}
	var ev struct {
		Action string `json:"action"`
	}
	if _, short := jsonString(raw); !short {
		_ = json.Unmarshal(raw, &ev)
	}
	m := &machineRoute{arn: arn}
	switch ev.Action {
	case "", "StartExecution":
	case "StartSyncExecution":
		m.sync = true
	default:
		return nil, fmt.Errorf("action %q must be StartExecution or StartSyncExecution", ev.Action)
	}
	r.machine = m
	return r, nil
}

// startMachine answers a request of a state machine route with what the
// Step Functions integration answers: the StartExecution answer
// ({executionArn, startDate}) or, for StartSyncExecution, the execution's
// outcome. A refused start is a 400 with Step Functions' error.
func (g *Gateway) startMachine(w http.ResponseWriter, q *request) (int, int) {
	rt := q.rt
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{q.requestID}
	origin := q.r.Header.Get("Origin")
	if g.cfg.StartMachine == nil {
		return g.writeError(w, rt, origin, errBadGateway)
	}
	input := strings.TrimSpace(string(q.body))
	if input == "" {
		input = "{}"
	}
	body, code, msg, err := g.cfg.StartMachine(q.r.Context(), rt.machine.arn, input, rt.machine.sync)
	if err != nil {
		g.log.Warn("gateway: start execution failed", "route", rt.routeKey, "stateMachine", rt.machine.arn, "err", err)
		return g.writeError(w, rt, origin, errInternal)
	}
	status := http.StatusOK
	if code != "" {
		status = http.StatusBadRequest
		body, _ = json.Marshal(map[string]string{"__type": code, "message": msg})
	}
	if rt.cors != nil {
		rt.cors.applyResponse(h, origin)
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return status, len(body)
}
