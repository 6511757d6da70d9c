package tables

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// stats are a table's approximate ItemCount and TableSizeBytes (and its
// indexes' counts). DynamoDB refreshes these about every six hours; nimbus
// counts the table on the first DescribeTable after it opens and then
// follows every write that read the item it replaces. A PutItem that skips
// that read (putBlind) marks the figures dirty instead, and a later
// DescribeTable counts the table again — at most once per ten times the
// last count's duration, so recounting a large table takes a bounded share
// of the time. Writes racing a count mark the figures dirty too, so the
// figures settle on the exact ones once writes stop.
type stats struct {
	ready   atomic.Bool // set once, under mu, after the first count
	dirty   atomic.Bool // a write was not followed since the last count
	mu      sync.Mutex
	count   int64
	bytes   int64
	indexes map[byte]*[2]int64 // index id → count, bytes
	gen     uint64             // bumped by invalidate
	noted   uint64             // writes followed, to see those racing a count
	// next is the earliest time a dirty table is counted again.
	next time.Time
}

// markDirty records a write whose effect on the figures is unknown.
func (st *stats) markDirty() {
	if !st.dirty.Load() { // a load keeps the cache line shared between writers
		st.dirty.Store(true)
	}
}

// Stats is what DescribeTable reports of a table's contents.
type Stats struct {
	ItemCount      int64
	TableSizeBytes int64
	// Indexes maps an index name to its item count and size in bytes.
	Indexes map[string][2]int64
}

// note records a write of old→new (nil: absent), and its index entries.
// The sizes are computed outside the lock, which only adds them up.
func (st *stats) note(t *Table, old, new Item) {
	if !st.ready.Load() {
		st.markDirty() // a count under way may miss it
		return
	}
	var dc, db int64
	if old != nil {
		dc--
		db -= int64(old.Size())
	}
	if new != nil {
		dc++
		db += int64(new.Size())
	}
	var ix [][3]int64 // index id, count, bytes
	for _, x := range t.Indexes {
		var c, b int64
		if old != nil && x.entryKey(t, old) != nil {
			c--
			b -= int64(x.project(t, old).Size())
		}
		if new != nil && x.entryKey(t, new) != nil {
			c++
			b += int64(x.project(t, new).Size())
		}
		if c != 0 || b != 0 {
			ix = append(ix, [3]int64{int64(x.ID), c, b})
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.noted++
	st.count += dc
	st.bytes += db
	for _, d := range ix {
		c := st.indexes[byte(d[0])]
		if c == nil {
			c = &[2]int64{}
			st.indexes[byte(d[0])] = c
		}
		c[0] += d[1]
		c[1] += d[2]
	}
}

// TableStats returns a table's item count and size, counting it first if
// this is the first time since the service opened.
func (s *Service) TableStats(t *Table) (Stats, error) {
	st := &t.stats
	if !st.ready.Load() || (st.dirty.Load() && st.recountDue()) {
		if err := s.countTable(t); err != nil {
			return Stats{}, err
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := Stats{ItemCount: st.count, TableSizeBytes: st.bytes, Indexes: map[string][2]int64{}}
	for _, ix := range t.indexes() {
		if c := st.indexes[ix.ID]; c != nil {
			out.Indexes[ix.IndexName] = *c
		}
	}
	return out, nil
}

func (s *Service) countTable(t *Table) error {
	st := &t.stats
	st.mu.Lock()
	gen, noted := st.gen, st.noted
	st.mu.Unlock()
	// Cleared before counting: a blind write during the count marks it again.
	st.dirty.Store(false)
	start := time.Now()
	prefix := tablePrefix(t.ID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	var count, size int64
	indexes := map[byte]*[2]int64{}
	for it.First(); it.Valid(); it.Next() {
		item, err := decodeItem(it.Value())
		if err != nil {
			return fmt.Errorf("count %s: %w", t, err)
		}
		// The byte after the table id is the index (0: the table).
		if ix := it.Key()[len(prefix)]; ix == 0 {
			count++
			size += int64(item.Size())
		} else {
			c := indexes[ix]
			if c == nil {
				c = &[2]int64{}
				indexes[ix] = c
			}
			c[0]++
			c[1] += int64(item.Size())
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gen == gen {
		st.count, st.bytes, st.indexes = count, size, indexes
		st.ready.Store(true)
		if st.noted != noted {
			st.dirty.Store(true) // the count may have missed them: count again later
		}
	}
	end := time.Now()
	st.next = end.Add(10 * end.Sub(start))
	return nil
}

// recountDue reports whether a dirty table may be counted again.
func (st *stats) recountDue() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !time.Now().Before(st.next)
}

// invalidate makes the next DescribeTable count the table again (after an
// index was added or removed); a count already under way is discarded.
func (st *stats) invalidate() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.gen++
	st.ready.Store(false)
}
