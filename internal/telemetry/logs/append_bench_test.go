package logs_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// BenchmarkAppend appends the three lines of a warm invocation (START, END,
// REPORT) from parallel goroutines, as instances do, and closes the store so
// that the writer's work is counted too. Its figures: the process's CPU and
// voluntary context switches per record, from getrusage.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ls, err := logs.Open(ctx, st, logs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, msg := range [...]string{"START RequestId: 8d5c0e1e-2b8f-4f8e-9c3a-7d1f2e3a4b5c Version: $LATEST",
				"END RequestId: 8d5c0e1e-2b8f-4f8e-9c3a-7d1f2e3a4b5c",
				"REPORT RequestId: 8d5c0e1e-2b8f-4f8e-9c3a-7d1f2e3a4b5c\tDuration: 0.12 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB"} {
				ls.Append(logs.Record{Time: time.Now(), Function: "bench", Stream: "2026/11/26/[$LATEST]0123456789abcdef", RequestID: "8d5c0e1e-2b8f-4f8e-9c3a-7d1f2e3a4b5c", Message: msg})
			}
			// An invocation's pace, not a tight loop (which outruns the
			// store and only measures drops); the same for both versions.
			time.Sleep(20 * time.Microsecond)
		}
	})
	ls.Close()
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	records := float64(3 * b.N)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/record")
	b.ReportMetric(float64(after.Nvcsw-before.Nvcsw)/records, "vcsw/record")
	if d := ls.Dropped(); d > 0 {
		b.ReportMetric(float64(d)/records, "dropped/record")
	}
}
