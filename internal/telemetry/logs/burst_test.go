package logs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// A burst of several writer takes' worth of lines is filed whole and in
// order: the writer takes the buffer a part at a time.
func TestBurstKeepsEveryLineInOrder(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ls, err := logs.Open(ctx, st, logs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	start := time.Now()
	for i := range n {
		ls.Append(logs.Record{Time: start.Add(time.Duration(i) * time.Microsecond), Function: "burst",
			Stream: "s", RequestID: "r", Message: fmt.Sprintf("line %05d", i)})
	}
	ls.Close()
	if d := ls.Dropped(); d != 0 {
		t.Fatalf("%d lines dropped", d)
	}
	var got []string
	if err := ls.Read(ctx, logs.Query{Function: "burst"}, func(r logs.Record) error {
		got = append(got, r.Message)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("read %d lines, want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("line %05d", i); m != want {
			t.Fatalf("line %d is %q, want %q", i, m, want)
		}
	}
}
