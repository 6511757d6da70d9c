package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// HistoryPageReverse returns up to limit events of an execution's history
// newest first, from token (empty: the last event), and the token of the
// next page (empty: none). It reads only about the page: event ids grow
// along the execution's subject, so the first message of the page is found
// by a binary search over stream sequences (a few reads for any history
// size), then the page is read forward.
func (s *Service) HistoryPageReverse(ctx context.Context, arn string, limit int, token string) ([]Event, string, error) {
	ex, err := s.DescribeExecution(ctx, arn)
	if err != nil {
		return nil, "", err
	}
	subj := historySubject + ex.StateMachineName + "." + ex.Name
	last, err := s.history.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read history: %w", err)
	}
	lastEvent, err := decodeEvent(last.Data)
	if err != nil {
		return nil, "", err
	}
	hi := lastEvent.ID
	if token != "" {
		var before int64
		if _, err := fmt.Sscanf(token, "r%d", &before); err != nil || before < 2 || before > hi+1 {
			return nil, "", errorf(KindInvalid, "Invalid Token: '%s'", token)
		}
		hi = before - 1
	}
	lo := max(1, hi-int64(limit)+1)
	// The first sequence whose message on subj has an id >= lo.
	first, err := s.history.Info(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("read history: %w", err)
	}
	a, b := max(first.State.FirstSeq, 1), last.Sequence
	for a < b {
		mid := a + (b-a)/2
		msg, err := s.history.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subj))
		if err != nil {
			return nil, "", fmt.Errorf("read history: %w", err)
		}
		e, err := decodeEvent(msg.Data)
		if err != nil {
			return nil, "", err
		}
		if e.ID >= lo {
			b = mid
		} else {
			a = msg.Sequence + 1
		}
	}
	var events []Event
	seen := int64(lo - 1)
	for seq := a; seq <= last.Sequence; {
		msg, err := s.history.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("read history: %w", err)
		}
		seq = msg.Sequence + 1
		e, err := decodeEvent(msg.Data)
		if err != nil {
			return nil, "", err
		}
		if e.ID > hi {
			break
		}
		if e.ID <= seen {
			continue // a copy of an event stored again
		}
		seen = e.ID
		events = append(events, e)
	}
	slices.Reverse(events)
	if lo <= 1 {
		return events, "", nil
	}
	return events, fmt.Sprintf("r%d", lo), nil
}

func decodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("decode history event: %w", err)
	}
	return e, nil
}
