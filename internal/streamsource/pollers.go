package streamsource

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/events/pattern"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// Sink delivers a failure record to a destination ARN (an SQS queue or
// SNS topic), as the async invocations' destinations do.
type Sink func(ctx context.Context, arn string, body []byte, attrs map[string]string) error

// Config sets up the pollers.
type Config struct {
	Store    *store.Store
	Invoker  *invoke.Service
	Registry *functions.Registry
	// Sources read streams by ARN service ("dynamodb", "kinesis").
	Sources map[string]Source
	// Sinks deliver on-failure records by ARN service ("sqs", "sns").
	Sinks  map[string]Sink
	Logger *slog.Logger
	// RetryDelay is the first pause before a failed batch is retried
	// (doubling up to 5 s); default 100 ms.
	RetryDelay time.Duration
	// LeaseTTL is how long a node's hold on a shard lasts without renewal
	// (lease.go); default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Node names this node in the leases, the same across its restarts so
	// that a node restarted after a crash takes its own leases back at
	// once; default a random name.
	Node string
}

// checkpointBucket holds each mapping's position per shard.
const checkpointBucket = "nimbus_stream_positions"

// Pollers run the stream events of deployed functions.
type Pollers struct {
	cfg    Config
	log    *slog.Logger
	kv     jetstream.KeyValue
	leases jetstream.KeyValue
	node   string // this node's name in the leases

	mu      sync.Mutex
	running map[string]*poller // by mapping key
	// leaving are stopped pollers not yet finished, by function and stream:
	// a changed mapping's new poller waits for them, so a shard is never
	// delivered by two pollers at once.
	leaving map[string][]*poller
	workers sync.WaitGroup
	started sync.WaitGroup
}

// New returns the pollers; Start runs them.
func New(ctx context.Context, cfg Config) (*Pollers, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 100 * time.Millisecond
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	kv, err := cfg.Store.KeyValue(ctx, checkpointBucket, 1)
	if err != nil {
		return nil, fmt.Errorf("stream positions: %w", err)
	}
	leases, err := openLeases(ctx, cfg)
	if err != nil {
		return nil, err
	}
	node := cfg.Node
	if node == "" {
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		node = hex.EncodeToString(id)
	}
	return &Pollers{cfg: cfg, log: cfg.Logger, kv: kv, leases: leases, node: node,
		running: map[string]*poller{}, leaving: map[string][]*poller{}}, nil
}

// Start reconciles the pollers with the deployed stream events every
// interval until ctx ends.
func (p *Pollers) Start(ctx context.Context, interval time.Duration) {
	p.started.Go(func() {
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
	})
}

// Wait blocks until the pollers Start started stopped (after its ctx
// ended) with the batches they were delivering, or until ctx ends.
func (p *Pollers) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.started.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stream pollers still running at shutdown: %w", ctx.Err())
	}
}

// poller is one running mapping.
type poller struct {
	stop context.CancelFunc
	done chan struct{} // closed when every worker of the mapping returned
}

func (pl *poller) finished() bool {
	select {
	case <-pl.done:
		return true
	default:
		return false
	}
}

type mapping struct {
	function string
	region   string
	arn      string // the function's ARN, for failure records
	role     string // the function's execution role ARN
	trigger  Trigger
}

// Mappings lists the enabled stream events of the registry's functions.
func Mappings(reg *functions.Registry) map[string]mapping {
	want := map[string]mapping{}
	for _, f := range reg.List() {
		for _, e := range f.Config.Events {
			if e.Type != "stream" {
				continue
			}
			t, err := ParseTrigger(e.Properties)
			if err != nil || !t.Enabled {
				continue
			}
			// By function name, not version: a redeploy that keeps the
			// event keeps its poller.
			key, _ := json.Marshal(struct {
				F string
				T Trigger
			}{f.Config.Name, t})
			role := fmt.Sprintf("arn:%s:iam::%s:role/%s-%s-%s-lambdaRole", cfn.Partition(f.Region), appspec.AccountID, f.Service, f.Stage, f.Region)
			want[string(key)] = mapping{function: f.Config.Name, region: f.Region, arn: f.ARN, role: role, trigger: t}
		}
	}
	return want
}

