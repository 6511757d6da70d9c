package objects

import (
	"context"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// ListOptions select the keys of a listing.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// After lists keys strictly after this one (StartAfter, Marker, or a
	// continuation token's key).
	After   string
	MaxKeys int // 0 lists nothing, as S3 does; callers default it to 1000
}

// ListResult is one page of a listing.
type ListResult struct {
	Objects        []Object
	CommonPrefixes []string
	Truncated      bool
	// Last is the last key or common prefix of the page: where the next
	// page starts after.
	Last string
}

// List lists a bucket's keys in order, rolling keys that share a prefix up
// to the delimiter into one common prefix. It is one range scan that skips
// past each common prefix instead of reading its keys.
func (s *Store) List(_ context.Context, bucket string, opts ListOptions) (ListResult, error) {
	if _, err := s.bucket(bucket); err != nil {
		return ListResult{}, err
	}
	base := objectPrefix(bucket)
	lower := append(append([]byte(nil), base...), opts.Prefix...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return ListResult{}, err
	}
	defer it.Close()
	var res ListResult
	valid := it.First()
	if opts.After != "" && opts.After >= opts.Prefix {
		valid = it.SeekGE(append(append(append([]byte(nil), base...), opts.After...), 0))
	}
	count := 0
	for valid {
		key := string(it.Key()[len(base):])
		if opts.Delimiter != "" {
			if i := strings.Index(key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				if count == opts.MaxKeys {
					res.Truncated = true
					break
				}
				cp := key[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if cp > opts.After {
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.Last = cp
					count++
				}
				// Skip every key under the common prefix.
				end := prefixEnd(append(append([]byte(nil), base...), cp...))
				if end == nil {
					break
				}
				valid = it.SeekGE(end)
				continue
			}
		}
		if count == opts.MaxKeys {
			res.Truncated = true
			break
		}
		o := Object{Key: key}
		if err := decodeEntry(it.Value(), &o, false); err != nil {
			return ListResult{}, fmt.Errorf("list %s: %w", bucket, err)
		}
		res.Objects = append(res.Objects, o)
		res.Last = key
		count++
		valid = it.Next()
	}
	return res, it.Error()
}
