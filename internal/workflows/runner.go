package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Several nodes on one store all serve the API, and any of them may run an
// execution; exactly one does. A node runs an execution only while it holds
// the execution's lease, a key of leaseBucket whose entries expire after
// Config.LeaseTTL unless renewed (every third of it). A node that stops
// deletes its leases, so another takes over at once; one that dies loses
// them by expiry. runningBucket indexes the RUNNING executions: every node
// scans it and resumes those without a lease. The record's compare-and-set
// fences the rest: a runner whose write fails stops, its record belongs to
// another writer.
const (
	leaseBucket   = "workflow-leases"
	runningBucket = "workflow-running"
	// DefaultLeaseTTL is how long a node's hold on an execution lasts
	// without renewal.
	DefaultLeaseTTL = 10 * time.Second

	stopSubject        = "workflows.stop."        // + execution key: stop it where it runs
	stopMachineSubject = "workflows.stopmachine." // + machine name: stop its executions
)

// Causes that end a runner without recording an end: the execution stays
// RUNNING and resumes from its checkpoint, here or on another node.
var (
	errLost   = errors.New("another node owns the execution")
	errRecord = errors.New("the execution could not be recorded")
)

// errHistoryFull ends an execution whose history reached its limit: it
// fails, as on AWS.
var errHistoryFull = errors.New("history limit reached")

// stopped is the cause StopExecution cancels a runner with.
type stopped struct{ err, cause string }

func (stopped) Error() string { return "execution stopped" }

// runner is one execution running on this node.
type runner struct {
	key   string
	stop  context.CancelCauseFunc
	ctx   context.Context
	lease uint64 // the lease's revision; 0 until taken (guarded by Service.mu)
	held  time.Time
}

// register reserves key for a runner on this node; ok is false once the
// service is closing.
func (s *Service) register(key string) (*runner, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	if _, busy := s.running[key]; busy {
		return nil, true
	}
	ctx, stop := context.WithCancelCause(s.ctx)
	r := &runner{key: key, stop: stop, ctx: ctx}
	s.running[key] = r
	s.wg.Add(1) // under mu with the closed check: never after Close's Wait began
	return r, true
}

// unregister releases a runner that never ran.
func (s *Service) unregister(r *runner) {
	if r == nil {
		return
	}
	s.mu.Lock()
	if s.running[r.key] == r {
		delete(s.running, r.key)
	}
	s.mu.Unlock()
	r.stop(nil)
	s.wg.Done()
}

// takeLease takes an execution's lease for this node: free, or this node's
// own left by a crash.
func (s *Service) takeLease(ctx context.Context, key string) (uint64, error) {
	rev, err := s.leases.Create(ctx, key, []byte(s.node))
	if errors.Is(err, jetstream.ErrKeyExists) {
		if e, gerr := s.leases.Get(ctx, key); gerr == nil && string(e.Value()) == s.node {
			return s.leases.Update(ctx, key, []byte(s.node), e.Revision())
		}
	}
	return rev, err
}

