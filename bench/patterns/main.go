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
	"syscall"
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
	fmt.Printf("| rules | matched | GOMAXPROCS | events/s (wall) | events/s per core (wall) | events per CPU-second | CPU ns/event |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|\n")
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
			r := measure(c, *duration, func() {
				if _, err := m.Match(event); err != nil {
					panic(err)
				}
			})
			perWall := float64(r.calls) / r.wall.Seconds()
			perCPU := float64(r.calls) / r.cpu.Seconds()
			fmt.Printf("| %d | %d | %d | %.0f | %.0f | %.0f | %.0f |\n",
				n, len(ids), c, perWall, perWall/float64(c), perCPU, 1e9/perCPU)
		}
	}
}

type measurement struct {
	calls int64
	wall  time.Duration
	cpu   time.Duration // user+system time of the process while measuring
}

// measure runs work on workers goroutines under GOMAXPROCS=workers for d. Besides wall time it
// records the process's CPU time, because on a shared machine other tenants' load slows the wall
// clock without saying anything about the matcher.
func measure(workers int, d time.Duration, work func()) measurement {
	previous := runtime.GOMAXPROCS(workers)
	defer runtime.GOMAXPROCS(previous)
	for range 1000 { // warm caches and the matcher's scratch pool
		work()
	}
	runtime.GC()
	var calls atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	cpuStart := processCPU()
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
	return measurement{calls: calls.Load(), wall: time.Since(start), cpu: processCPU() - cpuStart}
}

func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		fail(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
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
