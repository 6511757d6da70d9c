package streamsource

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nimbus-platform/nimbus/internal/events/pattern"
)

// With a parallelizationFactor N above 1, a shard's records are split by
// key into N lanes, as Lambda does: one key's records always go to the same
// lane, a lane delivers one batch at a time in order, and the lanes run at
// once. A failing batch holds its lane only. The shard's checkpoint is the
// position below the lowest record not yet done, so a restart repeats
// unfinished records (and may repeat finished ones above them) but never
// skips one.

// entry is a record read from the shard, in read order.
type entry struct {
	seq  uint64
	pos  uint64 // the read position once this record is done
	done bool
}

// queued is a record waiting in its lane.
type queued struct {
	rec Record
	at  time.Time // when it was read, for the batching window
}

// lanes is the state one shard's reader and lane workers share.
type lanes struct {
	mu     sync.Mutex
	queues [][]queued
	wake   []chan struct{} // per lane: records were queued
	room   chan struct{}   // records were done: the reader may read on
	// read lists the records read and not yet behind the checkpoint.
	read []entry
	// base is the checkpoint: every record at or below it is done.
	base        uint64
	baseHorizon bool
	buffered    int // records read and not done
	bytes       int

	saveMu    sync.Mutex // orders checkpoint writes
	saved     uint64
	savedHzn  bool
	savedOnce bool
	rev       uint64 // the checkpoint's revision this holder wrote (ADR 0030)
	fenced    bool   // another holder claimed the checkpoint
	stop      context.CancelFunc
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func laneOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// add queues a read batch in its lanes; records the filters drop are done
// at once. next is the read position after the batch.
func (l *lanes) add(batch []Record, next uint64, filters *pattern.Matcher) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range batch {
		e := entry{seq: r.Seq, pos: r.Seq}
		if i == len(batch)-1 {
			e.pos = next
		}
		keep := true
		if filters != nil {
			ids, err := filters.Match(r.Event)
			keep = err == nil && len(ids) > 0
		}
		if !keep {
			e.done = true
		} else {
			n := laneOf(r.Key, len(l.queues))
			l.queues[n] = append(l.queues[n], queued{rec: r, at: now})
			l.buffered++
			l.bytes += len(r.Event)
			notify(l.wake[n])
		}
		l.read = append(l.read, e)
	}
	l.advance()
}

// finish marks a lane's batch done.
func (l *lanes) finish(batch []Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range batch {
		if i, ok := slices.BinarySearchFunc(l.read, r.Seq, func(e entry, s uint64) int {
			switch {
			case e.seq < s:
				return -1
			case e.seq > s:
				return 1
			}
			return 0
		}); ok {
			l.read[i].done = true
		}
		l.buffered--
		l.bytes -= len(r.Event)
	}
	l.advance()
	notify(l.room)
}

// advance moves the checkpoint over the done records at the front.
func (l *lanes) advance() {
	i := 0
	for i < len(l.read) && l.read[i].done {
		l.base, l.baseHorizon = l.read[i].pos, false
		i++
	}
	l.read = slices.Delete(l.read, 0, i)
}

// take waits for a lane's next batch: up to size records, after the
// batching window when fewer are queued. It returns nil when ctx ended.
func (l *lanes) take(ctx context.Context, n, size int, window time.Duration) []Record {
	for ctx.Err() == nil {
		l.mu.Lock()
		q := l.queues[n]
		var wait <-chan time.Time
		if len(q) > 0 {
			if len(q) >= size || window <= 0 || time.Since(q[0].at) >= window {
				k := min(len(q), size)
				batch := make([]Record, k)
				for i := range k {
					batch[i] = q[i].rec
				}
				l.queues[n] = slices.Delete(q, 0, k)
				l.mu.Unlock()
				return batch
			}
			wait = time.After(window - time.Since(q[0].at))
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake[n]:
		case <-wait:
		}
	}
	return nil // stopping: no new batch starts
}

// full says the reader should wait for records to be done first.
func (l *lanes) full(maxRecords, maxBytes int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buffered > 0 && (l.buffered >= maxRecords || l.bytes >= maxBytes)
}

// checkpoint stores the shard's position when it moved.
func (p *Pollers) checkpoint(ctx context.Context, m mapping, shard string, l *lanes, log *slog.Logger) {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	l.mu.Lock()
	base, hzn := l.base, l.baseHorizon
	l.mu.Unlock()
	if l.savedOnce && base == l.saved && hzn == l.savedHzn {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.save(sctx, m, shard, base, hzn, &l.rev); err != nil {
		if errors.Is(err, errFenced) {
			if !l.fenced {
				log.Warn("stream event: the shard's lease was lost during a batch; its position is not stored and the shard stops here")
			}
			l.fenced = true
			l.stop()
			return
		}
		// The next done batch stores it again; until then a restart
		// repeats records, never skips them.
		log.Warn("stream event: store position", "err", err)
		return
	}
	l.saved, l.savedHzn, l.savedOnce = base, hzn, true
}

// runLanes delivers one shard with parallelizationFactor lanes until ctx
// ends.
func (p *Pollers) runLanes(ctx context.Context, m mapping, src Source, shard string, after uint64, horizon bool, rev uint64, filters *pattern.Matcher) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	t := m.trigger
	log := p.log.With("function", m.function, "stream", t.ARN, "shard", shard)
	n := t.Parallelism
	l := &lanes{queues: make([][]queued, n), wake: make([]chan struct{}, n), room: make(chan struct{}, 1),
		base: after, baseHorizon: horizon, saved: after, savedHzn: horizon, savedOnce: true, rev: rev, stop: stop}
	for i := range l.wake {
		l.wake[i] = make(chan struct{}, 1)
	}
	// Bound what is read ahead of the lanes: a lane that keeps failing
	// holds its records, and past this the whole shard waits for it.
	maxRecords := max(2*n*t.BatchSize, 1000)
	const maxBytes = 32 << 20
	window := time.Duration(t.BatchWindow) * time.Second

	var workers sync.WaitGroup
	for i := range n {
		workers.Go(func() {
			for {
				batch := l.take(ctx, i, t.BatchSize, window)
				if batch == nil {
					return
				}
				if !p.process(ctx, m, src, shard, batch) {
					return // stopped: the batch was not done, the checkpoint stays below it
				}
				l.finish(batch)
				p.checkpoint(ctx, m, shard, l, log)
			}
		})
	}
	defer func() {
		workers.Wait()
		p.checkpoint(ctx, m, shard, l, log)
	}()

	for ctx.Err() == nil {
		if l.full(maxRecords, maxBytes) {
			select {
			case <-ctx.Done():
				return
			case <-l.room:
			}
			continue
		}
		batch, next := readNext(ctx, src, t, m.role, shard, &after, &horizon, log)
		if len(batch) == 0 {
			continue // nothing yet, or ctx ended (the loop checks)
		}
		l.add(batch, next, filters)
		after, horizon = next, false
		// Filtered records may have moved the checkpoint.
		p.checkpoint(ctx, m, shard, l, log)
	}
}
