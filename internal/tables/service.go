// Package tables is the core of nimbus's tables: DynamoDB's data model
// (tables, items, secondary indexes, expressions) on an embedded ordered
// key-value engine (Pebble), with every acknowledged write synced to disk.
// It speaks plain Go types; the DynamoDB wire protocol lives in
// internal/awsapi/dynamodb.
package tables

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/pebblewal"
)

// Config configures the tables service.
type Config struct {
	Dir    string // the engine's directory, <data>/tables
	Region string // for ARNs; default us-east-1
	Logger *slog.Logger
	// TTLInterval is how often expired items are swept; default 30 s.
	TTLInterval time.Duration
	// StreamRetention is how long stream records are kept; default 24 h.
	StreamRetention time.Duration
}

// Service holds every table of a node.
type Service struct {
	cfg Config
	db  *pebble.DB
	log *slog.Logger

	mu     sync.RWMutex // guards tables and nextID; held for metadata writes
	tables map[string]*Table
	nextID uint32

	// stripes serialise read-check-write per item: an item's writers take
	// the stripe its key hashes to.
	stripes [1024]sync.Mutex

	streams streamHub // table streams' uncommitted numbers and readers

	stopTTL context.CancelFunc
	ttlDone chan struct{}

	// bgCtx and bg own the index backfills (Close stops and waits).
	bgCtx  context.Context
	bgStop context.CancelFunc
	bg     sync.WaitGroup
}

