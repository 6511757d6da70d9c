// Package datastreams gives Kinesis data streams' semantics on JetStream:
// each data stream is a JetStream stream with one subject per shard, records
// are kept 24 hours (MaxAge), and a record's sequence number is its
// JetStream sequence, which increases within every shard. A partition key
// picks its shard by the MD5 hash ranges Kinesis uses, so one key's records
// stay in one shard, in order. The Kinesis wire protocol lives in
// internal/awsapi/kinesis.
package datastreams

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// Retention is how long records are kept (Kinesis' default, 24 hours).
const Retention = 24 * time.Hour

// MaxShards bounds a stream's shards on one node.
const MaxShards = 64

const (
	bucket     = "nimbus_datastreams"
	subjPrefix = "nimbus.kinesis."
)

// ErrorKind classifies errors; the edge maps them to Kinesis error codes.
type ErrorKind int

// Error kinds.
const (
	KindInvalidArgument ErrorKind = iota + 1 // InvalidArgumentException
	KindNotFound                             // ResourceNotFoundException
	KindInUse                                // ResourceInUseException
	KindLimitExceeded                        // LimitExceededException
)

// Error is a typed error of the data streams.
type Error struct {
	Kind    ErrorKind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(k ErrorKind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// IsKind reports whether err is an Error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// Stream is a data stream's metadata.
type Stream struct {
	Name    string
	ARN     string
	Shards  int
	Mode    string // PROVISIONED or ON_DEMAND
	Created time.Time
	// ID names the JetStream stream; never reused.
	ID string
	// Service is the service that declared it ("" when created by the API).
	Service string `json:",omitempty"`
}

// Record is one data record.
type Record struct {
	Seq          uint64
	Shard        int
	PartitionKey string
	Data         []byte
	Arrival      time.Time
}

// Service holds the data streams of a node.
type Service struct {
	store  *store.Store
	kv     jetstream.KeyValue
	region string
	log    *slog.Logger

	mu      sync.Mutex
	changed map[string]chan struct{} // by stream name
}

// Open opens the data streams' metadata.
func Open(ctx context.Context, st *store.Store, region string, log *slog.Logger) (*Service, error) {
	if region == "" {
		region = "us-east-1"
	}
	if log == nil {
		log = slog.Default()
	}
	kv, err := st.KeyValue(ctx, bucket, 1)
	if err != nil {
		return nil, err
	}
	return &Service{store: st, kv: kv, region: region, log: log, changed: map[string]chan struct{}{}}, nil
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// ShardID is Kinesis' name of shard i.
func ShardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// ParseShardID is the index of a shard id, or -1.
func ParseShardID(id string) int {
	if len(id) != 20 || id[:8] != "shardId-" {
		return -1
	}
	n, err := strconv.Atoi(id[8:])
	if err != nil {
		return -1
	}
	return n
}

// hashSpace is 2^128: partition keys hash (MD5) into [0, 2^128).
var hashSpace = new(big.Int).Lsh(big.NewInt(1), 128)

// HashRange is shard i's hash key range out of n shards, as Kinesis splits
// the space evenly.
func HashRange(i, n int) (start, end *big.Int) {
	per := new(big.Int).Div(hashSpace, big.NewInt(int64(n)))
	start = new(big.Int).Mul(per, big.NewInt(int64(i)))
	if i == n-1 {
		end = new(big.Int).Sub(hashSpace, big.NewInt(1))
	} else {
		end = new(big.Int).Sub(new(big.Int).Add(start, per), big.NewInt(1))
	}
	return start, end
}

// shardOf is the shard whose range holds the hash.
func shardOf(hash *big.Int, n int) int {
	for i := 0; i < n; i++ {
		if _, end := HashRange(i, n); hash.Cmp(end) <= 0 {
			return i
		}
	}
	return n - 1
}

// HashKey is the MD5 of a partition key as a 128-bit number.
func HashKey(partitionKey string) *big.Int {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:])
}

// Create makes a stream with n shards (mode ON_DEMAND: 4).
func (s *Service) Create(ctx context.Context, name string, shards int, mode, region, service string) (*Stream, error) {
	if !namePattern.MatchString(name) {
		return nil, errorf(KindInvalidArgument, "1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", name)
	}
	if mode == "" {
		mode = "PROVISIONED"
	}
	switch mode {
	case "ON_DEMAND":
		if shards == 0 {
			shards = 4
		}
	case "PROVISIONED":
		if shards == 0 {
			return nil, errorf(KindInvalidArgument, "ShardCount is required when the stream mode is PROVISIONED")
		}
	default:
		return nil, errorf(KindInvalidArgument, "1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]", mode)
	}
	if shards < 1 || shards > MaxShards {
		return nil, errorf(KindLimitExceeded, "ShardCount must be between 1 and %d on nimbus", MaxShards)
	}
	if region == "" {
		region = s.region
	}
	now := time.Now().UTC()
	st := &Stream{Name: name, ARN: StreamARN(region, name), Shards: shards, Mode: mode, Created: now,
		ID: "KINESIS_" + strconv.FormatInt(now.UnixNano(), 36), Service: service}
	meta, _ := json.Marshal(st)
	if _, err := s.kv.Create(ctx, name, meta); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, errorf(KindInUse, "Stream %s under account %s already exists.", name, appspec.AccountID)
		}
		return nil, fmt.Errorf("store stream %s: %w", name, err)
	}
	if _, err := s.store.Stream(ctx, jetstream.StreamConfig{Name: st.ID, Subjects: []string{subjPrefix + st.ID + ".>"}, MaxAge: Retention}); err != nil {
		_ = s.kv.Delete(ctx, name)
		return nil, err
	}
	return st, nil
}

