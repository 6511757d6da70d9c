package queues

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A waiting receive is a JetStream pull request, which the server holds
// until a message comes or the request expires; JetStream has no way to
// withdraw one. jetstream's Fetch ignores the caller's context, so a poller
// told to stop (a redeploy, shutdown) or an HTTP caller that went away kept
// waiting up to the request's end, and what the server handed it meanwhile
// was released only then. A receive therefore makes its own pull requests:
// one whose context ends returns at once, and its reply subscription stays
// until the server ended the request, releasing at once and uncounted (as
// Release does) whatever still comes, so the next receive gets it with the
// count it would have had. Unsubscribing at once would stop the server
// handing out more, but a message already on its way would be dropped by
// the client and held for the visibility timeout.

// delivered is what messages needs of a delivery: jetstream's Msg, or a
// message of the mux.
type delivered interface {
	Metadata() (*jetstream.MsgMetadata, error)
	Data() []byte
	Headers() nats.Header
	Reply() string
	DoubleAck(ctx context.Context) error
}

// pulled is a delivery the mux received.
type pulled struct{ m *nats.Msg }

func (p pulled) Data() []byte         { return p.m.Data }
func (p pulled) Headers() nats.Header { return p.m.Header }
func (p pulled) Reply() string        { return p.m.Reply }

func (p pulled) Metadata() (*jetstream.MsgMetadata, error) {
	md, err := p.m.Metadata()
	if err != nil {
		return nil, err
	}
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Consumer: md.Sequence.Consumer, Stream: md.Sequence.Stream},
		NumDelivered: md.NumDelivered, NumPending: md.NumPending, Timestamp: md.Timestamp,
		Stream: md.Stream, Consumer: md.Consumer, Domain: md.Domain,
	}, nil
}

func (p pulled) DoubleAck(ctx context.Context) error { return p.m.AckSync(nats.Context(ctx)) }

// releaseRaw makes a delivery nobody will hand out visible again at once,
// without counting it as a receive.
func (s *Service) releaseRaw(q *queue, m *nats.Msg) {
	if md, err := m.Metadata(); err == nil {
		q.sawDelivery(md.Sequence.Stream)
		q.unreceived.add(md.Sequence.Stream)
	}
	if err := m.Nak(); err != nil {
		s.log.Warn("release an abandoned delivery", "queue", q.cfg.Name, "err", err)
	}
}

// pull asks q's consumer for up to n messages, waiting up to wait for the
// first (noWait: only what is there). It returns when the request ends or
// ctx does; what the request receives after that is released.
func (s *Service) pull(ctx context.Context, q *queue, n int, wait time.Duration, noWait bool) ([]delivered, error) {
	inbox := s.nc.NewInbox()
	ch := make(chan *nats.Msg, n+2) // a whole batch and the request's end
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	req := fmt.Appendf(nil, `{"batch":%d,"expires":%d}`, n, wait.Nanoseconds())
	if noWait {
		req = fmt.Appendf(nil, `{"batch":%d,"no_wait":true}`, n)
	}
	if err := s.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+q.stream+"."+consName, inbox, req); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("receive: %w", err)
	}
	// The server ends the request by its expiry; past it with a margin the
	// client gives up too, as jetstream's Fetch does.
	timer := time.NewTimer(wait + time.Second)
	defer timer.Stop()
	var out []delivered
	for {
		select {
		case m := <-ch:
			if ended(m) {
				_ = sub.Unsubscribe()
				return out, nil
			}
			if m.Reply == "" {
				continue // a heartbeat
			}
			out = append(out, pulled{m})
			if len(out) == n {
				_ = sub.Unsubscribe()
				return out, nil
			}
		case <-timer.C:
			s.abandon(q, sub, ch, 5*time.Second)
			return out, nil
		case <-ctx.Done():
			// The caller is gone: what its request got is released.
			for _, m := range out {
				s.releaseRaw(q, m.(pulled).m)
			}
			s.abandon(q, sub, ch, wait+5*time.Second)
			return nil, nil
		}
	}
}

// ended says a reply ends its pull request: a status (404 no messages,
// 408 expired, 409 and the like) other than a heartbeat.
func ended(m *nats.Msg) bool {
	st := m.Header.Get("Status")
	return m.Reply == "" && len(m.Data) == 0 && st != "" && st != "100"
}

// abandon releases what reaches a pull request nobody waits for any more,
// until the server ends the request (or for at most linger), and then
// drops its subscription.
func (s *Service) abandon(q *queue, sub *nats.Subscription, ch chan *nats.Msg, linger time.Duration) {
	s.wg.Go(func() {
		defer func() { _ = sub.Unsubscribe() }()
		timer := time.NewTimer(linger)
		defer timer.Stop()
		for {
			select {
			case m := <-ch:
				if ended(m) {
					return
				}
				if m.Reply != "" {
					s.releaseRaw(q, m)
				}
			case <-timer.C:
				return
			}
		}
	})
}
