package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gcPercent reads the GC percentage. It must not set it: setting it and
// back (debug.SetGCPercent's only way to read) races with the tuner, whose
// new value the restore could overwrite while the tuner, believing it set,
// leaves it (it only sets a real change), and a wait on it then times out.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// TestFloor: with a small live heap the percentage rises so that the heap
// may grow by about the floor, it follows the live heap after each
// collection, and an operator's GOGC is left alone.
func TestFloor(t *testing.T) {
	t.Setenv("GOGC", "100")
	defer Start(DefaultFloor)()
	runtime.GC()
	runtime.GC()
	if p := gcPercent(); p != 100 {
		t.Fatalf("with GOGC set the percentage became %d", p)
	}
	t.Setenv("GOGC", "")
	if err := os.Unsetenv("GOGC"); err != nil { // unset, not empty
		t.Fatal(err)
	}
	defer Start(DefaultFloor)()
	// The test binary's live heap is a few megabytes: the floor dominates.
	for deadline := time.Now().Add(30 * time.Second); gcPercent() < 400; runtime.GC() {
		if time.Now().After(deadline) {
			t.Fatalf("percentage %d with a live heap of a few MB, want ≥ 400", gcPercent())
		}
		time.Sleep(time.Millisecond) // let the cleanup run
	}
	// A larger live heap lowers it: 48 MB live against a 64 MB floor.
	keep := make([][]byte, 48)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	for deadline := time.Now().Add(30 * time.Second); gcPercent() > 200; runtime.GC() {
		if time.Now().After(deadline) {
			t.Fatalf("percentage %d with 48 MB live, want ≤ 200", gcPercent())
		}
		time.Sleep(time.Millisecond)
	}
	runtime.KeepAlive(keep)
}

// TestPercentFor: the arithmetic, including the values that overflowed
// floor*100 and the cap a memory limit puts on the floor.
func TestPercentFor(t *testing.T) {
	const mb = 1 << 20
	none := uint64(math.MaxInt64)
	for _, c := range []struct {
		name               string
		live, floor, limit uint64
		want               int
	}{
		{"no live heap yet", 0, 64 * mb, none, 100},
		{"small heap: the floor", 8 * mb, 64 * mb, none, 800},
		{"heap at the floor: GOGC", 64 * mb, 64 * mb, none, 100},
		{"heap above the floor: GOGC", 1 << 30, 64 * mb, none, 100},
		{"rounded down", 3 * mb, 64 * mb, none, 2133},
		{"a few bytes live: capped", 1, 64 * mb, none, maxPercent},
		{"floor*100 overflows uint64", 1 << 62, math.MaxUint64, none, 400},
		{"huge floor, small heap: capped", 1, math.MaxUint64, none, maxPercent},
		{"limit with room: the floor", 8 * mb, 64 * mb, 1 << 30, 800},
		{"limit: half the headroom", 8 * mb, 64 * mb, 40 * mb, 200},
		{"limit: headroom below GOGC's growth", 30 * mb, 64 * mb, 80 * mb, 100},
		{"limit below the live heap", 100 * mb, 64 * mb, 50 * mb, 100},
		{"limit equal to the live heap", 100 * mb, 64 * mb, 100 * mb, 100},
		{"limit of MaxUint64 is none", 8 * mb, 64 * mb, math.MaxUint64, 800},
	} {
		if got := percentFor(c.live, c.floor, c.limit); got != c.want {
			t.Errorf("%s: percentFor(%d, %d, %d) = %d, want %d", c.name, c.live, c.floor, c.limit, got, c.want)
		}
		// Whatever the inputs, live+growth stays under the limit.
		if got := percentFor(c.live, c.floor, c.limit); c.limit < none && c.live < c.limit && got > percent &&
			float64(c.live)*(1+float64(got)/100) > float64(c.limit) {
			t.Errorf("%s: heap goal %d%% of %d passes the limit %d", c.name, got, c.live, c.limit)
		}
	}
}

// TestFloorUnderMemoryLimit: with GOMEMLIMIT set low, the running tuner
// keeps the heap goal under the limit instead of at live+floor.
func TestFloorUnderMemoryLimit(t *testing.T) {
	t.Setenv("GOGC", "")
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	// A limit 8 MB above the live heap leaves about 4 MB of growth, far
	// below the 64 MB floor.
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	limit := sample[0].Value.Uint64() + 8<<20
	debug.SetMemoryLimit(int64(limit))
	defer Start(DefaultFloor)()
	for deadline := time.Now().Add(30 * time.Second); ; runtime.GC() {
		p := gcPercent()
		metrics.Read(sample)
		live := float64(sample[0].Value.Uint64())
		goal := live * (1 + float64(p)/100)
		// Under the limit (with slack for the live heap moving between the
		// tuner's read and this one), and far from the floor's own goal.
		if p >= 100 && goal <= float64(limit)*1.1 && goal < live+DefaultFloor/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("percentage %d with %.0f live: heap goal %.0f under a limit of %d", p, live, goal, limit)
		}
		time.Sleep(time.Millisecond)
	}
}
