package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustParse(t *testing.T, def string) *Definition {
	t.Helper()
	d, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func testInfo() ExecutionInfo {
	return ExecutionInfo{ARN: "arn:aws:states:us-east-1:123456789012:execution:sm:run-1", Name: "run-1",
		StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:sm", StateMachineName: "sm"}
}

func wantOutput(t *testing.T, res Result, want string) {
	t.Helper()
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s (%s: %s), want SUCCEEDED", res.Status, res.Error, res.Cause)
	}
	if !jsonEqual(mustDecode(res.Output), mustDecode([]byte(want))) {
		t.Fatalf("output %s, want %s", res.Output, want)
	}
}

// The whole chain: InputPath -> Parameters -> task -> ResultSelector ->
// ResultPath -> OutputPath, with the task seeing the effective input.
func TestTaskInputOutputChain(t *testing.T) {
	def := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
		"InputPath":"$.order",
		"Parameters":{"id.$":"$.id","greeting.$":"States.Format('hello {}', $.who)","exec.$":"$$.Execution.Name","fixed":[1,{"a":"b"}]},
		"ResultSelector":{"total.$":"$.sum","count.$":"States.ArrayLength($.items)"},
		"ResultPath":"$.order.result",
		"OutputPath":"$.order",
		"End":true}}}`)
	var got json.RawMessage
	e := &Engine{Clock: newFakeClock(true), Tasks: TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		got = req.Input
		return json.RawMessage(`{"sum":42,"items":[1,2,3],"noise":true}`), nil
	})}
	res := e.Start(context.Background(), def, testInfo(), json.RawMessage(`{"order":{"id":7,"who":"ana"},"other":1}`), Hooks{})
	wantOutput(t, res, `{"id":7,"who":"ana","result":{"total":42,"count":3}}`)
	if !jsonEqual(mustDecode(got), mustDecode([]byte(`{"id":7,"greeting":"hello ana","exec":"run-1","fixed":[1,{"a":"b"}]}`))) {
		t.Fatalf("task input %s", got)
	}
}

// Retries wait IntervalSeconds * BackoffRate^n, capped by MaxDelaySeconds,
// on the injected clock; then the task succeeds.
func TestRetryBackoffOnClock(t *testing.T) {
	def := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,
		"Retry":[{"ErrorEquals":["Other"],"MaxAttempts":5},
		         {"ErrorEquals":["Flaky"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":4,"MaxDelaySeconds":10}]}}}`)
	clock := newFakeClock(true)
	var times []time.Time
	var attempts []int
	e := &Engine{Clock: clock, Tasks: TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		times = append(times, clock.Now())
		attempts = append(attempts, req.Attempt)
		if len(times) < 4 {
			return nil, &Failure{Name: "Flaky", Cause: "try again"}
		}
		return json.RawMessage(`"done"`), nil
	})}
	res := e.Start(context.Background(), def, testInfo(), nil, Hooks{})
	wantOutput(t, res, `"done"`)
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	if fmt.Sprint(gaps) != "[2s 6s 10s]" || fmt.Sprint(attempts) != "[0 1 2 3]" {
		t.Fatalf("gaps %v attempts %v, want [2s 6s 10s] [0 1 2 3]", gaps, attempts)
	}
}

// A retrier that is used up hands the error to the catchers; the catcher's
// ResultPath puts {Error, Cause} into the raw input.
func TestRetryThenCatch(t *testing.T) {
	def := mustParse(t, `{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"r","Next":"Done",
			"Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":2}],
			"Catch":[{"ErrorEquals":["Nope"],"Next":"Done"},{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Handled"}]},
		"Handled":{"Type":"Pass","End":true},
		"Done":{"Type":"Succeed"}}}`)
	calls := 0
	e := &Engine{Clock: newFakeClock(true), Tasks: TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		calls++
		return nil, errors.New("boom")
	})}
	res := e.Start(context.Background(), def, testInfo(), json.RawMessage(`{"k":1}`), Hooks{})
	wantOutput(t, res, `{"k":1,"err":{"Error":"States.TaskFailed","Cause":"boom"}}`)
	if calls != 3 {
		t.Fatalf("%d calls, want 3 (1 + 2 retries)", calls)
	}
}