// launch runs an execution in its own goroutine once it holds the lease.
// A start passes the record it created and its revision; a resume passes
// nil and reads the record only once it holds the lease, so a scan that
// listed the execution before it ended never runs it again.
func (s *Service) launch(r *runner, ex *Execution, rev uint64) {
	go func() {
		defer s.finish(r)
		s.mu.Lock()
		held := r.lease != 0 // a start takes it before it indexes
		s.mu.Unlock()
		if !held {
			now := time.Now()
			lease, err := s.takeLease(r.ctx, r.key)
			if err != nil {
				if !errors.Is(err, jetstream.ErrKeyExists) && r.ctx.Err() == nil {
					s.log.Warn("workflow execution: lease not taken; it resumes later", "key", r.key, "err", err)
				}
				return
			}
			s.mu.Lock()
			r.lease, r.held = lease, now
			s.mu.Unlock()
		}
		resume := ex == nil
		if resume {
			var err error
			if ex, rev, err = s.readRunning(r); ex == nil {
				if err != nil {
					s.log.Warn("workflow execution not resumed", "key", r.key, "err", err)
				}
				return
			}
		}
		def, err := validate(ex.Definition)
		if err != nil {
			s.log.Error("workflow execution has an invalid definition", "execution", ex.ARN, "err", err)
			return
		}
		rec := &recorder{s: s, r: r, ex: ex, rev: rev, limit: int64(s.cfg.MaxHistoryEvents)}
		if resume {
			if _, _, err := s.getMachine(r.ctx, ex.StateMachineName); err != nil {
				var se *Error
				if errors.As(err, &se) && se.Kind == KindMachineNotFound {
					// Deleted while no node ran it: stopped, as DeleteStateMachine does.
					_ = s.recordAbort(r, rec, "", "")
				}
				return
			}
		}
		hooks := Hooks{OnEvent: rec.event, OnCheckpoint: rec.checkpoint}
		var res Result
		if resume && ex.Checkpoint != nil {
			cp := *ex.Checkpoint
			last, err := s.lastEventID(ex)
			if err != nil {
				// The lease is given up below: a later scan retries.
				s.log.Error("workflow resume failed; it is retried", "execution", ex.ARN, "err", err)
				return
			}
			cp.LastEventID = max(cp.LastEventID, last)
			rec.last = cp.LastEventID
			res, err = s.engine.Resume(r.ctx, def, cp, hooks)
			if err != nil {
				res = Result{Status: StatusFailed, Error: ErrRuntime, Cause: err.Error(), HasError: true}
				rec.event(Event{ID: rec.last + 1, PreviousEventID: rec.last, Timestamp: time.Now().UTC(),
					Type: EventExecutionFailed, Details: &ExecutionFailedDetails{Error: res.Error, Cause: res.Cause}})
			}
		} else {
			res = s.engine.Start(r.ctx, def, ex.info(), json.RawMessage(ex.Input), hooks)
		}
		rec.ended(res)
	}()
}

// readRunning reads the record of an execution whose lease r holds: nil
// when it is no longer RUNNING (its index entry is dropped) or on error.
func (s *Service) readRunning(r *runner) (*Execution, uint64, error) {
	e, err := s.execs.Get(r.ctx, r.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, s.unindex(r.ctx, r.key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read execution: %w", err)
	}
	var ex Execution
	if err := json.Unmarshal(e.Value(), &ex); err != nil {
		return nil, 0, fmt.Errorf("decode execution: %w", err)
	}
	if ex.Status != StatusRunning {
		return nil, 0, s.unindex(r.ctx, r.key)
	}
	return &ex, e.Revision(), nil
}

// finish gives up a runner's lease (so another node may take over at once)
// and forgets it.
func (s *Service) finish(r *runner) {
	s.mu.Lock()
	lease := r.lease
	r.lease = 0
	if s.running[r.key] == r {
		delete(s.running, r.key)
	}
	s.mu.Unlock()
	r.stop(nil)
	if lease != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.leases.Delete(ctx, r.key, jetstream.LastRevision(lease)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Debug("workflow execution: lease not given up", "key", r.key, "err", err)
		}
		cancel()
	}
	s.wg.Done()
}

// renewLeases renews this node's leases every third of their time; a
// runner whose lease is lost (taken, or not renewed in time) stops.
func (s *Service) renewLeases() {
	defer s.wg.Done()
	every := s.cfg.LeaseTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		held := make([]*runner, 0, len(s.running))
		for _, r := range s.running {
			if r.lease != 0 {
				held = append(held, r)
			}
		}
		s.mu.Unlock()
		for _, r := range held {
			s.mu.Lock()
			rev, since := r.lease, r.held
			s.mu.Unlock()
			if rev == 0 {
				continue
			}
			// The store's clock starts the new term when it gets the
			// update, after sent: counting from sent errs on the safe side.
			sent := time.Now()
			ctx, cancel := context.WithTimeout(s.ctx, every)
			n, err := s.leases.Update(ctx, r.key, []byte(s.node), rev)
			cancel()
			switch {
			case err == nil:
				s.mu.Lock()
				if r.lease == rev {
					r.lease, r.held = n, sent
				}
				s.mu.Unlock()
			case s.ctx.Err() != nil:
				return
			case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) ||
				time.Since(since) > s.cfg.LeaseTTL*2/3:
				s.log.Warn("workflow execution: lease lost; the runner stops", "key", r.key, "err", err)
				r.stop(errLost)
			}
		}
		s.stopDeleted(held)
	}
}

