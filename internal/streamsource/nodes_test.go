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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// Two nimbus nodes on one NATS server run the same data-stream mapping:
// each record is delivered once (one node owns each shard), and when the
// owner stops the other node goes on from its checkpoint, losing nothing.
func TestTwoNodesDeliverEachRecordOnce(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("NATS did not start")
	}

	var mu sync.Mutex
	got := map[uint64]int{} // deliveries by sequence number
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Records []struct {
				Kinesis struct {
					SequenceNumber string `json:"sequenceNumber"`
				} `json:"kinesis"`
			}
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rec := range ev.Records {
			seq, _ := strconv.ParseUint(rec.Kinesis.SequenceNumber, 10, 64)
			got[seq]++
		}
		mu.Unlock()
	}))
	defer srv.Close()

	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := strings.Replace(fmt.Sprintf(parallelYML, srv.URL), "          parallelizationFactor: 4\n", "", 1)
	yml = strings.Replace(yml, "ShardCount: 1", "ShardCount: 2", 1)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	node := func(c *server.Config) { c.NoSandbox = true; c.NATSURL, c.NATSReplicas = ns.ClientURL(), 1 }
	a := testkit.Start(t, node)
	a.Deploy(dir)
	ctx := context.Background()
	var written []uint64
	put := func(p *testkit.Platform, n int) {
		t.Helper()
		c := kinesis.NewFromConfig(p.AWSConfig())
		for i := range n {
			key := fmt.Sprintf("k%d", i%7)
			res, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), PartitionKey: aws.String(key), Data: []byte(key)})
			if err != nil {
				t.Fatal(err)
			}
			seq, _ := strconv.ParseUint(aws.ToString(res.SequenceNumber), 10, 64)
			written = append(written, seq)
		}
	}
	waitAll := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			missing := 0
			for _, s := range written {
				if got[s] == 0 {
					missing++
				}
			}
			mu.Unlock()
			if missing == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d records not delivered", what, missing, len(written))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The first node alone owns the shards.
	put(a, 20)
	waitAll("one node")
	// The nodes of a cluster share the parameters' key (as an operator
	// copies it).
	bdir := filepath.Join(t.TempDir(), "data")
	key, err := os.ReadFile(filepath.Join(a.Config.DataDir, "params.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(bdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bdir, "params.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := testkit.Start(t, func(c *server.Config) { node(c); c.DataDir = bdir })
	// Each node keeps code packages on its own disk: both get the deploy.
	b.Deploy(dir)
	put(b, 20)
	put(a, 20)
	waitAll("both nodes up")
	// Both nodes have polled the shards for a while: a second delivery by
	// the node that does not own a shard would have come by now (each
	// polls at least every second); give it a few.
	time.Sleep(3 * time.Second)
	mu.Lock()
	for s, n := range got {
		if n != 1 {
			t.Errorf("record %d delivered %d times with both nodes up", s, n)
		}
	}
	mu.Unlock()

	// The owner of the shards stops: the other goes on from the
	// checkpoint.
	a.Stop()
	put(b, 20)
	waitAll("after the first node stopped")
	mu.Lock()
	for s, n := range got {
		if n != 1 {
			t.Errorf("record %d delivered %d times", s, n)
		}
	}
	mu.Unlock()
	t.Logf("%d records, each delivered once", len(written))
}
