package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Error names defined by the States Language.
const (
	ErrALL                     = "States.ALL"
	ErrRuntime                 = "States.Runtime"
	ErrTimeout                 = "States.Timeout"
	ErrHeartbeatTimeout        = "States.HeartbeatTimeout"
	ErrTaskFailed              = "States.TaskFailed"
	ErrDataLimitExceeded       = "States.DataLimitExceeded"
	ErrNoChoiceMatched         = "States.NoChoiceMatched"
	ErrIntrinsicFailure        = "States.IntrinsicFailure"
	ErrExceedToleratedFailures = "States.ExceedToleratedFailureThreshold"
	ErrBranchFailed            = "States.BranchFailed"
)

// defaultInlineConcurrency bounds an inline Map's iterations at once.
const defaultInlineConcurrency = 40

// maxWait bounds a Wait state: a standard execution lasts at most a year.
const maxWait = 365 * 24 * time.Hour

// MaxPayload is the largest input or output a state may pass on (256 KiB).
const MaxPayload = 256 * 1024

// A Failure is an ASL error: a name (empty for a Fail state without one) and
// a cause. Tasks return it to fail with a chosen name.
type Failure struct {
	Name  string
	Cause string
}

func (f *Failure) Error() string {
	if f.Cause == "" {
		return f.Name
	}
	return f.Name + ": " + f.Cause
}

// Execution statuses.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// A TaskRunner runs a Task state's work. The API round plugs Lambda invokes
// in; tests pass a function.
type TaskRunner interface {
	RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error)
}

// TaskFunc adapts a function to TaskRunner.
type TaskFunc func(ctx context.Context, req TaskRequest) (json.RawMessage, error)

// RunTask calls f.
func (f TaskFunc) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	return f(ctx, req)
}

// A TaskRequest is one attempt of a Task state. A runner returns the result
// JSON, or a *Failure to fail with its name (any other error fails with
// States.TaskFailed). Long tasks call Heartbeat when HeartbeatSeconds is set.
type TaskRequest struct {
	Resource    string
	StateName   string
	Input       json.RawMessage
	Credentials any
	Attempt     int // 0 for the first
	Heartbeat   func()
	// Token is the task token of a .waitForTaskToken task ($$.Task.Token).
	Token string
	// Execution is the execution the task belongs to (nested executions
	// are authorized with its machine's permissions).
	Execution ExecutionInfo
	// Started reports that an activity worker took the task.
	Started func(worker string)
}

