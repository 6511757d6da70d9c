package streamsource

import (
	"context"
	"testing"
	"time"
)

// TestLanesCheckpoint: the checkpoint stays below the lowest record not
// done, whatever order the lanes finish in, and a stopped lane starts no
// batch.
func TestLanesCheckpoint(t *testing.T) {
	l := &lanes{queues: make([][]queued, 2), wake: []chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)},
		room: make(chan struct{}, 1), base: 5}
	keyIn := func(lane int) string {
		for i := 0; ; i++ {
			if k := string(rune('a' + i)); laneOf(k, 2) == lane {
				return k
			}
		}
	}
	a, b := keyIn(0), keyIn(1)
	l.add([]Record{{Seq: 10, Key: a}, {Seq: 11, Key: b}, {Seq: 12, Key: a}, {Seq: 13, Key: b}}, 13, nil)
	ctx := context.Background()
	first := l.take(ctx, 0, 1, 0)
	second := l.take(ctx, 1, 10, 0)
	if len(first) != 1 || first[0].Seq != 10 || len(second) != 2 || second[0].Seq != 11 || second[1].Seq != 13 {
		t.Fatalf("batches %v %v", first, second)
	}
	l.finish(second) // 11 and 13 done, 10 not: nothing moves
	if l.base != 5 {
		t.Fatalf("checkpoint %d with record 10 unfinished", l.base)
	}
	l.finish(first) // 10 done: up to 11; 12 still queued
	if l.base != 11 {
		t.Fatalf("checkpoint %d, want 11", l.base)
	}
	third := l.take(ctx, 0, 10, 0)
	if len(third) != 1 || third[0].Seq != 12 {
		t.Fatalf("batch %v", third)
	}
	l.finish(third)
	if l.base != 13 || l.buffered != 0 || len(l.read) != 0 {
		t.Fatalf("checkpoint %d, buffered %d, read %v", l.base, l.buffered, l.read)
	}
	// A stopped lane takes nothing.
	l.add([]Record{{Seq: 14, Key: a}}, 14, nil)
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if got := l.take(stopped, 0, 10, time.Second); got != nil {
		t.Fatalf("a stopped lane took %v", got)
	}
}