// States.ALL does not catch States.Runtime nor States.DataLimitExceeded.
func TestTerminalErrorsAreNotCaught(t *testing.T) {
	for name, tc := range map[string]struct{ state, want string }{
		"runtime":   {`"Type":"Pass","InputPath":"$.missing"`, ErrRuntime},
		"datalimit": {`"Type":"Pass","Parameters":{"big.$":"States.ArrayRange(1, 999, 1)","more.$":"States.Format('{}{}{}{}', $.s, $.s, $.s, $.s)"}`, ErrDataLimitExceeded},
	} {
		t.Run(name, func(t *testing.T) {
			def := mustParse(t, `{"StartAt":"P","States":{"P":{`+tc.state+`,"End":true}},"Comment":"x"}`)
			_ = def
			def = mustParse(t, `{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],
				"Branches":[{"StartAt":"P","States":{"P":{`+tc.state+`,"End":true}}}]},
				"Caught":{"Type":"Succeed"}}}`)
			in := fmt.Sprintf(`{"s":%q}`, strings.Repeat("x", 70*1024))
			res := (&Engine{Clock: newFakeClock(true)}).Start(context.Background(), def, testInfo(), json.RawMessage(in), Hooks{})
			if res.Status != StatusFailed || res.Error != tc.want {
				t.Fatalf("got %s %s (%s), want FAILED %s", res.Status, res.Error, res.Cause, tc.want)
			}
		})
	}
}

// waitTimers polls until the clock has n live timers (the engine armed them).
func waitTimers(t *testing.T, c *fakeClock, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the engine never armed %d timers", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitTimerAt polls until a live timer is due at exactly at.
func waitTimerAt(t *testing.T, c *fakeClock, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		found := false
		for _, tm := range c.timers {
			found = found || !tm.stopped && tm.at.Equal(at)
		}
		c.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timer armed for %v", at)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTaskTimeoutAndHeartbeat(t *testing.T) {
	blocking := TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	for _, tc := range []struct {
		name, fields string
		timers       int
		advance      time.Duration
		want         string
	}{
		{"timeout", `"TimeoutSeconds":30`, 1, 30 * time.Second, ErrTimeout},
		{"timeout-path", `"TimeoutSecondsPath":"$.t"`, 1, 45 * time.Second, ErrTimeout},
		{"heartbeat", `"TimeoutSeconds":300,"HeartbeatSeconds":10`, 2, 10 * time.Second, ErrHeartbeatTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r",`+tc.fields+`,"End":true}}}`)
			clock := newFakeClock(false)
			done := make(chan Result, 1)
			go func() {
				done <- (&Engine{Clock: clock, Tasks: blocking}).Start(context.Background(), def, testInfo(), json.RawMessage(`{"t":45}`), Hooks{})
			}()
			waitTimers(t, clock, tc.timers)
			clock.Advance(tc.advance - time.Second)
			select {
			case res := <-done:
				t.Fatalf("ended early: %+v", res)
			default:
			}
			clock.Advance(time.Second)
			res := <-done
			if res.Status != StatusFailed || res.Error != tc.want {
				t.Fatalf("got %s %s, want FAILED %s", res.Status, res.Error, tc.want)
			}
		})
	}
}

// A task that heartbeats keeps running past HeartbeatSeconds.
func TestHeartbeatKeepsTaskAlive(t *testing.T) {
	def := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","HeartbeatSeconds":10,"End":true}}}`)
	clock := newFakeClock(false)
	beat := make(chan struct{})
	finish := make(chan struct{})
	task := TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		for {
			select {
			case <-beat:
				req.Heartbeat()
			case <-finish:
				return json.RawMessage(`{"ok":true}`), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	})
	done := make(chan Result, 1)
	go func() {
		done <- (&Engine{Clock: clock, Tasks: task}).Start(context.Background(), def, testInfo(), nil, Hooks{})
	}()
	for i := 0; i < 3; i++ {
		// each heartbeat, 8 s after the last, re-arms the 10 s timer
		waitTimerAt(t, clock, clock.Now().Add(10*time.Second))
		clock.Advance(8 * time.Second)
		beat <- struct{}{}
	}
	waitTimerAt(t, clock, clock.Now().Add(10*time.Second))
	close(finish)
	wantOutput(t, <-done, `{"ok":true}`)
}

