package objects

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckNotifications(t *testing.T) {
	target := func(events, prefix, suffix string) NotificationTarget {
		return NotificationTarget{Kind: TargetQueue, ARN: "arn:aws:sqs:us-east-1:000000000000:q", Events: strings.Split(events, ","), Prefix: prefix, Suffix: suffix}
	}
	cases := []struct {
		name    string
		targets []NotificationTarget
		err     string
	}{
		{"one", []NotificationTarget{target("s3:ObjectCreated:*", "", "")}, ""},
		{"same type, no filters", []NotificationTarget{target("s3:ObjectCreated:*", "", ""), target("s3:ObjectCreated:Put", "", "")}, "Configurations overlap"},
		{"nested prefixes", []NotificationTarget{target("s3:ObjectCreated:Put", "a/", ""), target("s3:ObjectCreated:Put", "a/b", "")}, "Configurations overlap"},
		{"nested suffixes", []NotificationTarget{target("s3:ObjectRemoved:*", "", ".csv"), target("s3:ObjectRemoved:Delete", "x/", "a.csv")}, "Configurations overlap"},
		{"disjoint prefixes", []NotificationTarget{target("s3:ObjectCreated:*", "a/", ""), target("s3:ObjectCreated:*", "b/", "")}, ""},
		{"disjoint suffixes", []NotificationTarget{target("s3:ObjectCreated:*", "", ".jpg"), target("s3:ObjectCreated:*", "", ".png")}, ""},
		{"different types", []NotificationTarget{target("s3:ObjectCreated:*", "", ""), target("s3:ObjectRemoved:*", "", "")}, ""},
		{"put and copy", []NotificationTarget{target("s3:ObjectCreated:Put", "", ""), target("s3:ObjectCreated:Copy", "", "")}, ""},
		{"unknown event", []NotificationTarget{target("s3:ObjectCreated:Upload", "", "")}, "not supported"},
		{"no events", []NotificationTarget{{Kind: TargetQueue, ARN: "arn"}}, "at least one event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NotificationConfiguration{Targets: tc.targets}
			err := CheckNotifications(&c)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if err == nil && c.Targets[0].ID == "" {
				t.Fatal("no id filled in")
			}
		})
	}
}

func TestTargetMatches(t *testing.T) {
	tg := NotificationTarget{Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"}, Prefix: "in/", Suffix: ".csv"}
	for _, tc := range []struct {
		event, key string
		want       bool
	}{
		{EventPut, "in/a.csv", true}, {EventCompleteMultipart, "in/a.csv", true}, {EventDelete, "in/a.csv", true},
		{EventDeleteMarkerCreated, "in/a.csv", false}, {EventLifecycleDelete, "in/a.csv", false},
		{EventPut, "in/a.txt", false}, {EventPut, "out/a.csv", false}, {EventPut, "in.csv", false},
	} {
		if got := tg.matches(tc.event, tc.key); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.event, tc.key, got, tc.want)
		}
	}
}

func TestEncodeEventKey(t *testing.T) {
	for key, want := range map[string]string{"a b.jpg": "a+b.jpg", "dir/sub/x=1&y.txt": "dir/sub/x%3D1%26y.txt", "é": "%C3%A9", "a+b": "a%2Bb"} {
		if got := EncodeEventKey(key); got != want {
			t.Errorf("%q: %q, want %q", key, got, want)
		}
	}
}

// capture is a Notifier that keeps what it is handed.
type capture struct {
	mu  sync.Mutex
	got []Delivery
}

func (c *capture) Deliver(_ context.Context, d Delivery) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, d)
	return nil
}

func (c *capture) Exists(context.Context, TargetKind, string) error { return nil }

