// Package schedule fires scheduled jobs (the rules of EventBridge with a
// schedule expression, and so serverless.yml `schedule` events) once per tick.
//
// Each job's last fired tick is kept in a JetStream KV bucket, written after the
// tick's fire function succeeded (the fire function stores its work durably,
// de-duplicated by job and tick, so a crash between the two fires nothing twice).
//
// Missed ticks: a tick that came due while the platform was down (or while the
// fire function kept failing) is fired late, once; when several ticks were
// missed only the most recent one fires, and the schedule then continues on its
// regular ticks. AWS does not replay missed invocations either; firing the most
// recent one makes a short outage (a restart) lose nothing.
//
// A new job (or a job whose expression changed) starts from the current time:
// its first tick is the first one strictly after it was seen. A rate job's ticks
// lie on a grid anchored at the job's creation time and kept with its state, so
// a restart does not shift them.
//
// The clock is injectable: ScaledClock runs schedules faster than real time so
// a test of rate(1 minute) takes seconds.
package schedule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/schedule/expr"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// Clock tells schedule time. After waits d of clock time.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
func RealClock() Clock { return realClock{} }

type scaledClock struct {
	epoch time.Time
	scale float64
}

// ScaledClock runs scale times faster than the wall clock from epoch on:
// its time is epoch + (now - epoch) * scale. Two scaled clocks with the same
// epoch and scale agree, so a restarted platform continues the same timeline.
func ScaledClock(epoch time.Time, scale float64) Clock {
	if scale <= 0 {
		scale = 1
	}
	return scaledClock{epoch: epoch, scale: scale}
}

func (c scaledClock) Now() time.Time {
	return c.epoch.Add(time.Duration(float64(time.Since(c.epoch)) * c.scale))
}

func (c scaledClock) After(d time.Duration) <-chan time.Time {
	return time.After(time.Duration(float64(d) / c.scale))
}

// Job is one schedule.
type Job struct {
	ID         string         // unique and stable (a rule ARN)
	Expression string         // rate(...), cron(...) or at(...)
	Location   *time.Location // nil: UTC
	Created    time.Time      // anchors a new rate job's grid; zero: now
}

// FireFunc does a job's work for one tick; an error retries the tick later.
type FireFunc func(ctx context.Context, job Job, tick time.Time) error

// Config sets up a Scheduler.
type Config struct {
	Store  *store.Store
	Clock  Clock // nil: RealClock
	Fire   FireFunc
	Logger *slog.Logger
	// RetryDelay is the wait (clock time) before a failed fire is tried again; default 10s.
	RetryDelay time.Duration
}

// state is what the bucket keeps per job.
type state struct {
	ID     string `json:"id"`
	Expr   string `json:"expr"`
	Anchor int64  `json:"anchor"` // unix ms
	Last   int64  `json:"last"`   // unix ms of the last fired (or starting) tick
}

type entry struct {
	job    Job
	sched  expr.Schedule
	st     state
	next   time.Time // zero: never again
	failed time.Time // last failed fire
}

// Scheduler fires jobs.
type Scheduler struct {
	cfg  Config
	kv   jetstream.KeyValue
	log  *slog.Logger
	mu   sync.Mutex
	jobs map[string]*entry
	wake chan struct{}
}

const bucket = "nimbus_schedules"

// New opens the scheduler's bucket. Call Run to start firing.
func New(ctx context.Context, cfg Config) (*Scheduler, error) {
	if cfg.Clock == nil {
		cfg.Clock = RealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 10 * time.Second
	}
	kv, err := cfg.Store.KeyValue(ctx, bucket, 1)
	if err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg, kv: kv, log: cfg.Logger, jobs: map[string]*entry{}, wake: make(chan struct{}, 1)}, nil
}

// Validate parses an expression as a schedule job would, at the current time.
func Validate(expression string, loc *time.Location) error {
	_, err := expr.Parse(expression, loc)
	return err
}

func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "j" + hex.EncodeToString(sum[:16])
}

