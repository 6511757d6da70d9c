package async

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Group commit. The store fsyncs every JetStream write before acknowledging
// it, so one event per write caps acceptance at the disk's fsync rate. Events
// accepted at the same time are therefore written as one stream message (a
// batch) with one fsync; each caller is answered after that write. A batch is
// acknowledged once all its events are done; a crash redelivers the whole
// batch (at least once). Retries and held-back events become single messages.

const (
	batchSubject  = subjectBase + "$batch"
	batchers      = 4
	maxBatchCount = 512
	maxBatchBytes = 768 * 1024
	// Events larger than this are written alone.
	maxBatchedEvent = 128 * 1024
)

type pending struct {
	msg  *nats.Msg
	done chan error
}

// store writes one event durably, batched with concurrent ones.
func (s *Service) store(ctx context.Context, msg *nats.Msg) error {
	if !s.started.Load() || len(msg.Data) > maxBatchedEvent {
		_, err := s.js.PublishMsg(ctx, msg)
		return err
	}
	p := &pending{msg: msg, done: make(chan error, 1)}
	select {
	case s.in <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) batch(ctx context.Context) {
	for {
		var first *pending
		select {
		case first = <-s.in:
		case <-ctx.Done():
			return
		}
		group := []*pending{first}
		size := len(first.msg.Data)
	fill:
		for len(group) < maxBatchCount && size < maxBatchBytes {
			select {
			case p := <-s.in:
				group = append(group, p)
				size += len(p.msg.Data)
			default:
				break fill
			}
		}
		var err error
		if len(group) == 1 {
			_, err = s.js.PublishMsg(ctx, first.msg)
		} else {
			out := nats.NewMsg(batchSubject)
			out.Data = encodeBatch(group)
			_, err = s.js.PublishMsg(ctx, out)
		}
		for _, p := range group {
			p.done <- err
		}
	}
}

func encodeBatch(group []*pending) []byte {
	var buf []byte
	for _, p := range group {
		h := map[string]string{"subject": p.msg.Subject}
		for k := range p.msg.Header {
			h[k] = p.msg.Header.Get(k)
		}
		hj, _ := json.Marshal(h)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(hj)))
		buf = append(buf, hj...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p.msg.Data)))
		buf = append(buf, p.msg.Data...)
	}
	return buf
}

func decodeBatch(data []byte) ([]*nats.Msg, error) {
	var out []*nats.Msg
	next := func() ([]byte, error) {
		if len(data) < 4 {
			return nil, errors.New("truncated batch")
		}
		n := binary.BigEndian.Uint32(data)
		if uint64(len(data)-4) < uint64(n) {
			return nil, errors.New("truncated batch")
		}
		b := data[4 : 4+n]
		data = data[4+n:]
		return b, nil
	}
	for len(data) > 0 {
		hj, err := next()
		if err != nil {
			return nil, err
		}
		payload, err := next()
		if err != nil {
			return nil, err
		}
		var h map[string]string
		if err := json.Unmarshal(hj, &h); err != nil {
			return nil, fmt.Errorf("batch entry: %w", err)
		}
		m := nats.NewMsg(h["subject"])
		delete(h, "subject")
		for k, v := range h {
			m.Header.Set(k, v)
		}
		m.Data = payload
		out = append(out, m)
	}
	return out, nil
}

// member is one event of a batch; holding it back or retrying it writes it
// as a single message.
type member struct {
	s      *Service
	ctx    context.Context
	parent jetstream.Msg
	msg    *nats.Msg
	once   sync.Once
	done   *atomic.Int64 // events of the batch that are done
}

func (m *member) Headers() nats.Header { return m.msg.Header }
func (m *member) Data() []byte         { return m.msg.Data }
func (m *member) Subject() string      { return m.msg.Subject }
func (m *member) InProgress() error    { return m.parent.InProgress() }
func (m *member) Metadata() (*jetstream.MsgMetadata, error) {
	return m.parent.Metadata()
}
func (m *member) Ack() error                         { m.finish(); return nil }
func (m *member) Nak() error                         { return m.NakWithDelay(0) }
func (m *member) NakWithDelay(d time.Duration) error { return m.hold(d) }

func (m *member) finish() { m.once.Do(func() { m.done.Add(1) }) }

// hold writes the event alone, to be run after d.
func (m *member) hold(d time.Duration) error {
	out := nats.NewMsg(m.msg.Subject)
	out.Data = m.msg.Data
	for k, v := range m.msg.Header {
		out.Header[k] = v
	}
	if d > 0 {
		out.Header.Set(hNotBefore, fmt.Sprint(time.Now().Add(d).UnixMilli()))
	}
	_, err := m.s.js.PublishMsg(m.ctx, out)
	if err == nil {
		m.finish()
	}
	return err
}

// handleBatch runs the events of a batch concurrently and acknowledges the
// batch when all are done. It returns only when every event it started has
// returned, so the worker running it (and Wait) owns them. Once ctx ends it
// starts no more events, and a batch left with events not done is released
// for redelivery (at least once).
func (s *Service) handleBatch(ctx context.Context, m jetstream.Msg) {
	msgs, err := decodeBatch(m.Data())
	if err != nil {
		s.log.Error("unreadable async batch dropped", "err", err)
		_ = m.Term()
		return
	}
	var done atomic.Int64
	var running sync.WaitGroup
start:
	for _, em := range msgs {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			break start
		}
		if ctx.Err() != nil {
			<-s.sem
			break
		}
		mem := &member{s: s, ctx: ctx, parent: m, msg: em, done: &done}
		running.Go(func() {
			defer func() { <-s.sem }()
			s.handle(ctx, mem)
		})
	}
	finished := make(chan struct{})
	go func() {
		running.Wait()
		close(finished)
	}()
	t := time.NewTicker(s.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-finished:
			if done.Load() == int64(len(msgs)) {
				_ = m.Ack()
			} else {
				_ = m.Nak()
			}
			return
		case <-t.C:
			_ = m.InProgress()
		}
	}
}
