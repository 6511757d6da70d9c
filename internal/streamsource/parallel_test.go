package streamsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const parallelYML = `service: par
provider:
  name: aws
  runtime: provided.al2023
  timeout: 60
functions:
  reader:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
    events:
      - stream:
          type: kinesis
          arn:
            Fn::GetAtt: [Events, Arn]
          batchSize: 3
          startingPosition: TRIM_HORIZON
          parallelizationFactor: 4
resources:
  Resources:
    Events:
      Type: AWS::Kinesis::Stream
      Properties:
        Name: events
        ShardCount: 1
`

// pdelivery is one invocation as the function saw it.
type pdelivery struct {
	epoch int // 0 before the restart, 1 after
	keys  []string
	seqs  []uint64
	ok    bool
}

// lane mirrors how the pollers group keys (FNV-1a modulo the factor), so
// the test knows which keys share the failing key's lane.
func lane(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % 4)
}

// TestParallelizationFactor: a one-shard data stream with many partition
// keys and parallelizationFactor 4 runs batches of different keys at once,
// keeps each key's records in order and never runs one key twice at once;
// a key that keeps failing holds only its own lane; a restart while it
// fails resumes from the checkpoint (the records below the lowest
// unfinished one are not repeated) and loses nothing.
func TestParallelizationFactor(t *testing.T) {
	var mu sync.Mutex
	var got []pdelivery
	var violations []string
	inFlight := map[string]bool{}
	running, overlapped := 0, false
	badFails, epoch := true, 0

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
		d := pdelivery{}
		for _, rec := range ev.Records {
			seq, _ := strconv.ParseUint(rec.Kinesis.SequenceNumber, 10, 64)
			d.keys = append(d.keys, rec.Kinesis.PartitionKey)
			d.seqs = append(d.seqs, seq)
		}
		mine := slices.Compact(slices.Sorted(slices.Values(d.keys)))
		mu.Lock()
		d.epoch = epoch
		for _, k := range mine {
			if inFlight[k] {
				violations = append(violations, "key "+k+" delivered twice at once")
			}
			inFlight[k] = true
		}
		running++
		if running > 1 {
			overlapped = true
		}
		fail := badFails && slices.Contains(mine, "bad")
		mu.Unlock()
		// Hold the batch until another one runs beside it: the lanes must
		// overlap (never a timing bound: the wait only ends early).
		for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			o := overlapped
			mu.Unlock()
			if o {
				break
			}
		}
		mu.Lock()
		running--
		for _, k := range mine {
			delete(inFlight, k)
		}
		d.ok = !fail
		got = append(got, d)
		mu.Unlock()
		if fail {
			http.Error(w, "bad key", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(fmt.Sprintf(parallelYML, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	out := p.Deploy(dir)
	for _, w := range out.Project.Warnings {
		t.Errorf("warning: %s", w.Message)
	}
	ctx := context.Background()
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	var good []string // keys outside the failing key's lane
	for _, k := range keys {
		if lane(k) != lane("bad") {
			good = append(good, k)
		}
	}
	if len(good) == 0 {
		t.Fatal("every key shares the failing key's lane; pick other keys")
	}
	written := map[string][]uint64{}
	put := func(key string) uint64 {
		t.Helper()
		c := kinesis.NewFromConfig(p.AWSConfig())
		res, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), PartitionKey: aws.String(key), Data: []byte(key)})
		if err != nil {
			t.Fatal(err)
		}
		seq, err := strconv.ParseUint(aws.ToString(res.SequenceNumber), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		written[key] = append(written[key], seq)
		return seq
	}
	// delivered lists the records each key's successful batches got, in
	// order, since epoch from.
	delivered := func(from int) map[string][]uint64 {
		out := map[string][]uint64{}
		for _, d := range got {
			if d.ok && d.epoch >= from {
				for i, k := range d.keys {
					out[k] = append(out[k], d.seqs[i])
				}
			}
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("waiting for %s; deliveries: %+v", what, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// covers says every written record of keys was delivered since epoch from.
	covers := func(from int, keys ...string) bool {
		d := delivered(from)
		for _, k := range keys {
			for _, s := range written[k] {
				if !slices.Contains(d[k], s) {
					return false
				}
			}
		}
		return true
	}

	// Round 0: every key once; they all succeed.
	for _, k := range keys {
		put(k)
	}
	waitFor("round 0", func() bool { return covers(0, keys...) })
	mu.Lock()
	if !overlapped {
		t.Error("no two batches ran at once")
	}
	mu.Unlock()
	round0 := map[string]uint64{}
	for _, k := range keys {
		round0[k] = written[k][0]
	}

	// Round 1: the failing key first, then the others; the keys outside its
	// lane go on while it fails.
	put("bad")
	for range 3 {
		for _, k := range keys {
			put(k)
		}
	}
	put("bad")
	tried := func() bool {
		return slices.ContainsFunc(got, func(d pdelivery) bool { return slices.Contains(d.keys, "bad") })
	}
	waitFor("the keys outside the failing lane, and the failing key tried", func() bool { return covers(0, good...) && tried() })
	mu.Lock()
	for _, d := range got {
		if slices.Contains(d.keys, "bad") && d.ok {
			t.Error("the failing key succeeded")
		}
	}
	mu.Unlock()

	// Restart while the failing lane is stuck, write more, then let it
	// succeed: everything arrives, nothing below the checkpoint again.
	// Before the restart every other lane is idle and the failing lane only
	// fails, so every successful delivery from here on is the new run's.
	mu.Lock()
	epoch = 1
	mu.Unlock()
	p = p.Restart()
	for _, k := range append([]string{"bad"}, keys...) {
		put(k)
	}
	mu.Lock()
	badFails = false
	mu.Unlock()
	all := append([]string{"bad"}, keys...)
	waitFor("every record after the restart", func() bool { return covers(0, all...) })

	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	for e := range 2 {
		for k := range delivered(e) {
			// In each run a key's records come in order (a run repeats
			// unfinished records from the checkpoint, so only per run).
			var run []uint64
			for _, d := range got {
				if d.ok && d.epoch == e {
					for i, dk := range d.keys {
						if dk == k {
							run = append(run, d.seqs[i])
						}
					}
				}
			}
			if !slices.IsSorted(run) || len(slices.Compact(slices.Clone(run))) != len(run) {
				t.Errorf("run %d: key %s delivered as %v", e, k, run)
			}
		}
	}
	after := delivered(1)
	for k, s := range round0 {
		if slices.Contains(after[k], s) {
			t.Errorf("key %s's first record (done before the checkpoint) was delivered again after the restart", k)
		}
	}
	if got := after["bad"]; !slices.Equal(got, written["bad"]) {
		t.Errorf("the failing key after the restart got %v, want %v", got, written["bad"])
	}
}

const parallelTableYML = `service: pt
provider:
  name: aws
  runtime: provided.al2023
  timeout: 60
functions:
  recorder:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
    events:
      - stream:
          type: dynamodb
          arn:
            Fn::GetAtt: [Items, StreamArn]
          batchSize: 2
          parallelizationFactor: 3
resources:
  Resources:
    Items:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: pitems
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: sk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
        StreamSpecification: {StreamViewType: NEW_IMAGE}
`

// TestParallelTableStream: with parallelizationFactor on a table stream,
// the records of one item (its hash and range key) arrive in the order of
// its writes and never in two batches at once, and every record arrives.
func TestParallelTableStream(t *testing.T) {
	var mu sync.Mutex
	byItem := map[string][]string{}
	inFlight := map[string]bool{}
	var violations []string
	total := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Records []record }
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		var items []string
		mu.Lock()
		for _, rec := range ev.Records {
			item := fmt.Sprint(rec.DynamoDB.Keys["pk"]["S"], "/", rec.DynamoDB.Keys["sk"]["S"])
			if !slices.Contains(items, item) {
				items = append(items, item)
				if inFlight[item] {
					violations = append(violations, item+" delivered twice at once")
				}
				inFlight[item] = true
			}
			byItem[item] = append(byItem[item], fmt.Sprint(rec.DynamoDB.NewImage["v"]["N"]))
			total++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond) // a little work, so batches can meet
		mu.Lock()
		for _, item := range items {
			delete(inFlight, item)
		}
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(fmt.Sprintf(parallelTableYML, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	out := p.Deploy(dir)
	for _, w := range out.Project.Warnings {
		t.Errorf("warning: %s", w.Message)
	}
	ctx := context.Background()
	db := dynamodb.NewFromConfig(p.AWSConfig())
	// Items share hash keys and differ by range key: the item, not its hash
	// key alone, is the unit of order.
	items := [][2]string{{"a", "1"}, {"a", "2"}, {"b", "1"}, {"b", "2"}, {"c", "1"}}
	const rounds = 4
	for v := 1; v <= rounds; v++ {
		for _, it := range items {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("pitems"), Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: it[0]}, "sk": &types.AttributeValueMemberS{Value: it[1]},
				"v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := total
		mu.Unlock()
		if n >= rounds*len(items) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d records", n, rounds*len(items))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	for _, it := range items {
		if got := fmt.Sprint(byItem[it[0]+"/"+it[1]]); got != "[1 2 3 4]" {
			t.Errorf("item %s/%s got versions %s", it[0], it[1], got)
		}
	}
	if total != rounds*len(items) {
		t.Errorf("delivered %d records, want %d", total, rounds*len(items))
	}
}
