// Package queues gives SQS semantics on JetStream. Each queue is a
// work-queue stream with one durable pull consumer:
//
//   - a receive is a fetch; the consumer's ack wait is the visibility
//     timeout, and a per-receive or changed visibility is a NAK with delay;
//   - a receipt handle is the message's ack subject, DeleteMessage acks it
//     (and the work-queue stream then drops the message, fsync'd);
//   - the receive count is JetStream's delivery count, and a message received
//     more than the redrive policy's maxReceiveCount moves to the dead-letter
//     queue instead of being returned;
//   - delayed messages wait in a separate stream, held back with NAK-with-delay,
//     and are moved into their queue when due;
//   - FIFO deduplication is JetStream's Nats-Msg-Id window (5 minutes).
//
// Queue configurations live in a KV bucket.
package queues

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// Limits and defaults from SQS.
const (
	DefaultVisibilityTimeout = 30
	MaxVisibilityTimeout     = 43200
	DefaultRetention         = 345600
	MinRetention             = 60
	MaxRetention             = 1209600
	MaxDelaySeconds          = 900
	MaxWaitSeconds           = 20
	DefaultMaxMessageSize    = 262144
	MaxMessageSizeLimit      = 1048576
	MinMessageSize           = 1024
	MaxBatchEntries          = 10
	DedupWindow              = 5 * time.Minute
	MaxReceiveCountLimit     = 1000
)

// Kind is the SQS error a failure maps to.
type Kind string

// Error kinds, named after SQS's error codes.
const (
	QueueDoesNotExist         Kind = "AWS.SimpleQueueService.NonExistentQueue"
	QueueNameExists           Kind = "QueueAlreadyExists"
	InvalidAttributeName      Kind = "InvalidAttributeName"
	InvalidAttributeValue     Kind = "InvalidAttributeValue"
	InvalidParameterValue     Kind = "InvalidParameterValue"
	MissingParameter          Kind = "MissingParameter"
	ReceiptHandleIsInvalid    Kind = "ReceiptHandleIsInvalid"
	InvalidMessageContents    Kind = "InvalidMessageContents"
	BatchEntryIdsNotDistinct  Kind = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
	EmptyBatchRequest         Kind = "AWS.SimpleQueueService.EmptyBatchRequest"
	TooManyEntriesInBatch     Kind = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
	InvalidBatchEntryID       Kind = "AWS.SimpleQueueService.InvalidBatchEntryId"
	BatchRequestTooLong       Kind = "AWS.SimpleQueueService.BatchRequestTooLong"
	MessageNotInflight        Kind = "AWS.SimpleQueueService.MessageNotInflight"
	UnsupportedOperation      Kind = "AWS.SimpleQueueService.UnsupportedOperation"
	InvalidQueueAttributeName Kind = InvalidAttributeName
)

// Error is a refused request.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Redrive is a queue's RedrivePolicy.
type Redrive struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// Config is a queue's stored configuration.
type Config struct {
	Name                      string            `json:"name"`
	FIFO                      bool              `json:"fifo"`
	ContentBasedDeduplication bool              `json:"contentBasedDeduplication"`
	VisibilityTimeout         int               `json:"visibilityTimeout"`
	MessageRetentionPeriod    int               `json:"messageRetentionPeriod"`
	DelaySeconds              int               `json:"delaySeconds"`
	ReceiveWaitTimeSeconds    int               `json:"receiveMessageWaitTimeSeconds"`
	MaximumMessageSize        int               `json:"maximumMessageSize"`
	Redrive                   *Redrive          `json:"redrive,omitempty"`
	Policy                    string            `json:"policy,omitempty"`
	Created                   int64             `json:"created"`
	Modified                  int64             `json:"modified"`
	Tags                      map[string]string `json:"tags,omitempty"`
	// Region is the region of the service that declared the queue (its ARN
	// carries it); empty means the platform's.
	Region string `json:"region,omitempty"`
}

