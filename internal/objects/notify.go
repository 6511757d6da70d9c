package objects

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// Index key prefixes of notifications: a bucket's configuration, and the
// outbox of events recorded with the writes that caused them.
const (
	prefixNotification = 'N'
	prefixOutbox       = 'E'
)

// Event names as records carry them (configurations add "s3:").
const (
	EventPut                 = "ObjectCreated:Put"
	EventPost                = "ObjectCreated:Post"
	EventCopy                = "ObjectCreated:Copy"
	EventCompleteMultipart   = "ObjectCreated:CompleteMultipartUpload"
	EventDelete              = "ObjectRemoved:Delete"
	EventDeleteMarkerCreated = "ObjectRemoved:DeleteMarkerCreated"
	EventLifecycleDelete     = "LifecycleExpiration:Delete"
)

// notificationEvents are the event types S3 accepts in a configuration;
// the ones nimbus never fires (restore, replication, tagging ...) are
// accepted as S3 accepts them.
var notificationEvents = map[string]bool{
	"s3:ObjectCreated:*": true, "s3:ObjectCreated:Put": true, "s3:ObjectCreated:Post": true, "s3:ObjectCreated:Copy": true,
	"s3:ObjectCreated:CompleteMultipartUpload": true,
	"s3:ObjectRemoved:*":                       true, "s3:ObjectRemoved:Delete": true, "s3:ObjectRemoved:DeleteMarkerCreated": true,
	"s3:LifecycleExpiration:*": true, "s3:LifecycleExpiration:Delete": true, "s3:LifecycleExpiration:DeleteMarkerCreated": true,
	"s3:ObjectRestore:*": true, "s3:ObjectRestore:Post": true, "s3:ObjectRestore:Completed": true, "s3:ObjectRestore:Delete": true,
	"s3:ReducedRedundancyLostObject": true, "s3:Replication:*": true, "s3:Replication:OperationFailedReplication": true,
	"s3:Replication:OperationMissedThreshold": true, "s3:Replication:OperationReplicatedAfterThreshold": true,
	"s3:Replication:OperationNotTracked": true, "s3:LifecycleTransition": true, "s3:IntelligentTiering": true,
	"s3:ObjectTagging:*": true, "s3:ObjectTagging:Put": true, "s3:ObjectTagging:Delete": true, "s3:ObjectAcl:Put": true,
}

// ValidNotificationEvent reports whether S3 accepts name ("s3:ObjectCreated:*")
// in a notification configuration.
func ValidNotificationEvent(name string) bool { return notificationEvents[name] }

// TargetKind is where a notification goes.
type TargetKind string

// Target kinds.
const (
	TargetFunction    TargetKind = "lambda"
	TargetQueue       TargetKind = "sqs"
	TargetTopic       TargetKind = "sns"
	TargetEventBridge TargetKind = "events" // the default event bus
)

// NotificationTarget is one configuration of a bucket's notifications: a
// function, queue or topic, the event types it takes and a key filter.
type NotificationTarget struct {
	Kind   TargetKind `json:"kind"`
	ID     string     `json:"id"`
	ARN    string     `json:"arn"`
	Events []string   `json:"events"` // "s3:ObjectCreated:*", ...
	Prefix string     `json:"prefix,omitempty"`
	Suffix string     `json:"suffix,omitempty"`
}

// NotificationConfiguration is a bucket's notification configuration.
type NotificationConfiguration struct {
	Targets     []NotificationTarget `json:"targets,omitempty"`
	EventBridge bool                 `json:"eventBridge,omitempty"`
	// Region is the awsRegion of the records (the region of the service
	// that declared the bucket); empty is us-east-1.
	Region string `json:"region,omitempty"`
}

func (c *NotificationConfiguration) region() string {
	if c.Region == "" {
		return "us-east-1"
	}
	return c.Region
}