// stopDeleted aborts the runners of machines deleted meanwhile: the core
// NATS message DeleteStateMachine sends may not have reached this node.
func (s *Service) stopDeleted(held []*runner) {
	checked := map[string]bool{}
	for _, r := range held {
		name, _, _ := strings.Cut(r.key, ".")
		if checked[name] {
			continue
		}
		checked[name] = true
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LeaseTTL/3)
		_, err := s.machines.Get(ctx, name)
		cancel()
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Info("workflow executions of a deleted machine stop", "machine", name)
			s.stopMachine(name)
		}
	}
}

// resumeOrphans resumes, every half lease, the RUNNING executions no node
// holds (their node stopped or died, or a runner gave up after a store
// error).
func (s *Service) resumeOrphans() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.LeaseTTL / 2)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LeaseTTL)
		if err := s.resumeAll(ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("workflow executions: resume scan failed", "err", err)
		}
		cancel()
	}
}

// resumeAll resumes every indexed execution that no node holds.
func (s *Service) resumeAll(ctx context.Context) error {
	keys, err := listKeys(ctx, s.index)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	held, err := listKeys(ctx, s.leases)
	if err != nil {
		return err
	}
	leased := make(map[string]bool, len(held))
	for _, k := range held {
		leased[k] = true
	}
	for _, k := range keys {
		s.mu.Lock()
		_, local := s.running[k]
		s.mu.Unlock()
		if local || leased[k] {
			continue
		}
		s.resume(k)
	}
	return nil
}

// resume starts a runner for an indexed execution; the runner reads the
// record once it holds the lease (and drops the index entry of one that has
// ended or never got its record).
func (s *Service) resume(key string) {
	r, ok := s.register(key)
	if !ok || r == nil {
		return
	}
	s.log.Debug("resuming workflow execution", "key", key)
	s.launch(r, nil, 0)
}

func (s *Service) unindex(ctx context.Context, key string) error {
	if err := s.index.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("unindex execution %s: %w", key, err)
	}
	return nil
}

