package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/store"
)

func openService(t *testing.T, cfg Config) *Service {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	cfg.Store = st
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func waitEnded(t *testing.T, s *Service, arn string) *Execution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ex, err := s.DescribeExecution(context.Background(), arn)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Status != StatusRunning {
			return ex
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still RUNNING", arn)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHistoryLimitFailsExecution: an execution whose history would pass the
// limit fails with States.Runtime, its last event ExecutionFailed with the
// limit's id, and no event beyond it.
func TestHistoryLimitFailsExecution(t *testing.T) {
	s := openService(t, Config{MaxHistoryEvents: 40})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "many", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":1,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "small", Input: `{"items":[1,2,3]}`})
	if err != nil {
		t.Fatal(err)
	}
	if ex := waitEnded(t, s, small.ARN); ex.Status != StatusSucceeded {
		t.Fatalf("small: %+v", ex)
	}
	big, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "big", Input: `{"items":[` + strings.Repeat("1,", 30) + `1]}`})
	if err != nil {
		t.Fatal(err)
	}
	ex := waitEnded(t, s, big.ARN)
	if ex.Status != StatusFailed || ex.Error != ErrRuntime || !strings.Contains(ex.Cause, "maximum number of history events (40)") {
		t.Fatalf("big: %+v", ex)
	}
	events, err := s.GetExecutionHistory(ctx, big.ARN)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if len(events) != 40 || last.ID != 40 || last.Type != EventExecutionFailed {
		t.Fatalf("history: %d events, last %+v", len(events), last)
	}
}

// TestLostRecordStopsRunner: when another writer changes an execution's
// record under its runner (another node finished it), the runner stops at
// its next write: it records nothing more, in the record or the history.
func TestLostRecordStopsRunner(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "napper", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":2,"Next":"P"},"P":{"Type":"Pass","End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the runner's checkpoint at W, then write over the record.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.DescribeExecution(ctx, ex.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if got.Checkpoint != nil && got.Checkpoint.State == "W" {
			got.Status, got.Output, got.Checkpoint = StatusSucceeded, `{"by":"other"}`, nil
			data, _ := json.Marshal(got)
			if _, err := s.execs.Put(ctx, "napper.e", data); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint at W")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The runner wakes from its Wait, fails its checkpoint and stops.
	deadline = time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.running)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runner did not stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := s.DescribeExecution(ctx, ex.ARN)
	if err != nil || got.Output != `{"by":"other"}` {
		t.Fatalf("record after the runner stopped: %+v %v", got, err)
	}
	events, err := s.GetExecutionHistory(ctx, ex.ARN)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Type == EventExecutionSucceeded || e.Type == "PassStateEntered" {
			t.Fatalf("the runner went on after losing its record: %+v", events)
		}
	}
}

// TestEndedExecutionsExpire: an ended execution's record and history are
// gone after the retention; a RUNNING one stays however old.
func TestEndedExecutionsExpire(t *testing.T) {
	s := openService(t, Config{Retention: 2 * time.Second})
	ctx := context.Background()
	create := func(name, def string) string {
		m, err := s.CreateStateMachine(ctx, StateMachine{Name: name, RoleARN: "arn:aws:iam::000000000000:role/r", Definition: def})
		if err != nil {
			t.Fatal(err)
		}
		return m.ARN
	}
	long, err := s.StartExecution(ctx, Start{StateMachineARN: create("long", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`), Name: "l"})
	if err != nil {
		t.Fatal(err)
	}
	quick, err := s.StartExecution(ctx, Start{StateMachineARN: create("quick", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`), Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if ex := waitEnded(t, s, quick.ARN); ex.Status != StatusSucceeded {
		t.Fatalf("quick: %+v", ex)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.DescribeExecution(ctx, quick.ARN)
		var se *Error
		if errors.As(err, &se) && se.Kind == KindExecutionNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ended execution still kept: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, err := s.history.Info(ctx, jetstream.WithSubjectFilter(historySubject+"quick.q"))
	if err != nil || info.State.Subjects[historySubject+"quick.q"] != 0 {
		t.Fatalf("history of the expired execution: %v %v", info.State.Subjects, err)
	}
	if ex, err := s.DescribeExecution(ctx, long.ARN); err != nil || ex.Status != StatusRunning {
		t.Fatalf("running execution: %+v %v", ex, err)
	}
}

// TestStopRightAfterStart: executions stopped as soon as they are started
// (before or while their runner takes its lease) end ABORTED with the
// stop's error and cause, ExecutionAborted their last event, and stay so.
func TestStopRightAfterStart(t *testing.T) {
	s := openService(t, Config{LeaseTTL: time.Second})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "w", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: fmt.Sprintf("e%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.StopExecution(ctx, ex.ARN, "Halt", "right away")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusAborted || got.Error != "Halt" || got.Cause != "right away" {
			t.Fatalf("stopped %d: %+v", i, got)
		}
	}
	// No scan (every half second here) brings one back: checked over two
	// seconds of scans.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for i := range 20 {
			arn := s.ExecutionARN("w", fmt.Sprintf("e%d", i))
			ex, err := s.DescribeExecution(ctx, arn)
			if err != nil || ex.Status != StatusAborted {
				t.Fatalf("e%d: %+v %v", i, ex, err)
			}
			events, err := s.GetExecutionHistory(ctx, arn)
			if err != nil || len(events) == 0 || events[len(events)-1].Type != EventExecutionAborted {
				t.Fatalf("e%d history: %+v %v", i, events, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHistoryWriteFailureLeavesExecutionRunning: when an event cannot be
// stored (the history stream is gone), the runner stops and the execution
// stays RUNNING at its checkpoint, never ending with a gap in its history;
// once the store takes events again a scan resumes it to its end.
func TestHistoryWriteFailureLeavesExecutionRunning(t *testing.T) {
	s := openService(t, Config{LeaseTTL: time.Second})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "napper", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"Next":"P"},"P":{"Type":"Pass","End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.DescribeExecution(ctx, ex.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if got.Checkpoint != nil && got.Checkpoint.State == "W" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint at W")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cfg, err := s.history.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.JS.DeleteStream(ctx, historyStream); err != nil {
		t.Fatal(err)
	}
	// The Wait ends, WaitStateExited cannot be stored: the runner stops.
	deadline = time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.running)
		s.mu.Unlock()
		got, err := s.DescribeExecution(ctx, ex.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusRunning {
			t.Fatalf("ended without its history: %+v", got)
		}
		if n == 0 && got.Checkpoint != nil && got.Checkpoint.State == "W" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runner did not stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.st.Stream(ctx, cfg.Config); err != nil {
		t.Fatal(err)
	}
	if got := waitEnded(t, s, ex.ARN); got.Status != StatusSucceeded {
		t.Fatalf("after the store came back: %+v", got)
	}
}