// matches reports whether an event of name (without "s3:") on key goes to t.
func (t *NotificationTarget) matches(name, key string) bool {
	if !strings.HasPrefix(key, t.Prefix) || !strings.HasSuffix(key, t.Suffix) {
		return false
	}
	for _, e := range t.Events {
		e = strings.TrimPrefix(e, "s3:")
		if e == name || (strings.HasSuffix(e, ":*") && strings.HasPrefix(name, e[:len(e)-1])) {
			return true
		}
	}
	return false
}

// eventTypes expands a configuration's events ("s3:ObjectCreated:*") into
// the concrete types they cover, to find overlaps.
func eventTypes(events []string) map[string]bool {
	out := map[string]bool{}
	for _, e := range events {
		if family, ok := strings.CutSuffix(e, ":*"); ok {
			for name := range notificationEvents {
				if strings.HasPrefix(name, family+":") && !strings.HasSuffix(name, ":*") {
					out[name] = true
				}
			}
			continue
		}
		out[e] = true
	}
	return out
}

// CheckNotifications validates a configuration as S3 does: known events,
// at most one prefix and suffix rule, and no two configurations that share
// an event type with filters that can match the same key. It fills in
// missing ids.
func CheckNotifications(c *NotificationConfiguration) error {
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.ID == "" {
			t.ID = uuid.NewString()
		}
		if len(t.ID) > 255 {
			return errorf(KindInvalidArgument, "The ID of a notification configuration can be at most 255 characters.")
		}
		if t.ARN == "" {
			return errorf(KindInvalidArgument, "A notification configuration must name its destination.")
		}
		if len(t.Events) == 0 {
			return errorf(KindInvalidArgument, "A notification configuration must name at least one event.")
		}
		for _, e := range t.Events {
			if !notificationEvents[e] {
				return errorf(KindInvalidArgument, "The event is not supported for notifications: %s", e)
			}
		}
	}
	for i := range c.Targets {
		for j := i + 1; j < len(c.Targets); j++ {
			a, b := &c.Targets[i], &c.Targets[j]
			if !overlapping(a.Prefix, b.Prefix, strings.HasPrefix) || !overlapping(a.Suffix, b.Suffix, strings.HasSuffix) {
				continue
			}
			ta := eventTypes(a.Events)
			for e := range eventTypes(b.Events) {
				if ta[e] {
					return errorf(KindInvalidArgument, "Configurations overlap. Configurations on the same bucket cannot share a common event type.")
				}
			}
		}
	}
	return nil
}

// overlapping reports whether some key can match both filters.
func overlapping(a, b string, has func(string, string) bool) bool { return has(a, b) || has(b, a) }

// RequestInfo is what an event record says about the request that caused
// it; the edge puts it in the request's context.
type RequestInfo struct {
	PrincipalID string // userIdentity.principalId ("AWS:AKID...")
	SourceIP    string
	RequestID   string
	HostID      string
	// Event, when set, names the creation event instead of the operation's
	// own (a POST upload stores through PutObject: ObjectCreated:Post).
	Event string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying the request's details for event records.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

func requestInfo(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	if ri.PrincipalID == "" {
		ri.PrincipalID = "nimbus"
	}
	if ri.SourceIP == "" {
		ri.SourceIP = "127.0.0.1"
	}
	if ri.RequestID == "" {
		ri.RequestID = strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:16])
	}
	if ri.HostID == "" {
		ri.HostID = ri.RequestID
	}
	return ri
}

// Delivery is one notification to hand to its destination.
type Delivery struct {
	Kind TargetKind `json:"kind"`
	ARN  string     `json:"arn,omitempty"`
	// Body is the S3 event message ({"Records":[...]} or the test event),
	// or, for EventBridge, the event's detail.
	Body       json.RawMessage `json:"body"`
	DetailType string          `json:"detailType,omitempty"` // EventBridge: "Object Created", ...
	Bucket     string          `json:"bucket"`
	Time       time.Time       `json:"time"`
}

// ErrTargetGone is what a Notifier answers (wrapped) for a destination that
// no longer exists: the event is dropped, as S3 drops it.
var ErrTargetGone = errors.New("notification destination does not exist")

