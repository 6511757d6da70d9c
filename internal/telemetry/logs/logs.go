// Package logs keeps function logs durably: lines are batched off the invoke
// path and appended to a JetStream stream (one subject per function). The
// stream's age limit is the retention; the writer keeps each function within
// its share of the size budget, so that a chatty function evicts its own
// oldest lines and no other function's.
package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// Record is one log line of a function.
type Record struct {
	Time      time.Time `json:"time"`
	Function  string    `json:"function"`
	Stream    string    `json:"stream,omitempty"` // Lambda's log stream name (one per instance)
	RequestID string    `json:"requestId,omitempty"`
	Message   string    `json:"message"`
	// Dropped, when not zero, makes the record a notice instead of a line:
	// this many of the function's lines were not kept (see Store.Dropped).
	Dropped uint64 `json:"dropped,omitempty"`
}

// wire is the stored form of a record; Function is the subject.
type wire struct {
	T int64  `json:"t"`
	S string `json:"s,omitempty"`
	R string `json:"r,omitempty"`
	M string `json:"m"`
}

// Config bounds the log store.
type Config struct {
	Retention time.Duration // default 7 days
	MaxBytes  int64         // all functions together, default 1 GiB or 1/4 of a smaller disk
	// FunctionBytes is one function's share of MaxBytes, default 1/8 of it:
	// a chatty function evicts its own oldest lines, not other functions'.
	FunctionBytes int64
	// Buffer is how many records may wait for the writer before new ones are
	// dropped (and counted): a slow disk must not slow invocations.
	Buffer        int
	FlushInterval time.Duration
	Logger        *slog.Logger
}

const streamName = "LOGS"

// batchBytes bounds one stored batch of a function's lines.
const batchBytes = 64 << 10

// Store appends and queries logs.
type Store struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	// wake asks the writer for an early flush (a full batch waiting);
	// otherwise it takes the pending records on its ticker. Records are not
	// handed over one by one: a channel send per line woke the writer
	// goroutine several times per invocation.
	wake chan struct{}
	quit chan struct{} // closed by Close
	done chan struct{}
	// perFunction bounds one function's records waiting for the writer, so
	// that a chatty function cannot fill the buffer for the others.
	perFunction int

	mu       sync.Mutex
	closed   bool              // Close has begun: Append drops
	pending  []Record          // waiting for the writer, at most cfg.Buffer
	queued   map[string]int    // records in pending, by function
	dropped  map[string]uint64 // records never stored, by function
	total    atomic.Uint64
	lastWarn time.Time
	metric   *prometheus.CounterVec
	evicted  *prometheus.CounterVec

	// usage is what each function holds in the stream; the writer's own.
	usage map[string]*held
	// retentionOf is a function's own retention (0: the platform's).
	retentionOf atomic.Pointer[func(function string) time.Duration]
}

// SetRetention tells the writer each function's own retention (its
// logRetentionInDays); 0 or more than the platform's keeps the platform's.
func (s *Store) SetRetention(of func(function string) time.Duration) {
	s.retentionOf.Store(&of)
}

// ttl is the age limit of a function's new batches, 0 for the stream's.
func (s *Store) ttl(function string) time.Duration {
	of := s.retentionOf.Load()
	if of == nil {
		return 0
	}
	if d := (*of)(function); d > 0 && d < s.cfg.Retention {
		return d
	}
	return 0
}

// held is what one function's subject holds in the stream. Messages that
// aged out are still counted until the function is next trimmed.
type held struct {
	batches, bytes, lines int64
}

// measure reads what each function holds in the stream: counts are exact,
// sizes are the stream's average batch size (JetStream does not keep bytes
// per subject).
func measure(ctx context.Context, stream jetstream.Stream) (map[string]*held, error) {
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("logs.>"))
	if err != nil {
		return nil, fmt.Errorf("measure logs: %w", err)
	}
	usage := map[string]*held{}
	avg := int64(0)
	if info.State.Msgs > 0 {
		avg = int64(info.State.Bytes / info.State.Msgs)
	}
	for subj, n := range info.State.Subjects {
		fn := strings.TrimPrefix(subj, "logs.")
		usage[fn] = &held{batches: int64(n), bytes: int64(n) * avg, lines: int64(n)}
	}
	return usage, nil
}

