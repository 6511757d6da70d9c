package objects

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Bucket versioning states, S3's words; "" is a bucket never versioned.
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// versionIDLen is the length of a version id: 8 bytes of inverted time and
// 4 random ones, in hex, so a key's versions sort newest first.
const versionIDLen = 24

var errNoSuchVersion = errorf(KindNoSuchVersion, "The specified version does not exist.")

// Version is the id S3 shows for o: its own, or "null".
func (o *Object) Version() string {
	if o.Null {
		return "null"
	}
	return o.VersionID
}

// eventVersion is the version id an event names: none outside versioning.
func (o *Object) eventVersion() string {
	if o.Null {
		return ""
	}
	return o.VersionID
}

func versionPrefix(bucket string) []byte { return append(append([]byte{prefixVersion}, bucket...), 0) }

func versionKeyPrefix(bucket, key string) []byte {
	return append(append(versionPrefix(bucket), key...), 0)
}

func versionKey(bucket, key, vid string) []byte { return append(versionKeyPrefix(bucket, key), vid...) }

// lockKey takes the shared store lock and the key's stripe; it returns
// the function that releases both.
func (s *Store) lockKey(bucket, key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(bucket))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	l := &s.keyLocks[h.Sum32()%uint32(len(s.keyLocks))]
	s.mu.RLock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.RUnlock()
	}
}

// newVersionID returns an id below every id returned before in this run.
func (s *Store) newVersionID() string {
	var now int64
	for {
		now = s.cfg.Now().UnixNano()
		last := s.lastVersion.Load()
		if now <= last {
			now = last + 1
		}
		if s.lastVersion.CompareAndSwap(last, now) {
			break
		}
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], math.MaxUint64-uint64(now))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func validVersionID(v string) bool {
	if v == "null" {
		return true
	}
	if len(v) != versionIDLen {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil && strings.ToLower(v) == v
}

func invalidVersion() error {
	return errorf(KindInvalidArgument, "Invalid version id specified")
}

// splitVersionKey takes key and version id from the part of an index key
// after versionPrefix.
func splitVersionKey(rest []byte) (string, string, bool) {
	if len(rest) < versionIDLen+1 || rest[len(rest)-versionIDLen-1] != 0 {
		return "", "", false
	}
	return string(rest[:len(rest)-versionIDLen-1]), string(rest[len(rest)-versionIDLen:]), true
}

// keyVersions returns up to limit versions of one key, newest first
// (limit <= 0: all).
func (s *Store) keyVersions(bucket, key string, limit int) ([]Object, error) {
	p := versionKeyPrefix(bucket, key)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Object
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) != len(p)+versionIDLen {
			continue // a longer key that holds a NUL
		}
		o := Object{Key: key}
		if err := decodeEntry(it.Value(), &o, true); err != nil {
			return nil, fmt.Errorf("read version: %w", err)
		}
		if o.InCurrent {
			if err := s.versionBytes(bucket, &o); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
		if len(out) == limit {
			break
		}
	}
	return out, it.Error()
}

// findVersion returns one version by its S3 id ("null" included).
func (s *Store) findVersion(bucket, key, vid string) (Object, error) {
	if vid == "null" {
		vs, err := s.keyVersions(bucket, key, 0)
		if err != nil {
			return Object{}, err
		}
		for _, v := range vs {
			if v.Null {
				return v, nil
			}
		}
		return Object{}, errNoSuchVersion
	}
	v, closer, err := s.db.Get(versionKey(bucket, key, vid))
	if errors.Is(err, pebble.ErrNotFound) {
		return Object{}, errNoSuchVersion
	} else if err != nil {
		return Object{}, fmt.Errorf("read version: %w", err)
	}
	o := Object{Key: key}
	err = decodeEntry(v, &o, true)
	closer.Close()
	if err != nil {
		return Object{}, fmt.Errorf("read version: %w", err)
	}
	if o.InCurrent {
		if err := s.versionBytes(bucket, &o); err != nil {
			return Object{}, err
		}
	}
	return o, nil
}

// versionBytes fills in the bytes of an inline version whose entry says
// they are in the current entry. A writer may have made another version
// current since the entry was read, moving the bytes into the version's
// own entry in the same batch: then that entry is read again.
func (s *Store) versionBytes(bucket string, o *Object) error {
	for range 8 {
		cur, err := s.object(bucket, o.Key, true)
		if err == nil && cur.VersionID == o.VersionID && cur.Inline {
			o.Data, o.InCurrent = cur.Data, false
			return nil
		}
		if err != nil && !IsKind(err, KindNoSuchKey) {
			return err
		}
		v, closer, err := s.db.Get(versionKey(bucket, o.Key, o.VersionID))
		if errors.Is(err, pebble.ErrNotFound) {
			return errNoSuchVersion
		} else if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		n := Object{Key: o.Key}
		err = decodeEntry(v, &n, true)
		closer.Close()
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		if !n.InCurrent {
			*o = n
			return nil
		}
	}
	return fmt.Errorf("read version %s of %s: its bytes are neither in its entry nor in the current one", o.VersionID, o.Key)
}

