package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// tokenTasks records the token each request carries in its Payload.
type tokenTasks struct{ tokens chan string }

func (t tokenTasks) RunTask(_ context.Context, req TaskRequest) (json.RawMessage, error) {
	var p struct {
		Payload struct {
			Token string `json:"token"`
		} `json:"Payload"`
	}
	_ = json.Unmarshal(req.Input, &p)
	if req.Resource != "arn:aws:states:::lambda:invoke" || p.Payload.Token != req.Token {
		return nil, &Failure{Name: "Unexpected", Cause: string(req.Input) + " " + req.Resource}
	}
	t.tokens <- p.Payload.Token
	return json.RawMessage(`{}`), nil
}

func nextToken(t *testing.T, tt tokenTasks) string {
	t.Helper()
	select {
	case tok := <-tt.tokens:
		return tok
	case <-time.After(30 * time.Second):
		t.Fatal("no task request")
		return ""
	}
}

func kindOf(err error) Kind {
	var se *Error
	if errors.As(err, &se) {
		return se.Kind
	}
	return 0
}

const callbackMachine = `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
	"Parameters":{"FunctionName":"f","Payload":{"token.$":"$$.Task.Token"}},%s
	"Catch":[{"ErrorEquals":["Rejected"],"ResultPath":"$.err","Next":"No"}],"End":true},
	"No":{"Type":"Pass","End":true}}}`

// TestCallbackTasks: a .waitForTaskToken task passes $$.Task.Token to its
// request and ends with what SendTaskSuccess or SendTaskFailure sends; a
// token that is malformed, unknown or already used is refused as AWS does.
func TestCallbackTasks(t *testing.T) {
	tt := tokenTasks{make(chan string, 8)}
	s := openService(t, Config{Tasks: tt})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "cb", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: sprintf(callbackMachine, "")})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	tok := nextToken(t, tt)
	if err := s.SendTaskSuccess(ctx, tok, `{"approved":`); kindOf(err) != KindInvalidOutput {
		t.Fatalf("invalid output: %v", err)
	}
	if err := s.SendTaskHeartbeat(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.SendTaskSuccess(ctx, tok, `{"approved":true}`); err != nil {
		t.Fatal(err)
	}
	if got := waitEnded(t, s, ok.ARN); got.Status != StatusSucceeded || got.Output != `{"approved":true}` {
		t.Fatalf("execution: %+v", got)
	}
	if err := s.SendTaskSuccess(ctx, tok, `{}`); kindOf(err) != KindTaskTimedOut {
		t.Fatalf("token of an ended task: %v", err)
	}
	if err := s.SendTaskHeartbeat(ctx, tok); kindOf(err) != KindTaskTimedOut {
		t.Fatalf("heartbeat of an ended task: %v", err)
	}
	if err := s.SendTaskSuccess(ctx, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", `{}`); kindOf(err) != KindTaskTimedOut {
		t.Fatalf("unknown token: %v", err)
	}
	if err := s.SendTaskFailure(ctx, "not a token", "E", ""); kindOf(err) != KindInvalidToken {
		t.Fatalf("malformed token: %v", err)
	}

	no, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "no", Input: `{"n":1}`})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendTaskFailure(ctx, nextToken(t, tt), "Rejected", "not today"); err != nil {
		t.Fatal(err)
	}
	if got := waitEnded(t, s, no.ARN); got.Status != StatusSucceeded || got.Output != `{"err":{"Cause":"not today","Error":"Rejected"},"n":1}` {
		t.Fatalf("failed task caught: %+v", got)
	}

	// A stopped execution's token is gone.
	stop, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	tok = nextToken(t, tt)
	if _, err := s.StopExecution(ctx, stop.ARN, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SendTaskSuccess(ctx, tok, `{}`); kindOf(err) != KindTaskTimedOut {
		t.Fatalf("token of a stopped execution: %v", err)
	}
}

// TestCallbackHeartbeatTimeout: a callback task with HeartbeatSeconds
// fails with States.HeartbeatTimeout when no heartbeat comes, and its token
// is then gone.
func TestCallbackHeartbeatTimeout(t *testing.T) {
	tt := tokenTasks{make(chan string, 8)}
	s := openService(t, Config{Tasks: tt})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "hb", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: sprintf(callbackMachine, `"HeartbeatSeconds":1,`)})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "hb"})
	if err != nil {
		t.Fatal(err)
	}
	tok := nextToken(t, tt)
	got := waitEnded(t, s, ex.ARN)
	if got.Status != StatusFailed || got.Error != ErrHeartbeatTimeout {
		t.Fatalf("execution: %+v", got)
	}
	if err := s.SendTaskSuccess(ctx, tok, `{}`); kindOf(err) != KindTaskTimedOut {
		t.Fatalf("token after the heartbeat timeout: %v", err)
	}
}

// TestCallbackSurvivesRestart: a token sent while the service is down, or
// after it came back, completes the task; the request is not made again.
func TestCallbackSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tt := tokenTasks{make(chan string, 8)}
	s, err := Open(ctx, Config{Store: st, Tasks: tt, Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "dur", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: sprintf(callbackMachine, "")})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	var toks []string
	for _, name := range []string{"before", "after"} {
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, ex.ARN)
		toks = append(toks, nextToken(t, tt))
	}
	s.Close()
	// Sent while no runner waits: the closed service still reaches the store.
	if err := s.SendTaskSuccess(ctx, toks[0], `{"sent":"while down"}`); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Config{Store: st, Tasks: tt, Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendTaskSuccess(ctx, toks[1], `{"sent":"after"}`); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"sent":"while down"}`, `{"sent":"after"}`} {
		if got := waitEnded(t, s, arns[i]); got.Status != StatusSucceeded || got.Output != want {
			t.Fatalf("execution %d: %+v", i, got)
		}
	}
	select {
	case tok := <-tt.tokens:
		t.Fatalf("the request was made again after the restart (token %s)", tok)
	default:
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// TestExpressRefusesCallbackTasks: an EXPRESS machine may not wait for a
// task token, as on AWS; a STANDARD one may.
func TestExpressRefusesCallbackTasks(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	def := sprintf(callbackMachine, "")
	_, err := s.CreateStateMachine(ctx, StateMachine{Name: "fast", Type: TypeExpress, RoleARN: "arn:aws:iam::000000000000:role/r", Definition: def})
	if kindOf(err) != KindInvalidDefinition {
		t.Fatalf("express with a callback task: %v", err)
	}
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "fast", Type: TypeExpress, RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateStateMachine(ctx, m.ARN, Update{Definition: &def}); kindOf(err) != KindInvalidDefinition {
		t.Fatalf("express updated with a callback task: %v", err)
	}
}
