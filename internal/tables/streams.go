package tables

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// Table streams. A change to an item of a table whose stream is enabled
// appends a record to the table's stream in the same Pebble batch as the
// item: no acknowledged write lacks its record and no record lacks its
// write. Records live under
//
//	's' table(4) seq(8) → record (JSON)
//
// Sequence numbers are per table, allocated under the item's lock (so the
// records of one key are in the order of its writes), and at least the
// allocation time in Unix nanoseconds: they keep increasing across restarts
// and trimming can find old records by their number. A stream has one shard.
//
// Batches commit concurrently, so a record may become visible before one
// with a lower number. Readers therefore see records only up to the
// stream's watermark: one below the lowest number allocated to a batch not
// yet committed or abandoned.

const prefixStream = 's'

// Stream view types.
const (
	ViewKeysOnly       = "KEYS_ONLY"
	ViewNewImage       = "NEW_IMAGE"
	ViewOldImage       = "OLD_IMAGE"
	ViewNewAndOldImage = "NEW_AND_OLD_IMAGES"
)

// DefaultStreamRetention is how long stream records are kept (DynamoDB: 24 h).
const DefaultStreamRetention = 24 * time.Hour

// StreamSpec is a table's StreamSpecification.
type StreamSpec struct {
	StreamEnabled  bool
	StreamViewType string `json:",omitempty"`
}

// StreamInfo is a table's stream as stored in its metadata.
type StreamInfo struct {
	Label    string
	ViewType string
	Enabled  bool
	// Start is the first sequence number the stream may hold.
	Start uint64
}

// StreamRecord is one change of an item.
type StreamRecord struct {
	Seq       uint64
	EventName string    // INSERT, MODIFY or REMOVE
	Created   time.Time `json:"-"`
	CreatedMs int64     `json:"T"`
	Keys      []byte    `json:"K"`           // encoded Item
	NewImage  []byte    `json:"N,omitempty"` // encoded Item
	OldImage  []byte    `json:"O,omitempty"` // encoded Item
	SizeBytes int       `json:"Z"`
	ViewType  string    `json:"V"`
	// TTL marks a deletion by the time to live sweeper (userIdentity
	// Service dynamodb.amazonaws.com).
	TTL bool `json:",omitempty"`
}

// Items decodes the record's keys and images (nil when absent).
func (r *StreamRecord) Items() (keys, newImage, oldImage Item, err error) {
	dec := func(b []byte) (Item, error) {
		if b == nil {
			return nil, nil
		}
		return decodeItem(b)
	}
	if keys, err = dec(r.Keys); err != nil {
		return
	}
	if newImage, err = dec(r.NewImage); err != nil {
		return
	}
	oldImage, err = dec(r.OldImage)
	return
}

// streamHub tracks the sequence numbers of uncommitted batches and wakes
// readers when records become visible.
type streamHub struct {
	mu      sync.Mutex
	batches map[*pebble.Batch]*batchStreams
	tables  map[uint32]*streamState
	// horizon: records numbered below it may have been trimmed.
	horizon uint64
}

type batchStreams struct {
	ttl  bool // the batch is a time to live deletion
	seqs []pendingSeq
}

type pendingSeq struct {
	st  *streamState
	seq uint64
}

// streamState is the live state of one table's stream.
type streamState struct {
	last    uint64   // the highest number allocated
	pending []uint64 // allocated to batches not yet done, ascending
	changed chan struct{}
}

func (st *streamState) watermark() uint64 {
	if len(st.pending) > 0 {
		return st.pending[0] - 1
	}
	return st.last
}

func (h *streamHub) state(id uint32) *streamState {
	if h.tables == nil {
		h.tables = map[uint32]*streamState{}
	}
	st := h.tables[id]
	if st == nil {
		st = &streamState{changed: make(chan struct{})}
		h.tables[id] = st
	}
	return st
}

// markTTL says the changes staged in b are deletions by the TTL sweeper.
func (s *Service) markTTL(b *pebble.Batch) {
	h := &s.streams
	h.mu.Lock()
	defer h.mu.Unlock()
	bs := h.batch(b)
	bs.ttl = true
}

func (h *streamHub) batch(b *pebble.Batch) *batchStreams {
	if h.batches == nil {
		h.batches = map[*pebble.Batch]*batchStreams{}
	}
	bs := h.batches[b]
	if bs == nil {
		bs = &batchStreams{}
		h.batches[b] = bs
	}
	return bs
}

