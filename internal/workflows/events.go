package workflows

import "time"

// History event types, as GetExecutionHistory names them. State entries and
// exits are "<Type>StateEntered" / "<Type>StateExited" (PassStateEntered,
// MapStateExited, ...).
const (
	EventExecutionStarted       = "ExecutionStarted"
	EventExecutionSucceeded     = "ExecutionSucceeded"
	EventExecutionFailed        = "ExecutionFailed"
	EventExecutionTimedOut      = "ExecutionTimedOut"
	EventExecutionAborted       = "ExecutionAborted"
	EventTaskScheduled          = "TaskScheduled"
	EventTaskStarted            = "TaskStarted"
	EventTaskSucceeded          = "TaskSucceeded"
	EventTaskFailed             = "TaskFailed"
	EventTaskTimedOut           = "TaskTimedOut"
	EventActivityScheduled      = "ActivityScheduled"
	EventActivityStarted        = "ActivityStarted"
	EventActivitySucceeded      = "ActivitySucceeded"
	EventActivityFailed         = "ActivityFailed"
	EventActivityTimedOut       = "ActivityTimedOut"
	EventParallelStateStarted   = "ParallelStateStarted"
	EventParallelStateSucceeded = "ParallelStateSucceeded"
	EventParallelStateFailed    = "ParallelStateFailed"
	EventMapStateStarted        = "MapStateStarted"
	EventMapStateSucceeded      = "MapStateSucceeded"
	EventMapStateFailed         = "MapStateFailed"
	EventMapIterationStarted    = "MapIterationStarted"
	EventMapIterationSucceeded  = "MapIterationSucceeded"
	EventMapIterationFailed     = "MapIterationFailed"
)

// An Event is one entry of an execution's history. IDs count from 1 per
// execution; PreviousEventID links an event to the one before it on the same
// line of control (a branch or an iteration has its own line).
type Event struct {
	ID              int64     `json:"id"`
	PreviousEventID int64     `json:"previousEventId"`
	Timestamp       time.Time `json:"timestamp"`
	Type            string    `json:"type"`
	// Details is one of the *Details types below, or nil.
	Details any `json:"details,omitempty"`
}

// ExecutionStartedDetails goes with ExecutionStarted.
type ExecutionStartedDetails struct {
	Input   string `json:"input"`
	RoleARN string `json:"roleArn,omitempty"`
}

// ExecutionSucceededDetails goes with ExecutionSucceeded.
type ExecutionSucceededDetails struct {
	Output string `json:"output"`
}

// ExecutionFailedDetails goes with ExecutionFailed, ExecutionTimedOut and
// ExecutionAborted.
type ExecutionFailedDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// StateEnteredDetails goes with every *StateEntered event.
type StateEnteredDetails struct {
	Name  string `json:"name"`
	Input string `json:"input"`
}

// StateExitedDetails goes with every *StateExited event.
type StateExitedDetails struct {
	Name   string `json:"name"`
	Output string `json:"output"`
}

// TaskScheduledDetails goes with TaskScheduled.
type TaskScheduledDetails struct {
	Resource           string `json:"resource"`
	Parameters         string `json:"parameters"`
	TimeoutInSeconds   int64  `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds int64  `json:"heartbeatInSeconds,omitempty"`
}

// TaskStartedDetails goes with TaskStarted.
type TaskStartedDetails struct {
	Resource string `json:"resource"`
}

// TaskSucceededDetails goes with TaskSucceeded.
type TaskSucceededDetails struct {
	Resource string `json:"resource"`
	Output   string `json:"output"`
}

// TaskFailedDetails goes with TaskFailed and TaskTimedOut.
type TaskFailedDetails struct {
	Resource string `json:"resource"`
	Error    string `json:"error,omitempty"`
	Cause    string `json:"cause,omitempty"`
}

// ActivityScheduledDetails goes with ActivityScheduled.
type ActivityScheduledDetails struct {
	Resource           string `json:"resource"`
	Input              string `json:"input"`
	TimeoutInSeconds   int64  `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds int64  `json:"heartbeatInSeconds,omitempty"`
}

// ActivityStartedDetails goes with ActivityStarted.
type ActivityStartedDetails struct {
	WorkerName string `json:"workerName,omitempty"`
}

// ActivitySucceededDetails goes with ActivitySucceeded.
type ActivitySucceededDetails struct {
	Output string `json:"output"`
}

// ActivityFailedDetails goes with ActivityFailed and ActivityTimedOut.
type ActivityFailedDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// MapStateStartedDetails goes with MapStateStarted.
type MapStateStartedDetails struct {
	Length int `json:"length"`
}

// MapIterationDetails goes with the MapIteration* events.
type MapIterationDetails struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// event records an event on th's line and returns its id.
func (r *run) event(th *thread, typ string, details any) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastID++
	ev := Event{ID: r.lastID, PreviousEventID: th.prev, Timestamp: r.clock.Now(), Type: typ, Details: details}
	th.prev = ev.ID
	if r.hooks.OnEvent != nil {
		r.hooks.OnEvent(ev)
	}
	return ev.ID
}
