package async_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestAsyncSurvivesSIGKILL accepts thousands of async invocations, kills the
// platform with SIGKILL while they are in flight, restarts it on the same data
// directory and checks that every acknowledged event is delivered.
func TestAsyncSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `  work:
`+fnZip+`    environment:
      ROLE: work
`)
	p := testkit.NewChild(t, "--async-ack-wait", "2s")
	p.Start()
	cl := p.Client()
	if _, err := cl.Deploy(context.Background(), dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}

	const total = 3000
	var acked sync.Map
	var nAcked atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	killAt := int64(total / 2)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				id := fmt.Sprintf("e%05d", i)
				if _, err := cl.InvokeAsync(context.Background(), "asynctest-dev-work", "", []byte(`{"id":"`+id+`"}`)); err == nil {
					acked.Store(id, true)
					nAcked.Add(1)
				}
			}
		}()
	}
	for nAcked.Load() < killAt {
		time.Sleep(time.Millisecond)
	}
	p.Kill()
	wg.Wait()
	deliveredBeforeRestart := len(rec.byRole("work"))
	t.Logf("acknowledged %d of %d before/while killing; %d delivered before the kill", nAcked.Load(), total, deliveredBeforeRestart)
	if deliveredBeforeRestart >= int(nAcked.Load()) {
		t.Logf("warning: everything was delivered before the kill; the crash tested little")
	}
	p.Start()

	seen := func() map[string]int {
		out := map[string]int{}
		for _, c := range rec.byRole("work") {
			var e struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(c.Body, &e)
			out[e.ID]++
		}
		return out
	}
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := seen()
		missing = missing[:0]
		acked.Range(func(k, _ any) bool {
			if s[k.(string)] == 0 {
				missing = append(missing, k.(string))
			}
			return true
		})
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged events were never delivered (e.g. %v)", len(missing), missing[:min(5, len(missing))])
	}
	s := seen()
	dups := 0
	for _, n := range s {
		if n > 1 {
			dups += n - 1
		}
	}
	t.Logf("all %d acknowledged events delivered; %d duplicate deliveries (events running at the kill)", nAcked.Load(), dups)
	_ = os.Remove(p.Bin)
}