func (p *Pollers) reconcile(ctx context.Context) {
	want := Mappings(p.cfg.Registry)
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, pl := range p.running {
		if _, ok := want[key]; !ok {
			pl.stop()
			delete(p.running, key)
			id := leavingKey(key)
			p.leaving[id] = append(p.leaving[id], pl)
		}
	}
	for id, pls := range p.leaving {
		pls = slices.DeleteFunc(pls, (*poller).finished)
		if len(pls) == 0 {
			delete(p.leaving, id)
		} else {
			p.leaving[id] = pls
		}
	}
	for key, m := range want {
		if _, ok := p.running[key]; ok || ctx.Err() != nil {
			continue
		}
		src := p.cfg.Sources[m.trigger.Type]
		if src == nil {
			continue
		}
		mctx, stop := context.WithCancel(ctx)
		pl := &poller{stop: stop, done: make(chan struct{})}
		p.running[key] = pl
		after := slices.Clone(p.leaving[leavingKey(key)])
		p.workers.Go(func() {
			defer close(pl.done)
			for _, old := range after {
				select {
				case <-old.done:
				case <-mctx.Done():
					return
				}
			}
			var shards sync.WaitGroup
			p.supervise(mctx, m, src, &shards)
			shards.Wait()
		})
	}
}

// leavingKey is the function and stream of a mapping key.
func leavingKey(key string) string {
	var k struct {
		F string
		T Trigger
	}
	_ = json.Unmarshal([]byte(key), &k)
	return k.F + "\x00" + k.T.ARN
}

