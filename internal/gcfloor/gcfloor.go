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
package gcfloor

import (
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

// Start sets, after every collection, the GC percentage so that the next
// one is due when the heap has grown by the larger of the live heap (GOGC's
// default) and floor bytes. An operator's GOGC (the environment variable)
// is left alone, and a GOMEMLIMIT still applies. Call it once per process;
// stop restores GOGC's default.
func Start(floor uint64) (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	t := &tuner{floor: floor, current: percent, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
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
	p := percent
	if live := t.sample[0].Value.Uint64(); live > 0 && t.floor*100/live > uint64(p) {
		p = int(min(t.floor*100/live, 1<<30))
	}
	// Only a real change is set: each setting recomputes the pacer's goal.
	if p < t.current*9/10 || p > t.current*11/10 {
		debug.SetGCPercent(p)
		t.current = p
	}
	return true
}
