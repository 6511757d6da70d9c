// Command patterns measures how many events per second internal/events/pattern matches against
// 1, 100 and 10,000 generated rules, on one core and on two.
//
//	go run ./bench/patterns -duration 2s
//
// The same workload runs as Go benchmarks: go test ./bench/patterns -bench . -cpu 1,2
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	ruleCounts := flag.String("rules", "1,100,10000", "comma-separated rule counts")
	cpuCounts := flag.String("cpus", "1,2", "comma-separated GOMAXPROCS values; one matching goroutine per CPU")
	duration := flag.Duration("duration", 2*time.Second, "measuring time per configuration")
	flag.Parse()

	rules, err := parseInts(*ruleCounts)
	if err != nil {
		fail(err)
	}
	cpus, err := parseInts(*cpuCounts)
	if err != nil {
		fail(err)
	}
	event := []byte(sampleEvent)
	fmt.Printf("| rules | matched | GOMAXPROCS | events/s | events/s per core | ns/event |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range rules {
		m, err := buildMatcher(n)
		if err != nil {
			fail(err)
		}
		ids, err := m.Match(event)
		if err != nil {
			fail(err)
		}
		for _, c := range cpus {
			perSecond := measure(c, *duration, func() {
				if _, err := m.Match(event); err != nil {
					panic(err)
				}
			})
			fmt.Printf("| %d | %d | %d | %.0f | %.0f | %.0f |\n", n, len(ids), c, perSecond, perSecond/float64(c), 1e9*float64(c)/perSecond)
		}
	}
}

// measure runs work on workers goroutines under GOMAXPROCS=workers for d and returns calls per second.
func measure(workers int, d time.Duration, work func()) float64 {
	previous := runtime.GOMAXPROCS(workers)
	defer runtime.GOMAXPROCS(previous)
	for range 1000 { // warm caches and the matcher's scratch pool
		work()
	}
	runtime.GC()
	var calls atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for !stop.Load() {
				for range 100 {
					work()
				}
				n += 100
			}
			calls.Add(n)
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return float64(calls.Load()) / time.Since(start).Seconds()
}

func parseInts(list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q in %q", s, list)
		}
		out = append(out, n)
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "patterns:", err)
	os.Exit(1)
}