func (c *capture) wait(t *testing.T, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		got := append([]Delivery(nil), c.got...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLifecycleExpiration writes objects, moves the clock past their
// expiry and sweeps: the expired ones under the rule's prefix go, each with
// a LifecycleExpiration:Delete record and an EventBridge Object Deleted.
func TestLifecycleExpiration(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	s, err := Open(Config{Dir: t.TempDir(), Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); _ = s.Close() }()
	c := &capture{}
	s.SetNotifier(c)
	s.StartNotifications(ctx)
	if _, err := s.CreateBucket(ctx, "logs"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketNotification(ctx, "logs", NotificationConfiguration{EventBridge: true, Targets: []NotificationTarget{
		{Kind: TargetFunction, ID: "exp", ARN: "arn:aws:lambda:us-east-1:000000000000:function:f", Events: []string{"s3:LifecycleExpiration:*"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.setLifecycle("logs", []LifecycleRule{{ID: "tmp", Prefix: "tmp/", Days: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tmp/a", "keep/b"} {
		if _, err := s.PutObject(ctx, "logs", k, strings.NewReader("x"), 1, Attributes{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	c.wait(t, 2) // the two EventBridge Object Created events
	// A day later, before midnight UTC: nothing is due yet (S3 rounds up to midnight).
	clock.Lock()
	now = now.Add(24 * time.Hour)
	clock.Unlock()
	if n, err := s.SweepLifecycle(ctx); err != nil || n != 0 {
		t.Fatalf("before midnight: %d, %v", n, err)
	}
	clock.Lock()
	now = time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	clock.Unlock()
	if n, err := s.SweepLifecycle(ctx); err != nil || n != 1 {
		t.Fatalf("at midnight: %d, %v", n, err)
	}
	if _, err := s.HeadObject(ctx, "logs", "tmp/a"); !IsKind(err, KindNoSuchKey) {
		t.Fatalf("expired object: %v", err)
	}
	if _, err := s.HeadObject(ctx, "logs", "keep/b"); err != nil {
		t.Fatalf("object outside the rule: %v", err)
	}
	got := c.wait(t, 4)[2:]
	var rec struct {
		Records []struct {
			EventName    string
			UserIdentity struct{ PrincipalID string } `json:"userIdentity"`
			S3           struct {
				Object struct {
					Key       string
					Size      *int64
					Sequencer string
				}
			}
		}
	}
	var bridge struct {
		Reason       string `json:"reason"`
		DeletionType string `json:"deletion-type"`
		Requester    string `json:"requester"`
	}
	for _, d := range got {
		switch d.Kind {
		case TargetFunction:
			if err := json.Unmarshal(d.Body, &rec); err != nil {
				t.Fatal(err)
			}
		case TargetEventBridge:
			if d.DetailType != "Object Deleted" {
				t.Fatalf("detail type %q", d.DetailType)
			}
			if err := json.Unmarshal(d.Body, &bridge); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(rec.Records) != 1 || rec.Records[0].EventName != "LifecycleExpiration:Delete" || rec.Records[0].S3.Object.Key != "tmp/a" ||
		rec.Records[0].S3.Object.Size != nil || rec.Records[0].UserIdentity.PrincipalID != "s3.amazonaws.com" {
		t.Fatalf("record: %+v", rec)
	}
	if bridge.Reason != "Lifecycle Expiration" || bridge.DeletionType != "Permanently Deleted" || bridge.Requester != "s3.amazonaws.com" {
		t.Fatalf("EventBridge detail: %+v", bridge)
	}
}

// TestOutboxSurvivesReopen records events with no notifier (nothing can be
// delivered), closes the store and reopens it: the events are delivered then.
func TestOutboxSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketNotification(ctx, "bkt", NotificationConfiguration{Targets: []NotificationTarget{
		{Kind: TargetFunction, ID: "all", ARN: "arn:aws:lambda:us-east-1:000000000000:function:f", Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := s.PutObject(ctx, "bkt", k, strings.NewReader(k), 1, Attributes{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteObject(ctx, "bkt", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	c := &capture{}
	s.SetNotifier(c)
	cctx, cancel := context.WithCancel(ctx)
	s.StartNotifications(cctx)
	defer func() { cancel(); _ = s.Close() }()
	got := c.wait(t, 3)
	type ev struct{ name, seq string }
	var evs []ev
	for _, d := range got {
		var m struct {
			Records []struct {
				EventName string
				S3        struct {
					Object struct{ Key, Sequencer string }
				}
			}
		}
		if err := json.Unmarshal(d.Body, &m); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev{m.Records[0].EventName + " " + m.Records[0].S3.Object.Key, m.Records[0].S3.Object.Sequencer})
	}
	// Deliveries run side by side; the sequencers give the order of the writes.
	sort.Slice(evs, func(i, j int) bool { return evs[i].seq < evs[j].seq })
	var names []string
	for _, e := range evs {
		names = append(names, e.name)
	}
	if strings.Join(names, ",") != "ObjectCreated:Put a,ObjectCreated:Put b,ObjectRemoved:Delete a" {
		t.Fatalf("events in sequencer order: %v", names)
	}
	// Delivered entries leave the outbox.
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := dispatcher{s: s}
		left, _, err := d.read([]byte{prefixOutbox})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left in the outbox", len(left))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