// demoteCurrent keeps the bytes of the current version of key when b makes
// another version current (or a delete marker): unless b drops it (dropped,
// the null version a null write replaces), its version entry, which held
// only its metadata, gets the bytes from the current entry.
func (s *Store) demoteCurrent(b *pebble.Batch, bucket, key string, dropped bool) error {
	cur, err := s.object(bucket, key, true)
	if IsKind(err, KindNoSuchKey) {
		return nil
	} else if err != nil {
		return err
	}
	if !cur.Inline || cur.VersionID == "" || dropped && cur.Null {
		return nil
	}
	data, err := encodeEntry(&cur)
	if err != nil {
		return err
	}
	return b.Set(versionKey(bucket, key, cur.VersionID), data, nil)
}

// dropNull deletes the key's null version in b, if there is one, and
// returns the data file to remove once b is committed ("" if none). The
// current entry of an index written before versions existed counts as
// the null version too.
func (s *Store) dropNull(b *pebble.Batch, bk *Bucket, key string) (string, error) {
	bucket := bk.Name
	// A key has one null version at most: when it is current (always, in an
	// unversioned bucket) no scan is needed.
	cur, err := s.object(bucket, key, false)
	if err == nil && (cur.Null || cur.VersionID == "") {
		if cur.VersionID != "" {
			_ = b.Delete(versionKey(bucket, key, cur.VersionID), nil)
		}
		return cur.File, nil
	}
	if bk.Versioning == "" && IsKind(err, KindNoSuchKey) {
		return "", nil // never versioned: no current entry, no versions
	}
	old, err := s.findVersion(bucket, key, "null")
	if err == nil {
		_ = b.Delete(versionKey(bucket, key, old.VersionID), nil)
		return old.File, nil
	}
	if !IsKind(err, KindNoSuchVersion) {
		return "", err
	}
	return "", nil
}

// commitVersion makes o the newest version of its key: a new version in a
// versioned bucket, else the null version, which replaces the one before.
// The version and the current entry change in one synced batch.
func (s *Store) commitVersion(ctx context.Context, bucket string, o Object, event string) (Object, error) {
	o.Modified = s.cfg.Now().UTC().Truncate(time.Millisecond)
	o.VersionID = s.newVersionID()
	unlock := s.lockKey(bucket, o.Key)
	defer unlock()
	bk, err := s.bucket(bucket)
	if err != nil { // deleted while the data was written
		s.removeData(o.File)
		return Object{}, err
	}
	o.Null = bk.Versioning != VersioningEnabled
	data, err := encodeEntry(&o)
	if err != nil {
		return Object{}, err
	}
	vdata := versionEntry(data)
	o.Data = nil // the caller has the bytes
	b := s.db.NewBatch()
	defer b.Close()
	drop := ""
	if o.Null {
		if drop, err = s.dropNull(b, &bk, o.Key); err != nil {
			s.removeData(o.File)
			return Object{}, err
		}
	}
	// A bucket never versioned has only null versions, which the write
	// replaces: nothing to keep, and no read for it on the hot path.
	if bk.Versioning != "" {
		if err := s.demoteCurrent(b, bucket, o.Key, o.Null); err != nil {
			s.removeData(o.File)
			return Object{}, err
		}
	}
	_ = b.Set(versionKey(bucket, o.Key, o.VersionID), vdata, nil)
	_ = b.Set(objectKey(bucket, o.Key), data, nil)
	err = s.recordEvent(ctx, b, bucket, objectEvent{Name: event, Key: o.Key, Size: o.Size, ETag: o.ETag, VersionID: o.eventVersion(), Time: o.Modified})
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	if err != nil {
		s.removeData(o.File)
		return Object{}, fmt.Errorf("store object: %w", err)
	}
	s.notify.signal()
	if drop != "" && drop != o.File {
		s.removeData(drop)
	}
	return o, nil
}

// HeadObjectVersion returns the metadata of one version of an object, or
// of its current version when versionID is "". Reading past a delete
// marker fails with the marker's id in the error.
func (s *Store) HeadObjectVersion(_ context.Context, bucket, key, versionID string) (Object, error) {
	o, err := s.objectVersion(bucket, key, versionID)
	o.Data = nil
	return o, err
}

