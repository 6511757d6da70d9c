package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoSpace is the store refusing a write because the data directory's disk
// is (nearly) full. Nothing was stored; the write may be retried once space
// is freed. Edges answer it as a transient server-side failure
// (ServiceUnavailable).
var ErrNoSpace = errors.New("the data directory's disk is full")

// JetStream's answers to a write over the limits the space guard sets.
const (
	errCodeAccountResources = 10002 // resource limits exceeded for account
	errCodeInsufficient     = 10023 // insufficient resources
	errCodeStorageResources = 10047 // insufficient storage resources available
)

// IsNoSpace reports whether err is a write refused for lack of disk space:
// ErrNoSpace, or JetStream's own refusal once the store reached the limit
// the space guard set.
func IsNoSpace(err error) bool {
	if errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case errCodeAccountResources, errCodeInsufficient, errCodeStorageResources:
			return true
		}
	}
	return false
}

// spaceGuard keeps the embedded JetStream from writing the data disk full.
//
// A file store that meets ENOSPC latches the write error and stops
// acknowledging writes (publishers wait for their timeout) until JetStream
// restarts, even after space is freed. So the guard sets the account's
// storage limit to what JetStream uses plus the disk's free space minus a
// reserve, refreshed every second: JetStream then refuses a write at once,
// before it reaches the disk. Should a write still meet a full disk (another
// program filled it between two refreshes), the guard restarts JetStream once
// space is back, which reopens the streams from their files.
type spaceGuard struct {
	srv     *server.Server
	dir     string // the JetStream store directory
	reserve int64  // bytes kept free for what JetStream does not account (indexes, consumer state)
	log     *slog.Logger
	// jsConfig re-enables JetStream after a write error latched.
	jsConfig server.JetStreamConfig

	free    atomic.Int64
	checked atomic.Int64 // when checkNow last read the free space (UnixNano)
	full    atomic.Bool
	latched atomic.Bool // a store write met ENOSPC
	kick    chan struct{}

	mu    sync.Mutex
	limit int64 // last account limit set
}

// defaultReserve is the most the guard keeps free; small disks keep 1/16.
const defaultReserve = 64 << 20

func diskSpace(dir string) (free, total int64, err error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(fs.Bavail) * fs.Bsize, int64(fs.Blocks) * fs.Bsize, nil
}

func newSpaceGuard(srv *server.Server, dir string, reserve int64, log *slog.Logger) (*spaceGuard, error) {
	_, total, err := diskSpace(dir)
	if err != nil {
		return nil, err
	}
	if reserve <= 0 {
		reserve = min(defaultReserve, total/16)
	}
	g := &spaceGuard{srv: srv, dir: dir, reserve: reserve, log: log, kick: make(chan struct{}, 1), limit: -2}
	return g, nil
}

// run refreshes the limit until ctx ends.
func (g *spaceGuard) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		g.refresh()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
	}
}

// poke asks for a refresh now.
func (g *spaceGuard) poke() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

func (g *spaceGuard) refresh() {
	free, _, err := diskSpace(g.dir)
	if err != nil {
		g.log.Warn("cannot read the data disk's free space", "err", err)
		return
	}
	g.free.Store(free)
	full := free <= g.reserve
	if was := g.full.Swap(full); was != full {
		if full {
			g.log.Error("the data directory's disk is full: writes are refused until space is freed",
				"disk", g.dir, "free", humanBytes(free), "kept free", humanBytes(g.reserve))
		} else {
			g.log.Info("the data directory's disk has space again: writes are accepted", "disk", g.dir, "free", humanBytes(free))
		}
	}
	if !full && g.latched.Load() {
		g.restartJetStream()
	}
	g.setLimit(free)
}

// setLimit lets JetStream grow by what is free beyond the reserve.
func (g *spaceGuard) setLimit(free int64) {
	acc := g.srv.GlobalAccount()
	used := int64(acc.JetStreamUsage().Store)
	limit := max(used+free-g.reserve, 0)
	g.mu.Lock()
	defer g.mu.Unlock()
	if limit == g.limit {
		return
	}
	limits := map[string]server.JetStreamAccountLimits{"": {
		MaxMemory: -1, MaxStore: limit, MaxStreams: -1, MaxConsumers: -1, MaxAckPending: -1,
		MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1,
	}}
	if err := acc.UpdateJetStreamLimits(limits); err != nil {
		g.log.Warn("cannot set the store's storage limit", "limit", limit, "err", err)
		return
	}
	g.limit = limit
}

// restartJetStream reopens every stream from its files, clearing the write
// error a full disk latched in them. Durable consumers come back with their
// state; what was acknowledged is on disk.
func (g *spaceGuard) restartJetStream() {
	g.log.Warn("restarting the store's JetStream: a write met the full disk", "disk", g.dir)
	if err := g.srv.ShutdownJetStream(); err != nil {
		g.log.Error("stop JetStream", "err", err)
	}
	cfg := g.jsConfig
	if err := g.srv.EnableJetStream(&cfg); err != nil {
		g.log.Error("restart JetStream", "err", err)
		return
	}
	g.latched.Store(false)
	g.mu.Lock()
	g.limit = -2 // the new account starts without limits
	g.mu.Unlock()
	g.log.Info("the store's JetStream is back")
}

// checkNow reads the disk's free space (at most every few milliseconds) and
// refuses a write at once when the disk is full, or while a stream broken by
// a full disk waits for the restart.
func (g *spaceGuard) checkNow() error {
	now := time.Now().UnixNano()
	if last := g.checked.Load(); now-last > int64(5*time.Millisecond) && g.checked.CompareAndSwap(last, now) {
		if free, _, err := diskSpace(g.dir); err == nil {
			g.free.Store(free)
			full := free <= g.reserve
			if full != g.full.Load() {
				g.poke() // the refresh logs the change and moves JetStream's limit
			}
			if full || g.latched.Load() {
				return g.refusal(free)
			}
			return nil
		}
	}
	return g.check()
}

// check refuses a write when the disk was full at the last reading, or while
// a stream broken by a full disk waits for the restart.
func (g *spaceGuard) check() error {
	if g.full.Load() || g.latched.Load() {
		return g.refusal(g.free.Load())
	}
	return nil
}

func (g *spaceGuard) refusal(free int64) error {
	return fmt.Errorf("%w (%s has %s free)", ErrNoSpace, g.dir, humanBytes(free))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// serverLog passes the embedded server's errors to the platform's log and
// tells the guard when a write met a full disk.
type serverLog struct {
	log   *slog.Logger
	guard *spaceGuard
}

func (l serverLog) Noticef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}

func (l serverLog) Warnf(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}

func (l serverLog) Fatalf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}

func (l serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "no space left on device") && l.guard != nil {
		if !l.guard.latched.Swap(true) {
			l.log.Error("a store write met the full disk; the store restarts once space is freed", "disk", l.guard.dir, "err", msg)
		}
		l.guard.poke()
		return
	}
	l.log.Warn("nats: " + msg)
}

func (l serverLog) Debugf(string, ...any) {}
func (l serverLog) Tracef(string, ...any) {}