// Open opens (or creates) the tables under cfg.Dir.
func Open(cfg Config) (*Service, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	db, err := pebble.Open(cfg.Dir, engineOptions(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("open tables storage: %w%s", err, pebblewal.Damaged(err, cfg.Dir))
	}
	s := &Service{cfg: cfg, db: db, log: cfg.Logger, tables: map[string]*Table{}, nextID: 1}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadStreams(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if cfg.TTLInterval <= 0 {
		cfg.TTLInterval = 30 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stopTTL, s.ttlDone = stop, make(chan struct{})
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	s.resumeBackfills()
	go func() {
		defer close(s.ttlDone)
		s.runTTL(ctx, cfg.TTLInterval)
	}()
	return s, nil
}

// Engine sizes. Pebble's defaults (8 MB block cache, 4 MB memtables) suit
// many small embedded stores; tables are one store per node holding every
// table, and with them a GetItem of a 10,000-item table read its index and
// data blocks from the file system and decompressed them on most calls.
const (
	engineCacheSize    = 64 << 20
	engineMemTableSize = 32 << 20 // memtables start at 256 KB and double up to this
)

// engineOptions are the Pebble options of the tables store. Bloom filters on
// every level let a point read of a missing item (every PutItem reads the
// item it replaces) skip the sstables that cannot hold it.
func engineOptions(log *slog.Logger) *pebble.Options {
	o := &pebble.Options{Logger: pebbleLogger{log}, CacheSize: engineCacheSize, MemTableSize: engineMemTableSize,
		FS: pebblewal.FS(vfs.Default), FormatMajorVersion: pebblewal.Format}
	o.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	return o
}

// Close stops the TTL sweeper and closes the engine.
func (s *Service) Close() error {
	s.stopTTL()
	<-s.ttlDone
	s.bgStop()
	s.bg.Wait()
	return s.db.Close()
}

func (s *Service) load() error {
	if v, closer, err := s.db.Get([]byte{prefixNextID}); err == nil {
		s.nextID = binary.BigEndian.Uint32(v)
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("read tables metadata: %w", err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixMeta}, UpperBound: []byte{prefixMeta + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		t := &Table{}
		if err := json.Unmarshal(it.Value(), t); err != nil {
			return fmt.Errorf("read table metadata %q: %w", it.Key()[1:], err)
		}
		t.prepare()
		s.tables[t.TableName] = t
	}
	return it.Error()
}

func (s *Service) table(name string) (*Table, error) {
	s.mu.RLock()
	t := s.tables[name]
	s.mu.RUnlock()
	if t == nil {
		return nil, errTableNotFound
	}
	return t, nil
}

// ARN is a table's ARN: the one it was created with (a table declared in a
// manifest carries its service's region), else the platform region's.
func (s *Service) ARN(table string) string {
	s.mu.RLock()
	t := s.tables[table]
	s.mu.RUnlock()
	if t != nil {
		return t.ARN
	}
	return cfn.TableARN(s.cfg.Region, appspec.AccountID, table)
}

// CreateTable creates a table; it is ACTIVE at once.
func (s *Service) CreateTable(ctx context.Context, spec TableSpec) (*Table, error) {
	return s.createTable(spec, s.cfg.Region, "")
}

// createTable creates a table with its ARN in region, declared by service
// ("" when created through the API).
func (s *Service) createTable(spec TableSpec, region, service string) (*Table, error) {
	if err := validateSpec(&spec); err != nil {
		return nil, err
	}
	if err := checkStreamSpec(spec.StreamSpecification); err != nil {
		return nil, err
	}
	if spec.BillingMode == "" {
		spec.BillingMode = "PROVISIONED"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[spec.TableName]; ok {
		return nil, &Error{Kind: KindInUse, Message: "Table already exists: " + spec.TableName}
	}
	// The index specs get their ids (prepare): copies, not the caller's.
	spec.GlobalSecondaryIndexes = slices.Clone(spec.GlobalSecondaryIndexes)
	spec.LocalSecondaryIndexes = slices.Clone(spec.LocalSecondaryIndexes)
	t := &Table{TableSpec: spec, ID: s.nextID, ARN: cfn.TableARN(region, appspec.AccountID, spec.TableName), Service: service, Created: time.Now().UTC()}
	t.prepare()
	if sp := spec.StreamSpecification; sp != nil && sp.StreamEnabled {
		t.Stream = newStream(sp, service != "", t.Created)
	}
	t.StreamSpecification = nil // Stream is the state from here on
	meta, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(metaKey(t.TableName), meta, nil)
	_ = b.Set([]byte{prefixNextID}, binary.BigEndian.AppendUint32(nil, t.ID+1), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("store table %s: %w", t.TableName, err)
	}
	s.nextID++
	s.tables[t.TableName] = t
	return t, nil
}

// DescribeTable returns a table.
func (s *Service) DescribeTable(ctx context.Context, name string) (*Table, error) {
	s.mu.RLock()
	t := s.tables[name]
	s.mu.RUnlock()
	if t == nil {
		return nil, tableNotFound(name)
	}
	return t, nil
}

// ListTables lists table names in order after start, at most limit (1-100)
// of them; last is set when more remain.
func (s *Service) ListTables(ctx context.Context, start string, limit int) (names []string, last string, err error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 100 {
		return nil, "", validationf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100", limit)
	}
	s.mu.RLock()
	for n := range s.tables {
		if n > start {
			names = append(names, n)
		}
	}
	s.mu.RUnlock()
	sort.Strings(names)
	if len(names) > limit {
		names = names[:limit]
		last = names[limit-1]
	}
	return names, last, nil
}

// DeleteTable deletes a table and its items.
func (s *Service) DeleteTable(ctx context.Context, name string) (*Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return nil, tableNotFound(name)
	}
	t.live.Lock()
	defer t.live.Unlock()
	t.deleted = true
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Delete(metaKey(name), nil)
	prefix := tablePrefix(t.ID)
	_ = b.DeleteRange(prefix, prefixEnd(prefix), nil)
	sp := streamPrefix(t.ID) // the stream goes with its table
	_ = b.DeleteRange(sp, prefixEnd(sp), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.deleted = false
		return nil, fmt.Errorf("delete table %s: %w", name, err)
	}
	delete(s.tables, name)
	return t, nil
}

// stripe is the lock index of an item's storage key.
func (s *Service) stripe(key []byte) int {
	h := uint32(2166136261) // FNV-1a, inline: fnv.New32a's hash escapes
	for _, c := range key {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % uint32(len(s.stripes)))
}

// lock takes the stripes of keys in a fixed order (no deadlock between
// transactions) and returns the unlock.
// lockOne is lock for one key, without allocating: the caller unlocks the
// stripe it returns.
func (s *Service) lockOne(key []byte) *sync.Mutex {
	m := &s.stripes[s.stripe(key)]
	m.Lock()
	return m
}

func (s *Service) lock(keys ...[]byte) func() {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, s.stripe(k))
	}
	sort.Ints(idx)
	uniq := idx[:0]
	for i, x := range idx {
		if i == 0 || x != idx[i-1] {
			uniq = append(uniq, x)
		}
	}
	for _, i := range uniq {
		s.stripes[i].Lock()
	}
	return func() {
		for j := len(uniq) - 1; j >= 0; j-- {
			s.stripes[uniq[j]].Unlock()
		}
	}
}

// read returns the item stored at key (nil if none).
func (s *Service) read(key []byte) (Item, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read item: %w", err)
	}
	defer closer.Close()
	return decodeItem(v)
}

// stage adds to b the writes that replace old with new at key (new nil:
// delete), the table's and every index's.
func (s *Service) stage(b *pebble.Batch, t *Table, key []byte, old, new Item) error {
	t.stats.note(t, old, new)
	if new == nil {
		_ = b.Delete(key, nil)
	} else {
		enc, err := encodeItem(new)
		if err != nil {
			return err
		}
		_ = b.Set(key, enc, nil)
	}
	for _, ix := range t.Indexes {
		var oldKey, newKey []byte
		if old != nil {
			oldKey = ix.entryKey(t, old)
		}
		if new != nil {
			newKey = ix.entryKey(t, new)
		}
		if oldKey != nil && string(oldKey) != string(newKey) {
			_ = b.Delete(oldKey, nil)
		}
		if newKey != nil {
			enc, err := encodeItem(ix.project(t, new))
			if err != nil {
				return err
			}
			_ = b.Set(newKey, enc, nil)
		}
	}
	return s.stageStream(b, t, old, new)
}

// MaxItemSize is DynamoDB's item size limit.
const MaxItemSize = 400 * 1024

func checkItemSize(it Item) error {
	if it.Size() > MaxItemSize {
		return validationf("Item size has exceeded the maximum allowed size")
	}
	return nil
}

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("tables storage: " + fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("tables storage: " + fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("tables storage: fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
