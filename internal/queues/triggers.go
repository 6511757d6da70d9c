package queues

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
)

// Pollers run the sqs triggers of deployed functions: they receive batches,
// invoke the function with the SQS event, and delete what succeeded. What
// fails reappears after the visibility timeout; the queue's redrive policy
// moves poison messages to its dead-letter queue.
type Pollers struct {
	queues   *Service
	invoker  *invoke.Service
	registry *functions.Registry
	log      *slog.Logger

	mu      sync.Mutex
	running map[string]context.CancelFunc // by mapping key
	// workers counts the goroutines of running mappings (supervisors and
	// their workers); Run waits for them before it returns.
	workers sync.WaitGroup
	// started counts the Runs that Start started; Wait waits for them.
	started sync.WaitGroup
}

// NewPollers returns pollers for the registry's functions.
func NewPollers(q *Service, inv *invoke.Service, reg *functions.Registry, log *slog.Logger) *Pollers {
	if log == nil {
		log = slog.Default()
	}
	return &Pollers{queues: q, invoker: inv, registry: reg, log: log, running: map[string]context.CancelFunc{}}
}

// Start runs Run in a goroutine that Wait waits for.
func (p *Pollers) Start(ctx context.Context, interval time.Duration) {
	p.started.Go(func() { p.Run(ctx, interval) })
}

// Wait blocks until the Runs that Start started returned (after their ctx
// ended), and with them every poller and invocation they started, or until
// ctx ends (with ctx's error).
func (p *Pollers) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		p.started.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sqs triggers still running at shutdown: %w", ctx.Err())
	}
}

// Run reconciles the running pollers with the deployed triggers every
// interval until ctx ends. It returns when every poller it started has
// stopped: a batch being delivered finishes (its function runs to its end,
// as in Lambda), and no invocation starts after ctx ended.
func (p *Pollers) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.reconcile(ctx)
		select {
		case <-ctx.Done():
			p.mu.Lock()
			for _, stop := range p.running {
				stop()
			}
			clear(p.running)
			p.mu.Unlock()
			p.workers.Wait()
			return
		case <-t.C:
		}
	}
}

type mapping struct {
	function string
	trigger  Trigger
}