// subscribe listens for stops of executions this node may run.
func (s *Service) subscribe() error {
	sub, err := s.st.NC.Subscribe(stopSubject+">", func(m *nats.Msg) {
		var req struct{ Error, Cause string }
		_ = json.Unmarshal(m.Data, &req)
		s.mu.Lock()
		r := s.running[strings.TrimPrefix(m.Subject, stopSubject)]
		s.mu.Unlock()
		if r != nil {
			r.stop(stopped{req.Error, req.Cause})
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to execution stops: %w", err)
	}
	s.subs = append(s.subs, sub)
	sub, err = s.st.NC.Subscribe(stopMachineSubject+"*", func(m *nats.Msg) {
		s.stopMachine(strings.TrimPrefix(m.Subject, stopMachineSubject))
	})
	if err != nil {
		return fmt.Errorf("subscribe to machine deletions: %w", err)
	}
	s.subs = append(s.subs, sub)
	return nil
}

// stopMachine aborts this node's executions of a deleted machine.
func (s *Service) stopMachine(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, r := range s.running {
		if strings.HasPrefix(key, name+".") {
			r.stop(stopped{})
		}
	}
}

// recorder is an execution's hooks: each event and checkpoint is on disk
// before the engine goes on. A write that fails stops the execution's
// runner: a lost compare-and-set means another writer owns the record; any
// other failure leaves the execution RUNNING at its checkpoint, to be
// retried by the next scan, never a gap in its history.
type recorder struct {
	s     *Service
	r     *runner
	ex    *Execution
	mu    sync.Mutex // events come from Map/Parallel goroutines too
	rev   uint64     // the record's KV revision
	last  int64      // the last event id stored
	limit int64
	err   error
}

func (rec *recorder) fail(cause, err error) {
	if rec.err == nil {
		rec.err = err
		rec.s.log.Error("workflow execution stops", "execution", rec.ex.ARN, "err", err)
	}
	rec.r.stop(cause)
}

// lost tells whether the runner lost its lease: another node may run the
// execution now, so nothing more is written, whatever the engine emits
// before it sees the cancellation.
func (rec *recorder) lost() bool {
	return errors.Is(context.Cause(rec.r.ctx), errLost)
}

func (rec *recorder) event(e Event) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.err != nil || rec.lost() {
		return
	}
	if e.Type == EventExecutionAborted {
		// Only a StopExecution aborts; a shutdown or a lost lease leaves
		// the execution RUNNING.
		var st stopped
		if !errors.As(context.Cause(rec.r.ctx), &st) {
			return
		}
		e.Details = &ExecutionFailedDetails{Error: st.err, Cause: st.cause}
	}
	if e.ID >= rec.limit && !strings.HasPrefix(e.Type, "Execution") {
		rec.r.stop(errHistoryFull)
		return
	}
	if e.ID > rec.limit {
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		rec.fail(errRecord, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := rec.s.st.JS.Publish(ctx, historySubject+rec.ex.StateMachineName+"."+rec.ex.Name, data); err != nil {
		rec.fail(errRecord, fmt.Errorf("history event %d: %w", e.ID, err))
		return
	}
	rec.last = max(rec.last, e.ID)
}

func (rec *recorder) checkpoint(cp Checkpoint) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.err != nil || rec.lost() {
		return
	}
	rec.ex.Checkpoint = &cp
	if err := rec.put(); err != nil {
		cause := errRecord
		if errors.Is(err, jetstream.ErrKeyExists) {
			cause = errLost
		}
		rec.fail(cause, err)
	}
}

// put writes the record with compare-and-set on its revision.
func (rec *recorder) put() error {
	data, _ := json.Marshal(rec.ex)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := rec.s.execs.Update(ctx, rec.ex.StateMachineName+"."+rec.ex.Name, data, rec.rev)
	if err != nil {
		return fmt.Errorf("write execution record: %w", err)
	}
	rec.rev = n
	return nil
}

// ended records an execution's end; a runner cancelled for any cause but a
// stop or a full history records nothing (the execution resumes).
func (rec *recorder) ended(res Result) {
	cause := context.Cause(rec.r.ctx)
	var st stopped
	switch {
	case errors.Is(cause, errHistoryFull):
		rec.mu.Lock()
		res = Result{Status: StatusFailed, Error: ErrRuntime, HasError: true,
			Cause: fmt.Sprintf("The execution reached the maximum number of history events (%d).", rec.limit)}
		id := rec.last + 1
		rec.mu.Unlock()
		rec.event(Event{ID: id, PreviousEventID: id - 1, Timestamp: time.Now().UTC(), Type: EventExecutionFailed,
			Details: &ExecutionFailedDetails{Error: res.Error, Cause: res.Cause}})
	case res.Status == StatusAborted && errors.As(cause, &st):
		res.Error, res.Cause, res.HasError = st.err, st.cause, st.err != ""
	case res.Status == StatusAborted:
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.err != nil || rec.lost() {
		return // the end is not recorded without its history: the execution resumes
	}
	rec.ex.end(res)
	if err := rec.put(); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			rec.s.log.Error("workflow execution end not recorded; it resumes", "execution", rec.ex.ARN, "err", err)
			return
		}
		// Another writer (a StopExecution with no runner in reach) ended it.
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.s.unindex(ctx, rec.r.key); err != nil {
		rec.s.log.Warn("workflow execution", "err", err) // the next scan drops it
	}
}

// lastEventID is the id of the last history event stored for ex.
func (s *Service) lastEventID(ex *Execution) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := s.history.GetLastMsgForSubject(ctx, historySubject+ex.StateMachineName+"."+ex.Name)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last history event: %w", err)
	}
	var e Event
	if err := json.Unmarshal(msg.Data, &e); err != nil {
		return 0, fmt.Errorf("decode history event: %w", err)
	}
	return e.ID, nil
}

