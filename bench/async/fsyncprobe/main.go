// Command fsyncprobe measures raw JetStream publish rates on this disk with
// the store's settings (SyncAlways), for context beside the async figures.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/store"
)

func main() {
	dir, _ := os.MkdirTemp("", "probe")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if _, err := s.Stream(ctx, jetstream.StreamConfig{Name: "P", Subjects: []string{"p.>"}}); err != nil {
		panic(err)
	}
	for _, conc := range []int{1, 64} {
		n := 3000
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					m := nats.NewMsg("p.x")
					m.Data = []byte(`{"k":"v"}`)
					if _, err := s.JS.PublishMsg(ctx, m); err != nil {
						panic(err)
					}
				}
			}()
		}
		wg.Wait()
		fmt.Printf("sync publishes, %d publishers: %.0f/s\n", conc, float64(n)/time.Since(start).Seconds())
	}
}