// Notifier hands deliveries to functions (asynchronous invocations), queues,
// topics and the event bus, durably before it returns.
type Notifier interface {
	Deliver(ctx context.Context, d Delivery) error
	// Exists checks a destination named in a configuration.
	Exists(ctx context.Context, kind TargetKind, arn string) error
}

// notifyState is the outbox dispatcher's state.
type notifyState struct {
	mu       sync.Mutex
	last     uint64 // last sequence number handed out
	notifier Notifier
	wake     chan struct{}
	done     chan struct{} // closed when the dispatcher stops; nil if never started
}

func newNotifyState() *notifyState { return &notifyState{wake: make(chan struct{}, 1)} }

// next is a sequence number above every earlier one, also across restarts
// (it follows the clock): sequencers and outbox order come from it.
func (n *notifyState) next(now time.Time) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last = max(n.last+1, uint64(now.UnixNano()))
	return n.last
}

func (n *notifyState) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func notificationKey(bucket string) []byte { return append([]byte{prefixNotification}, bucket...) }

func outboxKey(seq uint64, i int) []byte {
	k := make([]byte, 11)
	k[0] = prefixOutbox
	binary.BigEndian.PutUint64(k[1:], seq)
	binary.BigEndian.PutUint16(k[9:], uint16(i))
	return k
}

// SetNotifier sets where events go and checks destinations. Call it before
// StartNotifications; without one, configurations are not checked and
// events stay in the outbox.
func (s *Store) SetNotifier(n Notifier) { s.notify.notifier = n }

// PutBucketNotification replaces a bucket's notification configuration
// (an empty one removes it). Destinations must exist; queues and topics get
// S3's s3:TestEvent, recorded with the configuration.
func (s *Store) PutBucketNotification(ctx context.Context, bucket string, c NotificationConfiguration) error {
	if err := CheckNotifications(&c); err != nil {
		return err
	}
	if n := s.notify.notifier; n != nil {
		var bad []string
		for _, t := range c.Targets {
			if err := n.Exists(ctx, t.Kind, t.ARN); err != nil {
				bad = append(bad, t.ARN)
			}
		}
		if len(bad) > 0 {
			return errorf(KindInvalidArgument, "Unable to validate the following destination configurations: %s", strings.Join(bad, ", "))
		}
	}
	return s.putNotification(ctx, bucket, c)
}

// putNotification stores a checked configuration with the test events of
// its queues and topics.
func (s *Store) putNotification(ctx context.Context, bucket string, c NotificationConfiguration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(bucket); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if len(c.Targets) == 0 && !c.EventBridge {
		_ = b.Delete(notificationKey(bucket), nil)
	} else {
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		_ = b.Set(notificationKey(bucket), data, nil)
	}
	ri := requestInfo(ctx)
	now := s.cfg.Now().UTC()
	seq := s.notify.next(now)
	i := 0
	for _, t := range c.Targets {
		if t.Kind != TargetQueue && t.Kind != TargetTopic {
			continue
		}
		body, _ := json.Marshal(testEvent{Service: "Amazon S3", Event: "s3:TestEvent", Time: eventTime(now), Bucket: bucket, RequestID: ri.RequestID, HostID: ri.HostID})
		d, _ := json.Marshal(Delivery{Kind: t.Kind, ARN: t.ARN, Body: body, Bucket: bucket, Time: now})
		_ = b.Set(outboxKey(seq, i), d, nil)
		i++
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store notification configuration: %w", err)
	}
	s.notify.signal()
	return nil
}

// BucketNotification returns a bucket's notification configuration (empty
// when it has none).
func (s *Store) BucketNotification(_ context.Context, bucket string) (NotificationConfiguration, error) {
	if _, err := s.bucket(bucket); err != nil {
		return NotificationConfiguration{}, err
	}
	return s.notificationConfig(bucket)
}