// Wait states use the injected clock: an hour passes at once.
func TestWaitUsesClock(t *testing.T) {
	def := mustParse(t, `{"StartAt":"W","States":{
		"W":{"Type":"Wait","Seconds":3600,"Next":"TS"},
		"TS":{"Type":"Wait","TimestampPath":"$.until","Next":"P"},
		"P":{"Type":"Pass","Parameters":{"entered.$":"$$.State.EnteredTime","started.$":"$$.Execution.StartTime"},"End":true}}}`)
	clock := newFakeClock(true)
	start := clock.Now()
	until := start.Add(2 * time.Hour).Format(time.RFC3339)
	res := (&Engine{Clock: clock}).Start(context.Background(), def, testInfo(), json.RawMessage(`{"until":"`+until+`"}`), Hooks{})
	wantOutput(t, res, `{"entered":"`+formatTime(start.Add(2*time.Hour))+`","started":"`+formatTime(start)+`"}`)
}

// The history: ids count up, each event links to the previous one of its
// line, and the types follow AWS's names.
func TestHistoryEvents(t *testing.T) {
	def := mustParse(t, `{"StartAt":"P","States":{
		"P":{"Type":"Pass","Result":[1,2],"Next":"T"},
		"T":{"Type":"Task","Resource":"r","Next":"M"},
		"M":{"Type":"Map","MaxConcurrency":1,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`)
	var mu sync.Mutex
	var events []Event
	e := &Engine{Clock: newFakeClock(true), Tasks: TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		return req.Input, nil
	})}
	res := e.Start(context.Background(), def, testInfo(), nil, Hooks{OnEvent: func(ev Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	wantOutput(t, res, `[1,2]`)
	var types []string
	for i, ev := range events {
		if ev.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i, ev.ID)
		}
		types = append(types, ev.Type)
	}
	want := "ExecutionStarted PassStateEntered PassStateExited TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited " +
		"MapStateEntered MapStateStarted MapIterationStarted PassStateEntered PassStateExited MapIterationSucceeded " +
		"MapIterationStarted PassStateEntered PassStateExited MapIterationSucceeded MapStateSucceeded MapStateExited ExecutionSucceeded"
	if strings.Join(types, " ") != want {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(types, " "), want)
	}
	if events[1].PreviousEventID != 1 || events[len(events)-1].Details.(*ExecutionSucceededDetails).Output != `[1,2]` {
		t.Fatalf("links or details wrong: %+v %+v", events[1], events[len(events)-1])
	}
	if _, err := json.Marshal(events); err != nil {
		t.Fatal(err)
	}
}