// ServiceConfig sets up the service.
type ServiceConfig struct {
	Store  *store.Store
	Region string // default us-east-1
	Logger *slog.Logger
}

// Service runs every queue of the node.
type Service struct {
	cfg ServiceConfig
	js  jetstream.JetStream
	nc  *nats.Conn
	kv  jetstream.KeyValue
	vis jetstream.KeyValue // visibility changes by queue and message: "dseq deadline"
	log *slog.Logger

	mu     sync.Mutex
	queues map[string]*queue // opened queues by name
	wg     sync.WaitGroup
}

type queue struct {
	cfg    Config
	stream string
	cons   jetstream.Consumer
	// delivered is the highest stream sequence known to have been delivered
	// by the consumer (on any node): a receipt above it names a delivery
	// that never happened.
	delivered atomic.Uint64
	// unreceived counts, by stream sequence, deliveries that a trigger's
	// poller released without handing them out (see Release).
	unreceived uncounted
	// stored is when this node last stored a message in the queue (unix
	// nanoseconds); see receiveOnce.
	stored atomic.Int64
}

// sawDelivery records that the message at stream sequence sseq was delivered.
func (q *queue) sawDelivery(sseq uint64) {
	for {
		old := q.delivered.Load()
		if sseq <= old || q.delivered.CompareAndSwap(old, sseq) {
			return
		}
	}
}

const (
	bucket      = "nimbus_queues"
	visBucket   = "nimbus_sqs_visibility"
	delayStream = "NIMBUS_SQS_DELAY"
	delayPrefix = "nimbus.sqsdelay."
	subjPrefix  = "nimbus.sqs."
	consName    = "sqs"

	hID        = "Sqs-Id"
	hSent      = "Sqs-Sent"
	hNotBefore = "Sqs-Not-Before"
	hGroup     = "Sqs-Group"
	hDedup     = "Sqs-Dedup"
	hAttrs     = "Sqs-Attrs"
	hSysAttrs  = "Sqs-Sys-Attrs"
	hMD5Attrs  = "Sqs-Md5-Attrs"
	hSeqNumber = "Sqs-Seq"
	hQueue     = "Sqs-Queue"
	hFirstRecv = "Sqs-First-Receive"
)

// New opens the queue bucket and the delay stream.
func New(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	kv, err := cfg.Store.KeyValue(ctx, bucket, 1)
	if err != nil {
		return nil, err
	}
	if _, err := cfg.Store.Stream(ctx, jetstream.StreamConfig{
		Name: delayStream, Subjects: []string{delayPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		Duplicates: DedupWindow,
	}); err != nil {
		return nil, err
	}
	vis, err := cfg.Store.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: visBucket, Storage: jetstream.FileStorage, Replicas: max(cfg.Store.Replicas(), 1),
		// A change outlives no receive: visibility is at most 12 hours.
		TTL: time.Duration(MaxVisibilityTimeout)*time.Second + time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", visBucket, err)
	}
	return &Service{cfg: cfg, js: cfg.Store.JS, nc: cfg.Store.NC, kv: kv, vis: vis, log: cfg.Logger, queues: map[string]*queue{}}, nil
}

