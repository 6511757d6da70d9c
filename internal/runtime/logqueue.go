package runtime

import (
	"sync"
	"time"

	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// The log lines of invocations (START, the function's output, END, REPORT)
// and the end-of-invocation reports wait in one queue per Manager, in the
// order they happened, until the Manager's log writer passes them to the sink.
// Handing each line to another goroutine woke that goroutine (and often an
// OS thread for it) three or more times per invoke; the writer instead wakes
// once per logBatchDelay while lines come in, and not at all when none do.

// logBatchDelay is how long the writer lets lines gather after the first one.
// The log store batches for longer (50 ms); a caller who wants the log gets it
// from the invocation's own tail, not from here.
const logBatchDelay = 5 * time.Millisecond

// maxQueuedLogs bounds the queue: beyond it, lines go to the sink at once (the
// sink drops what is over a function's share).
const maxQueuedLogs = 1 << 16

// logEntry is a line, or an invocation's end whose END and REPORT lines (and
// the Observer's call) the writer makes.
type logEntry struct {
	rec    logs.Record
	report *report
}

type logQueue struct {
	mu      sync.Mutex
	entries []logEntry
	kicked  bool          // the writer has been told there is work
	closed  bool          // the writer has stopped: entries go to the sink at once
	kick    chan struct{} // 1-buffered
}

// queueLog adds e to the queue, waking the writer if it sleeps.
func (m *Manager) queueLog(e logEntry) {
	q := &m.logq
	q.mu.Lock()
	if q.closed || len(q.entries) >= maxQueuedLogs {
		q.mu.Unlock()
		m.writeLogEntry(e)
		return
	}
	q.entries = append(q.entries, e)
	wake := !q.kicked
	q.kicked = true
	q.mu.Unlock()
	if wake {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
}

// writeLogs is the Manager's log writer; it drains the queue when the
// Manager stops.
func (m *Manager) writeLogs() {
	defer m.done.Done()
	q := &m.logq
	timer := time.NewTimer(logBatchDelay)
	timer.Stop()
	var spare []logEntry
	take := func(closing bool) []logEntry {
		q.mu.Lock()
		batch := q.entries
		q.entries = spare[:0]
		q.kicked = false
		q.closed = closing
		q.mu.Unlock()
		return batch
	}
	write := func(batch []logEntry) {
		for i := range batch {
			m.writeLogEntry(batch[i])
		}
		clear(batch) // let the records and results go
		spare = batch
	}
	for {
		select {
		case <-q.kick:
		case <-m.stop:
			write(take(true))
			return
		}
		timer.Reset(logBatchDelay)
		select {
		case <-timer.C:
		case <-m.stop:
			timer.Stop()
			write(take(true))
			return
		}
		write(take(false))
	}
}

func (m *Manager) writeLogEntry(e logEntry) {
	if e.report != nil {
		m.writeReport(*e.report, false)
		return
	}
	m.cfg.Logs.Append(e.rec)
}