// Set replaces the set of jobs. Jobs that stay keep their state; an invalid
// expression is logged and its job skipped.
func (s *Scheduler) Set(ctx context.Context, jobs []Job) {
	now := s.cfg.Clock.Now()
	next := make(map[string]*entry, len(jobs))
	s.mu.Lock()
	old := s.jobs
	s.mu.Unlock()
	for _, j := range jobs {
		if e, ok := old[j.ID]; ok && e.job.Expression == j.Expression && e.job.Location.String() == j.Location.String() {
			next[j.ID] = e
			continue
		}
		e, err := s.load(ctx, j, now)
		if err != nil {
			s.log.Error("schedule skipped", "job", j.ID, "expression", j.Expression, "err", err)
			continue
		}
		next[j.ID] = e
	}
	for id := range old {
		if _, ok := next[id]; !ok {
			_ = s.kv.Delete(ctx, key(id))
		}
	}
	s.mu.Lock()
	s.jobs = next
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// load reads (or starts) a job's state.
func (s *Scheduler) load(ctx context.Context, j Job, now time.Time) (*entry, error) {
	var st state
	if e, err := s.kv.Get(ctx, key(j.ID)); err == nil {
		if err := json.Unmarshal(e.Value(), &st); err != nil || st.Expr != j.Expression {
			st = state{}
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("read schedule state: %w", err)
	}
	fresh := st.ID == ""
	if fresh {
		anchor := j.Created
		if anchor.IsZero() || anchor.After(now) {
			anchor = now
		}
		st = state{ID: j.ID, Expr: j.Expression, Anchor: anchor.UnixMilli(), Last: now.UnixMilli()}
	}
	sched, err := expr.ParseAt(j.Expression, j.Location, time.UnixMilli(st.Anchor))
	if err != nil && !(errors.Is(err, expr.ErrNeverFires) && !fresh) {
		return nil, err
	}
	if r, ok := sched.(*expr.Rate); ok {
		sched = r.WithAnchor(time.UnixMilli(st.Anchor))
	}
	if fresh {
		if err := s.save(ctx, &st); err != nil {
			return nil, err
		}
	}
	e := &entry{job: j, sched: sched, st: st}
	if sched != nil {
		e.next, _ = sched.Next(time.UnixMilli(st.Last))
	}
	return e, nil
}

func (s *Scheduler) save(ctx context.Context, st *state) error {
	data, _ := json.Marshal(st)
	if _, err := s.kv.Put(ctx, key(st.ID), data); err != nil {
		return fmt.Errorf("store schedule state: %w", err)
	}
	return nil
}

// Run fires due ticks until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		now := s.cfg.Clock.Now()
		var due []*entry
		var earliest time.Time
		s.mu.Lock()
		for _, e := range s.jobs {
			if e.next.IsZero() {
				continue
			}
			at := e.next
			if !e.failed.IsZero() {
				at = e.failed.Add(s.cfg.RetryDelay)
			}
			if !at.After(now) {
				due = append(due, e)
				continue
			}
			if earliest.IsZero() || at.Before(earliest) {
				earliest = at
			}
		}
		s.mu.Unlock()
		for _, e := range due {
			s.fire(ctx, e, now)
		}
		if len(due) > 0 {
			continue
		}
		var wait <-chan time.Time
		if !earliest.IsZero() {
			wait = s.cfg.Clock.After(earliest.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-wait:
		}
	}
}

// fire runs the most recent due tick of e (coalescing missed ones).
func (s *Scheduler) fire(ctx context.Context, e *entry, now time.Time) {
	tick := e.next
	skipped := 0
	for range 100000 {
		n, ok := e.sched.Next(tick)
		if !ok || n.After(now) {
			break
		}
		tick = n
		skipped++
	}
	if skipped > 0 {
		s.log.Warn("schedule missed ticks; firing the most recent one", "job", e.job.ID, "missed", skipped, "tick", tick)
	}
	if err := s.cfg.Fire(ctx, e.job, tick); err != nil {
		if ctx.Err() == nil {
			s.log.Error("schedule fire failed; will retry", "job", e.job.ID, "tick", tick, "err", err)
		}
		s.mu.Lock()
		e.failed = now
		s.mu.Unlock()
		return
	}
	st := e.st
	st.Last = tick.UnixMilli()
	if err := s.save(ctx, &st); err != nil {
		s.log.Error("schedule state not stored; the tick may fire again (de-duplicated)", "job", e.job.ID, "err", err)
	}
	next, _ := e.sched.Next(tick)
	s.mu.Lock()
	e.st = st
	e.failed = time.Time{}
	e.next = next
	s.mu.Unlock()
}
