package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the GC percentage (setting it back at once).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
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
