package tables

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func streamTable(t *testing.T, s *Service, name, view string) string {
	t.Helper()
	tbl, err := s.CreateTable(context.Background(), TableSpec{TableName: name, BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}},
		StreamSpecification: &StreamSpec{StreamEnabled: true, StreamViewType: view}})
	if err != nil {
		t.Fatal(err)
	}
	return tbl.StreamARN()
}

func readStream(t *testing.T, s *Service, arn string) []StreamRecord {
	t.Helper()
	var out []StreamRecord
	var after uint64
	for {
		recs, next, err := s.ReadStream(context.Background(), arn, after, 100, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out, after = append(out, recs...), next
	}
}

// TestStreamOrderPerKey: concurrent writers to many keys; a reader that
// reads while they write sees every record once, numbers increasing, and
// each key's records in the order of its writes (the counter increases).
func TestStreamOrderPerKey(t *testing.T) {
	s := quietService(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	arn := streamTable(t, s, "counters", ViewNewImage)
	const keys, each = 8, 40
	var wg sync.WaitGroup
	for k := 0; k < keys; k++ {
		for w := 0; w < 2; w++ { // two writers per key race on its lock
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each/2; i++ {
					_, err := s.UpdateItem(ctx, UpdateInput{Table: "counters", Key: Item{"id": S(fmt.Sprint(k))}, Update: "ADD n :one",
						Values: map[string]Value{":one": N("1")}})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	// Read while writing: the watermark keeps a reader from passing a record
	// that is not committed yet.
	seen := map[string]int{}
	var after uint64
	total := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for total < keys*each {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records", total, keys*each)
		}
		recs, next, err := s.ReadStream(ctx, arn, after, 7, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq <= after {
				t.Fatalf("sequence %d after %d", r.Seq, after)
			}
			after = r.Seq
			keys, img, _, err := r.Items()
			if err != nil {
				t.Fatal(err)
			}
			id := keys["id"].S
			var n int
			fmt.Sscan(img["n"].S, &n)
			if n != seen[id]+1 {
				t.Fatalf("key %s: record n=%d after n=%d", id, n, seen[id])
			}
			seen[id] = n
			total++
		}
		after = next
		if len(recs) == 0 {
			select {
			case <-done:
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	<-done
	if recs, _, _ := s.ReadStream(ctx, arn, after, 100, true); len(recs) != 0 {
		t.Fatalf("%d records beyond the writes", len(recs))
	}
}

// TestStreamTTLAndRestart: a TTL deletion's record is marked as the
// service's, numbers keep increasing after a restart, and trimming drops
// records older than the retention.
func TestStreamTTLAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := quietService(t, dir)
	ctx := context.Background()
	arn := streamTable(t, s, "sessions", ViewOldImage)
	if _, err := s.UpdateTimeToLive(ctx, "sessions", TTLSpec{AttributeName: "exp", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	past := fmt.Sprint(time.Now().Add(-time.Hour).Unix())
	if _, err := s.PutItem(ctx, PutInput{Table: "sessions", Item: Item{"id": S("old"), "exp": N(past)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteItem(ctx, DeleteInput{Table: "sessions", Key: Item{"id": S("gone")}}); err != nil {
		t.Fatal(err) // deletes nothing: no record
	}
	if n, err := s.SweepExpired(ctx, time.Now(), 100); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	recs := readStream(t, s, arn)
	if len(recs) != 2 || recs[0].EventName != "INSERT" || recs[0].TTL || recs[1].EventName != "REMOVE" || !recs[1].TTL || recs[1].OldImage == nil || recs[1].NewImage != nil {
		t.Fatalf("records = %+v", recs)
	}
	last := recs[1].Seq
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = quietService(t, dir)
	defer s.Close()
	if _, err := s.PutItem(ctx, PutInput{Table: "sessions", Item: Item{"id": S("new")}}); err != nil {
		t.Fatal(err)
	}
	recs = readStream(t, s, arn)
	if len(recs) != 3 || recs[2].Seq <= last {
		t.Fatalf("after restart: %d records, last %d after %d", len(recs), recs[len(recs)-1].Seq, last)
	}
	// Trimming as if a day had passed drops them all; a position before the
	// trim is an error unless read from the trim horizon.
	if err := s.TrimStreams(ctx, time.Now().Add(DefaultStreamRetention+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if recs := readStream(t, s, arn); len(recs) != 0 {
		t.Fatalf("after trim: %d records", len(recs))
	}
	if _, _, err := s.ReadStream(ctx, arn, last, 10, false); err != ErrTrimmed {
		t.Fatalf("read a trimmed position: %v, want ErrTrimmed", err)
	}
}
