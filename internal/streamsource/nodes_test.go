package streamsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// Two nimbus nodes on one NATS server run the same data-stream mapping:
// each record is delivered once (one node owns each shard), and when the
// owner stops the other node goes on from its checkpoint, losing nothing.
func TestTwoNodesDeliverEachRecordOnce(t *testing.T) {
	ns := testkit.StartNATS(t)

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
	b := testkit.JoinNode(t, a, node)
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

// A node whose shard lease is taken away while its function runs a batch
// must not store that batch's position once the new owner has claimed the
// checkpoint: the stale write is refused, the old owner stops delivering,
// and the checkpoint never moves back (ADR 0030, fencing).
func TestStaleOwnerCannotMoveTheCheckpointBack(t *testing.T) {
	ns := testkit.StartNATS(t)
	ctx := context.Background()

	var mu sync.Mutex
	got := map[uint64]int{} // deliveries by sequence number
	data := map[uint64]string{}
	held, release := make(chan struct{}), make(chan struct{})
	holding := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Records []struct {
				Kinesis struct {
					SequenceNumber string `json:"sequenceNumber"`
					Data           []byte `json:"data"`
				} `json:"kinesis"`
			}
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		hold := false
		mu.Lock()
		for _, rec := range ev.Records {
			seq, _ := strconv.ParseUint(rec.Kinesis.SequenceNumber, 10, 64)
			got[seq]++
			data[seq] = string(rec.Kinesis.Data)
			if string(rec.Kinesis.Data) == "hold" && !holding {
				holding, hold = true, true
			}
		}
		mu.Unlock()
		if hold {
			// The first owner's batch runs until the test lets it end.
			close(held)
			<-release
		}
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := strings.Replace(fmt.Sprintf(parallelYML, srv.URL), "          parallelizationFactor: 4\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	node := func(c *server.Config) { c.NoSandbox = true; c.NATSURL, c.NATSReplicas = ns.ClientURL(), 1 }
	alog := &testkit.LockedBuffer{}
	a := testkit.Start(t, func(c *server.Config) { node(c); c.Logger = slog.New(slog.NewTextHandler(alog, nil)) })
	a.Deploy(dir)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// checkpoint is the stored position of the stream's one shard.
	checkpoint := func() uint64 {
		t.Helper()
		kv, err := js.KeyValue(ctx, "nimbus_stream_positions")
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.Keys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("checkpoints: %v %v", keys, err)
		}
		e, err := kv.Get(ctx, keys[0])
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseUint(string(e.Value()), 10, 64) // "h" (no batch done yet) reads as 0
		return n
	}
	var written []uint64
	put := func(p *testkit.Platform, values ...string) uint64 {
		t.Helper()
		c := kinesis.NewFromConfig(p.AWSConfig())
		var seq uint64
		for _, v := range values {
			res, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), PartitionKey: aws.String(v), Data: []byte(v)})
			if err != nil {
				t.Fatal(err)
			}
			seq, _ = strconv.ParseUint(aws.ToString(res.SequenceNumber), 10, 64)
			written = append(written, seq)
		}
		return seq
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	delivered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range written {
			if got[s] == 0 {
				return false
			}
		}
		return true
	}

	put(a, "r0", "r1", "r2")
	eventually("first records delivered", delivered)
	b := testkit.JoinNode(t, a, node)
	b.Deploy(dir)

	// The first node starts a batch and its lease is taken away while the
	// function runs it.
	hold := put(a, "hold")
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the held batch did not start")
	}
	leases, err := js.KeyValue(ctx, "nimbus_stream_leases")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := leases.Keys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("leases: %v %v", keys, err)
	}
	if err := leases.Delete(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	// The second node takes the shard over from the checkpoint (before the
	// held batch, so it delivers that batch again) and goes on.
	eventually("the held batch delivered by the new owner", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[hold] == 2
	})
	last := put(b, "s0", "s1", "s2")
	eventually("records after the take-over delivered", delivered)
	eventually("the new owner's checkpoint stored", func() bool { return checkpoint() >= last })

	// The old owner's batch ends now: its position is older than the
	// stored one and must not be written.
	close(release)
	eventually("the old owner's batch ended", func() bool {
		return strings.Contains(alog.String(), "lease was lost during a batch") || checkpoint() < last
	})
	if c := checkpoint(); c < last {
		t.Fatalf("checkpoint moved back to %d, below %d", c, last)
	}

	// The new owner stops; the first node takes the shard back from the
	// checkpoint and repeats nothing already done.
	b.Stop()
	put(a, "t0", "t1", "t2")
	eventually("records after the hand-back delivered", delivered)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range written {
		want := 1
		if s == hold {
			want = 2
		}
		if got[s] != want {
			t.Errorf("record %q (%d) delivered %d times, want %d", data[s], s, got[s], want)
		}
	}
}
