// Package async runs asynchronous invocations (Lambda's InvocationType Event)
// durably: an event is published to a JetStream stream (fsync'd) before it is
// acknowledged, and a durable consumer hands it to the shared invoke call.
// Function errors are retried up to the function's maximumRetryAttempts with
// a delay, throttles are retried until maximumEventAge, and the outcome goes to
// the function's destinations and dead-letter target with Lambda's record.
//
// Redelivery uses JetStream only: a retry is a new message (carrying the
// attempt count) held back with NAK-with-delay; a crash leaves unacknowledged
// messages to the consumer's ack wait.
package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// MaxPayloadBytes is Lambda's limit for an asynchronous invocation's payload.
const MaxPayloadBytes = 1024 * 1024

const (
	streamName   = "NIMBUS_ASYNC"
	subjectBase  = "nimbus.async."
	consumerName = "async-invoker"

	hRequestID = "Nimbus-Request-Id"
	hFunction  = "Nimbus-Function"
	hQualifier = "Nimbus-Qualifier"  // the version or alias invoked, if any
	hEnqueued  = "Nimbus-Enqueued"   // unix milliseconds of the first acceptance
	hAttempts  = "Nimbus-Attempts"   // executions that already ran
	hNotBefore = "Nimbus-Not-Before" // unix milliseconds; held back until then
	hTrace     = "Nimbus-Trace-Id"
	hClientCtx = "Nimbus-Client-Context"
	hLastError = "Nimbus-Last-Error" // JSON of the last failed response
)

// PayloadTooLargeError means an async payload is over MaxPayloadBytes.
type PayloadTooLargeError struct{ Size int }

func (e *PayloadTooLargeError) Error() string {
	return fmt.Sprintf("%d byte payload is too large for the Event invocation type (%d byte maximum)", e.Size, MaxPayloadBytes)
}

// Sink delivers a record to a queue, topic or event bus named by its ARN.
// attrs are message attributes (string typed).
type Sink func(ctx context.Context, arn string, body []byte, attrs map[string]string) error

// Config sets up the service.
type Config struct {
	Store    *store.Store
	Invoker  *invoke.Service
	Registry *functions.Registry
	// Workers is how many invocations run at once (default 64).
	Workers int
	// RetryDelays are the waits before the first and second retry of a failed
	// event (Lambda: about 1 and 2 minutes, the default).
	RetryDelays []time.Duration
	// ThrottleDelay is the base wait before a throttled event is tried again
	// (default 1s, doubled per throttle up to 1 minute).
	ThrottleDelay time.Duration
	// AckWait is how long an event handed to a worker stays invisible before
	// JetStream redelivers it (after a crash); workers extend it while the
	// function runs. Default 30s.
	AckWait time.Duration
	Logger  *slog.Logger
}

// Service accepts and runs asynchronous invocations.
type Service struct {
	cfg   Config
	log   *slog.Logger
	js    jetstream.JetStream
	sinks map[string]Sink
	// wg counts every goroutine Start starts, directly or through a worker
	// (the events of a batch run concurrently): Wait waits for all of them.
	wg sync.WaitGroup
	// in feeds the group-commit batchers once Start has run; Enqueue reads
	// started from request goroutines while Start sets it.
	in      chan *pending
	started atomic.Bool
	sem     chan struct{}
}

