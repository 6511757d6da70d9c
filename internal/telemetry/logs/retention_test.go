package logs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// Chatty functions writing far beyond their share of the log budget (and
// together beyond the whole budget) evict their own oldest lines, never a
// quiet function's.
func TestChattyFunctionKeepsToItsShare(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const budget, share = 2 << 20, 1 << 20
	ls, err := logs.Open(ctx, st, logs.Config{MaxBytes: budget, FunctionBytes: share})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()

	line := strings.Repeat("x", 1000)
	const quietLines = 50
	chatty := 0
	// 40 MiB from three chatty functions, twenty times the whole budget, with the
	// quiet function's lines among them; the writer is given time to keep up,
	// as invocations would.
	for i := range 40 * 1024 {
		ls.Append(logs.Record{Time: time.Now(), Function: fmt.Sprintf("chatty%d", i%3), Message: fmt.Sprintf("%d %s", i, line)})
		chatty++
		if i%800 == 0 && i/800 < quietLines {
			ls.Append(logs.Record{Time: time.Now(), Function: "quiet", Message: fmt.Sprintf("quiet %d", i/800)})
		}
		if i%1024 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	ls.Close() // flushes

	var quiet []string
	if err := ls.Read(ctx, logs.Query{Function: "quiet"}, func(r logs.Record) error {
		quiet = append(quiet, r.Message)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(quiet) != quietLines || quiet[0] != "quiet 0" || quiet[quietLines-1] != fmt.Sprintf("quiet %d", quietLines-1) {
		t.Fatalf("the quiet function kept %d of its %d lines: %v", len(quiet), quietLines, quiet)
	}
	if n := ls.DroppedOf("quiet"); n != 0 {
		t.Errorf("%d of the quiet function's lines were dropped", n)
	}
	for i := range 3 {
		fn := fmt.Sprintf("chatty%d", i)
		kept, bytes := 0, 0
		if err := ls.Read(ctx, logs.Query{Function: fn}, func(r logs.Record) error {
			kept++
			bytes += len(r.Message)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A chatty function keeps its newest lines, within its share.
		if kept == 0 || bytes > share+64<<10 {
			t.Errorf("%s kept %d lines (%d bytes), want some, within its share of %d bytes", fn, kept, bytes, share)
		}
		t.Logf("%s: %d of %d lines kept (%d KiB), %d dropped before the store", fn, kept, chatty/3, bytes>>10, ls.DroppedOf(fn))
	}
}

// A function's own retention (logRetentionInDays) ages its lines out on its
// own; other functions keep the platform's. The stream of an earlier version
// (a byte limit, no TTLs) is taken over.
func TestRetentionPerFunction(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Stream(ctx, jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"},
		MaxAge: time.Hour, MaxBytes: 1 << 20, Discard: jetstream.DiscardOld}); err != nil {
		t.Fatal(err)
	}
	ls, err := logs.Open(ctx, st, logs.Config{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	ls.SetRetention(func(function string) time.Duration {
		if function == "brief" {
			return time.Second // JetStream's shortest TTL
		}
		return 0
	})
	for _, fn := range []string{"brief", "kept"} {
		ls.Append(logs.Record{Time: time.Now(), Function: fn, Message: "hello from " + fn})
	}
	count := func(fn string) int {
		n := 0
		if err := ls.Read(ctx, logs.Query{Function: fn}, func(logs.Record) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for count("kept") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lines were never stored")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for count("brief") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a function's lines outlived its own retention")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := count("kept"); n != 1 {
		t.Errorf("the other function holds %d lines, want 1", n)
	}
}