// Open creates the stream if needed and starts the writer. Close stops it.
func Open(ctx context.Context, st *store.Store, cfg Config) (*Store, error) {
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
		// Logs must not fill a small disk that queues and events need.
		if disk := st.DiskSize(); disk > 0 {
			cfg.MaxBytes = min(cfg.MaxBytes, disk/4)
		}
	}
	if cfg.FunctionBytes <= 0 {
		cfg.FunctionBytes = cfg.MaxBytes / 8
	}
	cfg.FunctionBytes = min(cfg.FunctionBytes, cfg.MaxBytes)
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1 << 16
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	stream, err := st.Stream(ctx, jetstream.StreamConfig{
		Name:     streamName,
		Subjects: []string{"logs.>"},
		MaxAge:   cfg.Retention,
		// A function's own, shorter, retention is a TTL on its batches.
		AllowMsgTTL: true,
		// No MaxBytes: JetStream would reserve it on the disk up front (and
		// refuse to start on a smaller one); the writer keeps the budget.
		Discard:   jetstream.DiscardOld,
		Retention: jetstream.LimitsPolicy,
	})
	if err != nil {
		return nil, err
	}
	usage, err := measure(ctx, stream)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg: cfg, js: st.JS, stream: stream, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		perFunction: max(cfg.Buffer/8, 1),
		usage:       usage,
		queued:      map[string]int{},
		dropped:     map[string]uint64{},
		metric: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_log_lines_dropped_total",
			Help: "Log lines of a function that were not kept: over its share of the writer's buffer, or refused by the store.",
		}, []string{"function"}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_log_lines_evicted_total",
			Help: "Log lines of a function evicted before their age to keep it within its share of the log budget (estimated from batch averages).",
		}, []string{"function"}),
	}
	go s.write()
	return s, nil
}

// Collectors are the dropped and evicted lines counters, for the platform's
// metrics registry.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metric, s.evicted}
}

// Append queues a record; it never blocks. After Close it drops the record.
func (s *Store) Append(r Record) {
	s.mu.Lock()
	var why error
	switch {
	case s.closed:
		why = errClosed
	case s.queued[r.Function] >= s.perFunction:
		why = errOverShare
	case len(s.pending) >= s.cfg.Buffer:
		why = errBufferFull
	}
	if why != nil {
		s.mu.Unlock()
		s.drop(r.Function, 1, why)
		return
	}
	s.queued[r.Function]++
	s.pending = append(s.pending, r)
	full := len(s.pending) == flushRecords
	s.mu.Unlock()
	if full {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// flushRecords is how many records make the writer flush before its ticker.
const flushRecords = 1024

// take moves up to flushRecords pending records into spare (emptied) and
// returns them. At most that many leave the buffer's count before they are
// filed, so a writer held up by a slow flush keeps the memory of queued
// records bounded by the buffer and one take.
func (s *Store) take(spare []Record) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.pending
	if len(recs) > flushRecords {
		recs = append(spare[:0], s.pending[:flushRecords]...)
		rest := copy(s.pending, s.pending[flushRecords:])
		clear(s.pending[rest:]) // keep no strings alive
		s.pending = s.pending[:rest]
	} else {
		s.pending = spare[:0]
	}
	for _, r := range recs {
		if s.queued[r.Function]--; s.queued[r.Function] <= 0 {
			delete(s.queued, r.Function)
		}
	}
	return recs
}

// Why lines are dropped before they reach the store.
var (
	errOverShare  = errors.New("over its share of the writer's buffer")
	errBufferFull = errors.New("the writer's buffer is full")
	errClosed     = errors.New("the log store is closed")
)

// drop counts n lines of function that were not kept.
func (s *Store) drop(function string, n int, err error) {
	s.total.Add(uint64(n))
	s.metric.WithLabelValues(function).Add(float64(n))
	s.mu.Lock()
	s.dropped[function] += uint64(n)
	warn := time.Since(s.lastWarn) > 10*time.Second
	if warn {
		s.lastWarn = time.Now()
	}
	total := s.dropped[function]
	s.mu.Unlock()
	if warn {
		s.cfg.Logger.Warn("function log lines dropped", "function", function, "dropped", total, "reason", err)
	}
}

// Dropped counts the records lost: over a function's share of the writer's
// buffer, refused by the store, or appended after Close.
func (s *Store) Dropped() uint64 { return s.total.Load() }

// DroppedOf counts the records of one function that were lost.
func (s *Store) DroppedOf(function string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped[function]
}

// Close flushes what is queued and stops the writer.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
}

