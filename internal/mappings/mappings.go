// Package mappings keeps the event source mappings of one kind (queue
// triggers, stream events) running as deploys change them: a poller per
// wanted mapping, stopped when the mapping goes, and a replacement that starts
// reading only once the poller it replaces has let go of the same source.
package mappings

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Poller is one running mapping.
type Poller interface {
	// Stop is called after the poller's context is cancelled.
	Stop()
	// Released is closed once the poller no longer reads its source.
	Released() <-chan struct{}
}

// Mapping is one wanted mapping.
type Mapping struct {
	// Source is what it reads: pollers of one source never read at once.
	Source string
	// New makes the poller and the function that runs it until ctx ends.
	// New must not block; run starts once the pollers this one replaces
	// released the source (or ctx ended), and is always called.
	New func(ctx context.Context) (p Poller, run func())
}

// Set runs the pollers of one kind.
type Set struct {
	name string // what Wait's error calls them

	mu      sync.Mutex
	running map[string]*entry // by mapping key
	leaving map[string][]*entry
	// workers counts the goroutines of running mappings (theirs and those
	// they start with Go); the loop waits for them before it returns.
	workers sync.WaitGroup
	// started counts the loops Start started; Wait waits for them.
	started sync.WaitGroup
}

type entry struct {
	p      Poller
	cancel context.CancelFunc
	source string
}

func (e *entry) stop() {
	e.cancel()
	e.p.Stop()
}

func (e *entry) released() bool {
	select {
	case <-e.p.Released():
		return true
	default:
		return false
	}
}

// NewSet returns an empty set; name is what Wait's error calls its pollers.
func NewSet(name string) *Set {
	return &Set{name: name, running: map[string]*entry{}, leaving: map[string][]*entry{}}
}

// Start runs Run in a goroutine that Wait waits for.
func (s *Set) Start(ctx context.Context, interval time.Duration, want func() map[string]Mapping) {
	s.started.Go(func() { s.Run(ctx, interval, want) })
}

// Run reconciles the running pollers with want() every interval until ctx
// ends, then stops them all and returns once every goroutine of theirs
// returned.
func (s *Set) Run(ctx context.Context, interval time.Duration, want func() map[string]Mapping) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.reconcile(ctx, want())
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, e := range s.running {
				e.stop()
			}
			clear(s.running)
			s.mu.Unlock()
			s.workers.Wait()
			return
		case <-t.C:
		}
	}
}

// Go runs f as one of the set's goroutines: Run waits for it.
func (s *Set) Go(f func()) { s.workers.Go(f) }

// Wait blocks until the loops Start started returned (after their ctx
// ended), or until ctx ends.
func (s *Set) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.started.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s still running at shutdown: %w", s.name, ctx.Err())
	}
}

func (s *Set) reconcile(ctx context.Context, want map[string]Mapping) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.running {
		if _, ok := want[key]; !ok {
			e.stop()
			delete(s.running, key)
			s.leaving[e.source] = append(s.leaving[e.source], e)
		}
	}
	for source, es := range s.leaving {
		es = slices.DeleteFunc(es, (*entry).released)
		if len(es) == 0 {
			delete(s.leaving, source)
		} else {
			s.leaving[source] = es
		}
	}
	for key, m := range want {
		if _, ok := s.running[key]; ok || ctx.Err() != nil {
			continue
		}
		mctx, cancel := context.WithCancel(ctx)
		p, run := m.New(mctx)
		s.running[key] = &entry{p: p, cancel: cancel, source: m.Source}
		after := slices.Clone(s.leaving[m.Source])
		s.workers.Go(func() {
			// A replaced poller lets go of the source (and of what it
			// held) before this one reads it. run is called even when ctx
			// ended meanwhile, so the poller can see that and release.
		wait:
			for _, old := range after {
				select {
				case <-old.p.Released():
				case <-mctx.Done():
					break wait
				}
			}
			run()
		})
	}
}