// StopExecution aborts a RUNNING execution where it runs, recording the
// error and cause given: on this node, on the node holding its lease, or
// here when no node holds it.
func (s *Service) StopExecution(ctx context.Context, arn, errName, cause string) (*Execution, error) {
	key, err := s.executionKey(arn)
	if err != nil {
		return nil, err
	}
	msg, _ := json.Marshal(struct{ Error, Cause string }{errName, cause})
	for {
		ex, err := s.DescribeExecution(ctx, arn)
		if err != nil || ex.Status != StatusRunning {
			return ex, err
		}
		s.mu.Lock()
		r := s.running[key]
		s.mu.Unlock()
		switch {
		case r != nil:
			r.stop(stopped{errName, cause})
		case s.leased(ctx, key):
			// Its node stops it; sent again each round, as a core NATS
			// message may be lost.
			if err := s.st.NC.Publish(stopSubject+key, msg); err != nil {
				return nil, fmt.Errorf("stop execution %s: %w", arn, err)
			}
		default:
			if err := s.abortOrphan(ctx, key, errName, cause); err != nil {
				return nil, err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leased tells whether another node holds an execution's lease (one this
// node holds with no runner, left by a runner stopped while taking it, is
// taken back by abortOrphan).
func (s *Service) leased(ctx context.Context, key string) bool {
	e, err := s.leases.Get(ctx, key)
	return err == nil && string(e.Value()) != s.node
}

// abortOrphan records ABORTED for an execution no node runs, holding its
// lease meanwhile so that no scan resumes it.
func (s *Service) abortOrphan(ctx context.Context, key, errName, cause string) error {
	r, ok := s.register(key)
	if !ok {
		return errorf(KindInvalid, "the service is shutting down")
	}
	if r == nil {
		return nil // a runner started here meanwhile: the next round stops it
	}
	defer s.finish(r)
	lease, err := s.takeLease(ctx, key)
	if err != nil {
		return nil // taken meanwhile: the next round asks its holder
	}
	s.mu.Lock()
	r.lease, r.held = lease, time.Now()
	s.mu.Unlock()
	e, err := s.execs.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read execution %s: %w", key, err)
	}
	var ex Execution
	if err := json.Unmarshal(e.Value(), &ex); err != nil {
		return fmt.Errorf("decode execution %s: %w", key, err)
	}
	if ex.Status != StatusRunning {
		return nil
	}
	rec := &recorder{s: s, r: r, ex: &ex, rev: e.Revision(), limit: int64(s.cfg.MaxHistoryEvents)}
	return s.recordAbort(r, rec, errName, cause)
}

// recordAbort records ABORTED, with its ExecutionAborted event, for an
// execution whose lease r holds and that runs nowhere.
func (s *Service) recordAbort(r *runner, rec *recorder, errName, cause string) error {
	last, err := s.lastEventID(rec.ex)
	if err != nil {
		return err
	}
	rec.last = last
	r.stop(stopped{errName, cause})
	rec.event(Event{ID: last + 1, PreviousEventID: last, Timestamp: time.Now().UTC(), Type: EventExecutionAborted})
	rec.ended(Result{Status: StatusAborted})
	return rec.err
}

// sweep deletes the records of executions that ended longer than the
// retention ago, every tenth of it (at most hourly). Every node sweeps; a
// delete on a revision never removes a record changed meanwhile.
func (s *Service) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(min(s.cfg.Retention/10, time.Hour))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if err := s.sweepOnce(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("workflow executions: sweep failed", "err", err)
		}
	}
}

func (s *Service) sweepOnce(ctx context.Context) error {
	// Every event of an execution the sweep finds expired was stored
	// before this sequence; an execution that reuses its name once the
	// record is gone (swept here or by another node) stores after it.
	info, err := s.history.Info(ctx)
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	upTo := info.State.LastSeq + 1
	keys, err := listKeys(ctx, s.execs)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-s.cfg.Retention)
	for _, k := range keys {
		e, err := s.execs.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		var ex struct {
			Status  string    `json:"status"`
			Stop    time.Time `json:"stop"`
			Machine string    `json:"stateMachineName"`
			Ordinal uint64    `json:"ordinal"`
		}
		if json.Unmarshal(e.Value(), &ex) != nil || ex.Status == StatusRunning || ex.Stop.IsZero() || ex.Stop.After(cutoff) {
			continue
		}
		if err := s.expire(ctx, k, e.Revision(), upTo); err != nil {
			return err
		}
		if ex.Ordinal != 0 {
			if err := s.listing.Delete(ctx, entryKey(ex.Machine, ex.Ordinal)); err != nil {
				return fmt.Errorf("expire listing of %s: %w", k, err)
			}
		}
	}
	return nil
}

// expire deletes an ended execution's history (its events before sequence
// upTo) and then its record, if still at revision rev. The history goes
// first: a crash between the two leaves a record the next sweep deletes,
// never old events under a name a new execution may take.
func (s *Service) expire(ctx context.Context, key string, rev, upTo uint64) error {
	if err := s.history.Purge(ctx, jetstream.WithPurgeSubject(historySubject+key), jetstream.WithPurgeSequence(upTo)); err != nil {
		return fmt.Errorf("expire history of %s: %w", key, err)
	}
	if err := s.execs.Purge(ctx, key, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("expire execution %s: %w", key, err)
	}
	return nil
}
