// Package deployments drives traffic shifts of Lambda aliases as CodeDeploy
// does for SAM's DeploymentPreference and serverless-plugin-canary-
// deployments: pre-traffic hook, weighted steps on schedule, promotion,
// post-traffic hook, rollback on a failed or silent hook. The state of each
// shift lives in a JetStream KV bucket, so a restart resumes it and nodes
// sharing the bucket agree on it (docs/adr/0038-traffic-shifting.md).
package deployments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/store"
)

const bucket = "nimbus_deployments"

// Statuses of a deployment, as CodeDeploy names them where it has a name.
const (
	Created    = "Created"
	InProgress = "InProgress"
	Succeeded  = "Succeeded"
	Failed     = "Failed"
	Stopped    = "Stopped"
)

// Lifecycle events with hooks.
const (
	PreTraffic  = "BeforeAllowTraffic"
	PostTraffic = "AfterAllowTraffic"
)

// Hook statuses (PutLifecycleEventHookExecutionStatus's).
const (
	HookPending   = "Pending"
	HookSucceeded = "Succeeded"
	HookFailed    = "Failed"
)

// DefaultHookTimeout is how long a hook has to report, as CodeDeploy gives.
const DefaultHookTimeout = time.Hour

// Deployment is the stored state of one traffic shift, one per function
// (the latest; a redeploy during a shift replaces it).
type Deployment struct {
	ID       string `json:"id"`
	Function string `json:"function"`
	Alias    string `json:"alias"`
	From     string `json:"from"`
	To       string `json:"to"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	// Phase is the lifecycle event under way: BeforeAllowTraffic,
	// AllowTraffic or AfterAllowTraffic.
	Phase string `json:"phase"`
	// Step counts the weighted steps applied; Weight is the new version's
	// share now.
	Step   int       `json:"step"`
	Weight float64   `json:"weight"`
	NextAt time.Time `json:"nextAt,omitzero"`
	Hook   *Hook     `json:"hook,omitempty"`
	// PreTrafficHook and PostTrafficHook are function names.
	PreTrafficHook  string    `json:"preTrafficHook,omitempty"`
	PostTrafficHook string    `json:"postTrafficHook,omitempty"`
	Message         string    `json:"message,omitempty"`
	Created         time.Time `json:"created"`
	Ended           time.Time `json:"ended,omitzero"`
}

// Hook is one lifecycle hook execution.
type Hook struct {
	ID       string    `json:"id"`
	Event    string    `json:"event"`
	Function string    `json:"function"`
	Status   string    `json:"status"`
	Invoked  bool      `json:"invoked"`
	Deadline time.Time `json:"deadline"`
	Message  string    `json:"message,omitempty"`
}

// Done reports whether the deployment has ended.
func (d *Deployment) Done() bool {
	return d.Status == Succeeded || d.Status == Failed || d.Status == Stopped
}

// Invoker runs a hook function synchronously; an error or a function error
// fails the hook.
type Invoker func(ctx context.Context, function string, payload []byte) error

// Config sets up an Engine.
type Config struct {
	Store    *store.Store
	Registry *functions.Registry
	Invoke   Invoker
	// Now is the clock (tests move it); default time.Now.
	Now func() time.Time
	// TimeScale multiplies every interval of a shift (0.01 runs
	// Canary10Percent5Minutes' wait in 3 s); 0 means 1.
	TimeScale float64
	// HookTimeout is how long a hook has to report (default an hour).
	HookTimeout time.Duration
	// Tick is how often shifts are looked at (default a second).
	Tick   time.Duration
	Logger *slog.Logger
}

// Engine drives the traffic shifts.
type Engine struct {
	cfg Config
	kv  jetstream.KeyValue
	log *slog.Logger
	ctx context.Context
	// kick wakes the loop after a change.
	kick chan struct{}
	wg   sync.WaitGroup
}

// Open opens the bucket and drives the shifts stored in it until ctx ends.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.HookTimeout <= 0 {
		cfg.HookTimeout = DefaultHookTimeout
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	kv, err := cfg.Store.KeyValue(ctx, bucket, 1)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, kv: kv, log: cfg.Logger, ctx: ctx, kick: make(chan struct{}, 1)}
	e.wg.Add(1)
	go e.loop(ctx)
	return e, nil
}

// Wait returns when the engine's goroutines have ended (after ctx ends).
func (e *Engine) Wait() { e.wg.Wait() }

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Start records a shift (functions.Config.Shift). A shift under way for the
// function stops first; From == To only stops it.
func (e *Engine) Start(ctx context.Context, req functions.ShiftRequest) (string, error) {
	d := &Deployment{ID: "d-" + uuid.NewString()[:9], Function: req.Function, Alias: req.Alias, From: req.From, To: req.To,
		Type: req.Deployment.Type, Status: Created, PreTrafficHook: req.Deployment.PreTrafficHook,
		PostTrafficHook: req.Deployment.PostTrafficHook, Created: e.cfg.Now().UTC()}
	if d.Type == "" {
		d.Type = appspec.ShiftAllAtOnce
	}
	err := e.update(ctx, req.Function, func(old *Deployment) (*Deployment, error) {
		if old != nil && !old.Done() {
			e.log.Info("traffic shift stopped by a new deploy", "function", old.Function, "deployment", old.ID, "to", old.To)
		}
		if req.From == req.To {
			if old == nil || old.Done() {
				return nil, nil
			}
			old.Status, old.Ended, old.Message = Stopped, e.cfg.Now().UTC(), "stopped by a deploy of version "+req.To
			return old, nil
		}
		return d, nil
	})
	if err != nil {
		return "", err
	}
	e.wake()
	return d.ID, nil
}

// List returns the latest deployment of each function, newest first.
func (e *Engine) List(ctx context.Context) ([]Deployment, error) {
	keys, err := e.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	var out []Deployment
	for k := range keys.Keys() {
		d, _, err := e.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Get returns a deployment by id.
func (e *Engine) Get(ctx context.Context, id string) (*Deployment, error) {
	all, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == id {
			return &all[i], nil
		}
	}
	return nil, &Error{Code: "DeploymentDoesNotExistException", Message: "The deployment " + id + " could not be found."}
}

// Error is a CodeDeploy error with its code.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// PutHookStatus records a hook's outcome (PutLifecycleEventHookExecutionStatus).
func (e *Engine) PutHookStatus(ctx context.Context, deploymentID, executionID, status string) error {
	if status != HookSucceeded && status != HookFailed && status != HookPending {
		return &Error{Code: "InvalidLifecycleEventHookExecutionStatusException", Message: "status must be Succeeded, Failed or Pending, not " + status}
	}
	d, err := e.Get(ctx, deploymentID)
	if err != nil {
		return err
	}
	err = e.update(ctx, d.Function, func(cur *Deployment) (*Deployment, error) {
		if cur == nil || cur.ID != deploymentID {
			return nil, &Error{Code: "DeploymentDoesNotExistException", Message: "The deployment " + deploymentID + " could not be found."}
		}
		if cur.Hook == nil || cur.Hook.ID != executionID {
			return nil, &Error{Code: "InvalidLifecycleEventHookExecutionIdException", Message: "The lifecycle event hook execution " + executionID + " is not one of deployment " + deploymentID + "."}
		}
		if cur.Hook.Status != HookPending || cur.Done() {
			return nil, &Error{Code: "LifecycleEventAlreadyCompletedException", Message: "The lifecycle event hook execution " + executionID + " has already completed."}
		}
		cur.Hook.Status = status
		return cur, nil
	})
	if err == nil {
		e.wake()
	}
	return err
}

func (e *Engine) get(ctx context.Context, key string) (*Deployment, uint64, error) {
	en, err := e.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read deployment of %s: %w", key, err)
	}
	var d Deployment
	if err := json.Unmarshal(en.Value(), &d); err != nil {
		return nil, 0, fmt.Errorf("read deployment of %s: %w", key, err)
	}
	return &d, en.Revision(), nil
}

// update reads a function's deployment, lets change return the next one
// (nil: leave it) and stores it with a compare-and-set, so that of several
// nodes only one moves a shift a step.
func (e *Engine) update(ctx context.Context, function string, change func(*Deployment) (*Deployment, error)) error {
	for attempt := 0; ; attempt++ {
		cur, rev, err := e.get(ctx, function)
		if err != nil {
			return err
		}
		next, err := change(cur)
		if err != nil || next == nil {
			return err
		}
		data, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = e.kv.Create(ctx, function, data)
		} else {
			_, err = e.kv.Update(ctx, function, data, rev)
		}
		if err != nil && attempt < 5 && (errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence")) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store deployment of %s: %w", function, err)
		}
		return nil
	}
}