func (s *Store) notificationConfig(bucket string) (NotificationConfiguration, error) {
	var c NotificationConfiguration
	v, closer, err := s.db.Get(notificationKey(bucket))
	if errors.Is(err, pebble.ErrNotFound) {
		return c, nil
	} else if err != nil {
		return c, fmt.Errorf("read notification configuration: %w", err)
	}
	defer closer.Close()
	if err := json.Unmarshal(v, &c); err != nil {
		return c, fmt.Errorf("read notification configuration: %w", err)
	}
	return c, nil
}

// objectEvent is what happened to one object.
type objectEvent struct {
	Name      string // EventPut, EventDelete, ...
	Key       string
	Size      int64
	ETag      string // quoted, as stored
	VersionID string
	Time      time.Time
	Lifecycle bool // done by the expiry sweeper, not a request
}

// recordEvent adds to b (the batch that commits the change) the
// notifications the event causes, so that an acknowledged write never loses
// them. The caller holds s.mu and signals the dispatcher after the commit.
func (s *Store) recordEvent(ctx context.Context, b *pebble.Batch, bucket string, ev objectEvent) error {
	c, err := s.notificationConfig(bucket)
	if err != nil {
		return err
	}
	if len(c.Targets) == 0 && !c.EventBridge {
		return nil
	}
	ri := requestInfo(ctx)
	if ev.Lifecycle {
		ri.PrincipalID, ri.SourceIP = "s3.amazonaws.com", "s3.amazonaws.com"
	}
	if ri.Event != "" && strings.HasPrefix(ev.Name, "ObjectCreated:") {
		ev.Name = ri.Event
	}
	seq := s.notify.next(ev.Time)
	sequencer := fmt.Sprintf("%016X", seq)
	i := 0
	add := func(d Delivery) error {
		data, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if err := b.Set(outboxKey(seq, i), data, nil); err != nil {
			return err
		}
		i++
		return nil
	}
	for _, t := range c.Targets {
		if !t.matches(ev.Name, ev.Key) {
			continue
		}
		body, err := json.Marshal(eventMessage{Records: []eventRecord{newRecord(&c, &t, bucket, ev, ri, sequencer)}})
		if err != nil {
			return err
		}
		if err := add(Delivery{Kind: t.Kind, ARN: t.ARN, Body: body, Bucket: bucket, Time: ev.Time}); err != nil {
			return err
		}
	}
	if c.EventBridge {
		detailType, detail := bridgeDetail(bucket, ev, ri, sequencer)
		body, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		if err := add(Delivery{Kind: TargetEventBridge, Body: body, DetailType: detailType, Bucket: bucket, Time: ev.Time}); err != nil {
			return err
		}
	}
	return nil
}

// The S3 event message (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
type eventMessage struct {
	Records []eventRecord `json:"Records"`
}

type principal struct {
	PrincipalID string `json:"principalId"`
}

