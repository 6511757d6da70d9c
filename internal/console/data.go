package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// Function is one row of the functions page. Counts and durations come
// from the platform's metrics: since this node started, as /metrics has them.
type Function struct {
	Name         string    `json:"name"`
	Service      string    `json:"service"`
	Stage        string    `json:"stage"`
	Runtime      string    `json:"runtime"`
	MemoryMB     int       `json:"memoryMB"`
	TimeoutSec   int       `json:"timeoutSec"`
	LastDeploy   time.Time `json:"lastDeploy"`
	Invocations  float64   `json:"invocations"`
	Errors       float64   `json:"errors"`
	Throttles    float64   `json:"throttles"`
	ColdStarts   float64   `json:"coldStarts"`
	P50Ms        *float64  `json:"p50Ms"` // nil: no invocation yet
	P99Ms        *float64  `json:"p99Ms"`
	BilledGBSecs float64   `json:"billedGBSeconds"`
}

// figures are one function's metrics.
type figures struct {
	invocations, errors, throttles, coldStarts, gbSeconds float64
	buckets                                               []bucket // cumulative, by upper bound
	count                                                 uint64
}

type bucket struct {
	upper float64
	count uint64
}

// gather reads the platform's metrics per function.
func (c *Console) gather() (map[string]*figures, error) {
	out := map[string]*figures{}
	if c.cfg.Metrics == nil {
		return out, nil
	}
	families, err := c.cfg.Metrics.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			fn := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "function" {
					fn = l.GetValue()
				}
			}
			if fn == "" {
				continue
			}
			f := out[fn]
			if f == nil {
				f = &figures{}
				out[fn] = f
			}
			switch mf.GetName() {
			case "nimbus_invocations_total":
				f.invocations += m.GetCounter().GetValue()
			case "nimbus_invocation_errors_total":
				f.errors += m.GetCounter().GetValue()
			case "nimbus_throttles_total":
				f.throttles += m.GetCounter().GetValue()
			case "nimbus_cold_starts_total":
				f.coldStarts += m.GetCounter().GetValue()
			case "nimbus_billed_gb_seconds_total":
				f.gbSeconds += m.GetCounter().GetValue()
			case "nimbus_invocation_duration_seconds":
				h := m.GetHistogram()
				f.count = h.GetSampleCount()
				f.buckets = f.buckets[:0]
				for _, b := range h.GetBucket() {
					f.buckets = append(f.buckets, bucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
				}
			}
		}
	}
	return out, nil
}

// quantile estimates q from cumulative buckets as Prometheus's
// histogram_quantile does: linearly within the bucket that holds it.
func quantile(q float64, buckets []bucket, total uint64) *float64 {
	if total == 0 || len(buckets) == 0 {
		return nil
	}
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for _, b := range buckets {
		if float64(b.count) >= rank {
			in := b.count - below
			v := b.upper
			if in > 0 {
				v = lower + (b.upper-lower)*(rank-float64(below))/float64(in)
			}
			ms := math.Round(v*1e6) / 1e3
			return &ms
		}
		lower, below = b.upper, b.count
	}
	// Above the largest bound: say the bound, as histogram_quantile does.
	ms := buckets[len(buckets)-1].upper * 1e3
	return &ms
}

func (c *Console) listFunctions(w http.ResponseWriter, r *http.Request, _ [32]byte) {
	figs, err := c.gather()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read metrics: "+err.Error())
		return
	}
	list := c.cfg.Registry.List()
	out := make([]Function, 0, len(list))
	for _, f := range list {
		row := Function{Name: f.Config.Name, Service: f.Service, Stage: f.Stage, Runtime: f.Config.Runtime,
			MemoryMB: f.Config.MemorySize, TimeoutSec: f.Config.Timeout, LastDeploy: f.LastModified}
		if fg := figs[f.Config.Name]; fg != nil {
			row.Invocations, row.Errors, row.Throttles, row.ColdStarts = fg.invocations, fg.errors, fg.throttles, fg.coldStarts
			row.BilledGBSecs = math.Round(fg.gbSeconds*1e6) / 1e6
			row.P50Ms = quantile(0.5, fg.buckets, fg.count)
			row.P99Ms = quantile(0.99, fg.buckets, fg.count)
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b Function) int {
		if c := strings.Compare(a.Service+"\x00"+a.Stage, b.Service+"\x00"+b.Stage); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	writeJSON(w, http.StatusOK, out)
}

// LogPage is a function's log records after a point, oldest first.
type LogPage struct {
	Records []logs.Record `json:"records"`
	// Next is the since of the next poll.
	Next time.Time `json:"next"`
}

// maxLogRecords bounds a page: the newest are kept.
const maxLogRecords = 500

func (c *Console) function(w http.ResponseWriter, r *http.Request) (*functions.Function, bool) {
	f, ok := c.cfg.Registry.Get(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, "no function named "+r.PathValue("name"))
	}
	return f, ok
}

