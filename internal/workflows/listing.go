package workflows

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// Listing executions newest first without reading them all. Each machine
// has a counter, "c.<machine>", and each start takes the next number n and
// writes "e.<machine>.<n>" = the execution's name before its record (which
// keeps n as Ordinal). A page walks the numbers down from the counter (or
// the token) and reads only the records it returns, and those a status
// filter skips. A number whose start failed, or whose record is gone or
// another execution's (a name in use), is skipped.
const (
	listingBucket = "workflow-listing"
	// maxListScan bounds the entries one ListExecutions request reads when
	// a status filter skips many: the page may then be short, with a token.
	maxListScan = 2000
)

func counterKey(machine string) string { return "c." + machine }

func entryKey(machine string, n uint64) string {
	return "e." + machine + "." + strconv.FormatUint(n, 10)
}

// nextOrdinal takes the next number of a machine's executions.
func (s *Service) nextOrdinal(ctx context.Context, machine string) (uint64, error) {
	for {
		e, err := s.listing.Get(ctx, counterKey(machine))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			n, err := s.backfill(ctx, machine)
			if err != nil {
				return 0, err
			}
			if _, err := s.listing.Create(ctx, counterKey(machine), []byte(strconv.FormatUint(n+1, 10))); err == nil {
				return n + 1, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, fmt.Errorf("number execution: %w", err)
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("number execution: %w", err)
		}
		n, err := strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("number execution: counter %q: %w", e.Value(), err)
		}
		if _, err := s.listing.Update(ctx, counterKey(machine), []byte(strconv.FormatUint(n+1, 10)), e.Revision()); err == nil {
			return n + 1, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("number execution: %w", err)
		}
	}
}

// backfill numbers the executions a machine had before it had a counter
// (stored by an earlier version), oldest first, and returns how many. Two
// nodes doing it at once write the same entries.
func (s *Service) backfill(ctx context.Context, machine string) (uint64, error) {
	old, err := s.listAll(ctx, machine, "")
	if err != nil {
		return 0, err
	}
	n := uint64(0)
	for i := len(old) - 1; i >= 0; i-- {
		n++
		if _, err := s.listing.Put(ctx, entryKey(machine, n), []byte(old[i].Name)); err != nil {
			return 0, fmt.Errorf("number execution: %w", err)
		}
	}
	return n, nil
}

// listToken is a ListExecutions paging token: the number to go on from,
// bound to the machine and the status filter it was given for.
type listToken struct {
	Machine string `json:"m"`
	Status  string `json:"s,omitempty"`
	Next    uint64 `json:"n"`
}

// ListExecutionsPage returns up to limit of a machine's executions, newest
// first, with the given status when status is not empty, from token (empty:
// the newest), and the token of the next page (empty: none).
func (s *Service) ListExecutionsPage(ctx context.Context, machineARN, status string, limit int, token string) ([]*Execution, string, error) {
	name, err := s.machineName(machineARN)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := s.getMachine(ctx, name); err != nil {
		return nil, "", err
	}
	var from uint64
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		var t listToken
		if err != nil || json.Unmarshal(raw, &t) != nil || t.Machine != name || t.Status != status || t.Next == 0 {
			return nil, "", errorf(KindInvalidToken, "Invalid Token: '%s'", token)
		}
		from = t.Next
	} else {
		e, err := s.listing.Get(ctx, counterKey(name))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			// No start since numbering began: what an earlier version
			// stored, if anything, is listed the old way.
			all, err := s.listAll(ctx, name, status)
			if err != nil {
				return nil, "", err
			}
			return all[:min(limit, len(all))], "", nil
		case err != nil:
			return nil, "", fmt.Errorf("list executions: %w", err)
		}
		if from, err = strconv.ParseUint(string(e.Value()), 10, 64); err != nil {
			return nil, "", fmt.Errorf("list executions: counter %q: %w", e.Value(), err)
		}
	}
	var out []*Execution
	n, scanned := from, 0
	for ; n >= 1 && len(out) < limit && scanned < maxListScan; n-- {
		scanned++
		e, err := s.listing.Get(ctx, entryKey(name, n))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("list executions: %w", err)
		}
		ex, err := s.DescribeExecution(ctx, s.ExecutionARN(name, string(e.Value())))
		if err != nil {
			var se *Error
			if errors.As(err, &se) && se.Kind == KindExecutionNotFound {
				continue
			}
			return nil, "", err
		}
		if ex.Ordinal != n && ex.Ordinal != 0 {
			continue // the entry of a start refused (the name was in use)
		}
		if status == "" || ex.Status == status {
			out = append(out, ex)
		}
	}
	if n == 0 {
		return out, "", nil
	}
	data, _ := json.Marshal(listToken{Machine: name, Status: status, Next: n})
	return out, base64.RawURLEncoding.EncodeToString(data), nil
}
