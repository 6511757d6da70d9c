package main

import (
	"fmt"
	"testing"
)

// BenchmarkMatch matches sampleEvent against generated rule sets. Run with -cpu 1,2: RunParallel
// starts one goroutine per GOMAXPROCS, so ns/op is wall time per event across all cores.
func BenchmarkMatch(b *testing.B) {
	event := []byte(sampleEvent)
	for _, n := range []int{1, 100, 10000} {
		m, err := buildMatcher(n)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(event)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Match(event); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestWorkloadMatchesSome keeps the generated workload honest: most rules miss, some hit.
func TestWorkloadMatchesSome(t *testing.T) {
	m, err := buildMatcher(10000)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := m.Match([]byte(sampleEvent))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 || len(ids) > 100 {
		t.Fatalf("%d of 10000 rules match the sample event; the workload should have a few matches", len(ids))
	}
	t.Logf("%d of 10000 rules match", len(ids))
}