type eventRecord struct {
	EventVersion      string    `json:"eventVersion"`
	EventSource       string    `json:"eventSource"`
	AWSRegion         string    `json:"awsRegion"`
	EventTime         string    `json:"eventTime"`
	EventName         string    `json:"eventName"`
	UserIdentity      principal `json:"userIdentity"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements struct {
		RequestID string `json:"x-amz-request-id"`
		ID2       string `json:"x-amz-id-2"`
	} `json:"responseElements"`
	S3 struct {
		SchemaVersion   string `json:"s3SchemaVersion"`
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name          string    `json:"name"`
			OwnerIdentity principal `json:"ownerIdentity"`
			ARN           string    `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      *int64 `json:"size,omitempty"`
			ETag      string `json:"eTag,omitempty"`
			VersionID string `json:"versionId,omitempty"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// testEvent is what S3 sends to queues and topics when a configuration is set.
type testEvent struct {
	Service   string `json:"Service"`
	Event     string `json:"Event"`
	Time      string `json:"Time"`
	Bucket    string `json:"Bucket"`
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
}

func eventTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// EncodeEventKey URL-encodes a key as S3 event records carry it: form
// encoding (a space is '+'), with '/' kept.
func EncodeEventKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

func newRecord(c *NotificationConfiguration, t *NotificationTarget, bucket string, ev objectEvent, ri RequestInfo, sequencer string) eventRecord {
	var r eventRecord
	r.EventVersion, r.EventSource, r.AWSRegion = "2.1", "aws:s3", c.region()
	r.EventTime, r.EventName = eventTime(ev.Time), ev.Name
	r.UserIdentity.PrincipalID = ri.PrincipalID
	r.RequestParameters.SourceIPAddress = ri.SourceIP
	r.ResponseElements.RequestID, r.ResponseElements.ID2 = ri.RequestID, ri.HostID
	r.S3.SchemaVersion, r.S3.ConfigurationID = "1.0", t.ID
	r.S3.Bucket.Name, r.S3.Bucket.OwnerIdentity.PrincipalID, r.S3.Bucket.ARN = bucket, "nimbus", "arn:aws:s3:::"+bucket
	o := &r.S3.Object
	o.Key, o.VersionID, o.Sequencer = EncodeEventKey(ev.Key), ev.VersionID, sequencer
	if strings.HasPrefix(ev.Name, "ObjectCreated:") {
		size := ev.Size
		o.Size, o.ETag = &size, strings.Trim(ev.ETag, `"`)
	}
	return r
}

// bridgeObject and bridgeDetail are the detail of the events S3 sends to
// EventBridge (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
type bridgeObject struct {
	Key       string `json:"key"`
	Size      *int64 `json:"size,omitempty"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"version-id,omitempty"`
	Sequencer string `json:"sequencer"`
}

type bridgeEvent struct {
	Version string `json:"version"`
	Bucket  struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object          bridgeObject `json:"object"`
	RequestID       string       `json:"request-id"`
	Requester       string       `json:"requester"`
	SourceIPAddress string       `json:"source-ip-address,omitempty"`
	Reason          string       `json:"reason"`
	DeletionType    string       `json:"deletion-type,omitempty"`
}

var bridgeReasons = map[string]string{
	EventPut: "PutObject", EventPost: "POST Object", EventCopy: "CopyObject", EventCompleteMultipart: "CompleteMultipartUpload",
	EventDelete: "DeleteObject", EventDeleteMarkerCreated: "DeleteObject", EventLifecycleDelete: "Lifecycle Expiration",
}

func bridgeDetail(bucket string, ev objectEvent, ri RequestInfo, sequencer string) (string, bridgeEvent) {
	d := bridgeEvent{Version: "0", RequestID: ri.RequestID, Requester: "000000000000", SourceIPAddress: ri.SourceIP, Reason: bridgeReasons[ev.Name]}
	d.Bucket.Name = bucket
	d.Object = bridgeObject{Key: ev.Key, VersionID: ev.VersionID, Sequencer: sequencer}
	if ev.Lifecycle {
		d.Requester, d.SourceIPAddress = "s3.amazonaws.com", ""
	}
	if strings.HasPrefix(ev.Name, "ObjectCreated:") {
		size := ev.Size
		d.Object.Size, d.Object.ETag = &size, strings.Trim(ev.ETag, `"`)
		return "Object Created", d
	}
	d.DeletionType = "Permanently Deleted"
	if ev.Name == EventDeleteMarkerCreated {
		d.DeletionType = "Delete Marker Created"
	}
	return "Object Deleted", d
}

