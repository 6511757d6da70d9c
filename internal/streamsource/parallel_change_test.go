package streamsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// Redeploys that change parallelizationFactor while records flow: a key's
// records still start in order (a record repeated after a hand-over is
// fine, at least once; a new record before an older one of its key is
// not), one key never runs twice at once across the old and new lanes, and
// every record is delivered.
func TestParallelizationChangeKeepsKeyOrder(t *testing.T) {
	var mu sync.Mutex
	started := map[string][]uint64{} // by key, in the order batches started
	inFlight := map[string]bool{}
	var violations []string
	done := map[string]map[uint64]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Records []struct {
				Kinesis struct {
					PartitionKey   string `json:"partitionKey"`
					SequenceNumber string `json:"sequenceNumber"`
				} `json:"kinesis"`
			}
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		var keys []string
		slow := false
		mu.Lock()
		for _, rec := range ev.Records {
			k := rec.Kinesis.PartitionKey
			seq, _ := strconv.ParseUint(rec.Kinesis.SequenceNumber, 10, 64)
			started[k] = append(started[k], seq)
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
				if inFlight[k] {
					violations = append(violations, "key "+k+" delivered twice at once")
				}
				inFlight[k] = true
			}
			slow = slow || strings.HasPrefix(k, "slow")
		}
		mu.Unlock()
		if slow {
			// A slow key keeps its lane busy, so its records wait in the
			// old lanes when the factor changes.
			time.Sleep(150 * time.Millisecond)
		}
		mu.Lock()
		for _, k := range keys {
			delete(inFlight, k)
		}
		for _, rec := range ev.Records {
			seq, _ := strconv.ParseUint(rec.Kinesis.SequenceNumber, 10, 64)
			k := rec.Kinesis.PartitionKey
			if done[k] == nil {
				done[k] = map[uint64]bool{}
			}
			done[k][seq] = true
		}
		mu.Unlock()
	}))
	defer srv.Close()

	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	deploy := func(p *testkit.Platform, factor int) {
		t.Helper()
		yml := strings.Replace(fmt.Sprintf(parallelYML, srv.URL), "parallelizationFactor: 4", fmt.Sprintf("parallelizationFactor: %d", factor), 1)
		yml = strings.Replace(yml, "batchSize: 3", "batchSize: 2", 1)
		if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
		p.Deploy(dir)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	deploy(p, 4)
	ctx := context.Background()
	c := kinesis.NewFromConfig(p.AWSConfig())
	keys := []string{"slow0", "slow1", "k0", "k1", "k2", "k3", "k4", "k5"}
	written := map[string][]uint64{}
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			k := keys[i%len(keys)]
			res, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), PartitionKey: aws.String(k), Data: []byte(k)})
			if err != nil {
				continue // not acknowledged: nothing is owed for it
			}
			seq, _ := strconv.ParseUint(aws.ToString(res.SequenceNumber), 10, 64)
			mu.Lock()
			written[k] = append(written[k], seq)
			mu.Unlock()
		}
	})
	for _, factor := range []int{2, 5, 1, 3} {
		time.Sleep(800 * time.Millisecond)
		deploy(p, factor)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	writer.Wait()

	deadline := time.Now().Add(90 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for k, seqs := range written {
			for _, s := range seqs {
				if !done[k][s] {
					missing++
				}
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records not delivered", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	total := 0
	for k, seqs := range started {
		total += len(written[k])
		// A record may start again (a repeat after a hand-over), but the
		// first start of each record follows the first start of the
		// records of its key written before it.
		seen := map[uint64]bool{}
		var highest uint64
		for _, s := range seqs {
			if seen[s] {
				continue
			}
			seen[s] = true
			if s < highest {
				t.Errorf("key %s: record %d started for the first time after record %d", k, s, highest)
			}
			highest = max(highest, s)
		}
	}
	t.Logf("%d records of %d keys over 4 changes of the factor", total, len(keys))
}