// Clock is the engine's time source; tests inject one they control so Wait
// states and timeouts do not sleep.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, and a stop
	// function that releases it early.
	After(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After uses a time.Timer.
func (SystemClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Engine runs state machines. It holds no per-execution state: many
// executions may run at once.
type Engine struct {
	Tasks TaskRunner
	Clock Clock
	// MaxInlineConcurrency bounds the iterations an inline Map runs at once
	// (default 40, as Step Functions does for MaxConcurrency 0).
	MaxInlineConcurrency int
	// Tokens issues the task tokens of .waitForTaskToken tasks; without
	// it such a task fails with States.Runtime.
	Tokens TokenIssuer
}

// WaitForTaskToken ends the resource of a Task state that waits for
// SendTaskSuccess or SendTaskFailure with its $$.Task.Token.
const WaitForTaskToken = ".waitForTaskToken"

// A TokenIssuer gives task tokens.
type TokenIssuer interface {
	// TaskToken returns the token of one attempt of a Task state: the same
	// again for the same attempt of an execution resumed after a restart.
	TaskToken(ctx context.Context, req TokenRequest) (string, error)
	// TaskEnded tells that the attempt holding tok ended: its token is
	// no longer valid.
	TaskEnded(tok string)
}

// A TokenRequest names a task attempt.
type TokenRequest struct {
	Execution ExecutionInfo
	// Attempt names the state, the branch or iteration it runs in and the
	// attempt, the same after a resume.
	Attempt string
}

// ExecutionInfo names an execution; it feeds the context object.
type ExecutionInfo struct {
	ARN              string    `json:"arn"`
	Name             string    `json:"name"`
	StateMachineARN  string    `json:"stateMachineArn"`
	StateMachineName string    `json:"stateMachineName"`
	RoleARN          string    `json:"roleArn,omitempty"`
	StartTime        time.Time `json:"startTime"`
}

// Hooks receive what an execution records. Both are called synchronously
// and in order; a durable store writes before returning.
type Hooks struct {
	// OnEvent receives each history event.
	OnEvent func(Event)
	// OnCheckpoint receives the point to resume from before each top-level
	// state is entered.
	OnCheckpoint func(Checkpoint)
}

// A Checkpoint is what Resume needs to continue an execution: the state to
// enter next, its input, the variables and the event counter. It is plain
// JSON so a store can keep it (the API round keeps it in JetStream KV).
type Checkpoint struct {
	Execution   ExecutionInfo              `json:"execution"`
	Input       json.RawMessage            `json:"input"` // the execution's input
	State       string                     `json:"state"`
	StateInput  json.RawMessage            `json:"stateInput"`
	Variables   map[string]json.RawMessage `json:"variables,omitempty"`
	LastEventID int64                      `json:"lastEventId"`
	// At is when the state was about to be entered: a resumed Wait state
	// counts its time from here, so a crash does not restart the wait.
	At time.Time `json:"at"`
}

// A Result is how an execution ended.
type Result struct {
	Status string
	Output json.RawMessage // SUCCEEDED
	Error  string          // FAILED, TIMED_OUT
	Cause  string
	// HasError tells an empty error name from none (a Fail state may give none).
	HasError bool
}

// Start runs a new execution to its end (or until ctx is cancelled, which
// aborts it).
func (e *Engine) Start(ctx context.Context, def *Definition, info ExecutionInfo, input json.RawMessage, hooks Hooks) Result {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	in, err := decodeJSON(input)
	if err != nil {
		return Result{Status: StatusFailed, Error: ErrRuntime, Cause: "the execution input is not valid JSON: " + err.Error(), HasError: true}
	}
	if len(input) > MaxPayload {
		return Result{Status: StatusFailed, Error: ErrDataLimitExceeded, HasError: true,
			Cause: fmt.Sprintf("the execution input has %d bytes, more than the %d allowed", len(input), MaxPayload)}
	}
	r := e.newRun(def, info, in, hooks, 0)
	r.event(&r.root, EventExecutionStarted, &ExecutionStartedDetails{Input: encodeJSON(in), RoleARN: info.RoleARN})
	return r.finish(ctx, def.StartAt, in)
}

// Resume continues an execution from a checkpoint: the state it names runs
// again from its beginning (at-least-once for the state that was running).
func (e *Engine) Resume(ctx context.Context, def *Definition, cp Checkpoint, hooks Hooks) (Result, error) {
	if _, ok := def.States[cp.State]; !ok {
		return Result{}, fmt.Errorf("resume: the definition has no state %q", cp.State)
	}
	in, err := decodeJSON(cp.Input)
	if err != nil {
		return Result{}, fmt.Errorf("resume: execution input: %w", err)
	}
	stateIn, err := decodeJSON(cp.StateInput)
	if err != nil {
		return Result{}, fmt.Errorf("resume: state input: %w", err)
	}
	r := e.newRun(def, cp.Execution, in, hooks, cp.LastEventID)
	for k, raw := range cp.Variables {
		v, err := decodeJSON(raw)
		if err != nil {
			return Result{}, fmt.Errorf("resume: variable %s: %w", k, err)
		}
		r.root.vars[k] = v
	}
	r.root.resumeAt = cp.At
	return r.finish(ctx, cp.State, stateIn), nil
}

type run struct {
	e      *Engine
	def    *Definition
	info   ExecutionInfo
	input  any
	hooks  Hooks
	clock  Clock
	mu     sync.Mutex
	lastID int64
	root   thread
}

// A thread is one line of control (the execution, a branch, an iteration):
// its previous event and its variables.
type thread struct {
	prev     int64
	vars     map[string]any
	top      bool
	mapItem  *mapItem
	entered  int64 // event id of the current state's entry
	stateNow time.Time
	resumeAt time.Time // the first state's entry time when resuming
	retries  int
	state    string
	// path names the thread within its execution (the Parallel branch or
	// Map iteration it runs), the same after a resume.
	path string
	// token is the current task attempt's task token, if it waits for one.
	token string
}

type mapItem struct {
	index int
	value any
}

func (e *Engine) newRun(def *Definition, info ExecutionInfo, in any, hooks Hooks, lastID int64) *run {
	clock := e.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	if info.StartTime.IsZero() {
		info.StartTime = clock.Now()
	}
	if info.Name == "" {
		info.Name = newUUID()
	}
	return &run{e: e, def: def, info: info, input: in, hooks: hooks, clock: clock, lastID: lastID,
		root: thread{vars: map[string]any{}, top: true, prev: lastID}}
}

func (r *run) finish(ctx context.Context, start string, in any) Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timedOut := make(chan struct{})
	if r.def.TimeoutSeconds > 0 {
		deadline := r.info.StartTime.Add(time.Duration(r.def.TimeoutSeconds) * time.Second)
		c, stop := r.clock.After(deadline.Sub(r.clock.Now()))
		defer stop()
		go func() {
			select {
			case <-c:
				close(timedOut)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	out, err := r.machine(ctx, r.def, start, in, &r.root)
	if err == nil {
		if err = checkSize(out, "the execution output"); err == nil {
			s := encodeJSON(out)
			r.event(&r.root, EventExecutionSucceeded, &ExecutionSucceededDetails{Output: s})
			return Result{Status: StatusSucceeded, Output: json.RawMessage(s)}
		}
	}
	select {
	case <-timedOut:
		r.event(&r.root, EventExecutionTimedOut, &ExecutionFailedDetails{Error: ErrTimeout, Cause: "the execution ran past its TimeoutSeconds"})
		return Result{Status: StatusTimedOut, Error: ErrTimeout, HasError: true}
	default:
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		r.event(&r.root, EventExecutionAborted, &ExecutionFailedDetails{})
		return Result{Status: StatusAborted}
	}
	f := asFailure(err)
	r.event(&r.root, EventExecutionFailed, &ExecutionFailedDetails{Error: f.Name, Cause: f.Cause})
	return Result{Status: StatusFailed, Error: f.Name, Cause: f.Cause, HasError: f.Name != ""}
}

// asFailure turns any error into a Failure (context cancellation and other
// internal errors become States.Runtime).
func asFailure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Name: ErrRuntime, Cause: err.Error()}
}

func checkSize(v any, what string) error {
	if n := len(encodeJSON(v)); n > MaxPayload {
		return &Failure{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("%s has %d bytes, more than the %d allowed", what, n, MaxPayload)}
	}
	return nil
}

// machine runs the states of def from start until one ends the machine.
func (r *run) machine(ctx context.Context, def *Definition, start string, in any, th *thread) (any, error) {
	name := start
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st := def.States[name]
		if th.top && r.hooks.OnCheckpoint != nil {
			r.hooks.OnCheckpoint(r.checkpoint(name, in, th))
		}
		out, next, err := r.state(ctx, st, in, th)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		name, in = next, out
	}
}

func (r *run) checkpoint(name string, in any, th *thread) Checkpoint {
	r.mu.Lock()
	last := r.lastID
	r.mu.Unlock()
	cp := Checkpoint{Execution: r.info, At: r.clock.Now(), Input: json.RawMessage(encodeJSON(r.input)), State: name,
		StateInput: json.RawMessage(encodeJSON(in)), LastEventID: last}
	if len(th.vars) > 0 {
		cp.Variables = map[string]json.RawMessage{}
		for k, v := range th.vars {
			cp.Variables[k] = json.RawMessage(encodeJSON(v))
		}
	}
	return cp
}

// scope is what paths in one state resolve against.
type scope struct {
	r     *run
	th    *thread
	input any
	st    *State
	// pending holds the variables a state assigns; they are visible only
	// after the state ends.
	pending map[string]any
}

func (sc *scope) contextObject() map[string]any {
	exec := map[string]any{
		"Id":           sc.r.info.ARN,
		"Input":        sc.r.input,
		"Name":         sc.r.info.Name,
		"StartTime":    formatTime(sc.r.info.StartTime),
		"RedriveCount": json.Number("0"),
	}
	if sc.r.info.RoleARN != "" {
		exec["RoleArn"] = sc.r.info.RoleARN
	}
	co := map[string]any{
		"Execution":    exec,
		"StateMachine": map[string]any{"Id": sc.r.info.StateMachineARN, "Name": sc.r.info.StateMachineName},
		"State": map[string]any{
			"Name":        sc.th.state,
			"EnteredTime": formatTime(sc.th.stateNow),
		},
	}
	if sc.th.retries > 0 {
		co["State"].(map[string]any)["RetryCount"] = intNumber(int64(sc.th.retries))
	}
	if sc.th.token != "" {
		co["Task"] = map[string]any{"Token": sc.th.token}
	}
	if sc.th.mapItem != nil {
		co["Map"] = map[string]any{"Item": map[string]any{"Index": intNumber(int64(sc.th.mapItem.index)), "Value": sc.th.mapItem.value}}
	}
	return co
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// getPath resolves p; a missing definite path is a States.Runtime failure.
func (sc *scope) getPath(p *Path) (any, error) {
	var doc any
	switch p.root {
	case rootData:
		doc = sc.input
	case rootContext:
		doc = sc.contextObject()
	case rootVariable:
		v, ok := sc.th.vars[p.vr]
		if !ok {
			return nil, sc.runtime("Invalid path '%s': the variable $%s is not defined", p.src, p.vr)
		}
		doc = v
	}
	v, err := p.Get(doc)
	if err != nil {
		return nil, sc.runtime("Invalid path '%s' : No results for path: %s", p.src, p.src)
	}
	return v, nil
}

func (sc *scope) runtime(format string, a ...any) error {
	return &Failure{Name: ErrRuntime, Cause: fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). ", sc.th.state, sc.th.entered) + fmt.Sprintf(format, a...)}
}

func (sc *scope) with(input any) *scope {
	return &scope{r: sc.r, th: sc.th, input: input, st: sc.st, pending: sc.pending}
}

func (sc *scope) evalExpr(e *valueExpr) (any, error) {
	if e.call != nil {
		v, err := e.call.eval(sc)
		if err != nil {
			var f *Failure
			if errors.As(err, &f) && f.Name == ErrRuntime && !strings.HasPrefix(f.Cause, "An error occurred") {
				return nil, sc.runtime("%s", f.Cause)
			}
			return nil, err
		}
		return v, nil
	}
	v, err := sc.getPath(e.path)
	if err != nil {
		return nil, err
	}
	return deepCopy(v), nil
}

// apply evaluates a payload template against the scope's input.
func (sc *scope) apply(t *template) (any, error) {
	switch {
	case t.isObj:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			var v any
			var err error
			if f.expr != nil {
				v, err = sc.evalExpr(f.expr)
			} else {
				v, err = sc.apply(f.sub)
			}
			if err != nil {
				return nil, err
			}
			out[f.key] = v
		}
		return out, nil
	case t.isArr:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := sc.apply(it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return deepCopy(t.lit), nil
}

func (sc *scope) inputPath(in any) (any, error) {
	p := sc.st.InputPath
	switch {
	case !p.set:
		return in, nil
	case p.null:
		return map[string]any{}, nil
	}
	return sc.with(in).getPath(p.path)
}

func (sc *scope) outputPath(out any) (any, error) {
	p := sc.st.OutputPath
	switch {
	case !p.set:
		return out, nil
	case p.null:
		return map[string]any{}, nil
	}
	return sc.with(out).getPath(p.path)
}

func (sc *scope) resultPath(p optPath, raw, result any) (any, error) {
	switch {
	case !p.set:
		return result, nil
	case p.null:
		return raw, nil
	}
	if len(p.path.segs) == 0 {
		return result, nil
	}
	out, err := p.path.Set(deepCopy(raw), result)
	if err != nil {
		return nil, sc.runtime("Unable to apply ResultPath '%s': %v", p.path.src, err)
	}
	return out, nil
}

func (r *run) enteredType(t string) string  { return t + "StateEntered" }
func (r *run) exitedType(t string) string   { return t + "StateExited" }
func (r *run) maybeExited(st *State) string { return r.exitedType(st.Type) }

// state runs one state: the input/output chain, retries and catchers.
// It returns the output and the next state ("" when the machine ends).
func (r *run) state(ctx context.Context, st *State, in any, th *thread) (any, string, error) {
	th.state = st.Name
	th.retries = 0
	th.stateNow = r.clock.Now()
	if !th.resumeAt.IsZero() {
		th.stateNow, th.resumeAt = th.resumeAt, time.Time{}
	}
	th.entered = r.event(th, r.enteredType(st.Type), &StateEnteredDetails{Name: st.Name, Input: encodeJSON(in)})
	sc := &scope{r: r, th: th, input: in, st: st, pending: map[string]any{}}

	var attempts []int64
	if len(st.Retry) > 0 {
		attempts = make([]int64, len(st.Retry))
	}
	for {
		out, err := r.body(ctx, sc, in)
		next := st.Next
		if cr, ok := out.(*choiceResult); ok {
			out, next = cr.out, cr.next
		}
		if err == nil {
			outJSON := encodeJSON(out) // one encoding for the size check and the event
			if len(outJSON) > MaxPayload {
				err = &Failure{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("the output of state '%s' has %d bytes, more than the %d allowed", st.Name, len(outJSON), MaxPayload)}
			} else {
				for k, v := range sc.pending {
					th.vars[k] = v
				}
				if st.Type != TypeFail {
					r.event(th, r.maybeExited(st), &StateExitedDetails{Name: st.Name, Output: outJSON})
				}
				return out, next, nil
			}
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		clear(sc.pending)
		f := asFailure(err)
		if i := matchRetrier(st.Retry, f.Name); i >= 0 && attempts[i] < st.Retry[i].MaxAttempts {
			rt := st.Retry[i]
			delay := float64(rt.IntervalSeconds) * math.Pow(rt.BackoffRate, float64(attempts[i]))
			if rt.MaxDelaySeconds > 0 {
				delay = math.Min(delay, float64(rt.MaxDelaySeconds))
			}
			if rt.JitterFull {
				delay = rand.Float64() * delay
			}
			attempts[i]++
			th.retries++
			if err := sleep(ctx, r.clock, time.Duration(delay*float64(time.Second))); err != nil {
				return nil, "", err
			}
			continue
		}
		for _, c := range st.Catch {
			if !errorMatches(c.ErrorEquals, f.Name) {
				continue
			}
			errOut := map[string]any{"Error": f.Name, "Cause": f.Cause}
			if f.Name == "" {
				errOut["Error"] = nil
			}
			if f.Cause == "" {
				errOut["Cause"] = nil
			}
			out, rerr := sc.resultPath(c.ResultPath, in, errOut)
			if rerr != nil {
				return nil, "", rerr
			}
			if c.Assign != nil {
				if aerr := r.assign(sc.with(errOut), c.Assign); aerr != nil {
					return nil, "", aerr
				}
				for k, v := range sc.pending {
					th.vars[k] = v
				}
			}
			r.event(th, r.maybeExited(st), &StateExitedDetails{Name: st.Name, Output: encodeJSON(out)})
			return out, c.Next, nil
		}
		return nil, "", f
	}
}

// matchRetrier returns the first retrier whose ErrorEquals matches name.
func matchRetrier(rs []*Retrier, name string) int {
	for i, rt := range rs {
		if errorMatches(rt.ErrorEquals, name) {
			return i
		}
	}
	return -1
}

func errorMatches(list []string, name string) bool {
	for _, e := range list {
		switch {
		case e == name:
			return true
		case e == ErrALL:
			// States.ALL catches everything but the terminal errors.
			if name != ErrRuntime && name != ErrDataLimitExceeded {
				return true
			}
		case e == ErrTaskFailed:
			// States.TaskFailed matches any error but the timeouts and the terminal ones.
			switch name {
			case ErrTimeout, ErrHeartbeatTimeout, ErrRuntime, ErrDataLimitExceeded:
			default:
				return true
			}
		}
	}
	return false
}

func sleep(ctx context.Context, clock Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	c, stop := clock.After(d)
	defer stop()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// choiceResult carries a Choice state's chosen next state out of body.
type choiceResult struct {
	out  any
	next string
}

func (r *run) body(ctx context.Context, sc *scope, raw any) (any, error) {
	st := sc.st
	in, err := sc.inputPath(raw)
	if err != nil {
		return nil, err
	}
	switch st.Type {
	case TypePass:
		eff := in
		if st.Parameters != nil {
			if eff, err = sc.with(in).apply(st.Parameters); err != nil {
				return nil, err
			}
		}
		result := eff
		if st.HasResult {
			result = deepCopy(st.Result)
		}
		if st.Assign != nil {
			if err := r.assign(sc.with(result), st.Assign); err != nil {
				return nil, err
			}
		}
		out, err := sc.resultPath(st.ResultPath, raw, result)
		if err != nil {
			return nil, err
		}
		return sc.outputPath(out)
	case TypeSucceed:
		return sc.outputPath(in)
	case TypeFail:
		f := &Failure{}
		if st.Error != nil {
			f.Name = *st.Error
		}
		if st.Cause != nil {
			f.Cause = *st.Cause
		}
		for _, x := range []struct {
			e   *valueExpr
			dst *string
		}{{st.ErrorPath, &f.Name}, {st.CausePath, &f.Cause}} {
			if x.e == nil {
				continue
			}
			v, err := sc.with(raw).evalExpr(x.e)
			if err != nil {
				return nil, err
			}
			s, ok := v.(string)
			if !ok {
				return nil, sc.runtime("the value of an ErrorPath or CausePath must be a string, got %s", encodeJSON(v))
			}
			*x.dst = s
		}
		return nil, f
	case TypeChoice:
		return r.choice(sc, in, raw)
	case TypeWait:
		if err := r.wait(ctx, sc, in); err != nil {
			return nil, err
		}
		if st.Assign != nil {
			if err := r.assign(sc.with(raw), st.Assign); err != nil {
				return nil, err
			}
		}
		return sc.outputPath(in)
	case TypeTask, TypeParallel, TypeMap:
		sc.th.token = ""
		if st.Type == TypeTask && (strings.HasSuffix(st.Resource, WaitForTaskToken) || IsActivityARN(st.Resource)) {
			if r.e.Tokens == nil {
				return nil, sc.runtime("task tokens are not available here (resource %s)", st.Resource)
			}
			tok, err := r.e.Tokens.TaskToken(ctx, TokenRequest{Execution: r.info,
				Attempt: fmt.Sprintf("%s%s#%d", sc.th.path, st.Name, sc.th.retries)})
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, sc.runtime("task token: %v", err)
			}
			sc.th.token = tok
		}
		eff := in
		if st.Parameters != nil && st.Type != TypeMap {
			if eff, err = sc.with(in).apply(st.Parameters); err != nil {
				return nil, err
			}
		}
		var result any
		switch st.Type {
		case TypeTask:
			result, err = r.task(ctx, sc, eff)
		case TypeParallel:
			result, err = r.parallel(ctx, sc, eff)
		case TypeMap:
			result, err = r.mapState(ctx, sc, eff)
		}
		if err != nil {
			return nil, err
		}
		if st.ResultSelector != nil {
			if result, err = sc.with(result).apply(st.ResultSelector); err != nil {
				return nil, err
			}
		}
		if st.Assign != nil {
			if err := r.assign(sc.with(result), st.Assign); err != nil {
				return nil, err
			}
		}
		out, err := sc.resultPath(st.ResultPath, raw, result)
		if err != nil {
			return nil, err
		}
		return sc.outputPath(out)
	}
	return nil, sc.runtime("unknown state type %s", st.Type)
}

// assign sets variables from an Assign template; all expressions read the
// values from before the assignment.
func (r *run) assign(sc *scope, t *template) error {
	v, err := sc.apply(t)
	if err != nil {
		return err
	}
	m, _ := v.(map[string]any)
	for k, x := range m {
		sc.pending[k] = x
	}
	return nil
}

func (r *run) wait(ctx context.Context, sc *scope, in any) error {
	st := sc.st
	var d time.Duration
	now := r.clock.Now()
	switch {
	case st.Seconds != nil:
		d = sc.th.stateNow.Add(time.Duration(*st.Seconds) * time.Second).Sub(now)
	case st.Timestamp != nil:
		d = st.Timestamp.Sub(now)
	case st.SecondsPath != nil:
		v, err := sc.with(in).getPath(st.SecondsPath)
		if err != nil {
			return err
		}
		n, ok := toInt(v)
		if !ok {
			return sc.runtime("The SecondsPath parameter cannot be parsed as a long value: %s == %s", st.SecondsPath.src, encodeJSON(v))
		}
		if n < 0 {
			return sc.runtime("The SecondsPath parameter references a negative value: %s == %s", st.SecondsPath.src, encodeJSON(v))
		}
		d = sc.th.stateNow.Add(time.Duration(n) * time.Second).Sub(now)
	case st.TimestampPath != nil:
		v, err := sc.with(in).getPath(st.TimestampPath)
		if err != nil {
			return err
		}
		s, _ := v.(string)
		t, err := parseTimestamp(s)
		if err != nil {
			return sc.runtime("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s == %s", st.TimestampPath.src, encodeJSON(v))
		}
		d = t.Sub(now)
	}
	if d > maxWait {
		return sc.runtime("Wait state delay is too long.")
	}
	return sleep(ctx, r.clock, d)
}

func (r *run) task(ctx context.Context, sc *scope, eff any) (any, error) {
	st := sc.st
	timeout, heartbeat := st.TimeoutSeconds, st.HeartbeatSeconds
	for _, x := range []struct {
		p   *Path
		dst *int64
	}{{st.TimeoutSecondsPath, &timeout}, {st.HeartbeatSecPath, &heartbeat}} {
		if x.p == nil {
			continue
		}
		v, err := sc.getPath(x.p)
		if err != nil {
			return nil, err
		}
		n, ok := toInt(v)
		if !ok || n < 1 {
			return nil, sc.runtime("%s must reference a positive integer, got %s", x.p.src, encodeJSON(v))
		}
		*x.dst = n
	}
	if r.e.Tasks == nil {
		return nil, sc.runtime("no task runner is configured for resource %s", st.Resource)
	}
	input := encodeJSON(eff)
	// An activity's task has its own events: it starts when a worker takes it.
	activity := IsActivityARN(st.Resource)
	evFailed, evSucceeded, evTimedOut := EventTaskFailed, EventTaskSucceeded, EventTaskTimedOut
	failed := func(f *Failure) any { return &TaskFailedDetails{Resource: st.Resource, Error: f.Name, Cause: f.Cause} }
	succeeded := func(out string) any { return &TaskSucceededDetails{Resource: st.Resource, Output: out} }
	if activity {
		evFailed, evSucceeded, evTimedOut = EventActivityFailed, EventActivitySucceeded, EventActivityTimedOut
		failed = func(f *Failure) any { return &ActivityFailedDetails{Error: f.Name, Cause: f.Cause} }
		succeeded = func(out string) any { return &ActivitySucceededDetails{Output: out} }
		r.event(sc.th, EventActivityScheduled, &ActivityScheduledDetails{Resource: st.Resource, Input: input, TimeoutInSeconds: timeout, HeartbeatInSeconds: heartbeat})
	} else {
		sched := &TaskScheduledDetails{Resource: st.Resource, Parameters: input, TimeoutInSeconds: timeout, HeartbeatInSeconds: heartbeat}
		r.event(sc.th, EventTaskScheduled, sched)
		r.event(sc.th, EventTaskStarted, &TaskStartedDetails{Resource: st.Resource})
	}

	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	beat := make(chan struct{}, 1)
	if tok := sc.th.token; tok != "" {
		// The attempt is over (whatever its outcome) unless the execution
		// itself stops, which leaves the token to a resume.
		defer func() {
			if ctx.Err() == nil {
				r.e.Tokens.TaskEnded(tok)
			}
		}()
	}
	req := TaskRequest{Resource: st.Resource, StateName: st.Name, Input: json.RawMessage(input), Credentials: st.Credentials,
		Attempt: sc.th.retries, Execution: r.info, Token: sc.th.token, Heartbeat: func() {
			select {
			case beat <- struct{}{}:
			default:
			}
		}}
	if activity {
		req.Started = func(worker string) { r.event(sc.th, EventActivityStarted, &ActivityStartedDetails{WorkerName: worker}) }
	}
	type answer struct {
		out json.RawMessage
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := r.e.Tasks.RunTask(tctx, req)
		done <- answer{out, err}
	}()
	var timeoutC, beatC <-chan time.Time
	if timeout > 0 {
		c, stop := r.clock.After(time.Duration(timeout) * time.Second)
		defer stop()
		timeoutC = c
	}
	stopBeat := func() {}
	if heartbeat > 0 {
		beatC, stopBeat = r.clock.After(time.Duration(heartbeat) * time.Second)
	}
	defer func() { stopBeat() }()
	for {
		select {
		case a := <-done:
			if a.err != nil {
				f := taskFailure(a.err)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				r.event(sc.th, evFailed, failed(f))
				return nil, f
			}
			v, err := decodeJSON(a.out)
			if err != nil {
				f := &Failure{Name: ErrTaskFailed, Cause: "the task returned invalid JSON: " + err.Error()}
				r.event(sc.th, evFailed, failed(f))
				return nil, f
			}
			r.event(sc.th, evSucceeded, succeeded(encodeJSON(v)))
			return v, nil
		case <-timeoutC:
			cancel()
			f := &Failure{Name: ErrTimeout, Cause: fmt.Sprintf("the task ran past its timeout of %d seconds", timeout)}
			r.event(sc.th, evTimedOut, failed(f))
			return nil, f
		case <-beatC:
			cancel()
			f := &Failure{Name: ErrHeartbeatTimeout, Cause: fmt.Sprintf("no heartbeat for %d seconds", heartbeat)}
			r.event(sc.th, evTimedOut, failed(f))
			return nil, f
		case <-beat:
			if heartbeat > 0 { // a heartbeat to a task without HeartbeatSeconds changes nothing
				stopBeat()
				beatC, stopBeat = r.clock.After(time.Duration(heartbeat) * time.Second)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func taskFailure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Name: ErrTaskFailed, Cause: err.Error()}
}

func (r *run) choice(sc *scope, in, raw any) (any, error) {
	st := sc.st
	isc := sc.with(in)
	for _, rule := range st.Choices {
		ok, err := evalRule(isc, rule)
		if err != nil {
			return nil, err
		}
		if ok {
			if rule.Assign != nil {
				if err := r.assign(sc.with(raw), rule.Assign); err != nil {
					return nil, err
				}
			}
			return r.choiceOut(sc, in, raw, rule.Next)
		}
	}
	if st.Default == "" {
		return nil, &Failure{Name: ErrNoChoiceMatched, Cause: fmt.Sprintf("no choice rule matched and there is no Default in state '%s'", st.Name)}
	}
	return r.choiceOut(sc, in, raw, st.Default)
}

func (r *run) choiceOut(sc *scope, in, raw any, next string) (any, error) {
	if sc.st.Assign != nil {
		if err := r.assign(sc.with(raw), sc.st.Assign); err != nil {
			return nil, err
		}
	}
	out, err := sc.outputPath(in)
	if err != nil {
		return nil, err
	}
	return &choiceResult{out: out, next: next}, nil
}

// parallel runs every branch on the same input; the result lists their
// outputs in branch order. The first failure cancels the others.
func (r *run) parallel(ctx context.Context, sc *scope, eff any) (any, error) {
	st := sc.st
	r.event(sc.th, EventParallelStateStarted, nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, len(st.Branches))
	errs := make([]error, len(st.Branches))
	var wg sync.WaitGroup
	for i, b := range st.Branches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			th := &thread{prev: sc.th.prev, vars: maps(sc.th.vars), path: fmt.Sprintf("%s%s/%d/", sc.th.path, st.Name, i)}
			out, err := r.machine(ctx, b, b.StartAt, deepCopy(eff), th)
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			results[i] = out
		}()
	}
	wg.Wait()
	if err := firstFailure(errs); err != nil {
		r.event(sc.th, EventParallelStateFailed, nil)
		return nil, err
	}
	r.event(sc.th, EventParallelStateSucceeded, nil)
	return results, nil
}

// firstFailure prefers a real failure to the cancellations it caused.
func firstFailure(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r *run) mapState(ctx context.Context, sc *scope, eff any) (any, error) {
	st := sc.st
	if st.itemReader {
		return nil, sc.runtime("ItemReader (distributed Map reading from S3) is not supported yet")
	}
	esc := sc.with(eff)
	items := eff
	if st.ItemsPath.path != nil {
		v, err := esc.getPath(st.ItemsPath.path)
		if err != nil {
			return nil, err
		}
		items = v
	}
	list, ok := items.([]any)
	if !ok {
		return nil, sc.runtime("Item list under path '%s' is not an array: %s", pathSrc(st.ItemsPath), encodeJSON(items))
	}
	maxConc := st.MaxConcurrency
	if st.MaxConcurrencyPath != nil {
		v, err := esc.getPath(st.MaxConcurrencyPath)
		if err != nil {
			return nil, err
		}
		n, ok := toInt(v)
		if !ok {
			return nil, sc.runtime("The MaxConcurrencyPath field refers to value \"%s\" which is not a valid integer: %s", formatArg(v), st.MaxConcurrencyPath.src)
		}
		if n < 0 {
			return nil, sc.runtime("MaxConcurrency cannot be negative")
		}
		maxConc = n
	}
	tolCount := int64(-1)
	if st.ToleratedFailureCount != nil {
		tolCount = *st.ToleratedFailureCount
	}
	if st.ToleratedFailureCountPath != nil {
		v, err := esc.getPath(st.ToleratedFailureCountPath)
		if err != nil {
			return nil, err
		}
		n, ok := toInt(v)
		if !ok {
			return nil, sc.runtime("The ToleratedFailureCountPath field refers to value \"%s\" which is not a valid integer: %s", formatArg(v), st.ToleratedFailureCountPath.src)
		}
		if n < 0 {
			return nil, sc.runtime("ToleratedFailureCount cannot be negative.")
		}
		tolCount = n
	}
	tolPct := -1.0
	if st.ToleratedFailurePercentage != nil {
		tolPct = *st.ToleratedFailurePercentage
	}
	if st.ToleratedFailurePercentagePath != nil {
		v, err := esc.getPath(st.ToleratedFailurePercentagePath)
		if err != nil {
			return nil, err
		}
		f, ok := toFloat(v)
		if !ok {
			return nil, sc.runtime("The ToleratedFailurePercentagePath field refers to value \"%s\" which is not a valid float: %s", formatArg(v), st.ToleratedFailurePercentagePath.src)
		}
		if f < 0 || f > 100 {
			return nil, sc.runtime("ToleratedFailurePercentage must be between 0 and 100.")
		}
		tolPct = f
	}
	selector := st.ItemSelector
	if selector == nil {
		selector = st.Parameters
	}
	r.event(sc.th, EventMapStateStarted, &MapStateStartedDetails{Length: len(list)})

	limit := int(maxConc)
	if limit <= 0 || limit > len(list) {
		limit = len(list)
	}
	inline := r.e.MaxInlineConcurrency
	if inline <= 0 {
		inline = defaultInlineConcurrency
	}
	limit = min(limit, inline)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, len(list))
	errs := make([]error, len(list))
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	tolerate := func() bool {
		// called with mu held: is one more failure still within tolerance?
		if tolCount < 0 && tolPct < 0 {
			return false
		}
		if tolCount >= 0 && int64(failed) <= tolCount {
			return true
		}
		return tolPct >= 0 && float64(failed)*100/float64(len(list)) <= tolPct
	}
	for i, item := range list {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			th := &thread{prev: sc.th.prev, vars: maps(sc.th.vars), mapItem: &mapItem{index: i, value: item},
				path: fmt.Sprintf("%s%s/%d/", sc.th.path, st.Name, i)}
			itemIn := deepCopy(item)
			if selector != nil {
				isc := &scope{r: r, th: th, input: eff, st: st}
				th.state, th.entered, th.stateNow = sc.th.state, sc.th.entered, sc.th.stateNow
				v, err := isc.apply(selector)
				if err != nil {
					errs[i] = err
					cancel()
					return
				}
				itemIn = v
			}
			r.event(th, EventMapIterationStarted, &MapIterationDetails{Name: st.Name, Index: i})
			th.mapItem = nil
			out, err := r.machine(ctx, st.ItemProcessor, st.ItemProcessor.StartAt, itemIn, th)
			if err != nil {
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					errs[i] = err
					return
				}
				r.event(th, EventMapIterationFailed, &MapIterationDetails{Name: st.Name, Index: i})
				mu.Lock()
				failed++
				ok := tolerate()
				mu.Unlock()
				if ok {
					results[i] = nil
					return
				}
				errs[i] = err
				cancel()
				return
			}
			r.event(th, EventMapIterationSucceeded, &MapIterationDetails{Name: st.Name, Index: i})
			results[i] = out
		}()
	}
	wg.Wait()
	if err := firstFailure(errs); err != nil {
		if st.distributed && (tolCount >= 0 || tolPct >= 0) {
			err = &Failure{Name: ErrExceedToleratedFailures, Cause: "The specified tolerated failure threshold was exceeded"}
		}
		r.event(sc.th, EventMapStateFailed, nil)
		return nil, err
	}
	r.event(sc.th, EventMapStateSucceeded, nil)
	return results, nil
}

func pathSrc(p optPath) string {
	if p.path == nil {
		return "$"
	}
	return p.path.src
}

// evalRule evaluates a choice rule against the scope's input.
func evalRule(sc *scope, rule *ChoiceRule) (bool, error) {
	switch {
	case rule.And != nil:
		for _, r := range rule.And {
			ok, err := evalRule(sc, r)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case rule.Or != nil:
		for _, r := range rule.Or {
			ok, err := evalRule(sc, r)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case rule.Not != nil:
		ok, err := evalRule(sc, rule.Not)
		return !ok, err
	}
	v, err := sc.getPath(rule.Variable)
	if rule.Op == "IsPresent" {
		want, _ := rule.Value.(bool)
		return (err == nil) == want, nil
	}
	if err != nil {
		return false, err
	}
	if strings.HasPrefix(rule.Op, "Is") {
		want, _ := rule.Value.(bool)
		var is bool
		switch rule.Op {
		case "IsNull":
			is = v == nil
		case "IsNumeric":
			_, is = v.(json.Number)
		case "IsString":
			_, is = v.(string)
		case "IsBoolean":
			_, is = v.(bool)
		case "IsTimestamp":
			s, ok := v.(string)
			if ok {
				_, err := parseTimestamp(s)
				is = err == nil
			}
		}
		return is == want, nil
	}
	want := rule.Value
	if rule.ByPath {
		if want, err = sc.getPath(rule.ValuePath); err != nil {
			return false, err
		}
	}
	return compare(rule.Op, v, want), nil
}

func compare(op string, a, b any) bool {
	switch {
	case strings.HasPrefix(op, "String"):
		x, ok1 := a.(string)
		y, ok2 := b.(string)
		if !ok1 || !ok2 {
			return false
		}
		switch op {
		case "StringEquals":
			return x == y
		case "StringLessThan":
			return x < y
		case "StringGreaterThan":
			return x > y
		case "StringLessThanEquals":
			return x <= y
		case "StringGreaterThanEquals":
			return x >= y
		case "StringMatches":
			return wildcardMatch(y, x)
		}
	case strings.HasPrefix(op, "Numeric"):
		x, ok1 := a.(json.Number)
		y, ok2 := b.(json.Number)
		if !ok1 || !ok2 {
			return false
		}
		c := numCompare(x, y)
		return cmpOp(strings.TrimPrefix(op, "Numeric"), c)
	case op == "BooleanEquals":
		x, ok1 := a.(bool)
		y, ok2 := b.(bool)
		return ok1 && ok2 && x == y
	case strings.HasPrefix(op, "Timestamp"):
		xs, ok1 := a.(string)
		ys, ok2 := b.(string)
		if !ok1 || !ok2 {
			return false
		}
		x, err1 := parseTimestamp(xs)
		y, err2 := parseTimestamp(ys)
		if err1 != nil || err2 != nil {
			return false
		}
		return cmpOp(strings.TrimPrefix(op, "Timestamp"), x.Compare(y))
	}
	return false
}

func cmpOp(suffix string, c int) bool {
	switch suffix {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// wildcardMatch matches s against a StringMatches pattern: * matches any
// run of characters, \* and \\ are literal.
func wildcardMatch(pattern, s string) bool {
	type tok struct {
		star bool
		c    rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) {
			i++
			toks = append(toks, tok{c: rs[i]})
			continue
		}
		toks = append(toks, tok{star: rs[i] == '*', c: rs[i]})
	}
	str := []rune(s)
	// dp over positions
	cur := make([]bool, len(str)+1)
	cur[0] = true
	for _, t := range toks {
		next := make([]bool, len(str)+1)
		if t.star {
			reach := false
			for j := 0; j <= len(str); j++ {
				reach = reach || cur[j]
				next[j] = reach
			}
		} else {
			for j := 1; j <= len(str); j++ {
				next[j] = cur[j-1] && str[j-1] == t.c
			}
		}
		cur = next
	}
	return cur[len(str)]
}