// New opens the stream. Add sinks with SetSink, then Start.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.RetryDelays == nil {
		cfg.RetryDelays = []time.Duration{time.Minute, 2 * time.Minute}
	}
	if cfg.ThrottleDelay <= 0 {
		cfg.ThrottleDelay = time.Second
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	_, err := cfg.Store.Stream(ctx, jetstream.StreamConfig{
		Name:        streamName,
		Description: "nimbus asynchronous invocations",
		Subjects:    []string{subjectBase + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, log: cfg.Logger, js: cfg.Store.JS, sinks: map[string]Sink{},
		in: make(chan *pending, 4096), sem: make(chan struct{}, cfg.Workers)}, nil
}

// SetSink routes destinations of one service ("sqs", "sns", "events") to fn.
// It must be called before Start.
func (s *Service) SetSink(service string, fn Sink) { s.sinks[service] = fn }

// Request is one asynchronous invocation.
type Request struct {
	Function      string // name or ARN, optionally qualified
	Qualifier     string
	Payload       []byte
	ClientContext string
	TraceID       string
}

// Enqueue stores the event durably and returns its request id. The function
// must exist.
func (s *Service) Enqueue(ctx context.Context, req *Request) (string, error) {
	msg, id, err := s.message(req)
	if err != nil {
		return "", err
	}
	if err := s.store(ctx, msg); err != nil {
		return "", fmt.Errorf("store async invocation: %w", err)
	}
	return id, nil
}

// message checks an invocation and makes its stream message.
func (s *Service) message(req *Request) (*nats.Msg, string, error) {
	f, _, err := s.cfg.Invoker.Resolve(req.Function, req.Qualifier)
	if err != nil {
		return nil, "", err
	}
	if len(req.Payload) > MaxPayloadBytes {
		return nil, "", &PayloadTooLargeError{Size: len(req.Payload)}
	}
	id := invoke.NewRequestID()
	msg := nats.NewMsg(subjectBase + f.Config.Name)
	msg.Data = req.Payload
	msg.Header.Set(hRequestID, id)
	msg.Header.Set(hFunction, f.Config.Name)
	qualifier := req.Qualifier
	if qualifier == "" {
		_, qualifier, _ = invoke.ParseName(req.Function)
	}
	if qualifier != "" && qualifier != "$LATEST" {
		// The alias, not the version it chose now: a weighted alias splits
		// the runs.
		msg.Header.Set(hQualifier, qualifier)
	}
	msg.Header.Set(hEnqueued, strconv.FormatInt(time.Now().UnixMilli(), 10))
	if req.TraceID != "" {
		msg.Header.Set(hTrace, req.TraceID)
	}
	if req.ClientContext != "" {
		msg.Header.Set(hClientCtx, req.ClientContext)
	}
	return msg, id, nil
}

// Start runs the workers until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{
		Durable:       consumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.cfg.Workers * 4,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("async consumer: %w", err)
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.Workers * 2))
	if err != nil {
		return fmt.Errorf("async consumer: %w", err)
	}
	s.started.Store(true)
	for range batchers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.batch(ctx)
		}()
	}
	work := store.Pump(ctx, iter, &s.wg, s.log, "async")
	for range s.cfg.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for m := range work {
				if m.Subject() == batchSubject {
					s.handleBatch(ctx, m)
				} else {
					s.handle(ctx, m)
				}
			}
		}()
	}
	return nil
}

// Wait blocks until every goroutine of the service stopped after Start's ctx
// ended: the consumer, the batchers, the workers and the events of batches
// they run (an event whose function is running waits for it to end). It
// gives up when ctx ends first, with ctx's error.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("async invocations still running at shutdown: %w", ctx.Err())
	}
}

// eventMsg is one event to run: a stream message, or a member of a batch.
type eventMsg interface {
	Headers() nats.Header
	Data() []byte
	Subject() string
	Ack() error
	Nak() error
	NakWithDelay(time.Duration) error
	InProgress() error
	Metadata() (*jetstream.MsgMetadata, error)
}

func headerInt(m eventMsg, key string) int64 {
	v, _ := strconv.ParseInt(m.Headers().Get(key), 10, 64)
	return v
}

