package tables

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TTLSpec is a table's time to live setting: items whose AttributeName
// holds a Number of epoch seconds in the past are deleted by a sweeper.
type TTLSpec struct {
	AttributeName string
	Enabled       bool
}

// ttlHorizon: DynamoDB leaves items whose expiry is more than five years in
// the past (the attribute is probably not a TTL).
const ttlHorizon = 5 * 365 * 24 * time.Hour

// saveMeta stores t's metadata; the caller holds s.mu.
func (s *Service) saveMeta(t *Table) error {
	meta, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.db.Set(metaKey(t.TableName), meta, pebble.Sync); err != nil {
		return fmt.Errorf("store table %s: %w", t.TableName, err)
	}
	return nil
}

// UpdateTimeToLive enables or disables a table's TTL, with DynamoDB's checks.
func (s *Service) UpdateTimeToLive(ctx context.Context, name string, spec TTLSpec) (TTLSpec, error) {
	if spec.AttributeName == "" {
		return spec, validationf("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null")
	}
	if len(spec.AttributeName) > 255 {
		return spec, validationf("1 validation error detected: Value '%s' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255", spec.AttributeName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return spec, tableNotFound(name)
	}
	old := t.TTL
	switch {
	case spec.Enabled && old != nil && old.Enabled:
		return spec, validationf("TimeToLive is already enabled")
	case !spec.Enabled && (old == nil || !old.Enabled):
		return spec, validationf("TimeToLive is already disabled")
	case !spec.Enabled && old.AttributeName != spec.AttributeName:
		return spec, validationf("TimeToLive is active on a different AttributeName: current AttributeName is %s", old.AttributeName)
	}
	next := spec
	t.TTL = &next
	if err := s.saveMeta(t); err != nil {
		t.TTL = old
		return spec, err
	}
	return spec, nil
}

// DescribeTimeToLive returns a table's TTL setting (nil: never enabled).
func (s *Service) DescribeTimeToLive(ctx context.Context, name string) (*TTLSpec, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[name]
	if t == nil {
		return nil, tableNotFound(name)
	}
	if t.TTL == nil {
		return nil, nil
	}
	spec := *t.TTL
	return &spec, nil
}

// expired reports whether item's TTL attribute is a time before now that
// DynamoDB would act on.
func expired(item Item, attr string, now time.Time) bool {
	v, ok := item[attr]
	if !ok || v.Kind != KindN {
		return false
	}
	f, _, err := big.ParseFloat(v.S, 10, 64, big.ToNearestEven)
	if err != nil || f.Sign() < 0 {
		return false
	}
	secs, _ := f.Float64()
	at := time.Unix(int64(secs), 0)
	return !at.After(now) && now.Sub(at) <= ttlHorizon
}

var errNotExpired = errors.New("item no longer expired")

// SweepExpired deletes the expired items of every table with TTL enabled,
// at most limit per table, and returns how many it deleted.
func (s *Service) SweepExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.mu.RLock()
	var due []*Table
	for _, t := range s.tables {
		if t.TTL != nil && t.TTL.Enabled {
			due = append(due, t)
		}
	}
	s.mu.RUnlock()
	sort.Slice(due, func(i, j int) bool { return due[i].ID < due[j].ID })
	deleted := 0
	for _, t := range due {
		attr := t.TTL.AttributeName
		keys, err := s.expiredKeys(t, attr, now, limit)
		if err != nil {
			return deleted, err
		}
		for _, key := range keys {
			if ctx.Err() != nil {
				return deleted, ctx.Err()
			}
			_, _, err := s.writeOneAs(t, key, true, func(old Item) (Item, error) {
				if old == nil || !expired(old, attr, now) {
					return nil, errNotExpired
				}
				return nil, nil
			})
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, errNotExpired), IsKind(err, KindNotFound):
			default:
				return deleted, err
			}
		}
	}
	return deleted, nil
}

func (s *Service) expiredKeys(t *Table, attr string, now time.Time, limit int) ([][]byte, error) {
	prefix := indexPrefix(t.ID, 0)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var keys [][]byte
	for it.First(); it.Valid() && len(keys) < limit; it.Next() {
		// Cheap test before decoding: the attribute name must be in the value.
		if !bytes.Contains(it.Value(), []byte(attr)) {
			continue
		}
		item, err := decodeItem(it.Value())
		if err != nil {
			return nil, err
		}
		if expired(item, attr, now) {
			keys = append(keys, append([]byte(nil), it.Key()...))
		}
	}
	return keys, it.Error()
}

// runTTL sweeps every interval until ctx ends.
func (s *Service) runTTL(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for {
				n, err := s.SweepExpired(ctx, time.Now(), 1000)
				if err != nil && ctx.Err() == nil {
					s.log.Error("tables: ttl sweep", "err", err)
				}
				if n < 1000 || err != nil {
					break
				}
			}
			if err := s.TrimStreams(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Error("tables: stream trim", "err", err)
			}
		}
	}
}
