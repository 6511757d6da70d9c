package gateway

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is parent with a deadline whose timer is only made when
// something waits on it. A warm invocation never does (the function's own
// timeout bounds it once it runs; the deadline bounds the wait for an
// instance), and context.WithTimeout per request, its timer and its entry
// in the parent's children, was a visible part of the gateway's CPU.
type lazyDeadline struct {
	context.Context
	deadline time.Time

	once   sync.Once
	ctx    context.Context // the real deadline context, once needed
	cancel context.CancelFunc
}

func withLazyDeadline(parent context.Context, d time.Duration) *lazyDeadline {
	return &lazyDeadline{Context: parent, deadline: time.Now().Add(d)}
}

func (l *lazyDeadline) real() context.Context {
	l.once.Do(func() { l.ctx, l.cancel = context.WithDeadline(l.Context, l.deadline) })
	return l.ctx
}

func (l *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := l.Context.Deadline(); ok && d.Before(l.deadline) {
		return d, true
	}
	return l.deadline, true
}

func (l *lazyDeadline) Done() <-chan struct{} { return l.real().Done() }

func (l *lazyDeadline) Err() error { return l.real().Err() }

// AfterFunc lets contexts derived from this one (context.WithCancel and the
// like) register with the real deadline context rather than each start a
// goroutine that waits on Done, as the context package does for a parent
// of a type it does not know.
func (l *lazyDeadline) AfterFunc(f func()) func() bool { return context.AfterFunc(l.real(), f) }

// stop releases the timer, if one was made. The invocation has returned;
// anything still holding the context from here on sees only the parent's.
func (l *lazyDeadline) stop() {
	l.once.Do(func() { l.ctx = l.Context })
	if l.cancel != nil {
		l.cancel()
	}
}