// StartNotifications runs, until ctx ends, the dispatcher that hands
// recorded events to their destinations and the lifecycle sweeper; Close
// waits for them. Events recorded before a crash are delivered after the
// restart (at least once).
func (s *Store) StartNotifications(ctx context.Context) {
	n := s.notify
	n.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { wg.Wait(); close(n.done) }()
	go func() { defer wg.Done(); s.sweepLoop(ctx) }()
	go func() {
		defer wg.Done()
		d := dispatcher{s: s, retry: map[string]*retryState{}}
		for {
			wait := d.drain(ctx)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-n.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}()
}

func (n *notifyState) stop() {
	if n.done != nil {
		<-n.done
	}
}

// Delivery retries: growing delays, and an event older than maxEventAge is
// dropped (S3 gives up on a destination that stays unreachable too).
const (
	firstRetry    = time.Second
	maxRetryDelay = 5 * time.Minute
	maxEventAge   = 24 * time.Hour
	goneGrace     = time.Minute
	drainBatch    = 256
	deliverers    = 16
)

type retryState struct {
	attempts  int
	notBefore time.Time
}

type dispatcher struct {
	s     *Store
	retry map[string]*retryState // by outbox key
}

type pending struct {
	key []byte
	d   Delivery
}

// drain delivers what the outbox holds, in order, and returns how long to
// wait before the next pass when nothing wakes it.
func (d *dispatcher) drain(ctx context.Context) time.Duration {
	next := time.Minute
	n := d.s.notify.notifier
	if n == nil {
		return next
	}
	lower := []byte{prefixOutbox}
	for ctx.Err() == nil {
		batch, more, err := d.read(lower)
		if err != nil {
			d.s.log.Error("read notification outbox", "err", err)
			return firstRetry
		}
		if len(batch) == 0 {
			break
		}
		lower = append(append([]byte(nil), batch[len(batch)-1].key...), 0)
		now := time.Now()
		var work []pending
		for _, p := range batch {
			if r := d.retry[string(p.key)]; r != nil && now.Before(r.notBefore) {
				next = min(next, r.notBefore.Sub(now))
				continue
			}
			work = append(work, p)
		}
		errs := make([]error, len(work))
		var wg sync.WaitGroup
		sem := make(chan struct{}, deliverers)
		for i := range work {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = n.Deliver(ctx, work[i].d)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return next
		}
		done := d.s.db.NewBatch()
		for i, p := range work {
			err := errs[i]
			// A destination missing just after the event may be one the same
			// deploy creates a moment later: it is given a minute.
			gone := errors.Is(err, ErrTargetGone) && now.Sub(p.d.Time) > goneGrace
			if err != nil && !gone && now.Sub(p.d.Time) < maxEventAge {
				r := d.retry[string(p.key)]
				if r == nil {
					r = &retryState{}
					d.retry[string(p.key)] = r
				}
				r.attempts++
				delay := min(firstRetry<<min(r.attempts-1, 20), maxRetryDelay)
				r.notBefore = now.Add(delay)
				next = min(next, delay)
				d.s.log.Warn("object notification not delivered; will retry", "bucket", p.d.Bucket, "destination", p.d.ARN, "kind", p.d.Kind, "attempts", r.attempts, "err", err)
				continue
			}
			if err != nil {
				d.s.log.Warn("object notification dropped", "bucket", p.d.Bucket, "destination", p.d.ARN, "kind", p.d.Kind, "err", err)
			}
			delete(d.retry, string(p.key))
			_ = done.Delete(p.key, nil)
		}
		// A delete lost in a crash only delivers an event again (at least once).
		if err := done.Commit(pebble.NoSync); err != nil {
			d.s.log.Error("update notification outbox", "err", err)
		}
		_ = done.Close()
		if !more {
			break
		}
	}
	return next
}

// read returns up to drainBatch outbox entries from lower on.
func (d *dispatcher) read(lower []byte) ([]pending, bool, error) {
	it, err := d.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{prefixOutbox + 1}})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	var out []pending
	for it.First(); it.Valid(); it.Next() {
		if len(out) == drainBatch {
			return out, true, nil
		}
		p := pending{key: append([]byte(nil), it.Key()...)}
		if err := json.Unmarshal(it.Value(), &p.d); err != nil {
			d.s.log.Error("unreadable notification dropped", "err", err)
			_ = d.s.db.Delete(p.key, pebble.NoSync)
			continue
		}
		out = append(out, p)
	}
	return out, false, it.Error()
}