// objectVersion is HeadObjectVersion with an inline object's bytes.
func (s *Store) objectVersion(bucket, key, versionID string) (Object, error) {
	bk, err := s.bucket(bucket)
	if err != nil {
		return Object{}, err
	}
	if versionID == "" {
		o, err := s.object(bucket, key, true)
		if IsKind(err, KindNoSuchKey) && bk.Versioning != "" {
			if vs, verr := s.keyVersions(bucket, key, 1); verr == nil && len(vs) == 1 && vs[0].DeleteMarker {
				return Object{}, &Error{Kind: KindNoSuchKey, Message: "The specified key does not exist.", DeleteMarker: vs[0].Version()}
			}
		}
		return o, err
	}
	if !validVersionID(versionID) {
		return Object{}, invalidVersion()
	}
	o, err := s.findVersion(bucket, key, versionID)
	if err != nil {
		return Object{}, err
	}
	if o.DeleteMarker {
		return Object{}, &Error{Kind: KindDeleteMarker, Message: "The specified method is not allowed against this resource.", DeleteMarker: o.Version()}
	}
	return o, nil
}

// DeleteResult is what a delete did: the version it removed or the delete
// marker it added.
type DeleteResult struct {
	VersionID    string // S3's id ("null" included), "" in an unversioned bucket
	DeleteMarker bool
}

// DeleteObjectVersion deletes as S3 does. Without a version id: in an
// unversioned bucket the object goes; in a versioned one a delete marker
// becomes the newest version (in a suspended one, the null version). With
// one, that version goes for good and the next newer one becomes current.
// A missing key or version is not an error.
func (s *Store) DeleteObjectVersion(ctx context.Context, bucket, key, versionID string) (DeleteResult, error) {
	return s.deleteVersion(ctx, bucket, key, versionID, false, nil)
}

