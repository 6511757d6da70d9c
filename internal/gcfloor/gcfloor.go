// Package gcfloor lets the heap grow by at least a fixed amount between
// garbage collections.
//
// With Go's default (GOGC=100) a collection is due when the heap has grown
// by as much as was live after the last one. The platform's live heap is a
// few megabytes (the tables store's caches and memtables are not on it), so
// under load it collected after every few megabytes of allocation, dozens of
// times a second, and each cycle's fixed cost (stopping the world twice,
// scanning every goroutine's stack and the globals, the idle-time mark
// workers) made the garbage collector a large share of the CPU of small
// requests. The floor keeps GOGC's behaviour for a large heap and bounds how
// often a small one is collected; the memory it costs is at most the floor.
// Under a memory limit (GOMEMLIMIT) the floor never raises the heap goal
// past half of the room the limit leaves above the live heap, so it does
// not drive the collector into running against the limit.
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultFloor is the growth the platform allows between collections.
const DefaultFloor = 64 << 20

// percent is GOGC's default, kept for a heap larger than the floor.
const percent = 100

// maxPercent bounds the percentage (a live heap of a few bytes would ask
// for billions).
const maxPercent = 1 << 30

// Start sets, after every collection, the GC percentage so that the next
// one is due when the heap has grown by the larger of the live heap (GOGC's
// default) and floor bytes. An operator's GOGC (the environment variable)
// is left alone, and a GOMEMLIMIT bounds the floor. Call it once per process;
// stop restores GOGC's default.
func Start(floor uint64) (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	t := &tuner{floor: floor, current: percent, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gomemlimit:bytes"}}}
	t.adjust()
	t.arm()
	return t.stop
}

// tuner is the state of one process's floor, kept by the cleanup that runs
// after each collection.
type tuner struct {
	mu      sync.Mutex
	stopped bool
	floor   uint64
	current int
	sample  []metrics.Sample
}

func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(percent)
}

// sentinel is an object nothing references: it is collected by the next
// cycle, and its cleanup runs after it. It holds a pointer so that it is
// not combined with other small objects in one allocation.
type sentinel struct {
	_ *byte
	_ [2]uint64
}

func (t *tuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets the percentage for the live heap; false once stopped.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	p := percentFor(t.sample[0].Value.Uint64(), t.floor, t.sample[1].Value.Uint64())
	// Only a real change is set: each setting recomputes the pacer's goal.
	if p < t.current*9/10 || p > t.current*11/10 {
		debug.SetGCPercent(p)
		t.current = p
	}
	return true
}

// percentFor is the GC percentage that lets a heap of live bytes grow by
// floor bytes before the next collection, never below GOGC's default nor
// above maxPercent. With a memory limit (math.MaxInt64 or more: none) the
// growth is at most half of what the limit leaves above the live heap: the
// limit counts all of the runtime's memory, not the heap alone, and a goal
// at the limit would make the collector run continuously near it. Floats:
// floor*100 overflows for a large floor, and the result is rounded anyway.
func percentFor(live, floor, limit uint64) int {
	if live == 0 {
		return percent
	}
	growth := float64(floor)
	if limit < math.MaxInt64 {
		if limit <= live {
			return percent // the limit, not the floor, paces this heap
		}
		growth = min(growth, float64(limit-live)/2)
	}
	p := growth * 100 / float64(live)
	switch {
	case p <= percent:
		return percent
	case p >= maxPercent:
		return maxPercent
	}
	return int(p)
}
