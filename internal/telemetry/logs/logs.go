// Package logs keeps function logs durably: lines are batched off the invoke
// path and appended to a JetStream stream (one subject per function) whose age
// and size limits are the retention.
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

	"github.com/nimbus-platform/nimbus/internal/store"
)

// Record is one log line of a function.
type Record struct {
	Time      time.Time `json:"time"`
	Function  string    `json:"function"`
	Stream    string    `json:"stream,omitempty"` // Lambda's log stream name (one per instance)
	RequestID string    `json:"requestId,omitempty"`
	Message   string    `json:"message"`
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
	MaxBytes  int64         // default 1 GiB
	// Buffer is how many records may wait for the writer before new ones are
	// dropped (and counted): a slow disk must not slow invocations.
	Buffer        int
	FlushInterval time.Duration
	Logger        *slog.Logger
}

const streamName = "LOGS"

// Store appends and queries logs.
type Store struct {
	cfg     Config
	js      jetstream.JetStream
	stream  jetstream.Stream
	in      chan Record
	dropped atomic.Uint64
	done    chan struct{}
	// closeMu lets Append run concurrently while making Close exclusive:
	// instances may still print while the platform shuts down.
	closeMu sync.RWMutex
	closed  bool
}

// Open creates the stream if needed and starts the writer. Close stops it.
func Open(ctx context.Context, st *store.Store, cfg Config) (*Store, error) {
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
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
		Name:      streamName,
		Subjects:  []string{"logs.>"},
		MaxAge:    cfg.Retention,
		MaxBytes:  cfg.MaxBytes,
		Discard:   jetstream.DiscardOld,
		Retention: jetstream.LimitsPolicy,
	})
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, js: st.JS, stream: stream, in: make(chan Record, cfg.Buffer), done: make(chan struct{})}
	go s.write()
	return s, nil
}

// Append queues a record; it never blocks. After Close it drops the record.
func (s *Store) Append(r Record) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	select {
	case s.in <- r:
	default:
		s.dropped.Add(1)
	}
}

// Dropped counts records lost because the writer could not keep up.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

// Close flushes what is queued and stops the writer.
func (s *Store) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	close(s.in)
	s.closeMu.Unlock()
	<-s.done
}

func subject(function string) string { return "logs." + function }

func (s *Store) write() {
	defer close(s.done)
	batches := map[string][]wire{}
	count := 0
	ticker := time.NewTicker(s.cfg.FlushInterval)
	defer ticker.Stop()
	flush := func() {
		if count == 0 {
			return
		}
		for fn, recs := range batches {
			data, err := json.Marshal(recs)
			if err == nil {
				_, err = s.js.PublishAsync(subject(fn), data)
			}
			if err != nil {
				s.cfg.Logger.Warn("log batch not stored", "function", fn, "records", len(recs), "err", err)
			}
			delete(batches, fn)
		}
		count = 0
		select {
		case <-s.js.PublishAsyncComplete():
		case <-time.After(10 * time.Second):
			s.cfg.Logger.Warn("log store is slow to acknowledge")
		}
	}
	for {
		select {
		case r, ok := <-s.in:
			if !ok {
				flush()
				return
			}
			batches[r.Function] = append(batches[r.Function], wire{T: r.Time.UnixNano(), S: r.Stream, R: r.RequestID, M: r.Message})
			count++
			if count >= 1024 {
				flush()
			}
		case <-ticker.C:
			flush()
		}
	}
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