func (p *Pollers) reconcile(ctx context.Context) {
	want := map[string]mapping{}
	for _, f := range p.registry.List() {
		var app, ok = p.registry.Service(f.Service)
		if !ok {
			continue
		}
		for _, e := range f.Config.Events {
			if e.Type != "sqs" {
				continue
			}
			t, err := ParseTrigger(app, e.Properties)
			if err != nil || !t.Enabled {
				continue
			}
			key, _ := json.Marshal(struct {
				F string
				K string
				T Trigger
			}{f.Config.Name, f.Spec.Key, t})
			want[string(key)] = mapping{function: f.Config.Name, trigger: t}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, stop := range p.running {
		if _, ok := want[key]; !ok {
			stop()
			delete(p.running, key)
		}
	}
	for key, m := range want {
		if _, ok := p.running[key]; ok {
			continue
		}
		mctx, stop := context.WithCancel(ctx)
		p.running[key] = stop
		p.workers.Go(func() { p.supervise(mctx, m) })
	}
}

// supervise scales the workers of one mapping with the queue's backlog.
func (p *Pollers) supervise(ctx context.Context, m mapping) {
	var mu sync.Mutex
	workers := 0
	start := func(extra bool) {
		mu.Lock()
		workers++
		mu.Unlock()
		p.workers.Go(func() {
			p.work(ctx, m, extra)
			mu.Lock()
			workers--
			mu.Unlock()
		})
	}
	start(false)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := p.queues.Count(ctx, m.trigger.Queue)
		if err != nil {
			continue
		}
		per := int64(min(m.trigger.BatchSize, 10))
		desired := int(min((c.Visible+per-1)/per, int64(m.trigger.MaximumConcurrency)))
		mu.Lock()
		n := workers
		mu.Unlock()
		for i := n; i < desired; i++ {
			start(true)
		}
	}
}

// work polls until ctx ends; an extra worker stops when the queue is empty.
func (p *Pollers) work(ctx context.Context, m mapping, extra bool) {
	t := m.trigger
	for ctx.Err() == nil {
		batch := p.collect(ctx, t)
		if len(batch) == 0 {
			if extra {
				return
			}
			continue
		}
		p.deliver(ctx, m, batch)
	}
}

func (p *Pollers) collect(ctx context.Context, t Trigger) []Message {
	wait := 2
	msgs, err := p.queues.Receive(ctx, t.Queue, ReceiveInput{Max: min(t.BatchSize, 10), WaitSeconds: &wait})
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("sqs poller receive", "queue", t.Queue, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		return nil
	}
	if len(msgs) == 0 || t.MaximumBatchingWindow == 0 {
		return msgs
	}
	deadline := time.Now().Add(time.Duration(t.MaximumBatchingWindow) * time.Second)
	for len(msgs) < t.BatchSize && time.Now().Before(deadline) && ctx.Err() == nil {
		zero := 0
		more, err := p.queues.Receive(ctx, t.Queue, ReceiveInput{Max: min(t.BatchSize-len(msgs), 10), WaitSeconds: &zero})
		if err != nil {
			break
		}
		if len(more) == 0 {
			time.Sleep(min(50*time.Millisecond, time.Until(deadline)))
		}
		msgs = append(msgs, more...)
	}
	return msgs
}

// Record is one message of the SQS event a function receives.
type Record struct {
	MessageID              string                   `json:"messageId"`
	ReceiptHandle          string                   `json:"receiptHandle"`
	Body                   string                   `json:"body"`
	Attributes             map[string]string        `json:"attributes"`
	MessageAttributes      map[string]RecordAttrVal `json:"messageAttributes"`
	MD5OfBody              string                   `json:"md5OfBody"`
	MD5OfMessageAttributes *string                  `json:"md5OfMessageAttributes"`
	EventSource            string                   `json:"eventSource"`
	EventSourceARN         string                   `json:"eventSourceARN"`
	AWSRegion              string                   `json:"awsRegion"`
}

// RecordAttrVal is a message attribute in the SQS event.
type RecordAttrVal struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      *string  `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues []string `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// Event builds the SQS event for a batch.
func (s *Service) Event(queue string, batch []Message) ([]byte, error) {
	recs := make([]Record, len(batch))
	arn, region := s.ARN(queue), s.region(queue)
	for i, m := range batch {
		r := Record{MessageID: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Attributes: m.System,
			MessageAttributes: map[string]RecordAttrVal{}, MD5OfBody: m.MD5OfBody, EventSource: "aws:sqs",
			EventSourceARN: arn, AWSRegion: region}
		if m.MD5OfAttrs != "" {
			md := m.MD5OfAttrs
			r.MD5OfMessageAttributes = &md
		}
		for k, a := range m.Attributes {
			v := RecordAttrVal{StringValue: a.StringValue, DataType: a.DataType, StringListValues: []string{}, BinaryListValues: []string{}}
			if a.BinaryValue != nil {
				b := base64.StdEncoding.EncodeToString(a.BinaryValue)
				v.BinaryValue = &b
			}
			r.MessageAttributes[k] = v
		}
		recs[i] = r
	}
	return json.Marshal(map[string]any{"Records": recs})
}

func (p *Pollers) deliver(ctx context.Context, m mapping, batch []Message) {
	t := m.trigger
	payload, err := p.queues.Event(t.Queue, batch)
	if err != nil || ctx.Err() != nil {
		return // stopping: the messages come back after their visibility timeout
	}
	resp, err := p.invoker.Invoke(ctx, &invoke.Request{Function: m.function, Payload: payload, Source: "sqs " + t.Queue})
	if err != nil {
		// Throttled or not runnable: the messages come back after their
		// visibility timeout.
		if !invoke.IsThrottle(err) && ctx.Err() == nil {
			p.log.Warn("sqs trigger invoke failed", "function", m.function, "queue", t.Queue, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		return
	}
	if resp.FunctionError != "" {
		return
	}
	failed := map[string]bool{}
	if t.ReportFailures {
		var r struct {
			BatchItemFailures []struct {
				ItemIdentifier *string `json:"itemIdentifier"`
			} `json:"batchItemFailures"`
		}
		if len(resp.Payload) > 0 && string(resp.Payload) != "null" {
			if err := json.Unmarshal(resp.Payload, &r); err != nil {
				return // an unreadable answer fails the whole batch
			}
		}
		known := map[string]bool{}
		for _, m := range batch {
			known[m.ID] = true
		}
		for _, f := range r.BatchItemFailures {
			if f.ItemIdentifier == nil || !known[*f.ItemIdentifier] {
				return // Lambda treats an invalid identifier as a total failure
			}
			failed[*f.ItemIdentifier] = true
		}
	}
	// The batch ran: delete what succeeded even when stopping, so that it
	// does not run again (bounded, since shutdown waits for it).
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, msg := range batch {
		if failed[msg.ID] {
			continue
		}
		if err := p.queues.DeleteMessage(dctx, t.Queue, msg.ReceiptHandle); err != nil {
			p.log.Warn("sqs trigger delete", "queue", t.Queue, "err", fmt.Sprint(err))
		}
	}
}
