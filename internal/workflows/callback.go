package workflows

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Callback tasks (.waitForTaskToken). Each waiting task attempt has a
// token record in tokensBucket, "t.<token>", and a pending entry
// "p.<hash of execution and attempt>" that names its token: an execution
// resumed after a restart finds the token of the attempt it runs again, so a
// token sent to the first run (before or after the crash) completes it.
// SendTaskSuccess/Failure/Heartbeat change the record with compare-and-set;
// the waiting runner, on whichever node, watches it.
const tokensBucket = "workflow-tokens"

// Token record statuses.
const (
	tokenWaiting   = "WAITING"
	tokenSucceeded = "SUCCEEDED"
	tokenFailed    = "FAILED"
)

type tokenRecord struct {
	Execution string          `json:"execution"` // execution key
	Pending   string          `json:"pending"`   // the pending entry's key
	Status    string          `json:"status"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     string          `json:"error,omitempty"`
	Cause     string          `json:"cause,omitempty"`
	// Sent is set once the task's request (the Lambda invocation carrying
	// the token) was made: a resumed attempt does not make it again.
	Sent  bool  `json:"sent,omitempty"`
	Beats int64 `json:"beats,omitempty"`
	// Started and Worker: an activity task was handed to a worker;
	// Reported: its ActivityStarted event was stored.
	Started  bool   `json:"started,omitempty"`
	Worker   string `json:"worker,omitempty"`
	Reported bool   `json:"reported,omitempty"`
}

var tokenRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TaskToken issues (or, for an attempt run again after a resume, finds) the
// token of a task attempt.
func (s *Service) TaskToken(ctx context.Context, req TokenRequest) (string, error) {
	execKey := req.Execution.StateMachineName + "." + req.Execution.Name
	sum := sha256.Sum256([]byte(execKey + "\x00" + req.Attempt))
	pending := "p." + hex.EncodeToString(sum[:])
	for {
		if e, err := s.tokens.Get(ctx, pending); err == nil {
			return string(e.Value()), nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", fmt.Errorf("read task token: %w", err)
		}
		var b [32]byte
		_, _ = rand.Read(b[:])
		tok := hex.EncodeToString(b[:])
		data, _ := json.Marshal(tokenRecord{Execution: execKey, Pending: pending, Status: tokenWaiting})
		if _, err := s.tokens.Create(ctx, "t."+tok, data); err != nil {
			return "", fmt.Errorf("store task token: %w", err)
		}
		if _, err := s.tokens.Create(ctx, pending, []byte(tok)); err != nil {
			_ = s.tokens.Delete(ctx, "t."+tok)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return "", fmt.Errorf("store task token: %w", err)
		}
		return tok, nil
	}
}

// TaskEnded drops a token whose task attempt ended: sending it is then
// TaskTimedOut, as on AWS.
func (s *Service) TaskEnded(tok string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := s.tokens.Get(ctx, "t."+tok)
	if err != nil {
		return
	}
	var rec tokenRecord
	if json.Unmarshal(e.Value(), &rec) == nil && rec.Pending != "" {
		_ = s.tokens.Delete(ctx, rec.Pending)
	}
	if err := s.tokens.Delete(ctx, "t."+tok); err != nil {
		s.log.Debug("task token not dropped", "err", err)
	}
}

// callbackTasks runs .waitForTaskToken tasks: the request (through next,
// once per attempt, with the resource's suffix removed) and then the wait
// for the token, which holds no task slot. It checks every Lambda task
// against the machine's declared role first.
type callbackTasks struct {
	s    *Service
	next TaskRunner
}

func (c callbackTasks) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	if IsActivityARN(req.Resource) {
		return c.s.runActivity(ctx, req) // its wait holds no task slot either
	}
	sub := req
	sub.Resource = strings.TrimSuffix(req.Resource, WaitForTaskToken)
	if err := c.s.mayInvoke(ctx, sub); err != nil {
		return nil, err
	}
	if req.Token == "" {
		return c.next.RunTask(ctx, req)
	}
	key := "t." + req.Token
	rec, _, err := c.s.readToken(ctx, key)
	if err != nil {
		return nil, err
	}
	if rec.Status == tokenWaiting && !rec.Sent {
		if _, err := c.next.RunTask(ctx, sub); err != nil {
			return nil, err
		}
		if err := c.s.changeToken(ctx, key, func(r *tokenRecord) error { r.Sent = true; return nil }); err != nil {
			return nil, err
		}
	}
	return c.s.awaitToken(ctx, key, req.Heartbeat, nil)
}

func (s *Service) readToken(ctx context.Context, key string) (*tokenRecord, uint64, error) {
	e, err := s.tokens.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("read task token: %w", err)
	}
	var rec tokenRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("decode task token: %w", err)
	}
	return &rec, e.Revision(), nil
}

// changeToken applies change to a token record with compare-and-set.
func (s *Service) changeToken(ctx context.Context, key string, change func(*tokenRecord) error) error {
	for {
		rec, rev, err := s.readToken(ctx, key)
		if err != nil {
			return err
		}
		if err := change(rec); err != nil {
			return err
		}
		data, _ := json.Marshal(rec)
		if _, err := s.tokens.Update(ctx, key, data, rev); err == nil {
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("write task token: %w", err)
		}
	}
}

// awaitToken waits until the token is sent: its output, or its error as
// the task's failure. Each heartbeat sent calls beat; started is called
// when an activity worker takes the task.
func (s *Service) awaitToken(ctx context.Context, key string, beat func(), started func(worker string)) (json.RawMessage, error) {
	w, err := s.tokens.Watch(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("watch task token: %w", err)
	}
	defer func() { _ = w.Stop() }()
	beats := int64(-1)
	reported := false
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e = <-w.Updates():
		}
		if e == nil {
			continue // the watch caught up with the present
		}
		if e.Operation() != jetstream.KeyValuePut {
			return nil, &Failure{Name: ErrRuntime, Cause: "the task token was removed"}
		}
		var rec tokenRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("decode task token: %w", err)
		}
		if rec.Started && !rec.Reported && !reported && started != nil {
			reported = true
			started(rec.Worker)
		}
		switch rec.Status {
		case tokenSucceeded:
			return rec.Output, nil
		case tokenFailed:
			return nil, &Failure{Name: rec.Error, Cause: rec.Cause}
		}
		if beats >= 0 && rec.Beats != beats && beat != nil {
			beat()
		}
		beats = rec.Beats
	}
}

// taskGone is AWS's answer for a token whose task is over or unknown.
func taskGone() error {
	return errorf(KindTaskTimedOut, "Task Timed Out: 'Provided task does not exist anymore'")
}

// sendToken changes the record of a waiting task's token.
func (s *Service) sendToken(ctx context.Context, tok string, change func(*tokenRecord)) error {
	if !tokenRE.MatchString(tok) {
		return errorf(KindInvalidToken, "Invalid Token: 'Invalid token'")
	}
	key := "t." + tok
	err := s.changeToken(ctx, key, func(rec *tokenRecord) error {
		if rec.Status != tokenWaiting {
			return taskGone()
		}
		// A token outliving its execution (stopped, failed) is gone too.
		e, err := s.execs.Get(ctx, rec.Execution)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return taskGone()
		}
		if err != nil {
			return fmt.Errorf("read execution: %w", err)
		}
		var ex struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(e.Value(), &ex) == nil && ex.Status != StatusRunning {
			s.TaskEnded(tok)
			return taskGone()
		}
		change(rec)
		return nil
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return taskGone()
	}
	return err
}

// SendTaskSuccess completes the task waiting for tok with output.
func (s *Service) SendTaskSuccess(ctx context.Context, tok, output string) error {
	if !json.Valid([]byte(output)) {
		return errorf(KindInvalidOutput, "Invalid Output: 'the output is not valid JSON'")
	}
	if len(output) > MaxPayload {
		return errorf(KindInvalidOutput, "Invalid Output: 'the output has more than %d bytes'", MaxPayload)
	}
	return s.sendToken(ctx, tok, func(rec *tokenRecord) {
		rec.Status, rec.Output = tokenSucceeded, json.RawMessage(output)
	})
}

// SendTaskFailure fails the task waiting for tok with an error and cause.
func (s *Service) SendTaskFailure(ctx context.Context, tok, errName, cause string) error {
	return s.sendToken(ctx, tok, func(rec *tokenRecord) {
		rec.Status, rec.Error, rec.Cause = tokenFailed, errName, cause
	})
}

// SendTaskHeartbeat tells the task waiting for tok that its work goes on
// (HeartbeatSeconds counts again).
func (s *Service) SendTaskHeartbeat(ctx context.Context, tok string) error {
	return s.sendToken(ctx, tok, func(rec *tokenRecord) { rec.Beats++ })
}

// checkExpress refuses callback tasks in an EXPRESS machine, as AWS does:
// an express execution is not kept, so no token could reach it.
// It also refuses .waitForTaskToken on the DynamoDB integrations, which
// AWS offers only as request-response.
func checkExpress(typ, def string) error {
	var v any
	if json.Unmarshal([]byte(def), &v) != nil {
		return nil
	}
	if r := noCallback(v); r != "" {
		return errorf(KindInvalidDefinition, "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The resource provided %s is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.'", r)
	}
	if typ != TypeExpress || !waitsForToken(v) {
		return nil
	}
	return errorf(KindInvalidDefinition, "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support '%s' service integration'", WaitForTaskToken)
}

// waitsForToken tells whether a definition (decoded JSON) has a Task whose
// resource waits for a task token.
func waitsForToken(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if r, _ := x["Resource"].(string); x["Type"] == TypeTask && strings.HasSuffix(r, WaitForTaskToken) {
			return true
		}
		for _, e := range x {
			if waitsForToken(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if waitsForToken(e) {
				return true
			}
		}
	}
	return false
}

// noCallback returns a Task resource of a definition (decoded JSON) that
// asks a DynamoDB integration for a task token, or "".
func noCallback(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if r, _ := x["Resource"].(string); x["Type"] == TypeTask && strings.HasSuffix(r, WaitForTaskToken) &&
			strings.HasPrefix(r, "arn:aws:states:::dynamodb:") {
			return r
		}
		for _, e := range x {
			if r := noCallback(e); r != "" {
				return r
			}
		}
	case []any:
		for _, e := range x {
			if r := noCallback(e); r != "" {
				return r
			}
		}
	}
	return ""
}
