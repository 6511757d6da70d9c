package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// A second platform on a data directory in use fails at once, naming the
// holder, and leaves the first one serving; once the first stops, the
// directory can be used again.
func TestDataDirectoryLock(t *testing.T) {
	first := testkit.Start(t, nil)

	cfg := first.Config
	cfg.Addr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second, err := server.Start(ctx, cfg)
	if err == nil {
		_ = second.Close(ctx)
		t.Fatal("a second platform started on a data directory in use")
	}
	if !errors.Is(err, server.ErrDataDirInUse) {
		t.Fatalf("error %v is not ErrDataDirInUse", err)
	}
	for _, want := range []string{fmt.Sprintf("pid %d", os.Getpid()), first.Addr()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the holder (%q)", err, want)
		}
	}

	// The first one still serves.
	if _, err := first.Client.Services(ctx); err != nil {
		t.Fatalf("the first platform stopped serving: %v", err)
	}

	first.Stop()
	third, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("the data directory stayed locked after its platform stopped: %v", err)
	}
	if err := third.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