// supervise runs one worker per shard of the mapping's stream, and starts
// workers for shards that appear.
func (p *Pollers) supervise(ctx context.Context, m mapping, src Source, shardWorkers *sync.WaitGroup) {
	shards := map[string]bool{}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	warned := false
	for {
		list, err := src.Shards(ctx, m.trigger.ARN)
		if err != nil && !warned && ctx.Err() == nil {
			p.log.Warn("stream event: cannot read the stream", "function", m.function, "stream", m.trigger.ARN, "err", err)
			warned = true
		}
		for _, shard := range list {
			if !shards[shard] {
				shards[shard] = true
				shardWorkers.Go(func() {
					p.leased(ctx, m, shard, func(ctx context.Context) { p.runShard(ctx, m, src, shard) })
				})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkpointKey names a mapping's position in one shard.
func checkpointKey(m mapping, shard string) string {
	h := sha256.Sum256([]byte(m.function + "\x00" + m.trigger.ARN + "\x00" + shard))
	return hex.EncodeToString(h[:16])
}

// position is where a shard's reading resumes: the checkpoint, else the
// starting position (stored at once, so a restart does not move LATEST).
// It claims the checkpoint for this holder by writing it anew: rev is the
// revision its next save must replace, so a previous holder still finishing
// a batch can no longer store its older position over this one (ADR 0030).
func (p *Pollers) position(ctx context.Context, m mapping, src Source, shard string) (after uint64, horizon bool, rev uint64, err error) {
	key := checkpointKey(m, shard)
	for {
		e, gerr := p.kv.Get(ctx, key)
		switch {
		case gerr == nil:
			if after, horizon, err = parsePosition(e.Value()); err != nil {
				return 0, false, 0, err
			}
			rev, err = p.kv.Update(ctx, key, e.Value(), e.Revision())
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			if after, horizon, err = p.start(ctx, m, src, shard); err != nil {
				return 0, false, 0, err
			}
			rev, err = p.kv.Create(ctx, key, formatPosition(after, horizon))
		default:
			return 0, false, 0, gerr
		}
		if !revisionConflict(err) {
			return after, horizon, rev, err
		}
		// Written meanwhile (the previous holder's last save): read again.
	}
}

// start is the trigger's starting position in a shard with no checkpoint.
func (p *Pollers) start(ctx context.Context, m mapping, src Source, shard string) (after uint64, horizon bool, err error) {
	switch m.trigger.StartingPosition {
	case "LATEST":
		after, err = src.Latest(ctx, m.trigger.ARN, shard)
		return after, false, err
	case "AT_TIMESTAMP":
		// Sequence numbers are at least their record's time in nanoseconds.
		return uint64(m.trigger.StartingTimestamp) - 1, false, nil
	default:
		return 0, true, nil
	}
}

func parsePosition(v []byte) (after uint64, horizon bool, err error) {
	if string(v) == "h" {
		return 0, true, nil
	}
	after, err = strconv.ParseUint(string(v), 10, 64)
	return after, false, err
}

func formatPosition(after uint64, horizon bool) []byte {
	if horizon {
		return []byte("h")
	}
	return strconv.AppendUint(nil, after, 10)
}

// errFenced says another holder claimed the shard's checkpoint: this one
// lost its lease and must stop delivering the shard.
var errFenced = errors.New("another node took the shard over")

// revisionConflict says a compare-and-set found another revision.
func revisionConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// save stores the position over the revision *rev this holder wrote last,
// and refuses with errFenced when another holder wrote since. A save whose
// answer was lost but which was stored also ends in errFenced at the next
// one; the shard then restarts from the checkpoint (a repeat, never a skip).
func (p *Pollers) save(ctx context.Context, m mapping, shard string, after uint64, horizon bool, rev *uint64) error {
	r, err := p.kv.Update(ctx, checkpointKey(m, shard), formatPosition(after, horizon), *rev)
	if revisionConflict(err) {
		return fmt.Errorf("store position: %w", errFenced)
	}
	if err != nil {
		return err
	}
	*rev = r
	return nil
}

// readNext reads the records of a shard after *after, for both the in-order
// poller and the lanes. It returns none after waiting (up to a second, or
// until the stream changes) when there are none, after a read error, or when
// ctx ends; a trimmed position moves *after back to the oldest record.
func readNext(ctx context.Context, src Source, t Trigger, role, shard string, after *uint64, horizon *bool, log *slog.Logger) ([]Record, uint64) {
	changed, err := src.Changed(t.ARN)
	if err != nil {
		sleep(ctx, time.Second)
		return nil, 0
	}
	batch, next, err := src.Read(ctx, t.ARN, shard, *after, t.BatchSize, *horizon, role)
	if errors.Is(err, ErrTrimmed) {
		log.Warn("stream event: position trimmed, reading from the oldest record")
		*after, *horizon = 0, true
		return nil, 0
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("stream event: read", "err", err)
		}
		sleep(ctx, time.Second)
		return nil, 0
	}
	if len(batch) == 0 {
		select {
		case <-ctx.Done():
		case <-changed:
		case <-time.After(time.Second):
		}
	}
	return batch, next
}

// runShard delivers one shard's records in order until ctx ends.
func (p *Pollers) runShard(ctx context.Context, m mapping, src Source, shard string) {
	t := m.trigger
	log := p.log.With("function", m.function, "stream", t.ARN, "shard", shard)
	var after, rev uint64
	var horizon bool
	for {
		var err error
		if after, horizon, rev, err = p.position(ctx, m, src, shard); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("stream event: read position", "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	var filters *pattern.Matcher
	if len(t.Filters) > 0 {
		filters = pattern.New()
		for i, f := range t.Filters {
			if err := filters.Add(strconv.Itoa(i), []byte(f)); err != nil {
				log.Warn("stream event: filter pattern", "err", err)
			}
		}
	}
	if t.Parallelism > 1 {
		p.runLanes(ctx, m, src, shard, after, horizon, rev, filters)
		return
	}
	for ctx.Err() == nil {
		batch, next := readNext(ctx, src, t, m.role, shard, &after, &horizon, log)
		if len(batch) == 0 {
			continue // nothing yet, or ctx ended (the loop checks)
		}
		// The batching window: wait for a full batch or the window's end.
		if t.BatchWindow > 0 && len(batch) < t.BatchSize {
			deadline := time.Now().Add(time.Duration(t.BatchWindow) * time.Second)
			for len(batch) < t.BatchSize && time.Now().Before(deadline) {
				ch, _ := src.Changed(t.ARN)
				more, n2, err := src.Read(ctx, t.ARN, shard, next, t.BatchSize-len(batch), false, m.role)
				if err != nil {
					break
				}
				batch, next = append(batch, more...), n2
				if len(more) == 0 {
					select {
					case <-ctx.Done():
						return
					case <-ch:
					case <-time.After(time.Until(deadline)):
					}
				}
			}
		}
		kept := batch
		if filters != nil {
			kept = kept[:0:0]
			for _, r := range batch {
				if ids, err := filters.Match(r.Event); err == nil && len(ids) > 0 {
					kept = append(kept, r)
				}
			}
		}
		if len(kept) > 0 && !p.process(ctx, m, src, shard, kept) {
			return // stopped: the batch was not done, the checkpoint stays
		}
		after, horizon = next, false
		// The batch is done: store the position before reading on.
		for {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := p.save(sctx, m, shard, after, false, &rev)
			cancel()
			if err == nil {
				break
			}
			if errors.Is(err, errFenced) {
				log.Warn("stream event: the shard's lease was lost during a batch; its position is not stored and the shard stops here")
				return
			}
			log.Warn("stream event: store position", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// outcome is what one invocation of a batch gave.
type outcome struct {
	ok bool
	// failedFrom is the index of the lowest record the function reported
	// failed (ReportBatchItemFailures), -1 when the whole batch failed.
	failedFrom int
	status     int
	funcError  string
}

// process delivers a batch until it is done: it succeeded, or its records
// went to the on-failure destination. It returns false when ctx ended first.
func (p *Pollers) process(ctx context.Context, m mapping, src Source, shard string, batch []Record) bool {
	t := m.trigger
	attempts := 0
	delay := p.cfg.RetryDelay
	for {
		if t.MaximumRecordAge >= 0 {
			cut := 0
			for cut < len(batch) && time.Since(batch[cut].Arrival) > time.Duration(t.MaximumRecordAge)*time.Second {
				cut++
			}
			if cut > 0 {
				p.failed(ctx, m, src, shard, batch[:cut], "RecordAgeExceeded", attempts, outcome{status: 200})
				batch = batch[cut:]
			}
			if len(batch) == 0 {
				return true
			}
		}
		out := p.invoke(ctx, m, batch)
		if out.ok {
			return true // done even when stopping: its position is stored
		}
		if ctx.Err() != nil {
			return false
		}
		attempts++
		switch {
		case out.failedFrom > 0:
			batch = batch[out.failedFrom:] // the records before it are done
		case t.Bisect && len(batch) > 1 && out.failedFrom < 0:
			// Each half gets its own retries; the split is no retry.
			half := len(batch) / 2
			return p.process(ctx, m, src, shard, batch[:half]) && p.process(ctx, m, src, shard, batch[half:])
		}
		if t.MaximumRetryAttempts >= 0 && attempts > t.MaximumRetryAttempts {
			p.failed(ctx, m, src, shard, batch, "RetryAttemptsExhausted", attempts, out)
			return true
		}
		if !sleep(ctx, delay) {
			return false
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// invoke runs the function once with batch.
func (p *Pollers) invoke(ctx context.Context, m mapping, batch []Record) outcome {
	payload := make([]byte, 0, 64)
	payload = append(payload, `{"Records":[`...)
	for i, r := range batch {
		if i > 0 {
			payload = append(payload, ',')
		}
		payload = append(payload, r.Event...)
	}
	payload = append(payload, "]}"...)
	// A batch that started runs to its end, as in Lambda: shutdown waits
	// for it, and its position is stored, so it is not delivered again.
	resp, err := p.cfg.Invoker.Invoke(context.WithoutCancel(ctx), &invoke.Request{Function: m.function, Payload: payload, Source: m.trigger.Type + " " + m.trigger.ARN})
	if err != nil {
		if !invoke.IsThrottle(err) && ctx.Err() == nil {
			p.log.Warn("stream event: invoke failed", "function", m.function, "err", err)
		}
		return outcome{failedFrom: -1, status: 429, funcError: ""}
	}
	if resp.FunctionError != "" {
		return outcome{failedFrom: -1, status: 200, funcError: resp.FunctionError}
	}
	if !m.trigger.ReportFailures || len(resp.Payload) == 0 || string(resp.Payload) == "null" {
		return outcome{ok: true}
	}
	var r struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if json.Unmarshal(resp.Payload, &r) != nil {
		return outcome{ok: true} // not a failure report: Lambda counts it a success
	}
	if len(r.BatchItemFailures) == 0 {
		return outcome{ok: true}
	}
	index := map[string]int{}
	for i, rec := range batch {
		index[strconv.FormatUint(rec.Seq, 10)] = i
	}
	lowest := len(batch)
	for _, f := range r.BatchItemFailures {
		if f.ItemIdentifier == nil {
			return outcome{failedFrom: -1, status: 200}
		}
		i, ok := index[*f.ItemIdentifier]
		if !ok {
			return outcome{failedFrom: -1, status: 200} // Lambda: an unknown identifier fails the batch
		}
		lowest = min(lowest, i)
	}
	if lowest == 0 {
		return outcome{failedFrom: -1, status: 200}
	}
	return outcome{failedFrom: lowest, status: 200}
}

// failed sends the on-failure destination Lambda's invocation record for
// records it gives up on (and logs them when there is no destination).
func (p *Pollers) failed(ctx context.Context, m mapping, src Source, shard string, batch []Record, condition string, attempts int, out outcome) {
	t := m.trigger
	p.log.Warn("stream event: records skipped", "function", m.function, "stream", t.ARN, "shard", shard,
		"records", len(batch), "condition", condition, "destination", t.OnFailure)
	if t.OnFailure == "" {
		return
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	ms := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000Z") }
	resp := map[string]any{"statusCode": out.status, "executedVersion": "$LATEST"}
	if out.funcError != "" {
		resp["functionError"] = out.funcError
	}
	rec := map[string]any{
		"requestContext": map[string]any{
			"requestId": fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]), "functionArn": m.arn,
			"condition": condition, "approximateInvokeCount": attempts,
		},
		"responseContext": resp,
		"version":         "1.0",
		"timestamp":       ms(time.Now()),
		src.BatchInfo(): map[string]any{
			"shardId":                         shard,
			"startSequenceNumber":             strconv.FormatUint(batch[0].Seq, 10),
			"endSequenceNumber":               strconv.FormatUint(batch[len(batch)-1].Seq, 10),
			"approximateArrivalOfFirstRecord": ms(batch[0].Arrival),
			"approximateArrivalOfLastRecord":  ms(batch[len(batch)-1].Arrival),
			"batchSize":                       len(batch),
			"streamArn":                       t.ARN,
		},
	}
	if out.status == 0 {
		delete(rec, "responseContext")
	}
	body, _ := json.Marshal(rec)
	sink := p.cfg.Sinks[arnService(t.OnFailure)]
	if sink == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := sink(dctx, t.OnFailure, body, nil); err != nil {
		p.log.Warn("stream event: on-failure destination", "function", m.function, "destination", t.OnFailure, "err", err)
	}
}

// PrepareDeploy refuses a deploy whose stream events are malformed or name
// a stream that does not exist (a functions.PrepareHook; the tables' hook
// has created the service's tables by then).
func (p *Pollers) PrepareDeploy(ctx context.Context, app *appspec.Application) error {
	for _, f := range app.Functions {
		for i, e := range f.Events {
			if e.Type != "stream" {
				continue
			}
			where := fmt.Sprintf("functions.%s event #%d (stream)", f.Key, i+1)
			t, err := ParseTrigger(e.Properties)
			if err != nil {
				return &functions.InvalidError{Err: fmt.Errorf("%s: %w", where, err)}
			}
			src := p.cfg.Sources[t.Type]
			if src == nil {
				return &functions.InvalidError{Err: fmt.Errorf("%s: %s streams are not supported by nimbus yet", where, t.Type)}
			}
			if _, err := src.Shards(ctx, t.ARN); err != nil {
				return &functions.InvalidError{Err: fmt.Errorf("%s: stream %s: %w", where, t.ARN, err)}
			}
		}
	}
	return nil
}