// stageStream adds to b the stream record of a change from old to new of
// t's item, when t's stream is enabled and the item really changed.
func (s *Service) stageStream(b *pebble.Batch, t *Table, old, new Item) error {
	info := t.Stream
	if info == nil || !info.Enabled || (old == nil && new == nil) {
		return nil
	}
	if old != nil && new != nil && sameItem(old, new) {
		return nil // DynamoDB writes no record when nothing changed
	}
	now := time.Now()
	rec := StreamRecord{CreatedMs: now.UnixMilli(), ViewType: info.ViewType}
	var keySrc Item
	switch {
	case old == nil:
		rec.EventName, keySrc = "INSERT", new
	case new == nil:
		rec.EventName, keySrc = "REMOVE", old
	default:
		rec.EventName, keySrc = "MODIFY", new
	}
	keys := t.primaryKey(keySrc)
	var err error
	if rec.Keys, err = encodeItem(keys); err != nil {
		return err
	}
	rec.SizeBytes = keys.Size()
	if new != nil && (info.ViewType == ViewNewImage || info.ViewType == ViewNewAndOldImage) {
		if rec.NewImage, err = encodeItem(new); err != nil {
			return err
		}
		rec.SizeBytes += new.Size()
	}
	if old != nil && (info.ViewType == ViewOldImage || info.ViewType == ViewNewAndOldImage) {
		if rec.OldImage, err = encodeItem(old); err != nil {
			return err
		}
		rec.SizeBytes += old.Size()
	}
	h := &s.streams
	h.mu.Lock()
	defer h.mu.Unlock()
	bs := h.batch(b)
	rec.TTL = bs.ttl && new == nil
	st := h.state(t.ID)
	rec.Seq = max(st.last+1, uint64(now.UnixNano()), info.Start)
	st.last = rec.Seq
	st.pending = append(st.pending, rec.Seq)
	bs.seqs = append(bs.seqs, pendingSeq{st, rec.Seq})
	data, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	return b.Set(streamKey(t.ID, rec.Seq), data, nil)
}

// closeBatch closes b after its commit (or its abandonment) and lets
// readers see past the sequence numbers it held.
func (s *Service) closeBatch(b *pebble.Batch) {
	h := &s.streams
	h.mu.Lock()
	if bs := h.batches[b]; bs != nil {
		delete(h.batches, b)
		woken := map[*streamState]bool{}
		for _, p := range bs.seqs {
			if i, ok := slices.BinarySearch(p.st.pending, p.seq); ok {
				p.st.pending = slices.Delete(p.st.pending, i, i+1)
			}
			woken[p.st] = true
		}
		for st := range woken {
			close(st.changed)
			st.changed = make(chan struct{})
		}
	}
	h.mu.Unlock()
	_ = b.Close()
}

// sameItem reports whether two items hold the same attributes and values.
func sameItem(a, b Item) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.Equal(w) {
			return false
		}
	}
	return true
}

func streamKey(table uint32, seq uint64) []byte {
	k := make([]byte, 0, 13)
	k = append(k, prefixStream)
	k = binary.BigEndian.AppendUint32(k, table)
	return binary.BigEndian.AppendUint64(k, seq)
}

func streamPrefix(table uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixStream}, table)
}

