package deployments

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func (e *Engine) loop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.kick:
		}
		e.pass(ctx)
	}
}

// pass moves every shift under way as far as its state and the clock allow.
func (e *Engine) pass(ctx context.Context) {
	all, err := e.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("traffic shifts not read", "err", err)
		}
		return
	}
	for i := range all {
		if all[i].Done() {
			continue
		}
		if err := e.advance(ctx, all[i].Function, all[i].ID); err != nil && ctx.Err() == nil {
			e.log.Warn("traffic shift not moved", "function", all[i].Function, "deployment", all[i].ID, "err", err)
		}
	}
}

func (e *Engine) interval(c appspec.ShiftConfig) time.Duration {
	return time.Duration(float64(c.Interval) * e.cfg.TimeScale)
}

// advance takes one deployment through as many transitions as are due and
// makes the alias route as the new state says.
func (e *Engine) advance(ctx context.Context, function, id string) error {
	var invoke *Hook
	var final *Deployment
	err := e.update(ctx, function, func(d *Deployment) (*Deployment, error) {
		invoke, final = nil, nil
		if d == nil || d.ID != id || d.Done() {
			return nil, nil
		}
		changed := false
		now := e.cfg.Now().UTC()
		cfg, _ := appspec.LookupShift(d.Type)
		steps := cfg.Steps()
		for guard := 0; guard < 100; guard++ {
			moved := true
			switch {
			case d.Status == Created:
				d.Status = InProgress
				d.startPhase(e, PreTraffic, d.PreTrafficHook, now)
			case d.Hook != nil && d.Hook.Status == HookFailed:
				d.fail(now, fmt.Sprintf("%s hook %s reported Failed%s; the alias stays on version %s", d.Hook.Event, d.Hook.Function, suffix(d.Hook.Message), d.From))
			case d.Hook != nil && d.Hook.Status == HookPending && !now.Before(d.Hook.Deadline):
				d.fail(now, fmt.Sprintf("%s hook %s did not report within %s; the alias stays on version %s", d.Hook.Event, d.Hook.Function, e.cfg.HookTimeout, d.From))
			case d.Hook != nil && d.Hook.Status == HookPending:
				moved = false
				if !d.Hook.Invoked {
					d.Hook.Invoked = true
					h := *d.Hook
					invoke = &h
					changed = true
				}
			case d.Phase == PreTraffic:
				d.Hook = nil
				d.Phase = "AllowTraffic"
				d.Step = 0
				if len(steps) > 0 {
					d.Weight = steps[0]
					d.Step = 1
					d.NextAt = now.Add(e.interval(cfg))
				}
			case d.Phase == "AllowTraffic" && d.Step > 0 && d.Step <= len(steps) && now.Before(d.NextAt):
				moved = false
			case d.Phase == "AllowTraffic" && d.Step < len(steps):
				d.Weight = steps[d.Step]
				d.Step++
				d.NextAt = d.NextAt.Add(e.interval(cfg))
			case d.Phase == "AllowTraffic":
				d.Weight = 1
				d.Step = len(steps) + 1
				d.startPhase(e, PostTraffic, d.PostTrafficHook, now)
			case d.Phase == PostTraffic:
				d.Hook = nil
				d.Status, d.Ended = Succeeded, now
			default:
				moved = false
			}
			if !moved || d.Done() {
				changed = changed || moved
				break
			}
			changed = true
		}
		final = d
		// The alias moves before the state that says so is stored: a
		// crash in between applies it again, never leaves it behind.
		if err := e.applyAlias(ctx, d); err != nil {
			return nil, err
		}
		if !changed {
			return nil, nil
		}
		return d, nil
	})
	if err != nil || final == nil {
		return err
	}
	if invoke != nil {
		e.runHook(final, invoke)
	}
	return nil
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// startPhase begins a lifecycle event: with a hook, an execution to wait
// for; without, nothing to wait for.
func (d *Deployment) startPhase(e *Engine, event, hook string, now time.Time) {
	d.Phase = event
	d.Hook = nil
	if hook != "" {
		d.Hook = &Hook{ID: uuid.NewString(), Event: event, Function: hook, Status: HookPending, Deadline: now.Add(e.cfg.HookTimeout)}
	}
}

func (d *Deployment) fail(now time.Time, msg string) {
	d.Status, d.Ended, d.Message = Failed, now, msg
	d.Weight = 0
}

// applyAlias makes the alias route as the deployment's state says: the old
// version with the new one weighted during the shift, the new one after
// AllowTraffic, the old one after a rollback.
func (e *Engine) applyAlias(ctx context.Context, d *Deployment) error {
	version, weights := d.From, map[string]float64(nil)
	switch {
	case d.Status == Stopped:
		return nil // the deploy that stopped it set the alias
	case d.Status == Failed:
	case d.Weight >= 1:
		version = d.To
	case d.Weight > 0:
		weights = map[string]float64{d.To: d.Weight}
	}
	if a, ok := e.cfg.Registry.Alias(d.Function, d.Alias); ok && a.FunctionVersion == version && sameWeights(a.Weights, weights) {
		return nil
	}
	if err := e.cfg.Registry.SetAlias(ctx, d.Function, d.Alias, version, weights); err != nil {
		return fmt.Errorf("alias %s of %s: %w", d.Alias, d.Function, err)
	}
	e.log.Info("traffic shift", "function", d.Function, "alias", d.Alias, "deployment", d.ID, "status", d.Status,
		"phase", d.Phase, "version", version, "weights", weights)
	return nil
}

func sameWeights(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// runHook invokes a hook function with the ids it reports with; an invoke
// that fails, or a function error, fails the hook.
func (e *Engine) runHook(d *Deployment, h *Hook) {
	payload, _ := json.Marshal(map[string]string{"DeploymentId": d.ID, "LifecycleEventHookExecutionId": h.ID})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		err := e.cfg.Invoke(e.ctx, h.Function, payload)
		if err == nil || e.ctx.Err() != nil {
			return
		}
		e.log.Warn("traffic hook failed", "function", h.Function, "deployment", d.ID, "err", err)
		uerr := e.update(e.ctx, d.Function, func(cur *Deployment) (*Deployment, error) {
			if cur == nil || cur.ID != d.ID || cur.Hook == nil || cur.Hook.ID != h.ID || cur.Hook.Status != HookPending {
				return nil, nil
			}
			cur.Hook.Status, cur.Hook.Message = HookFailed, err.Error()
			return cur, nil
		})
		if uerr != nil {
			e.log.Warn("traffic hook's failure not recorded", "deployment", d.ID, "err", uerr)
		}
		e.wake()
	}()
}
