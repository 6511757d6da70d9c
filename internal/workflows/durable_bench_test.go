package workflows

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// BenchmarkDurableExecution starts executions of a three-state machine on a
// real store and waits for each to end: the durable path (record, index,
// lease, checkpoints, history). cpu-us/op is the process's CPU (service and
// embedded NATS server) per execution.
func BenchmarkDurableExecution(b *testing.B) {
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
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "bench", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"C"},"C":{"Type":"Pass","End":true}}}`})
	if err != nil {
		b.Fatal(err)
	}
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	i := 0
	for b.Loop() {
		i++
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: fmt.Sprintf("e%d", i), Input: `{"a":1}`})
		if err != nil {
			b.Fatal(err)
		}
		for {
			got, err := s.DescribeExecution(ctx, ex.ARN)
			if err != nil {
				b.Fatal(err)
			}
			if got.Status != StatusRunning {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Microseconds())/float64(i), "cpu-us/op")
}