// loadStreams finds the last sequence number of every table's stream, so
// numbers keep increasing after a restart.
func (s *Service) loadStreams() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := &s.streams
	h.mu.Lock()
	defer h.mu.Unlock()
	h.horizon = uint64(time.Now().Add(-s.retention()).UnixNano())
	for _, t := range s.tables {
		if t.Stream == nil {
			continue
		}
		prefix := streamPrefix(t.ID)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		st := h.state(t.ID)
		if it.Last() {
			st.last = binary.BigEndian.Uint64(it.Key()[5:])
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) retention() time.Duration {
	if s.cfg.StreamRetention > 0 {
		return s.cfg.StreamRetention
	}
	return DefaultStreamRetention
}

// TrimStreams deletes stream records older than the retention period.
func (s *Service) TrimStreams(ctx context.Context, now time.Time) error {
	cutoff := uint64(now.Add(-s.retention()).UnixNano())
	s.mu.RLock()
	var ids []uint32
	for _, t := range s.tables {
		if t.Stream != nil {
			ids = append(ids, t.ID)
		}
	}
	s.mu.RUnlock()
	s.streams.mu.Lock()
	s.streams.horizon = max(s.streams.horizon, cutoff)
	s.streams.mu.Unlock()
	for _, id := range ids {
		// A record's number is at least its creation time, so every record
		// numbered below the cutoff is older than the retention period.
		if err := s.db.DeleteRange(streamKey(id, 0), streamKey(id, cutoff), pebble.NoSync); err != nil {
			return fmt.Errorf("trim stream of table %d: %w", id, err)
		}
	}
	return nil
}

// newStream is the stream a table gets when its stream is enabled.
func newStream(spec *StreamSpec, manifest bool, now time.Time) *StreamInfo {
	label := now.UTC().Format("2006-01-02T15:04:05.000")
	if manifest {
		label = cfn.TableStreamLabel
	}
	return &StreamInfo{Label: label, ViewType: spec.StreamViewType, Enabled: true, Start: uint64(now.UnixNano())}
}

// checkStreamSpec validates a StreamSpecification as DynamoDB does.
func checkStreamSpec(spec *StreamSpec) error {
	if spec == nil {
		return nil
	}
	if !spec.StreamEnabled {
		if spec.StreamViewType != "" {
			return validationf("One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false")
		}
		return nil
	}
	switch spec.StreamViewType {
	case ViewKeysOnly, ViewNewImage, ViewOldImage, ViewNewAndOldImage:
		return nil
	case "":
		return validationf("One or more parameter values were invalid: StreamViewType is required when StreamEnabled is true")
	}
	return validationf("1 validation error detected: Value '%s' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]", spec.StreamViewType)
}

// StreamARN is the ARN of a table's stream ("" when it has none).
func (t *Table) StreamARN() string {
	if t.Stream == nil {
		return ""
	}
	return t.ARN + "/stream/" + t.Stream.Label
}

// setStream applies a StreamSpecification to t (the caller holds s.mu and
// stores the metadata). Enabling a disabled stream starts a new stream: the
// old one's records are dropped.
func (s *Service) setStream(t *Table, spec *StreamSpec, manifest bool) (changed bool, err error) {
	if err := checkStreamSpec(spec); err != nil {
		return false, err
	}
	cur := t.Stream
	enabled := cur != nil && cur.Enabled
	switch {
	case spec.StreamEnabled && enabled && cur.ViewType == spec.StreamViewType:
		return false, nil
	case spec.StreamEnabled && enabled:
		return false, validationf("Table already has an enabled stream: %s", t.StreamARN())
	case !spec.StreamEnabled && !enabled:
		return false, validationf("Table already has no enabled stream")
	case spec.StreamEnabled:
		if cur != nil {
			prefix := streamPrefix(t.ID)
			if err := s.db.DeleteRange(prefix, prefixEnd(prefix), pebble.Sync); err != nil {
				return false, err
			}
		}
		t.Stream = newStream(spec, manifest, time.Now())
	default:
		next := *cur
		next.Enabled = false
		t.Stream = &next
	}
	return true, nil
}

// UpdateStream enables or disables a table's stream (UpdateTable's
// StreamSpecification).
func (s *Service) UpdateStream(ctx context.Context, name string, spec StreamSpec) (*Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return nil, tableNotFound(name)
	}
	// Writers read t.Stream holding the table shared.
	t.live.Lock()
	defer t.live.Unlock()
	old := t.Stream
	changed, err := s.setStream(t, &spec, t.Service != "")
	if err != nil || !changed {
		return t, err
	}
	if err := s.saveMeta(t); err != nil {
		t.Stream = old
		return nil, err
	}
	return t, nil
}

// declaredStream applies a manifest's StreamSpecification (nil: none) to
// t; the caller holds s.mu and t.live and stores the metadata. A changed
// view type replaces the stream, as CloudFormation does.
func (s *Service) declaredStream(t *Table, spec *StreamSpec) error {
	enabled := t.Stream != nil && t.Stream.Enabled
	switch {
	case spec == nil || !spec.StreamEnabled:
		if enabled {
			_, err := s.setStream(t, &StreamSpec{}, true)
			return err
		}
		return nil
	case enabled && t.Stream.ViewType == spec.StreamViewType:
		return nil
	case enabled:
		if _, err := s.setStream(t, &StreamSpec{}, true); err != nil {
			return err
		}
	}
	_, err := s.setStream(t, spec, true)
	return err
}

// sameStream reports whether t's stream is what spec declares.
func sameStream(t *Table, spec *StreamSpec) bool {
	enabled := t.Stream != nil && t.Stream.Enabled
	if spec == nil || !spec.StreamEnabled {
		return !enabled
	}
	return enabled && t.Stream.ViewType == spec.StreamViewType
}

// Stream describes one stream for the Streams API.
type Stream struct {
	ARN      string
	Label    string
	Table    string
	ViewType string
	Enabled  bool
	Created  time.Time
	ShardID  string
	Start    uint64 // the first number the stream may hold
	FirstSeq uint64 // 0 when the stream holds no record
	LastSeq  uint64 // the last visible record's number (0: none)
}

// streamNotFound answers a stream ARN that names no stream.
func streamNotFound(arn string) error {
	return &Error{Kind: KindNotFound, Message: "Requested resource not found: Stream: " + arn + " not found"}
}