// Start moves due delayed messages into their queues until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, delayStream, jetstream.ConsumerConfig{
		Durable: "mover", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1,
		MaxAckPending: 100000,
	})
	if err != nil {
		return fmt.Errorf("delay consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { s.moveDelayed(ctx, m) })
	if err != nil {
		return fmt.Errorf("delay consumer: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		cc.Stop()
	}()
	return nil
}

func (s *Service) moveDelayed(ctx context.Context, m jetstream.Msg) {
	h := m.Headers()
	nb, _ := strconv.ParseInt(h.Get(hNotBefore), 10, 64)
	if wait := time.Until(time.UnixMilli(nb)); wait > 0 {
		_ = m.NakWithDelay(wait)
		return
	}
	q, err := s.open(ctx, h.Get(hQueue))
	if err != nil {
		var qe *Error
		if errors.As(err, &qe) && qe.Kind == QueueDoesNotExist {
			_ = m.Term()
			return
		}
		_ = m.NakWithDelay(time.Second)
		return
	}
	out := nats.NewMsg(subjPrefix + token(q.cfg.Name))
	out.Data = m.Data()
	for k, v := range h {
		if k != hNotBefore && k != hQueue && k != nats.MsgIdHdr {
			out.Header[k] = v
		}
	}
	if _, err := s.js.PublishMsg(ctx, out); err != nil {
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}

// token is a queue name as a stream-name and subject token ("." is not allowed).
func token(name string) string { return strings.ReplaceAll(name, ".", "=") }

func streamOf(name string) string { return "SQS_" + token(name) }

var queueNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,80}$`)

// ValidName checks a queue name (FIFO names end in .fifo).
func ValidName(name string, fifo bool) error {
	base := name
	if fifo {
		if !strings.HasSuffix(name, ".fifo") {
			return errorf(InvalidParameterValue, "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
		}
		base = strings.TrimSuffix(name, ".fifo")
		if len(name) > 80 {
			base = name
		}
	}
	if !queueNameRE.MatchString(base) || len(name) > 80 {
		return errorf(InvalidParameterValue, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	return nil
}

// ARN of a queue, in the region it was declared in.
func (s *Service) ARN(name string) string {
	return cfn.QueueARN(s.region(name), appspec.AccountID, name)
}

// ConfigARN is the ARN of a queue whose configuration is at hand.
func (s *Service) ConfigARN(c Config) string {
	region := c.Region
	if region == "" {
		region = s.cfg.Region
	}
	return cfn.QueueARN(region, appspec.AccountID, c.Name)
}

// region is the region of an opened queue, else the platform's.
func (s *Service) region(name string) string {
	s.mu.Lock()
	q := s.queues[name]
	s.mu.Unlock()
	if q != nil && q.cfg.Region != "" {
		return q.cfg.Region
	}
	return s.cfg.Region
}

// NameFromARN returns the queue name of an SQS ARN.
func NameFromARN(arn string) (string, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" {
		return "", false
	}
	return parts[5], true
}

// settable attributes and their checks.
func applyAttribute(c *Config, name, value string) error {
	num := func(lo, hi int) (int, error) {
		n, err := strconv.Atoi(value)
		if err != nil || n < lo || n > hi {
			return 0, errorf(InvalidAttributeValue, "Invalid value for the parameter %s.", name)
		}
		return n, nil
	}
	var err error
	switch name {
	case "VisibilityTimeout":
		c.VisibilityTimeout, err = num(0, MaxVisibilityTimeout)
	case "MessageRetentionPeriod":
		c.MessageRetentionPeriod, err = num(MinRetention, MaxRetention)
	case "DelaySeconds":
		c.DelaySeconds, err = num(0, MaxDelaySeconds)
	case "ReceiveMessageWaitTimeSeconds":
		c.ReceiveWaitTimeSeconds, err = num(0, MaxWaitSeconds)
	case "MaximumMessageSize":
		c.MaximumMessageSize, err = num(MinMessageSize, MaxMessageSizeLimit)
	case "Policy":
		c.Policy = value
	case "RedrivePolicy":
		if value == "" {
			c.Redrive = nil
			return nil
		}
		var raw map[string]any
		if json.Unmarshal([]byte(value), &raw) != nil {
			return errorf(InvalidAttributeValue, "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.")
		}
		r := &Redrive{}
		arn, _ := raw["deadLetterTargetArn"].(string)
		r.DeadLetterTargetArn = arn
		switch v := raw["maxReceiveCount"].(type) {
		case float64:
			r.MaxReceiveCount = int(v)
		case string:
			r.MaxReceiveCount, _ = strconv.Atoi(v)
		}
		if _, ok := NameFromARN(arn); !ok {
			return errorf(InvalidAttributeValue, "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn.", value)
		}
		if r.MaxReceiveCount < 1 || r.MaxReceiveCount > MaxReceiveCountLimit {
			return errorf(InvalidAttributeValue, "Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %v, valid values are from 1 to 1000 both inclusive.", value, raw["maxReceiveCount"])
		}
		c.Redrive = r
	case "ContentBasedDeduplication":
		if !c.FIFO {
			return errorf(InvalidAttributeName, "Unknown Attribute ContentBasedDeduplication.")
		}
		c.ContentBasedDeduplication = value == "true"
		if value != "true" && value != "false" {
			return errorf(InvalidAttributeValue, "Invalid value for the parameter ContentBasedDeduplication.")
		}
	case "FifoQueue":
		if value != "true" && value != "false" {
			return errorf(InvalidAttributeValue, "Invalid value for the parameter FifoQueue.")
		}
		if (value == "true") != c.FIFO {
			return errorf(InvalidAttributeValue, "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
		}
	case "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "DeduplicationScope", "FifoThroughputLimit", "RedriveAllowPolicy":
		// accepted, no effect
	default:
		return errorf(InvalidAttributeName, "Unknown Attribute %s.", name)
	}
	return err
}

func defaultConfig(name string, fifo bool) Config {
	now := time.Now().Unix()
	return Config{
		Name: name, FIFO: fifo, VisibilityTimeout: DefaultVisibilityTimeout, MessageRetentionPeriod: DefaultRetention,
		MaximumMessageSize: DefaultMaxMessageSize, Created: now, Modified: now,
	}
}

// BuildConfig checks a name and attributes and returns the configuration
// they describe, changing nothing.
func BuildConfig(name string, attrs map[string]string) (Config, error) {
	fifo := attrs["FifoQueue"] == "true"
	if v, ok := attrs["FifoQueue"]; ok && v != "true" && v != "false" {
		return Config{}, errorf(InvalidAttributeValue, "Invalid value for the parameter FifoQueue.")
	}
	if !fifo && strings.HasSuffix(name, ".fifo") {
		return Config{}, errorf(InvalidParameterValue, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if err := ValidName(name, fifo); err != nil {
		return Config{}, err
	}
	c := defaultConfig(name, fifo)
	for _, k := range sortedKeys(attrs) {
		if err := applyAttribute(&c, k, attrs[k]); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameAttributes reports whether an existing queue matches a create request.
func sameAttributes(a, b Config) bool {
	a.Created, a.Modified, b.Created, b.Modified = 0, 0, 0, 0
	a.Tags, b.Tags = nil, nil
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Create makes a queue (idempotent when the attributes are the same).
func (s *Service) Create(ctx context.Context, name string, attrs map[string]string, tags map[string]string) (Config, error) {
	c, err := BuildConfig(name, attrs)
	if err != nil {
		return Config{}, err
	}
	c.Tags = tags
	return s.put(ctx, c, true)
}

func (s *Service) put(ctx context.Context, c Config, create bool) (Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, err := s.kv.Get(ctx, c.Name); err == nil {
		var old Config
		if json.Unmarshal(e.Value(), &old) == nil && create {
			if !sameAttributes(old, c) {
				return Config{}, errorf(QueueNameExists, "A queue already exists with the same name and a different value for attribute(s)")
			}
			return old, s.ensure(ctx, old)
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return Config{}, fmt.Errorf("read queue %s: %w", c.Name, err)
	}
	if err := s.ensure(ctx, c); err != nil {
		return Config{}, err
	}
	data, _ := json.Marshal(c)
	if _, err := s.kv.Put(ctx, c.Name, data); err != nil {
		return Config{}, fmt.Errorf("store queue %s: %w", c.Name, err)
	}
	delete(s.queues, c.Name)
	return c, nil
}

// ensure creates or updates the queue's stream and consumer.
func (s *Service) ensure(ctx context.Context, c Config) error {
	st := streamOf(c.Name)
	cfg := jetstream.StreamConfig{
		Name:      st,
		Subjects:  []string{subjPrefix + token(c.Name)},
		Retention: jetstream.WorkQueuePolicy,
		MaxAge:    time.Duration(c.MessageRetentionPeriod) * time.Second,
	}
	if c.FIFO {
		cfg.Duplicates = DedupWindow
	}
	if _, err := s.cfg.Store.Stream(ctx, cfg); err != nil {
		return err
	}
	maxPending := 120000
	if c.FIFO {
		maxPending = fifoMaxPending
	}
	_, err := s.js.CreateOrUpdateConsumer(ctx, st, jetstream.ConsumerConfig{
		Durable:       consName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       visibility(c.VisibilityTimeout),
		MaxDeliver:    -1,
		MaxAckPending: maxPending,
		MaxWaiting:    4096,
	})
	if err != nil {
		return fmt.Errorf("queue %s consumer: %w", c.Name, err)
	}
	return nil
}

// fifoMaxPending: a FIFO queue's consumer hands out one message at a time
// and the next only when it is deleted, moved to the dead-letter queue, or
// visible again (then it is the one redelivered). JetStream enforces this, on
// every node, so no later message of a group is ever received while an
// earlier one is in flight. The price: groups are not received in parallel,
// and a receive returns one message of a FIFO queue.
const fifoMaxPending = 1

// visibility converts seconds to an ack wait; zero means "visible at once",
// which JetStream expresses as a very short wait.
func visibility(sec int) time.Duration {
	if sec <= 0 {
		return 10 * time.Millisecond
	}
	return time.Duration(sec) * time.Second
}

// open returns a queue by name.
func (s *Service) open(ctx context.Context, name string) (*queue, error) {
	s.mu.Lock()
	q := s.queues[name]
	s.mu.Unlock()
	if q != nil {
		return q, nil
	}
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, errorf(QueueDoesNotExist, "The specified queue does not exist.")
	}
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", name, err)
	}
	var c Config
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return nil, fmt.Errorf("queue %s is unreadable: %w", name, err)
	}
	cons, err := s.js.Consumer(ctx, streamOf(name), consName)
	if err == nil && c.FIFO && cons.CachedInfo().Config.MaxAckPending != fifoMaxPending {
		err = errors.New("FIFO consumer of an earlier version")
	}
	if err != nil {
		if err := s.ensure(ctx, c); err != nil {
			return nil, err
		}
		if cons, err = s.js.Consumer(ctx, streamOf(name), consName); err != nil {
			return nil, fmt.Errorf("queue %s consumer: %w", name, err)
		}
	}
	q = &queue{cfg: c, stream: streamOf(name), cons: cons}
	s.mu.Lock()
	if cur := s.queues[name]; cur != nil {
		q = cur
	} else {
		s.queues[name] = q
	}
	s.mu.Unlock()
	return q, nil
}

// Get returns a queue's configuration.
func (s *Service) Get(ctx context.Context, name string) (Config, error) {
	q, err := s.open(ctx, name)
	if err != nil {
		return Config{}, err
	}
	return q.cfg, nil
}

// List returns queue names with the prefix, sorted.
func (s *Service) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range keys.Keys() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Delete removes a queue and its messages.
func (s *Service) Delete(ctx context.Context, name string) error {
	if _, err := s.open(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete queue %s: %w", name, err)
	}
	delete(s.queues, name)
	if err := s.js.DeleteStream(ctx, streamOf(name)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete queue %s: %w", name, err)
	}
	return nil
}

// SetAttributes changes a queue's attributes (all or nothing).
func (s *Service) SetAttributes(ctx context.Context, name string, attrs map[string]string) error {
	q, err := s.open(ctx, name)
	if err != nil {
		return err
	}
	c := q.cfg
	for _, k := range sortedKeys(attrs) {
		if err := applyAttribute(&c, k, attrs[k]); err != nil {
			return err
		}
	}
	c.Modified = time.Now().Unix()
	_, err = s.put(ctx, c, false)
	return err
}

// Purge deletes every message of a queue.
func (s *Service) Purge(ctx context.Context, name string) error {
	q, err := s.open(ctx, name)
	if err != nil {
		return err
	}
	st, err := s.js.Stream(ctx, q.stream)
	if err != nil {
		return err
	}
	return st.Purge(ctx)
}

// Counts are a queue's approximate message numbers.
type Counts struct {
	Visible, InFlight, Delayed int64
}

// Count returns the queue's approximate message counts.
func (s *Service) Count(ctx context.Context, name string) (Counts, error) {
	q, err := s.open(ctx, name)
	if err != nil {
		return Counts{}, err
	}
	info, err := q.cons.Info(ctx)
	if err != nil {
		return Counts{}, err
	}
	c := Counts{Visible: int64(info.NumPending) + int64(info.NumRedelivered), InFlight: int64(info.NumAckPending) - int64(info.NumRedelivered)}
	if c.InFlight < 0 {
		c.InFlight = 0
	}
	if ds, err := s.js.Stream(ctx, delayStream); err == nil {
		if inf, err := ds.Info(ctx, jetstream.WithSubjectFilter(delayPrefix+token(name))); err == nil {
			for _, n := range inf.State.Subjects {
				c.Delayed += int64(n)
			}
		}
	}
	return c, nil
}

// A receipt handle names one delivery of a message: the queue, JetStream's
// ack subject of that delivery (stream sequence, delivery sequence) and the
// visibility deadline the receive set (unix milliseconds).
type handle struct {
	reply    string
	sseq     uint64 // stream sequence: the message
	dseq     uint64 // consumer delivery sequence: this receive of it
	deadline int64  // unix ms; 0 when unknown
}

// encodeHandle makes a receipt handle from the queue name, ack subject and
// visibility deadline.
func encodeHandle(queue, reply string, deadline time.Time) string {
	return base64.RawURLEncoding.EncodeToString([]byte(queue + "\n" + reply + "\n" + strconv.FormatInt(deadline.UnixMilli(), 10)))
}

func invalidHandle(h string) error {
	return errorf(ReceiptHandleIsInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", h)
}

func decodeHandle(queue, h string) (handle, error) {
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return handle{}, invalidHandle(h)
	}
	parts := strings.Split(string(raw), "\n")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != queue {
		return handle{}, invalidHandle(h)
	}
	out := handle{reply: parts[1]}
	if len(parts) == 3 {
		if out.deadline, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
			return handle{}, invalidHandle(h)
		}
	}
	// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>, or
	// the v2 form with domain and account hash after ACK (and a token more).
	tok := strings.Split(out.reply, ".")
	var rest []string
	switch {
	case len(tok) == 9:
		rest = tok[2:]
	case len(tok) >= 11:
		rest = tok[4:]
	default:
		return handle{}, invalidHandle(h)
	}
	if tok[0] != "$JS" || tok[1] != "ACK" || rest[0] != streamOf(queue) || rest[1] != consName {
		return handle{}, invalidHandle(h)
	}
	for _, t := range rest[2:7] {
		if _, err := strconv.ParseUint(t, 10, 64); err != nil {
			return handle{}, invalidHandle(h)
		}
	}
	out.sseq, _ = strconv.ParseUint(rest[3], 10, 64)
	out.dseq, _ = strconv.ParseUint(rest[4], 10, 64)
	return out, nil
}

// CheckHandle validates a receipt handle for a queue without using it.
func (s *Service) CheckHandle(queue, handle string) error {
	_, err := decodeHandle(queue, handle)
	return err
}

// DeleteMessage deletes a received message; it is gone (on disk) when this returns.
func (s *Service) DeleteMessage(ctx context.Context, queue, handle string) error {
	q, err := s.open(ctx, queue)
	if err != nil {
		return err
	}
	h, err := decodeHandle(queue, handle)
	if err != nil {
		return err
	}
	// JetStream does not answer an ack of a delivery that never happened
	// (it would wait for the timeout below): refuse such a handle at once.
	if h.sseq > q.delivered.Load() {
		info, err := q.cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("delete message: %w", err)
		}
		q.sawDelivery(info.Delivered.Stream)
		if h.sseq > q.delivered.Load() {
			return invalidHandle(handle)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.nc.RequestWithContext(rctx, h.reply, []byte("+ACK")); err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	q.unreceived.forget(h.sseq)
	return nil
}

// visibilityMargin is how close to its deadline a receipt counts as expired:
// JetStream may redeliver the message at the deadline, and a change sent on
// an expired receipt must never touch the next receive of the message.
const visibilityMargin = 250 * time.Millisecond

func visKey(queue string, sseq uint64) string {
	return token(queue) + "." + strconv.FormatUint(sseq, 10)
}

// ChangeVisibility makes a received message visible again after seconds.
// Like SQS, a receipt whose visibility timeout has passed (or that a later
// receive of the message replaced) changes nothing and is not an error; a
// message that was deleted is InvalidParameterValue.
func (s *Service) ChangeVisibility(ctx context.Context, queue, handle string, seconds int) error {
	q, err := s.open(ctx, queue)
	if err != nil {
		return err
	}
	if seconds < 0 || seconds > MaxVisibilityTimeout {
		return errorf(InvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", seconds)
	}
	h, err := decodeHandle(queue, handle)
	if err != nil {
		return err
	}
	st, err := s.js.Stream(ctx, q.stream)
	if err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	if _, err := st.GetMsg(ctx, h.sseq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return errorf(InvalidParameterValue, "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
		}
		return fmt.Errorf("change visibility: %w", err)
	}
	// The latest change of this delivery's visibility overrides the deadline
	// the receive put in the handle; a later delivery makes the handle stale.
	deadline := h.deadline
	key := visKey(queue, h.sseq)
	if e, err := s.vis.Get(ctx, key); err == nil {
		var dseq uint64
		var dl int64
		if _, err := fmt.Sscanf(string(e.Value()), "%d %d", &dseq, &dl); err == nil {
			switch {
			case dseq > h.dseq:
				return nil // a later receive holds the message
			case dseq == h.dseq:
				deadline = dl
			}
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("change visibility: %w", err)
	}
	now := time.Now()
	if deadline == 0 || !now.Add(visibilityMargin).Before(time.UnixMilli(deadline)) {
		return nil // expired: the message is (or will be) visible to others already
	}
	next := now.Add(time.Duration(seconds) * time.Second)
	if _, err := s.vis.Put(ctx, key, fmt.Appendf(nil, "%d %d", h.dseq, next.UnixMilli())); err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	body := []byte("-NAK")
	if seconds > 0 {
		body = fmt.Appendf(nil, "-NAK {\"delay\": %d}", (time.Duration(seconds) * time.Second).Nanoseconds())
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.nc.RequestWithContext(rctx, h.reply, body); err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	return nil
}

// Sink sends body to the queue named by an SQS ARN, with string attributes
// (async destinations and dead-letter targets use it).
func (s *Service) Sink(ctx context.Context, arn string, body []byte, attrs map[string]string) error {
	name, ok := NameFromARN(arn)
	if !ok {
		return errorf(InvalidParameterValue, "%s is not an SQS queue ARN", arn)
	}
	in := &SendInput{Body: string(body)}
	if len(attrs) > 0 {
		in.Attributes = map[string]Attribute{}
		for k, v := range attrs {
			in.Attributes[k] = Attribute{DataType: "String", StringValue: &v}
		}
	}
	if c, err := s.Get(ctx, name); err == nil && c.FIFO {
		in.GroupID = "default"
		if !c.ContentBasedDeduplication {
			in.DedupID = uuid.NewString()
		}
	}
	_, err := s.Send(ctx, name, in)
	return err
}
