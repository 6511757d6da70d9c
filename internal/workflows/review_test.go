package workflows

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

// gateTasks counts its tasks and holds each until released.
type gateTasks struct {
	calls   atomic.Int32
	started chan struct{}
	release chan struct{}
}

func newGate() *gateTasks {
	return &gateTasks{started: make(chan struct{}, 16), release: make(chan struct{})}
}

// RunTask answers {"ok":true} once released, even when its context is
// cancelled: a task that has done its work reports it.
func (g *gateTasks) RunTask(_ context.Context, _ TaskRequest) (json.RawMessage, error) {
	g.calls.Add(1)
	g.started <- struct{}{}
	<-g.release
	return json.RawMessage(`{"ok":true}`), nil
}

func waitNoRunner(t *testing.T, s *Service, key string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		_, busy := s.running[key]
		s.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runner of %s did not stop", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitStarted(t *testing.T, g *gateTasks) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not start")
	}
}

// TestStaleResumeDoesNotRerun: a scan that read an execution's record while
// it was RUNNING and takes the lease only after the execution ended (its
// runner gave the lease up) must not run it again from the old checkpoint.
func TestStaleResumeDoesNotRerun(t *testing.T) {
	g := newGate()
	s := openService(t, Config{Tasks: g})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "once", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	waitStarted(t, g)
	stale, err := s.execs.Get(ctx, "once.e") // what a scan read then
	if err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if got := waitEnded(t, s, ex.ARN); got.Status != StatusSucceeded {
		t.Fatalf("execution: %+v", got)
	}
	waitNoRunner(t, s, "once.e")
	before, err := s.GetExecutionHistory(ctx, ex.ARN)
	if err != nil {
		t.Fatal(err)
	}

	var old Execution
	if err := json.Unmarshal(stale.Value(), &old); err != nil || old.Status != StatusRunning {
		t.Fatalf("stale record: %+v %v", old, err)
	}
	r, ok := s.register("once.e")
	if !ok || r == nil {
		t.Fatal("not registered")
	}
	// The scan's runner takes the lease the ended runner gave up.
	s.launch(r, nil, 0)
	waitNoRunner(t, s, "once.e")

	if n := g.calls.Load(); n != 1 {
		t.Fatalf("the task ran %d times", n)
	}
	after, err := s.GetExecutionHistory(ctx, ex.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || after[len(after)-1].Type != EventExecutionSucceeded {
		t.Fatalf("history grew from %d to %d events: %+v", len(before), len(after), after[len(before)-1:])
	}
}

// TestLostLeaseStoresNoEvent: once a runner's lease is lost (another node
// may run the execution now), an event its engine still emits (a state that
// was already running when the cancellation came) is not stored.
func TestLostLeaseStoresNoEvent(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "lost", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DescribeExecution(ctx, ex.ARN)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.execs.Get(ctx, "lost.e")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := s.register("lost.x")
	if !ok || r == nil {
		t.Fatal("not registered")
	}
	defer s.unregister(r)
	r.stop(errLost)
	rec := &recorder{s: s, r: r, ex: got, rev: e.Revision(), last: 100, limit: MaxHistoryEvents}
	rec.event(Event{ID: 101, PreviousEventID: 100, Timestamp: time.Now().UTC(), Type: "PassStateEntered"})
	last, err := s.lastEventID(got)
	if err != nil {
		t.Fatal(err)
	}
	if last == 101 {
		t.Fatal("an event was stored after the lease was lost")
	}
}

// TestScanDuringStartKeepsIndex: a scan on another node that runs while a
// start has indexed its execution but not yet written the record must not
// drop the index entry: without it, the execution would never be resumed
// after its node dies.
func TestScanDuringStartKeepsIndex(t *testing.T) {
	s1 := openService(t, Config{Node: "one"})
	s2, err := Open(context.Background(), Config{Store: s1.st, Node: "two"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	m, err := s1.CreateStateMachine(ctx, StateMachine{Name: "idx", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	s1.afterIndex = func() {
		if err := s2.resumeAll(ctx); err != nil {
			t.Error(err)
		}
		waitNoRunner(t, s2, "idx.e")
	}
	ex, err := s1.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	s1.afterIndex = nil
	if _, err := s1.index.Get(ctx, "idx.e"); err != nil {
		t.Fatalf("index entry of the RUNNING execution: %v", err)
	}
	if got, err := s1.DescribeExecution(ctx, ex.ARN); err != nil || got.Status != StatusRunning {
		t.Fatalf("execution: %+v %v", got, err)
	}
}

// TestExpiryKeepsReusedName: a sweep that read an expired execution's
// record just before another node's sweep removed it, and acts only after a
// new execution took the name, removes neither the new record nor its
// history.
func TestExpiryKeepsReusedName(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "reuse", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StopExecution(ctx, ex.ARN, "", ""); err != nil {
		t.Fatal(err)
	}
	waitNoRunner(t, s, "reuse.x")
	// The late sweep reads the ended record and the stream's end.
	info, err := s.history.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.execs.Get(ctx, "reuse.x")
	if err != nil {
		t.Fatal(err)
	}
	// Another node's sweep expires it; the name is used again.
	if err := s.expire(ctx, "reuse.x", old.Revision(), info.State.LastSeq+1); err != nil {
		t.Fatal(err)
	}
	again, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.DescribeExecution(ctx, again.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if got.Checkpoint != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before, err := s.GetExecutionHistory(ctx, again.ARN)
	if err != nil || len(before) == 0 {
		t.Fatalf("history of the new execution: %+v %v", before, err)
	}
	if err := s.expire(ctx, "reuse.x", old.Revision(), info.State.LastSeq+1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DescribeExecution(ctx, again.ARN); err != nil || got.Status != StatusRunning {
		t.Fatalf("new execution after the late sweep: %+v %v", got, err)
	}
	after, err := s.GetExecutionHistory(ctx, again.ARN)
	if err != nil || len(after) != len(before) {
		t.Fatalf("history of the new execution after the late sweep: %d events, was %d (%v)", len(after), len(before), err)
	}
}

// TestDeletedMachineStopsWithoutMessage: deleting a machine stops the
// executions a node runs of it even when DeleteStateMachine's message does
// not reach that node (core NATS may lose it): here no message is sent.
func TestDeletedMachineStopsWithoutMessage(t *testing.T) {
	s1 := openService(t, Config{Node: "one", LeaseTTL: 1500 * time.Millisecond})
	ctx := context.Background()
	m, err := s1.CreateStateMachine(ctx, StateMachine{Name: "gone", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s1.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	// Deleted as DeleteStateMachine does, but with its message lost.
	if err := s1.machines.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := waitEnded(t, s1, ex.ARN); got.Status != StatusAborted {
		t.Fatalf("execution of the deleted machine: %+v", got)
	}
}
