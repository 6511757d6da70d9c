package objects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// prefixLifecycle keys hold a bucket's lifecycle (expiration) rules.
const prefixLifecycle = 'L'

func lifecycleKey(bucket string) []byte { return append([]byte{prefixLifecycle}, bucket...) }

// LifecycleRule expires the objects under Prefix Days days after they were
// written, as S3 does: at the first midnight UTC after that age.
type LifecycleRule struct {
	ID     string `json:"id,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Days   int    `json:"days"`
}

// expiry is when an object written at t expires under r.
func (r LifecycleRule) expiry(t time.Time) time.Time {
	due := t.UTC().Add(time.Duration(r.Days) * 24 * time.Hour)
	midnight := due.Truncate(24 * time.Hour)
	if midnight.Before(due) {
		midnight = midnight.Add(24 * time.Hour)
	}
	return midnight
}

// setLifecycle replaces a bucket's rules (none removes them).
func (s *Store) setLifecycle(bucket string, rules []LifecycleRule) error {
	if len(rules) == 0 {
		if err := s.db.Delete(lifecycleKey(bucket), pebble.Sync); err != nil {
			return fmt.Errorf("store lifecycle of %s: %w", bucket, err)
		}
		return nil
	}
	data, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	if err := s.db.Set(lifecycleKey(bucket), data, pebble.Sync); err != nil {
		return fmt.Errorf("store lifecycle of %s: %w", bucket, err)
	}
	return nil
}

// BucketLifecycle returns a bucket's expiration rules.
func (s *Store) BucketLifecycle(bucket string) ([]LifecycleRule, error) {
	v, closer, err := s.db.Get(lifecycleKey(bucket))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer closer.Close()
	var rules []LifecycleRule
	if err := json.Unmarshal(v, &rules); err != nil {
		return nil, fmt.Errorf("read lifecycle of %s: %w", bucket, err)
	}
	return rules, nil
}

// SweepLifecycle deletes the objects whose lifecycle rules expired them,
// each with the LifecycleExpiration:Delete notification S3 sends, and
// returns how many it deleted.
func (s *Store) SweepLifecycle(ctx context.Context) (int, error) {
	type bucketRules struct {
		bucket string
		rules  []LifecycleRule
	}
	var all []bucketRules
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLifecycle}, UpperBound: []byte{prefixLifecycle + 1}})
	if err != nil {
		return 0, err
	}
	for it.First(); it.Valid(); it.Next() {
		var rules []LifecycleRule
		if err := json.Unmarshal(it.Value(), &rules); err == nil {
			all = append(all, bucketRules{string(it.Key()[1:]), rules})
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	now := s.cfg.Now().UTC()
	deleted := 0
	for _, br := range all {
		for _, r := range br.rules {
			expired := func(o *Object) bool { return !r.expiry(o.Modified).After(now) }
			after := ""
			for {
				page, err := s.List(ctx, br.bucket, ListOptions{Prefix: r.Prefix, After: after, MaxKeys: 1000})
				if IsKind(err, KindNoSuchBucket) {
					break
				} else if err != nil {
					return deleted, err
				}
				for i := range page.Objects {
					o := &page.Objects[i]
					if !expired(o) {
						continue
					}
					// Checked again under the lock: a new write since the listing stays.
					if _, err := s.deleteVersion(ctx, br.bucket, o.Key, "", true, expired); err != nil {
						return deleted, err
					}
					deleted++
				}
				if !page.Truncated {
					break
				}
				after = page.Last
			}
		}
	}
	return deleted, nil
}

// lifecycleInterval is how often expired objects are swept.
const lifecycleInterval = time.Hour

// sweepLoop runs SweepLifecycle at start and every lifecycleInterval until ctx ends.
func (s *Store) sweepLoop(ctx context.Context) {
	for {
		if n, err := s.SweepLifecycle(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("lifecycle sweep", "err", err)
		} else if n > 0 {
			s.log.Info("lifecycle expired objects", "deleted", n)
		}
		t := time.NewTimer(lifecycleInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
