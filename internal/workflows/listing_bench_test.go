package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// BenchmarkListNewest100 lists the newest 100 executions of a machine that
// has NIMBUS_BENCH_EXECUTIONS (default 10,000) ended ones: reading every
// record (ListExecutions, what the API did before) against a page read at
// the store (ListExecutionsPage).
func BenchmarkListNewest100(b *testing.B) {
	total := 10000
	if v, err := strconv.Atoi(os.Getenv("NIMBUS_BENCH_EXECUTIONS")); err == nil && v > 0 {
		total = v
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := Open(ctx, Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "bm", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	for i := 1; i <= total; i++ {
		name := fmt.Sprintf("e%06d", i)
		ex := Execution{ARN: s.ExecutionARN("bm", name), Name: name, StateMachineARN: m.ARN, StateMachineName: "bm",
			Definition: m.Definition, Status: StatusSucceeded, Input: "{}", Output: "{}", Ordinal: uint64(i),
			Start: t0.Add(time.Duration(i) * time.Millisecond), Stop: t0.Add(time.Duration(i)*time.Millisecond + time.Microsecond)}
		data, _ := json.Marshal(ex)
		if _, err := s.execs.Put(ctx, "bm."+name, data); err != nil {
			b.Fatal(err)
		}
		if _, err := s.listing.Put(ctx, entryKey("bm", uint64(i)), []byte(name)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.listing.Put(ctx, counterKey("bm"), []byte(strconv.Itoa(total))); err != nil {
		b.Fatal(err)
	}
	b.Run("every-record", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			all, err := s.ListExecutions(ctx, m.ARN, "")
			if err != nil || len(all) != total || all[0].Name != fmt.Sprintf("e%06d", total) {
				b.Fatalf("%d %v", len(all), err)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			page, next, err := s.ListExecutionsPage(ctx, m.ARN, "", 100, "")
			if err != nil || len(page) != 100 || next == "" || page[0].Name != fmt.Sprintf("e%06d", total) {
				b.Fatalf("%d %v", len(page), err)
			}
		}
	})
}

// cpuPerOp reports the process's CPU time per operation (cpu-us/op) from
// the call to the call of the function it returns.
func cpuPerOp(b *testing.B) func() {
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	return func() {
		var after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
		b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-us/op")
	}
}
