package queues

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	running map[string]*poller // by mapping key
	// leaving are the pollers stopped but perhaps still receiving, by queue:
	// a queue's new poller starts once they stopped receiving.
	leaving map[string][]*poller
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
	return &Pollers{queues: q, invoker: inv, registry: reg, log: log, running: map[string]*poller{}, leaving: map[string][]*poller{}}
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
			for _, pl := range p.running {
				pl.stop()
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
		var app, ok = p.registry.Service(f.App)
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
			// Not the function's version: the poller invokes the function
			// by name, so a redeploy that keeps the trigger keeps its poller.
			key, _ := json.Marshal(struct {
				F string
				T Trigger
			}{f.Config.Name, t})
			want[string(key)] = mapping{function: f.Config.Name, trigger: t}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, pl := range p.running {
		if _, ok := want[key]; !ok {
			pl.stop()
			delete(p.running, key)
			p.leaving[pl.queue] = append(p.leaving[pl.queue], pl)
		}
	}
	for queue, pls := range p.leaving {
		pls = slices.DeleteFunc(pls, (*poller).stoppedReceiving)
		if len(pls) == 0 {
			delete(p.leaving, queue)
		} else {
			p.leaving[queue] = pls
		}
	}
	for key, m := range want {
		if _, ok := p.running[key]; ok {
			continue
		}
		mctx, stop := context.WithCancel(ctx)
		pl := &poller{queue: m.trigger.Queue, cancel: stop, done: make(chan struct{})}
		p.running[key] = pl
		after := slices.Clone(p.leaving[pl.queue])
		p.workers.Go(func() {
			// A redeploy replaces a poller: the old one stops receiving
			// (and releases what it held) before this one receives, so
			// no message waits out a visibility timeout in between.
			for _, old := range after {
				select {
				case <-old.done:
				case <-mctx.Done():
				}
			}
			p.supervise(mctx, m, pl)
		})
	}
}

// poller is one running mapping.
type poller struct {
	queue  string
	cancel context.CancelFunc

	mu        sync.Mutex
	stopping  bool
	receivers int           // workers that may still call Receive
	done      chan struct{} // closed when stopping and receivers is 0
}

// stop ends the poller; done closes once no worker receives any more.
func (pl *poller) stop() {
	pl.cancel()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if !pl.stopping {
		pl.stopping = true
		if pl.receivers == 0 {
			close(pl.done)
		}
	}
}

// join counts a new worker as a receiver, unless the poller is stopping.
func (pl *poller) join() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.stopping {
		return false
	}
	pl.receivers++
	return true
}

// leave says a worker will not receive again.
func (pl *poller) leave() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.receivers--
	if pl.stopping && pl.receivers == 0 {
		close(pl.done)
	}
}

func (pl *poller) stoppedReceiving() bool {
	select {
	case <-pl.done:
		return true
	default:
		return false
	}
}

// supervise scales the workers of one mapping with the queue's backlog.
func (p *Pollers) supervise(ctx context.Context, m mapping, pl *poller) {
	var mu sync.Mutex
	workers := 0
	start := func(extra bool) {
		if !pl.join() {
			return
		}
		mu.Lock()
		workers++
		mu.Unlock()
		p.workers.Go(func() {
			p.work(ctx, m, extra, pl.leave)
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
// It calls left once it will not receive again.
func (p *Pollers) work(ctx context.Context, m mapping, extra bool, left func()) {
	left = sync.OnceFunc(left)
	defer left()
	t := m.trigger
	for ctx.Err() == nil {
		batch := p.collect(ctx, t)
		if ctx.Err() != nil {
			// Stopped while receiving: what arrived was not delivered.
			p.release(t.Queue, batch)
			return
		}
		if len(batch) == 0 {
			if extra {
				return
			}
			continue
		}
		// Stopped while delivering: this worker receives no more.
		stopLeft := context.AfterFunc(ctx, left)
		p.deliver(ctx, m, batch)
		stopLeft()
	}
}

// release makes messages received but not delivered visible again at once,
// without counting the receive.
func (p *Pollers) release(queue string, batch []Message) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.queues.Release(ctx, queue, batch); err != nil {
		p.log.Warn("sqs poller release", "queue", queue, "messages", len(batch), "err", err)
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
	if ctx.Err() != nil {
		p.release(t.Queue, batch) // stopping: hand the batch to the next poller
		return
	}
	payload, err := p.queues.Event(t.Queue, batch)
	if err != nil {
		p.log.Warn("sqs trigger event", "queue", t.Queue, "err", err)
		return // the messages come back after their visibility timeout
	}
	resp, err := p.invoker.Invoke(ctx, &invoke.Request{Function: m.function, Qualifier: p.registry.EventQualifier(m.function), Payload: payload, Source: "sqs " + t.Queue})
	if err != nil {
		if ctx.Err() != nil {
			// Stopped before the answer came: the invoke was given up, so
			// the batch goes to the next poller now and uncounted, rather
			// than after its visibility timeout with one receive more (which
			// a maxReceiveCount of 1 would send to the dead-letter queue).
			p.release(t.Queue, batch)
			return
		}
		// Throttled or not runnable: the messages come back after their
		// visibility timeout.
		if !invoke.IsThrottle(err) {
			p.log.Warn("sqs trigger invoke failed", "function", m.function, "queue", t.Queue, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		return
	}
	if resp.FunctionError != "" {
		if ctx.Err() != nil {
			// Stopped meanwhile: the invoke was given up before the
			// function started (Runtime.Cancelled) or failed while the
			// poller stopped; either way the next poller takes the batch
			// now, uncounted, as above.
			p.release(t.Queue, batch)
		}
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

// Release makes received messages visible again at once without counting
// their receive: a trigger's poller that stops (on a redeploy or shutdown)
// hands back what it received and did not deliver, so the next receive sees
// the count it would have seen. The correction lives in this node's memory:
// after a restart, or on another node, the release counts as a receive.
func (s *Service) Release(ctx context.Context, queue string, msgs []Message) error {
	q, err := s.open(ctx, queue)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range msgs {
		h, err := decodeHandle(queue, m.ReceiptHandle)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Counted before the message is visible, so its next receive sees it.
		q.unreceived.add(h.sseq)
		if err := s.ChangeVisibility(ctx, queue, m.ReceiptHandle, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxUncounted bounds the corrections a queue keeps: released messages
// that expire instead of being deleted would otherwise stay forever.
const maxUncounted = 1 << 16

// uncounted holds, by stream sequence, how many deliveries of a message
// were released rather than received.
type uncounted struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (u *uncounted) add(sseq uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[uint64]int{}
	}
	if len(u.n) >= maxUncounted {
		// Forget about half, whichever: their counts read one receive high.
		for seq := range u.n {
			if len(u.n) < maxUncounted/2 {
				break
			}
			delete(u.n, seq)
		}
	}
	u.n[sseq]++
}

func (u *uncounted) get(sseq uint64) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[sseq]
}

func (u *uncounted) forget(sseq uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.n, sseq)
}