func (s *Service) handle(ctx context.Context, m eventMsg) {
	if ctx.Err() != nil {
		// Shutting down: start nothing; the event is delivered again later.
		_ = m.Nak()
		return
	}

	h := m.Headers()
	name := h.Get(hFunction)
	now := time.Now()
	if nb := headerInt(m, hNotBefore); nb > 0 {
		if wait := time.UnixMilli(nb).Sub(now); wait > 0 {
			_ = m.NakWithDelay(wait)
			return
		}
	}
	f, ok := s.cfg.Registry.Get(name)
	if !ok {
		s.log.Warn("async event dropped: the function no longer exists", "function", name, "requestId", h.Get(hRequestID))
		_ = m.Ack()
		return
	}
	attempts := int(headerInt(m, hAttempts))
	maxRetries := appspec.DefaultRetryAttempts
	if f.Config.MaximumRetryAttempts != nil {
		maxRetries = *f.Config.MaximumRetryAttempts
	}
	maxAge := time.Duration(appspec.DefaultEventAgeSeconds) * time.Second
	if f.Config.MaximumEventAge != nil {
		maxAge = time.Duration(*f.Config.MaximumEventAge) * time.Second
	}
	enqueued := time.UnixMilli(headerInt(m, hEnqueued))
	if now.Sub(enqueued) > maxAge {
		var last *outcome
		if le := h.Get(hLastError); le != "" {
			last = &outcome{}
			_ = json.Unmarshal([]byte(le), last)
		}
		s.finish(ctx, f, m, "EventAgeExceeded", attempts, last)
		_ = m.Ack()
		return
	}

	// Keep the event invisible to redelivery while the function runs.
	runCtx, stop := context.WithCancel(ctx)
	var ticking sync.WaitGroup
	ticking.Go(func() {
		t := time.NewTicker(s.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	})
	resp, err := s.cfg.Invoker.Invoke(runCtx, &invoke.Request{
		Function:      name,
		Qualifier:     h.Get(hQualifier),
		Payload:       m.Data(),
		RequestID:     h.Get(hRequestID),
		TraceID:       h.Get(hTrace),
		ClientContext: h.Get(hClientCtx),
		Source:        "async",
	})
	stop()
	ticking.Wait()
	if err != nil {
		var nf *invoke.NotFoundError
		switch {
		case errors.As(err, &nf):
			s.log.Warn("async event dropped: the function no longer exists", "function", name, "requestId", h.Get(hRequestID))
			_ = m.Ack()
		case ctx.Err() != nil:
			// Shutting down: leave it for redelivery.
			_ = m.Nak()
		default:
			// Throttles and system errors are retried until the event is too old,
			// without counting as attempts.
			md, _ := m.Metadata()
			n := uint64(1)
			if md != nil {
				n = md.NumDelivered
			}
			delay := s.cfg.ThrottleDelay << min(n-1, 6)
			delay = min(delay, time.Minute)
			delay += time.Duration(rand.Int64N(int64(delay)/4 + 1))
			if !invoke.IsThrottle(err) {
				s.log.Warn("async invocation failed; will retry", "function", name, "requestId", h.Get(hRequestID), "err", err)
			}
			_ = m.NakWithDelay(delay)
		}
		return
	}
	attempts++
	out := &outcome{StatusCode: 200, ExecutedVersion: resp.ExecutedVersion, FunctionError: resp.FunctionError, Payload: resp.Payload}
	if resp.FunctionError == "" {
		s.finish(ctx, f, m, "Success", attempts, out)
		_ = m.Ack()
		return
	}
	if attempts <= maxRetries {
		delay := s.cfg.RetryDelays[min(attempts-1, len(s.cfg.RetryDelays)-1)]
		retry := nats.NewMsg(m.Subject())
		retry.Data = m.Data()
		for k, v := range h {
			retry.Header[k] = v
		}
		retry.Header.Set(hAttempts, strconv.Itoa(attempts))
		retry.Header.Set(hNotBefore, strconv.FormatInt(time.Now().Add(delay).UnixMilli(), 10))
		if le, err := json.Marshal(out); err == nil && len(le) < 64*1024 {
			retry.Header.Set(hLastError, string(le))
		}
		if _, err := s.js.PublishMsg(ctx, retry); err != nil {
			s.log.Error("async retry could not be stored; the event will be redelivered", "function", name, "err", err)
			_ = m.NakWithDelay(delay)
			return
		}
		_ = m.Ack()
		return
	}
	s.finish(ctx, f, m, "RetriesExhausted", attempts, out)
	_ = m.Ack()
}

// outcome is the response of the last execution.
type outcome struct {
	StatusCode      int             `json:"statusCode"`
	ExecutedVersion string          `json:"executedVersion"`
	FunctionError   string          `json:"functionError,omitempty"`
	Payload         json.RawMessage `json:"payload,omitempty"`
}

// Record is Lambda's destination record.
type Record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  RequestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *ResponseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// RequestContext describes the invocation in a Record.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext describes the last execution in a Record.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

func asJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

// finish sends the outcome to the function's destinations (and, on failure,
// its dead-letter target).
func (s *Service) finish(ctx context.Context, f *functions.Function, m eventMsg, condition string, attempts int, out *outcome) {
	success := condition == "Success"
	target := f.Config.Destinations.OnFailure
	if success {
		target = f.Config.Destinations.OnSuccess
	}
	h := m.Headers()
	if !success {
		s.log.Warn("async event failed", "function", f.Config.Name, "requestId", h.Get(hRequestID), "condition", condition, "attempts", attempts)
	}
	if target != "" {
		rec := Record{
			Version:   "1.0",
			Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
			RequestContext: RequestContext{
				RequestID:              h.Get(hRequestID),
				FunctionArn:            f.ARN + ":$LATEST",
				Condition:              condition,
				ApproximateInvokeCount: attempts,
			},
			RequestPayload: asJSON(m.Data()),
		}
		if rec.RequestPayload == nil {
			rec.RequestPayload = json.RawMessage("{}")
		}
		if out != nil {
			rec.ResponseContext = &ResponseContext{StatusCode: out.StatusCode, ExecutedVersion: out.ExecutedVersion, FunctionError: out.FunctionError}
			rec.ResponsePayload = asJSON(out.Payload)
		}
		body, _ := json.Marshal(rec)
		attrs := map[string]string{}
		if strings.HasPrefix(target, "arn:aws:events:") {
			attrs["detail-type"] = "Lambda Function Invocation Result - Failure"
			if success {
				attrs["detail-type"] = "Lambda Function Invocation Result - Success"
			}
			attrs["source"] = "lambda"
			attrs["resources"] = f.ARN
		}
		if err := s.deliver(ctx, f, target, body, attrs); err != nil {
			s.log.Error("async destination delivery failed", "function", f.Config.Name, "destination", target, "err", err)
		}
	}
	if !success && f.Config.OnError != "" {
		attrs := map[string]string{"RequestID": h.Get(hRequestID), "ErrorCode": "200", "ErrorMessage": condition}
		if out != nil && len(out.Payload) > 0 {
			var e struct {
				ErrorMessage string `json:"errorMessage"`
			}
			if json.Unmarshal(out.Payload, &e) == nil && e.ErrorMessage != "" {
				attrs["ErrorMessage"] = e.ErrorMessage
			}
		}
		payload := m.Data()
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		if err := s.deliver(ctx, f, f.Config.OnError, payload, attrs); err != nil {
			s.log.Error("async dead-letter delivery failed", "function", f.Config.Name, "target", f.Config.OnError, "err", err)
		}
	}
}

func (s *Service) deliver(ctx context.Context, f *functions.Function, target string, body []byte, attrs map[string]string) error {
	service := ""
	if strings.HasPrefix(target, "arn:") {
		if parts := strings.SplitN(target, ":", 4); len(parts) == 4 {
			service = parts[2]
		}
	}
	switch service {
	case "", "lambda":
		name := target
		if service == "" {
			// A function name, or a function key of the same service.
			if _, ok := s.cfg.Registry.Get(name); !ok {
				name = f.Service + "-" + f.Stage + "-" + target
			}
		}
		_, err := s.Enqueue(ctx, &Request{Function: name, Payload: body})
		return err
	default:
		sink := s.sinks[service]
		if sink == nil {
			return fmt.Errorf("no %s destinations on this node", service)
		}
		return sink(ctx, target, body, attrs)
	}
}