// ListStreams lists the streams of every table (of one, when table is set).
func (s *Service) ListStreams(ctx context.Context, table string) ([]Stream, error) {
	s.mu.RLock()
	var out []Stream
	for _, t := range s.tables {
		if t.Stream == nil || (table != "" && t.TableName != table) {
			continue
		}
		out = append(out, s.describeStream(t))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Stream) int { return strings.Compare(a.ARN, b.ARN) })
	return out, nil
}

func (s *Service) describeStream(t *Table) Stream {
	info := t.Stream
	return Stream{ARN: t.StreamARN(), Label: info.Label, Table: t.TableName, ViewType: info.ViewType, Enabled: info.Enabled,
		Created: time.Unix(0, int64(info.Start)), ShardID: fmt.Sprintf("shardId-%020d-%08x", info.Start/uint64(time.Millisecond), t.ID), Start: info.Start,
	}
}

// streamByARN finds the table whose current stream arn names.
func (s *Service) streamByARN(arn string) (*Table, Stream, error) {
	i := strings.Index(arn, "/stream/")
	j := strings.Index(arn, ":table/")
	if i < 0 || j < 0 || j > i {
		return nil, Stream{}, validationf("Invalid StreamArn")
	}
	name := arn[j+len(":table/") : i]
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[name]
	if t == nil || t.Stream == nil || t.StreamARN() != arn {
		return nil, Stream{}, streamNotFound(arn)
	}
	return t, s.describeStream(t), nil
}

// DescribeStream returns a stream with its first and last visible numbers.
func (s *Service) DescribeStream(ctx context.Context, arn string) (Stream, error) {
	t, st, err := s.streamByARN(arn)
	if err != nil {
		return st, err
	}
	prefix := streamPrefix(t.ID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return st, err
	}
	defer it.Close()
	if it.First() {
		st.FirstSeq = binary.BigEndian.Uint64(it.Key()[5:])
	}
	st.LastSeq = s.watermark(t.ID)
	if st.LastSeq < st.FirstSeq {
		st.LastSeq = 0
	}
	return st, it.Error()
}

func (s *Service) watermark(id uint32) uint64 {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	return s.streams.state(id).watermark()
}

// Errors of stream reads.
var (
	// ErrTrimmed: the position asked for is older than the retention period.
	ErrTrimmed = errors.New("trimmed")
)

// ReadStream returns up to limit records of the stream arn numbered after
// `after`, in order, and the position to read from next. ErrTrimmed
// says records after `after` may already be gone (trimHorizon false).
func (s *Service) ReadStream(ctx context.Context, arn string, after uint64, limit int, trimHorizon bool) ([]StreamRecord, uint64, error) {
	t, _, err := s.streamByARN(arn)
	if err != nil {
		return nil, after, err
	}
	s.streams.mu.Lock()
	horizon := s.streams.horizon
	visible := s.streams.state(t.ID).watermark()
	s.streams.mu.Unlock()
	if !trimHorizon && after+1 < horizon {
		return nil, after, ErrTrimmed
	}
	if visible <= after {
		return nil, after, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: streamKey(t.ID, after+1), UpperBound: streamKey(t.ID, visible+1)})
	if err != nil {
		return nil, after, err
	}
	defer it.Close()
	var out []StreamRecord
	size := 0
	for it.First(); it.Valid() && len(out) < limit && size < 1<<20; it.Next() {
		var rec StreamRecord
		if err := json.Unmarshal(it.Value(), &rec); err != nil {
			return nil, after, fmt.Errorf("read stream record: %w", err)
		}
		rec.Created = time.UnixMilli(rec.CreatedMs)
		size += len(it.Value())
		out = append(out, rec)
	}
	if len(out) > 0 {
		after = out[len(out)-1].Seq
	}
	return out, after, it.Error()
}

// StreamPosition is the number a reader starting at the stream's end
// (LATEST) reads after.
func (s *Service) StreamPosition(ctx context.Context, arn string) (uint64, error) {
	t, _, err := s.streamByARN(arn)
	if err != nil {
		return 0, err
	}
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	st := s.streams.state(t.ID)
	if len(st.pending) > 0 {
		return st.watermark(), nil
	}
	// Nothing is being written: every later record is numbered at least
	// now, so now is the position (and never one older than the trim
	// horizon, as the last record's number could be).
	return max(st.last, uint64(time.Now().UnixNano())-1), nil
}

// StreamChanged returns a channel closed when new records of arn's stream
// may have become visible.
func (s *Service) StreamChanged(arn string) (<-chan struct{}, error) {
	t, _, err := s.streamByARN(arn)
	if err != nil {
		return nil, err
	}
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	return s.streams.state(t.ID).changed, nil
}