// An execution stopped mid-way resumes from its last checkpoint (passed
// through JSON, as a store would) and ends as an uninterrupted run does.
func TestCheckpointResume(t *testing.T) {
	def := mustParse(t, `{"StartAt":"A","States":{
		"A":{"Type":"Pass","Result":{"n":1},"Assign":{"seen.$":"$.n"},"Next":"B"},
		"B":{"Type":"Task","Resource":"r","ResultPath":"$.b","Next":"C"},
		"C":{"Type":"Pass","Parameters":{"b.$":"$.b","seen.$":"$seen","input.$":"$$.Execution.Input"},"End":true}}}`)
	var crash atomic.Bool // the abandoned first attempt may still read it
	crash.Store(true)
	task := TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
		if crash.Load() {
			<-ctx.Done() // the process dies while the task runs
			return nil, ctx.Err()
		}
		return json.RawMessage(`"task-result"`), nil
	})
	e := &Engine{Clock: newFakeClock(true), Tasks: task}
	var saved []byte
	var lastEvent int64
	ctx, cancel := context.WithCancel(context.Background())
	hooks := Hooks{
		OnCheckpoint: func(cp Checkpoint) {
			b, err := json.Marshal(cp)
			if err != nil {
				t.Error(err)
			}
			saved = b
		},
		OnEvent: func(ev Event) {
			lastEvent = ev.ID
			if ev.Type == EventTaskStarted {
				cancel()
			}
		},
	}
	res := e.Start(ctx, def, testInfo(), json.RawMessage(`{"x":"in"}`), hooks)
	if res.Status != StatusAborted {
		t.Fatalf("status %s, want ABORTED", res.Status)
	}
	var cp Checkpoint
	if err := json.Unmarshal(saved, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.State != "B" {
		t.Fatalf("checkpoint at %q, want B", cp.State)
	}
	crash.Store(false)
	var firstID int64
	res, err := (&Engine{Clock: newFakeClock(true), Tasks: task}).Resume(context.Background(), def, cp, Hooks{OnEvent: func(ev Event) {
		if firstID == 0 {
			firstID = ev.ID
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantOutput(t, res, `{"b":"task-result","seen":1,"input":{"x":"in"}}`)
	if firstID != cp.LastEventID+1 || firstID > lastEvent {
		t.Fatalf("resumed events start at %d; checkpoint had %d, the run reached %d", firstID, cp.LastEventID, lastEvent)
	}
}

// Parallel branches run on the same input; a failing branch fails the state
// with its own error, which a catcher sees.
func TestParallelAndMapFailures(t *testing.T) {
	def := mustParse(t, `{"StartAt":"Par","States":{
		"Par":{"Type":"Parallel","Next":"M","ResultSelector":{"a.$":"$[0]","b.$":"$[1]"},
			"Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.v","End":true}}},
			            {"StartAt":"B","States":{"B":{"Type":"Pass","Result":"b","End":true}}}]},
		"M":{"Type":"Map","ItemsPath":"$.a","ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value"},"ResultPath":"$.m","Next":"Bad",
			"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}}},
		"Bad":{"Type":"Map","ItemsPath":"$.a","Catch":[{"ErrorEquals":["Odd"],"ResultPath":"$.caught","Next":"End"}],"End":false,"Next":"End",
			"ItemProcessor":{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":3,"Next":"F"}],"Default":"OK"},
				"F":{"Type":"Fail","Error":"Odd","Cause":"three"},"OK":{"Type":"Succeed"}}}},
		"End":{"Type":"Pass","OutputPath":"$.caught","End":true}}}`)
	res := (&Engine{Clock: newFakeClock(true)}).Start(context.Background(), def, testInfo(), json.RawMessage(`{"v":[2,3]}`), Hooks{})
	wantOutput(t, res, `{"Error":"Odd","Cause":"three"}`)
}

func TestParseProblemsNameStateAndField(t *testing.T) {
	for _, tc := range []struct{ def, want string }{
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}`, `MISSING_TRANSITION_TARGET: missing transition target "Nowhere" at /States/A`},
		{`{"StartAt":"A","States":{"A":{"Type":"Succeed","Parameters":{}}}}`, `"Parameters" is not supported by Step Functions here at /States/A/Parameters`},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}`, `UNREACHABLE_STATE: state "B" is not reachable from StartAt at /States/B`},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$.a[?"},"End":true}}}`, `at /States/A/Parameters/x.$`},
		{`{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":1,"Next":"A"}]}}}`, `"StringEquals" has the wrong type at /States/A/Choices[0]/StringEquals`},
		{`{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"X","States":{"X":{"Type":"Pass","Next":"Y"}}}}}}`, `at /States/M/ItemProcessor/States/X`},
		{`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL","X"]}]}}}`, `"States.ALL" must appear alone`},
		{`{"StartAt":"A","QueryLanguage":"JSONata","States":{"A":{"Type":"Pass","End":true}}}`, `JSONata query language is not supported yet`},
	} {
		_, err := Parse([]byte(tc.def))
		var ide *InvalidDefinitionError
		if !errors.As(err, &ide) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want an InvalidDefinitionError containing %q", tc.def, err, tc.want)
		}
	}
}

func TestJSONPath(t *testing.T) {
	doc := mustDecode([]byte(`{"store":{"book":[{"t":"a","p":8},{"t":"b","p":12},{"t":"c","p":5,"isbn":"x"}]},"a b":1,"n":[0,1,2,3,4]}`))
	for _, tc := range []struct{ path, want string }{
		{`$.store.book[1].t`, `"b"`},
		{`$.store.book[-1].p`, `5`},
		{`$['a b']`, `1`},
		{`$.store.book[*].t`, `["a","b","c"]`},
		{`$.store.book[?(@.p < 10)].t`, `["a","c"]`},
		{`$.store.book[?(@.isbn)].t`, `["c"]`},
		{`$.store.book[?(@.p >= 8 && @.t != 'a')].t`, `["b"]`},
		{`$.n[1:3]`, `[1,2]`},
		{`$.n[::2]`, `[0,2,4]`},
		{`$.n[0,4]`, `[0,4]`},
		{`$..p`, `[8,12,5]`},
		{`$.store.book[5]`, `missing`},
		{`$.nope`, `missing`},
	} {
		p, err := ParsePath(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		v, err := p.Get(doc)
		got := encodeJSON(v)
		if err != nil {
			got = "missing"
		}
		if got != tc.want {
			t.Errorf("%s = %s, want %s", tc.path, got, tc.want)
		}
	}
	for _, bad := range []string{"", "a", "$.", "$[", "$[1", "$['x'", "$.a[?(@.x ==)]", "$[1:2:0]", "$..", "$.a b"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}

func TestIntrinsics(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`States.ArrayUnique($.a)`, `[1,2,{"x":1}]`},
		{`States.Base64Decode(States.Base64Encode('héllo'))`, `"héllo"`},
		{`States.Hash('input data', 'SHA-256')`, `"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"`},
		{`States.Format('\{{}\}', 'x')`, `"{x}"`},
		{`States.ArrayGetItem(States.ArrayRange(10, 0, -5), 1)`, `5`},
		{`States.MathAdd($.i, 1)`, `42`},
		{`States.JsonToString(States.StringToJson('{"b":[1]}'))`, `"{\"b\":[1]}"`},
	} {
		c, err := parseIntrinsic(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		sc := &scope{r: &run{}, th: &thread{}, input: mustDecode([]byte(`{"a":[1,2,1,{"x":1},{"x":1}],"i":41}`))}
		v, err := c.eval(sc)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := encodeJSON(v); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
		}
	}
	id, _ := parseIntrinsic(`States.UUID()`)
	v, _ := id.eval(&scope{r: &run{}, th: &thread{}})
	if !uuidPattern.MatchString(v.(string)) {
		t.Errorf("UUID %v", v)
	}
	for _, bad := range []string{`States.Nope(1)`, `States.ArrayLength()`, `States.Format('x'`, `States.Array(1 2)`, `States.UUID(1)`} {
		if _, err := parseIntrinsic(bad); err == nil {
			t.Errorf("parseIntrinsic(%q) accepted", bad)
		}
	}
	for _, bad := range []string{`States.ArrayPartition($.a, 0)`, `States.ArrayGetItem($.a, 9)`, `States.Format('{}')`, `States.StringToJson('{')`, `States.MathAdd('a', 1)`} {
		c, err := parseIntrinsic(bad)
		if err != nil {
			t.Fatalf("%s: %v", bad, err)
		}
		_, err = c.eval(&scope{r: &run{}, th: &thread{}, input: mustDecode([]byte(`{"a":[1]}`))})
		var f *Failure
		if !errors.As(err, &f) || f.Name != ErrRuntime {
			t.Errorf("%s: %v, want a States.Runtime failure", bad, err)
		}
	}
}

// A Fail state records its entry and the execution's failure, nothing more.
func TestFailHistory(t *testing.T) {
	def := mustParse(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","Cause":"because"}}}`)
	var types []string
	var last Event
	res := (&Engine{Clock: newFakeClock(true)}).Start(context.Background(), def, testInfo(), json.RawMessage(`{"e":"Custom"}`), Hooks{OnEvent: func(ev Event) {
		types = append(types, ev.Type)
		last = ev
	}})
	if res.Status != StatusFailed || res.Error != "Custom" || res.Cause != "because" {
		t.Fatalf("result %+v", res)
	}
	if strings.Join(types, " ") != "ExecutionStarted FailStateEntered ExecutionFailed" {
		t.Fatalf("events %v", types)
	}
	if d := last.Details.(*ExecutionFailedDetails); d.Error != "Custom" || d.Cause != "because" {
		t.Fatalf("details %+v", d)
	}
}

// A Wait state resumed after a crash waits only what was left of it.
func TestResumedWaitKeepsItsDeadline(t *testing.T) {
	def := mustParse(t, `{"StartAt":"W","States":{
		"W":{"Type":"Wait","Seconds":3600,"Next":"P"},
		"P":{"Type":"Pass","Parameters":{"entered.$":"$$.State.EnteredTime"},"End":true}}}`)
	clock := newFakeClock(false)
	t0 := clock.Now()
	var cp Checkpoint
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() {
		done <- (&Engine{Clock: clock}).Start(ctx, def, testInfo(), nil, Hooks{OnCheckpoint: func(c Checkpoint) { cp = c }})
	}()
	waitTimers(t, clock, 1)
	cancel() // the node dies during the wait
	if res := <-done; res.Status != StatusAborted || cp.State != "W" {
		t.Fatalf("status %s checkpoint %q", res.Status, cp.State)
	}
	clock.Advance(50 * time.Minute) // it comes back 50 minutes later
	auto := newFakeClock(true)
	auto.now = clock.Now()
	res, err := (&Engine{Clock: auto}).Resume(context.Background(), def, cp, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	wantOutput(t, res, `{"entered":"`+formatTime(t0.Add(time.Hour))+`"}`)
}

// The machine's TimeoutSeconds ends a running execution as TIMED_OUT.
func TestExecutionTimeout(t *testing.T) {
	def := mustParse(t, `{"TimeoutSeconds":10,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}`)
	clock := newFakeClock(false)
	var mu sync.Mutex
	var last string
	done := make(chan Result, 1)
	go func() {
		done <- (&Engine{Clock: clock}).Start(context.Background(), def, testInfo(), nil, Hooks{OnEvent: func(ev Event) {
			mu.Lock()
			last = ev.Type
			mu.Unlock()
		}})
	}()
	waitTimers(t, clock, 2) // the execution's deadline and the Wait
	clock.Advance(10 * time.Second)
	res := <-done
	mu.Lock()
	defer mu.Unlock()
	if res.Status != StatusTimedOut || res.Error != ErrTimeout || last != EventExecutionTimedOut {
		t.Fatalf("got %+v, last event %s", res, last)
	}
}

// An inline Map runs at most MaxConcurrency iterations at once, and at most
// MaxInlineConcurrency when MaxConcurrency is 0.
func TestMapConcurrencyBound(t *testing.T) {
	for _, tc := range []struct {
		maxConc, inline, want int
	}{{3, 0, 3}, {0, 5, 5}} {
		def := mustParse(t, fmt.Sprintf(`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":%d,"End":true,
			"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"r","End":true}}}}}}`, tc.maxConc))
		var mu sync.Mutex
		running, peak := 0, 0
		task := TaskFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(time.Millisecond) // lets other iterations start if the bound allowed them
			mu.Lock()
			running--
			mu.Unlock()
			return req.Input, nil
		})
		items := make([]int, 30)
		in, _ := json.Marshal(items)
		res := (&Engine{Clock: newFakeClock(true), Tasks: task, MaxInlineConcurrency: tc.inline}).Start(context.Background(), def, testInfo(), in, Hooks{})
		wantOutput(t, res, string(in))
		if peak > tc.want {
			t.Fatalf("MaxConcurrency %d, inline %d: %d iterations ran at once, want at most %d", tc.maxConc, tc.inline, peak, tc.want)
		}
	}
}