// deleteVersion is DeleteObjectVersion, for a request or for the expiry
// sweeper (lifecycle); with only, the current object is deleted just when
// only holds for it.
func (s *Store) deleteVersion(ctx context.Context, bucket, key, versionID string, lifecycle bool, only func(*Object) bool) (DeleteResult, error) {
	if versionID != "" && !validVersionID(versionID) {
		return DeleteResult{}, invalidVersion()
	}
	unlock := s.lockKey(bucket, key)
	defer unlock()
	bk, err := s.bucket(bucket)
	if err != nil {
		return DeleteResult{}, err
	}
	if only != nil {
		cur, err := s.object(bucket, key, false)
		if IsKind(err, KindNoSuchKey) || err == nil && !only(&cur) {
			return DeleteResult{}, nil
		} else if err != nil {
			return DeleteResult{}, err
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	var res DeleteResult
	var drop string
	switch {
	case versionID == "" && bk.Versioning == "":
		if _, err := s.object(bucket, key, false); IsKind(err, KindNoSuchKey) {
			return res, nil
		} else if err != nil {
			return res, err
		}
		if drop, err = s.dropNull(b, &bk, key); err != nil {
			return res, err
		}
		_ = b.Delete(objectKey(bucket, key), nil)
	case versionID == "":
		m := Object{Key: key, DeleteMarker: true, Modified: s.cfg.Now().UTC().Truncate(time.Millisecond), VersionID: s.newVersionID(),
			Null: bk.Versioning == VersioningSuspended}
		if m.Null {
			if drop, err = s.dropNull(b, &bk, key); err != nil {
				return res, err
			}
		}
		if err := s.demoteCurrent(b, bucket, key, m.Null); err != nil {
			return res, err
		}
		data, _ := json.Marshal(m)
		_ = b.Set(versionKey(bucket, key, m.VersionID), data, nil)
		_ = b.Delete(objectKey(bucket, key), nil)
		res = DeleteResult{VersionID: m.Version(), DeleteMarker: true}
	default:
		v, err := s.findVersion(bucket, key, versionID)
		if IsKind(err, KindNoSuchVersion) {
			return DeleteResult{VersionID: versionID}, nil
		} else if err != nil {
			return res, err
		}
		vs, err := s.keyVersions(bucket, key, 2)
		if err != nil {
			return res, err
		}
		_ = b.Delete(versionKey(bucket, key, v.VersionID), nil)
		if len(vs) > 0 && vs[0].VersionID == v.VersionID { // the newest goes: the next one is current
			if len(vs) > 1 && !vs[1].DeleteMarker {
				data, _ := encodeEntry(&vs[1])
				_ = b.Set(objectKey(bucket, key), data, nil)
				_ = b.Set(versionKey(bucket, key, vs[1].VersionID), versionEntry(data), nil)
			} else {
				_ = b.Delete(objectKey(bucket, key), nil)
			}
		}
		drop = v.File
		res = DeleteResult{VersionID: v.Version(), DeleteMarker: v.DeleteMarker}
	}
	ev := objectEvent{Name: EventDelete, Key: key, VersionID: res.VersionID, Time: s.cfg.Now().UTC(), Lifecycle: lifecycle}
	if res.DeleteMarker && versionID == "" {
		ev.Name = EventDeleteMarkerCreated
	}
	if lifecycle {
		ev.Name = EventLifecycleDelete
	}
	if err := s.recordEvent(ctx, b, bucket, ev); err != nil {
		return DeleteResult{}, fmt.Errorf("delete object: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return DeleteResult{}, fmt.Errorf("delete object: %w", err)
	}
	s.notify.signal()
	if drop != "" {
		s.removeData(drop)
	}
	return res, nil
}

// SetVersioning turns a bucket's versioning on (Enabled) or pauses it
// (Suspended); a bucket never goes back to unversioned, as in S3.
func (s *Store) SetVersioning(_ context.Context, bucket, state string) error {
	if state != VersioningEnabled && state != VersioningSuspended {
		return errorf(KindMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
	}
	return s.updateBucket(bucket, func(b *Bucket) { b.Versioning = state })
}

// SetBucketTags replaces a bucket's tags (nil removes them).
func (s *Store) SetBucketTags(_ context.Context, bucket string, tags map[string]string) error {
	return s.updateBucket(bucket, func(b *Bucket) { b.Tags = tags })
}

func (s *Store) updateBucket(name string, change func(*Bucket)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(name)
	if err != nil {
		return err
	}
	change(&b)
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	err = s.db.Set(bucketKey(name), data, pebble.Sync)
	s.buckets.drop(name)
	if err != nil {
		return fmt.Errorf("update bucket %s: %w", name, err)
	}
	return nil
}

// SetObjectTags replaces the tags of one version of an object (the current
// one when versionID is "") and returns that version.
func (s *Store) SetObjectTags(_ context.Context, bucket, key, versionID string, tags map[string]string) (Object, error) {
	return s.updateVersion(bucket, key, versionID, "tag object", func(o *Object) { o.Tags = tags })
}

// VersionListOptions select the versions of a listing.
type VersionListOptions struct {
	Prefix          string
	Delimiter       string
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int
}

// VersionEntry is one version in a listing.
type VersionEntry struct {
	Object
	IsLatest bool
}

// VersionListResult is one page of ListObjectVersions.
type VersionListResult struct {
	Versions       []VersionEntry // objects and delete markers, keys in order, newest first
	CommonPrefixes []string
	Truncated      bool
	NextKeyMarker  string
	NextVersionID  string
}

// ListVersions lists every version of a bucket's keys: keys in S3's order
// and each key's versions newest first, one range scan as List is.
func (s *Store) ListVersions(_ context.Context, bucket string, opts VersionListOptions) (VersionListResult, error) {
	if _, err := s.bucket(bucket); err != nil {
		return VersionListResult{}, err
	}
	if opts.VersionIDMarker != "" && (opts.KeyMarker == "" || !validVersionID(opts.VersionIDMarker)) {
		return VersionListResult{}, errorf(KindInvalidArgument, "A version-id marker cannot be specified without a key marker.")
	}
	base := versionPrefix(bucket)
	lower := append(append([]byte(nil), base...), opts.Prefix...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return VersionListResult{}, err
	}
	defer it.Close()
	valid := it.First()
	prevKey := "" // the key of the entry before: the first version of a key is its latest
	havePrev := false
	if opts.KeyMarker != "" {
		start := prefixEnd(versionKeyPrefix(bucket, opts.KeyMarker)) // after every version of the marker's key
		if opts.VersionIDMarker != "" {
			vid := opts.VersionIDMarker
			if vid == "null" {
				v, err := s.findVersion(bucket, opts.KeyMarker, "null")
				if err != nil {
					return VersionListResult{}, err
				}
				vid = v.VersionID
			}
			start = append(versionKey(bucket, opts.KeyMarker, vid), 0)
			prevKey, havePrev = opts.KeyMarker, true
		}
		if string(start) > string(lower) {
			valid = it.SeekGE(start)
		}
	}
	var res VersionListResult
	count := 0
	for valid {
		key, vid, ok := splitVersionKey(it.Key()[len(base):])
		if !ok {
			valid = it.Next()
			continue
		}
		if opts.Delimiter != "" {
			if i := strings.Index(key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				cp := key[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if cp > opts.KeyMarker {
					if count == opts.MaxKeys {
						res.Truncated = true
						break
					}
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.NextKeyMarker, res.NextVersionID = cp, ""
					count++
				}
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
			return VersionListResult{}, fmt.Errorf("list versions %s: %w", bucket, err)
		}
		o.VersionID = vid
		res.Versions = append(res.Versions, VersionEntry{Object: o, IsLatest: !havePrev || prevKey != key})
		prevKey, havePrev = key, true
		res.NextKeyMarker, res.NextVersionID = key, o.Version()
		count++
		valid = it.Next()
	}
	if !res.Truncated {
		res.NextKeyMarker, res.NextVersionID = "", ""
	}
	return res, it.Error()
}