func subject(function string) string { return "logs." + function }

// batch is a function's records waiting to be stored.
type batch struct {
	recs  []wire
	bytes int
}

// sent is a stored batch waiting for the store's answer.
type sent struct {
	function string
	lines    int
	bytes    int
	ack      jetstream.PubAckFuture
}

func (s *Store) write() {
	defer close(s.done)
	batches := map[string]*batch{}
	var inflight []sent
	count := 0
	ticker := time.NewTicker(s.cfg.FlushInterval)
	defer ticker.Stop()
	publish := func(fn string, b *batch) {
		data, err := json.Marshal(b.recs)
		var ack jetstream.PubAckFuture
		if err == nil {
			var opts []jetstream.PublishOpt
			if ttl := s.ttl(fn); ttl > 0 {
				opts = append(opts, jetstream.WithMsgTTL(ttl))
			}
			ack, err = s.js.PublishAsync(subject(fn), data, opts...)
		}
		if err != nil {
			s.drop(fn, len(b.recs), err)
			return
		}
		// JetStream's stored size: the payload, the subject and a header.
		inflight = append(inflight, sent{fn, len(b.recs), len(data) + len(subject(fn)) + 22, ack})
	}
	flush := func() {
		for fn, b := range batches {
			publish(fn, b)
		}
		clear(batches)
		count = 0
		timeout := time.After(10 * time.Second)
		grown := map[string]bool{}
		for _, f := range inflight {
			select {
			case <-f.ack.Ok():
				h := s.usage[f.function]
				if h == nil {
					h = &held{}
					s.usage[f.function] = h
				}
				h.batches++
				h.bytes += int64(f.bytes)
				h.lines += int64(f.lines)
				grown[f.function] = true
			case err := <-f.ack.Err():
				s.drop(f.function, f.lines, err)
			case <-timeout:
				s.drop(f.function, f.lines, errors.New("the log store did not acknowledge in 10s"))
			}
		}
		inflight = inflight[:0]
		s.trim(grown)
	}
	var recs []Record
	// file puts the taken records into their functions' batches.
	file := func() {
		for i := range recs {
			r := &recs[i]
			b := batches[r.Function]
			if b == nil {
				b = &batch{}
				batches[r.Function] = b
			}
			w := wire{T: r.Time.UnixNano(), S: r.Stream, R: r.RequestID, M: r.Message}
			b.recs = append(b.recs, w)
			b.bytes += len(w.S) + len(w.R) + len(w.M) + 40 // the JSON around them
			count++
			if b.bytes >= batchBytes {
				// Full batches keep the stream's count limits a bound on bytes.
				publish(r.Function, b)
				delete(batches, r.Function)
			}
			if count >= flushRecords || len(inflight) >= 64 {
				flush()
			}
			*r = Record{} // the buffer is reused: keep no strings alive
		}
	}
	// add files the pending records, a take at a time.
	add := func() {
		for {
			if recs = s.take(recs); len(recs) == 0 {
				return
			}
			file()
		}
	}
	for {
		select {
		case <-s.quit:
			add()
			flush()
			return
		case <-s.wake:
			add()
		case <-ticker.C:
			add()
			flush()
		}
	}
}

