package workflows

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// echoTasks answers every task with its input.
type echoTasks struct{}

func (echoTasks) RunTask(_ context.Context, req TaskRequest) (json.RawMessage, error) {
	return req.Input, nil
}

// TestWaitingExecutionsHoldNoTaskSlot: with room for one task at a time, an
// execution waiting an hour keeps neither a second execution nor its tasks
// from running.
func TestWaitingExecutionsHoldNoTaskSlot(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := Open(ctx, Config{Store: st, Tasks: echoTasks{}, MaxTasks: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	create := func(name, def string) *StateMachine {
		t.Helper()
		m, err := s.CreateStateMachine(ctx, StateMachine{Name: name, Definition: def, RoleARN: "arn:aws:iam::000000000000:role/r"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	waits := create("waits", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Next":"W"},"W":{"Type":"Wait","Seconds":3600,"End":true}}}`)
	works := create("works", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","End":true}}}`)
	long, err := s.StartExecution(ctx, Start{StateMachineARN: waits.ARN, Input: `{"a":1}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two", "three"} {
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: works.ARN, Name: name, Input: `{"b":2}`})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := s.DescribeExecution(ctx, ex.ARN)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusRunning {
				if got.Status != StatusSucceeded || got.Output != `{"b":2}` {
					t.Fatalf("execution %s: %s, output %s", name, got.Status, got.Output)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("execution %s still RUNNING after 30 s while another execution waits", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got, err := s.DescribeExecution(ctx, long.ARN); err != nil || got.Status != StatusRunning {
		t.Fatalf("waiting execution: %+v, %v", got, err)
	}
}
