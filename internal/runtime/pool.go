package runtime

import (
	"context"
	"sync"
	"time"
)

// Pool holds the instances of one function version.
type Pool struct {
	m    *Manager
	spec *Spec

	mu      sync.Mutex
	idle    []*instance // most recently used last
	live    int         // instances started and not yet exited
	busy    int         // invocations running
	retired bool

	initFailure   *Result
	initFailureAt time.Time
}

// acquire takes the most recently used idle instance, or starts one.
func (p *Pool) acquire(ctx context.Context) (*instance, bool, error) {
	p.mu.Lock()
	if limit := p.spec.ReservedConcurrency; limit >= 0 && p.busy >= limit {
		p.mu.Unlock()
		return nil, false, &ThrottleError{Reason: ReasonReserved}
	}
	p.busy++
	var expired []*instance
	for n := len(p.idle); n > 0; n = len(p.idle) {
		inst := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if inst.expired(time.Now()) {
			expired = append(expired, inst)
			continue
		}
		p.mu.Unlock()
		stopAll(expired)
		return inst, false, nil
	}
	p.live++
	p.mu.Unlock()
	stopAll(expired)
	if err := p.m.admit(ctx, p.spec.MemoryMB); err != nil {
		p.mu.Lock()
		p.busy--
		p.live--
		p.mu.Unlock()
		return nil, false, err
	}
	p.m.useCode(p.spec.CodeDir, 1)
	inst, err := p.startInstance(ctx)
	if err != nil {
		p.m.releaseMemory(p.spec.MemoryMB)
		p.mu.Lock()
		p.busy--
		p.live--
		p.mu.Unlock()
		p.m.useCode(p.spec.CodeDir, -1)
		return nil, false, err
	}
	p.m.cfg.Observer.InstanceStarted(p.spec)
	return inst, true, nil
}

// release returns inst to the idle set, or stops it.
func (p *Pool) release(inst *instance, healthy bool) {
	p.mu.Lock()
	p.busy--
	if healthy && !p.retired && !inst.hasExited() && !inst.expired(time.Now()) {
		inst.lastUsed = time.Now()
		p.idle = append(p.idle, inst)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	inst.stop()
}

func (inst *instance) hasExited() bool {
	select {
	case <-inst.exited:
		return true
	default:
		return false
	}
}

// instanceExited forgets an instance whose process is gone.
func (p *Pool) instanceExited(inst *instance) {
	p.mu.Lock()
	for i, in := range p.idle {
		if in == inst {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.live--
	p.mu.Unlock()
	p.m.useCode(p.spec.CodeDir, -1)
	p.m.releaseMemory(p.spec.MemoryMB)
	inst.memoryHeld.Store(false)
	p.m.cfg.Observer.InstanceStopped(p.spec)
}

// reapIdle stops instances idle since before cutoff. The oldest are at the
// front of the idle slice.
func (p *Pool) reapIdle(cutoff time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && p.idle[n].lastUsed.Before(cutoff) {
		n++
	}
	stale := append([]*instance(nil), p.idle[:n]...)
	p.idle = append(p.idle[:0], p.idle[n:]...)
	p.mu.Unlock()
	for _, inst := range stale {
		inst.stop()
	}
}

// retire stops idle instances now and the busy ones when they finish.
func (p *Pool) retire() {
	p.mu.Lock()
	p.retired = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range idle {
		inst.stop()
	}
}

// killAll stops every instance, idle or not, and waits for them to exit.
func (p *Pool) killAll() {
	p.retire()
	// Busy instances are not tracked in a list; their calls end when the
	// process dies, so kill through the process group on release. Wait a
	// bounded time for live to reach zero.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		live := p.live
		p.mu.Unlock()
		if live == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *Pool) cachedInitFailure() *Result {
	if p.m.cfg.InitFailureCooldown <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.initFailure == nil || len(p.idle) > 0 || time.Since(p.initFailureAt) > p.m.cfg.InitFailureCooldown {
		return nil
	}
	res := *p.initFailure
	return &res
}

func (p *Pool) rememberInitFailure(res *Result) {
	p.mu.Lock()
	r := *res
	r.LogTail = nil
	p.initFailure = &r
	p.initFailureAt = time.Now()
	p.mu.Unlock()
}

func stopAll(instances []*instance) {
	for _, inst := range instances {
		inst.stop()
	}
}