// trim evicts the oldest batches of the functions over their share, then,
// while all functions together are over the budget, of the largest one.
func (s *Store) trim(grown map[string]bool) {
	for fn := range grown {
		if h := s.usage[fn]; h.bytes > s.cfg.FunctionBytes {
			s.shrink(fn, s.cfg.FunctionBytes)
		}
	}
	for range 8 {
		var total int64
		largest := ""
		for fn, h := range s.usage {
			total += h.bytes
			if largest == "" || h.bytes > s.usage[largest].bytes {
				largest = fn
			}
		}
		if total <= s.cfg.MaxBytes || largest == "" {
			return
		}
		h := s.usage[largest]
		s.shrink(largest, max(h.bytes-(total-s.cfg.MaxBytes), h.bytes/2))
	}
}

// shrink evicts a function's oldest batches until it holds about target
// bytes (a little less, so that trimming is not needed at every flush).
func (s *Store) shrink(fn string, target int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := s.usage[fn]
	// Batches that aged out are gone already: count what is there.
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subject(fn)))
	if err != nil {
		s.cfg.Logger.Warn("log retention: cannot measure a function's logs", "function", fn, "err", err)
		return
	}
	n := int64(info.State.Subjects[subject(fn)])
	if n < h.batches && h.batches > 0 {
		h.bytes = h.bytes * n / h.batches
		h.lines = h.lines * n / h.batches
		h.batches = n
	}
	if h.bytes <= target || h.batches == 0 {
		return
	}
	keep := h.batches * (target - target/8) / h.bytes
	if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(subject(fn)), jetstream.WithPurgeKeep(uint64(keep))); err != nil {
		s.cfg.Logger.Warn("log retention: cannot evict a function's oldest lines", "function", fn, "err", err)
		return
	}
	evicted := h.lines * (h.batches - keep) / h.batches
	h.bytes = h.bytes * keep / h.batches
	h.lines -= evicted
	h.batches = keep
	if keep == 0 {
		delete(s.usage, fn)
	}
	s.evicted.WithLabelValues(fn).Add(float64(evicted))
}

// Query selects a function's records.
type Query struct {
	Function string
	Since    time.Time // zero: from the oldest kept
	Filter   string    // substring a record's message must contain
	Follow   bool      // keep waiting for new records until ctx ends
}

// Read calls fn for each record matching q, oldest first.
//
// Each read runs on its own ephemeral consumer, deleted when the read ends:
// a consumer left behind keeps its goroutines in the server until its
// inactivity threshold.
func (s *Store) Read(ctx context.Context, q Query, fn func(Record) error) error {
	cfg := jetstream.ConsumerConfig{
		FilterSubject: subject(q.Function),
		AckPolicy:     jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MemoryStorage: true,
		// Backstop for a reader that vanished without deleting its consumer.
		InactiveThreshold: time.Minute,
	}
	if !q.Since.IsZero() {
		// A batch is stored when flushed, up to FlushInterval after its first line.
		since := q.Since.Add(-time.Second)
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	cons, err := s.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	name := cons.CachedInfo().Name
	defer func() {
		// Deleted even when ctx ended (a cancelled follow), bounded.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.stream.DeleteConsumer(dctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			s.cfg.Logger.Warn("log reader's consumer not deleted", "consumer", name, "err", err)
		}
	}()
	if cons.CachedInfo().NumPending == 0 && !q.Follow {
		return nil
	}
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	defer iter.Stop()
	for {
		nextCtx := ctx
		var cancel context.CancelFunc = func() {}
		if !q.Follow {
			nextCtx, cancel = context.WithTimeout(ctx, 5*time.Second)
		}
		msg, err := iter.Next(jetstream.NextContext(nextCtx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				if q.Follow {
					return nil
				}
				return ctx.Err()
			}
			return fmt.Errorf("read logs: %w", err)
		}
		var recs []wire
		if err := json.Unmarshal(msg.Data(), &recs); err != nil {
			return fmt.Errorf("read logs: corrupt batch: %w", err)
		}
		for _, w := range recs {
			t := time.Unix(0, w.T)
			if !q.Since.IsZero() && t.Before(q.Since) {
				continue
			}
			if q.Filter != "" && !strings.Contains(w.M, q.Filter) {
				continue
			}
			if err := fn(Record{Time: t, Function: q.Function, Stream: w.S, RequestID: w.R, Message: w.M}); err != nil {
				return err
			}
		}
		if !q.Follow {
			if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
				return nil
			}
		}
	}
}