// StreamARN is a data stream's ARN.
func StreamARN(region, name string) string {
	return cfn.DataStreamARN(region, appspec.AccountID, name)
}

// NameFromARN is the stream name in a stream ARN.
func NameFromARN(arn string) (string, bool) {
	const marker = ":stream/"
	for i := 0; i+len(marker) <= len(arn); i++ {
		if arn[i:i+len(marker)] == marker {
			return arn[i+len(marker):], true
		}
	}
	return "", false
}

// Get returns a stream's metadata.
func (s *Service) Get(ctx context.Context, name string) (*Stream, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, errorf(KindNotFound, "Stream %s under account %s not found.", name, appspec.AccountID)
	}
	if err != nil {
		return nil, err
	}
	var st Stream
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// List lists stream names in order.
func (s *Service) List(ctx context.Context) ([]string, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range keys.Keys() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Delete deletes a stream and its records.
func (s *Service) Delete(ctx context.Context, name string) error {
	st, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, name); err != nil {
		return err
	}
	if err := s.store.JS.DeleteStream(ctx, st.ID); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	s.notify(name)
	return nil
}

// Put appends records (partition key, data, optional explicit hash key)
// and returns each one's shard and sequence number, in order. A record is
// stored (JetStream acknowledged) before Put returns.
type PutEntry struct {
	PartitionKey    string
	Data            []byte
	ExplicitHashKey string
}

// PutResult is where one record went.
type PutResult struct {
	Shard int
	Seq   uint64
}

// Put stores records in a stream.
func (s *Service) Put(ctx context.Context, name string, entries []PutEntry) ([]PutResult, error) {
	st, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]PutResult, 0, len(entries))
	defer s.notify(name)
	for _, e := range entries {
		hash := HashKey(e.PartitionKey)
		if e.ExplicitHashKey != "" {
			h, ok := new(big.Int).SetString(e.ExplicitHashKey, 10)
			if !ok || h.Sign() < 0 || h.Cmp(hashSpace) >= 0 {
				return out, errorf(KindInvalidArgument, "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", e.ExplicitHashKey)
			}
			hash = h
		}
		shard := shardOf(hash, st.Shards)
		msg := &jetstreamMsg{subject: subjPrefix + st.ID + "." + strconv.Itoa(shard), key: e.PartitionKey, data: e.Data}
		ack, err := s.store.JS.PublishMsg(ctx, msg.nats())
		if err != nil {
			return out, fmt.Errorf("put record: %w", err)
		}
		out = append(out, PutResult{Shard: shard, Seq: ack.Sequence})
	}
	return out, nil
}

// Read returns up to limit records of a shard with sequence numbers after
// `after`, in order, and the last visible sequence number of the stream.
func (s *Service) Read(ctx context.Context, name string, shard int, after uint64, limit int) ([]Record, uint64, error) {
	st, err := s.Get(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	if shard < 0 || shard >= st.Shards {
		return nil, 0, errorf(KindNotFound, "Shard %s in stream %s under account %s does not exist", ShardID(shard), name, appspec.AccountID)
	}
	js, err := s.store.JS.Stream(ctx, st.ID)
	if err != nil {
		return nil, 0, err
	}
	info, err := js.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	subject := subjPrefix + st.ID + "." + strconv.Itoa(shard)
	var out []Record
	next := after + 1
	size := 0
	for len(out) < limit && size < 10<<20 && next <= info.State.LastSeq {
		m, err := js.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Record{Seq: m.Sequence, Shard: shard, PartitionKey: decodeKey(m.Header.Get(hKey)), Data: m.Data, Arrival: m.Time})
		size += len(m.Data)
		next = m.Sequence + 1
	}
	return out, info.State.LastSeq, nil
}

// FirstSeq is the first sequence number the stream still holds (records
// before it are trimmed).
func (s *Service) FirstSeq(ctx context.Context, name string) (uint64, error) {
	st, err := s.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	js, err := s.store.JS.Stream(ctx, st.ID)
	if err != nil {
		return 0, err
	}
	info, err := js.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.FirstSeq, nil
}

// SeqAt is the position before the first record at or after t.
func (s *Service) SeqAt(ctx context.Context, name string, t time.Time) (uint64, error) {
	st, err := s.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	js, err := s.store.JS.Stream(ctx, st.ID)
	if err != nil {
		return 0, err
	}
	info, err := js.Info(ctx)
	if err != nil {
		return 0, err
	}
	// Binary search on arrival times, which JetStream keeps in order.
	lo, hi := info.State.FirstSeq, info.State.LastSeq+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := js.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subjPrefix+st.ID+".>"))
		if err != nil || !m.Time.Before(t) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo - 1, nil
}

// Changed is closed when the stream may have new records.
func (s *Service) Changed(name string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.changed[name]
	if ch == nil {
		ch = make(chan struct{})
		s.changed[name] = ch
	}
	return ch
}

func (s *Service) notify(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.changed[name]; ch != nil {
		close(ch)
		delete(s.changed, name)
	}
}