// readLogs answers the records after ?since= (RFC 3339; default the last
// hour): the page polls it with the previous answer's next.
func (c *Console) readLogs(w http.ResponseWriter, r *http.Request, _ [32]byte) {
	f, ok := c.function(w, r)
	if !ok {
		return
	}
	now := c.cfg.Now()
	since, after := now.Add(-time.Hour), false
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since must be an RFC 3339 time")
			return
		}
		since, after = t, true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	page := LogPage{Records: []logs.Record{}, Next: since}
	err := c.cfg.Logs.Read(ctx, logs.Query{Function: f.Config.Name, Since: since}, func(rec logs.Record) error {
		if after && !rec.Time.After(since) {
			return nil // shown by the previous poll
		}
		if len(page.Records) == maxLogRecords {
			page.Records = append(page.Records[:0], page.Records[1:]...)
		}
		page.Records = append(page.Records, rec)
		if rec.Time.After(page.Next) {
			page.Next = rec.Time
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusInternalServerError, "read logs: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// InvokeResult is what the invoke button shows.
type InvokeResult struct {
	RequestID     string  `json:"requestId"`
	FunctionError string  `json:"functionError,omitempty"`
	ErrorType     string  `json:"errorType,omitempty"`
	Payload       string  `json:"payload"`
	LogTail       string  `json:"logTail"`
	DurationMs    float64 `json:"durationMs"`
	ColdStart     bool    `json:"coldStart"`
}

// maxPayload is Lambda's synchronous request limit.
const maxPayload = 6 * 1024 * 1024

// invoke runs a function synchronously with the request's JSON body.
func (c *Console) invoke(w http.ResponseWriter, r *http.Request, _ [32]byte) {
	f, ok := c.function(w, r)
	if !ok {
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read the payload: "+err.Error())
		return
	}
	if len(payload) > maxPayload {
		writeError(w, http.StatusRequestEntityTooLarge, "the payload is over Lambda's 6 MB limit")
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !utf8.Valid(payload) || !json.Valid(payload) {
		writeError(w, http.StatusBadRequest, "the payload is not valid JSON")
		return
	}
	resp, err := c.cfg.Invoker.Invoke(r.Context(), &invoke.Request{Function: f.Config.Name, Payload: payload, LogTail: true, Source: "console"})
	if err != nil {
		var throttled *runtime.ThrottleError
		status := http.StatusInternalServerError
		switch {
		case errors.As(err, &throttled):
			status = http.StatusTooManyRequests
		case errors.Is(err, functions.ErrNotFound):
			status = http.StatusNotFound
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, InvokeResult{RequestID: resp.RequestID, FunctionError: resp.FunctionError, ErrorType: resp.ErrorType,
		Payload: string(resp.Payload), LogTail: string(resp.LogTail), DurationMs: float64(resp.Duration.Microseconds()) / 1e3,
		ColdStart: resp.ColdStart})
}

// Inventory is what services created besides functions.
type Inventory struct {
	Routes        []Route        `json:"routes"`
	Queues        []Queue        `json:"queues"`
	Tables        []string       `json:"tables"`
	Buckets       []string       `json:"buckets"`
	StateMachines []StateMachine `json:"stateMachines"`
}

// Route is an HTTP endpoint of a service's stage.
type Route struct {
	Service  string `json:"service"`
	Stage    string `json:"stage"`
	Endpoint string `json:"endpoint"`
}

// Queue is a queue and its approximate depth.
type Queue struct {
	Name     string `json:"name"`
	Visible  int64  `json:"visible"`
	InFlight int64  `json:"inFlight"`
	Delayed  int64  `json:"delayed"`
}

// StateMachine and its most recent executions.
type StateMachine struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Executions []Execution `json:"executions"`
}

// Execution of a state machine.
type Execution struct {
	Name   string    `json:"name"`
	Status string    `json:"status"`
	Start  time.Time `json:"start"`
	Stop   time.Time `json:"stop,omitzero"`
}

func (c *Console) resources(w http.ResponseWriter, r *http.Request, _ [32]byte) {
	inv := Inventory{}
	if c.cfg.Inventory != nil {
		inv = c.cfg.Inventory(r.Context())
	}
	// Empty lists, not nulls: the page iterates them.
	inv.Routes = nonNil(inv.Routes)
	inv.Queues = nonNil(inv.Queues)
	inv.Tables = nonNil(inv.Tables)
	inv.Buckets = nonNil(inv.Buckets)
	inv.StateMachines = nonNil(inv.StateMachines)
	writeJSON(w, http.StatusOK, inv)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
