// Package objects is the core of nimbus's object storage: buckets and
// objects kept on local disk, with their metadata and the key index in an
// embedded ordered engine (Pebble), so a listing is a range scan. It speaks
// plain Go types; the S3 wire protocol lives in internal/awsapi/s3.
package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nimbus-platform/nimbus/internal/pebblewal"
)

// MaxObjectSize is S3's limit for a single PUT (5 GiB).
const MaxObjectSize = 5 << 30

// InlineLimit is the largest object kept in its index entry rather than in
// a data file of its own (ADR 0025). Below it, a file's fixed costs (create,
// fsync, rename, directory fsync on a PUT; an open on each GET) outweigh
// copying the bytes through Pebble's WAL, and a PUT becomes one synced
// batch, which Pebble groups with concurrent ones into one WAL sync. 64 KiB
// keeps an entry small against Pebble's 64 MiB memtables and bounds what a
// read of one holds in memory.
const InlineLimit = 64 << 10

// Index key prefixes: one byte, then the bucket name; objects add a NUL
// (never in a bucket name) and the key, so one bucket's keys are one range
// in S3's order (UTF-8 bytes).
const (
	prefixBucket  = 'b'
	prefixObject  = 'o'
	prefixVersion = 'v' // 'v' bucket NUL key NUL version id: every version, newest first
)

// Config configures the store.
type Config struct {
	Dir    string // <data>/objects
	Logger *slog.Logger
	Now    func() time.Time
	// InlineLimit overrides the package's InlineLimit: 0 keeps it, a
	// negative value keeps every object in a file (tests of both kinds).
	InlineLimit int
}

// Store holds every bucket and object of a node.
type Store struct {
	cfg Config
	db  *pebble.DB
	log *slog.Logger
	// mu serialises the index's read-check-write steps on buckets and
	// uploads (bucket emptiness, versioning state, parts). Writes of one
	// object hold it shared plus their key's stripe of keyLocks, so writers
	// of different keys commit (and sync the index) together: Pebble groups
	// concurrent synced batches into one WAL sync. Data is written outside
	// both.
	mu       sync.RWMutex
	keyLocks [64]sync.Mutex
	// lastVersion keeps version ids strictly decreasing within a run.
	lastVersion atomic.Int64
	inlineLimit int64 // 0: no inline objects
	buffers     bufferPool
	buckets     bucketCache
	stopSweep   context.CancelFunc
	swept       chan struct{}
	// notify holds the outbox dispatcher of event notifications (notify.go).
	notify *notifyState
}

// Bucket is a bucket's metadata.
type Bucket struct {
	Name       string            `json:"-"`
	Created    time.Time         `json:"created"`
	Versioning string            `json:"versioning,omitempty"` // "", Enabled or Suspended
	Tags       map[string]string `json:"tags,omitempty"`
	ACL        string            `json:"acl,omitempty"`       // canned ACL; "" is private (acl.go)
	Ownership  string            `json:"ownership,omitempty"` // object ownership; "" is ObjectWriter
}

// Object is an object's metadata.
type Object struct {
	Key                string            `json:"-"`
	Size               int64             `json:"size"`
	ETag               string            `json:"etag"` // quoted, as S3 sends it
	Modified           time.Time         `json:"modified"`
	ContentType        string            `json:"contentType,omitempty"`
	ContentEncoding    string            `json:"contentEncoding,omitempty"`
	ContentDisposition string            `json:"contentDisposition,omitempty"`
	ContentLanguage    string            `json:"contentLanguage,omitempty"`
	CacheControl       string            `json:"cacheControl,omitempty"`
	Expires            string            `json:"expires,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"` // x-amz-meta-*, lower-case names
	File               string            `json:"file"`               // data file under <dir>/data
	// VersionID orders the key's versions (newest first) and names the
	// version unless Null, whose id S3 spells "null".
	VersionID    string            `json:"vid,omitempty"`
	Null         bool              `json:"null,omitempty"`
	DeleteMarker bool              `json:"dm,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	ACL          string            `json:"acl,omitempty"` // canned ACL; "" is private
	// PartSizes are the sizes of the parts of a multipart upload, for
	// GetObject's partNumber.
	PartSizes []int64 `json:"parts,omitempty"`
	// Inline objects keep their bytes, Data, in the index entry (after the
	// JSON and a NUL) and have no File.
	Inline bool   `json:"-"`
	Data   []byte `json:"-"`
	// InCurrent marks the version entry of the current version of an
	// inline object: its bytes are kept once, in the current entry.
	InCurrent bool `json:"cur,omitempty"`
}

// encodeEntry is an object's index entry: its JSON, then for an inline
// object a NUL (which JSON never holds unescaped) and the bytes.
func encodeEntry(o *Object) ([]byte, error) {
	meta, err := json.Marshal(o)
	if err != nil || !o.Inline {
		return meta, err
	}
	out := make([]byte, 0, len(meta)+1+len(o.Data))
	out = append(append(append(out, meta...), 0), o.Data...)
	return out, nil
}

// decodeEntry reads an index entry into o; with data, an inline object's
// bytes are copied out (the entry is only valid until its closer runs).
func decodeEntry(v []byte, o *Object, data bool) error {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		o.Inline = true
		if data {
			o.Data = append([]byte(nil), v[i+1:]...)
		}
		v = v[:i]
	}
	if err := json.Unmarshal(v, o); err != nil {
		return err
	}
	if o.InCurrent {
		o.Inline = true // its bytes are the current entry's (versionBytes)
	}
	return nil
}

// versionEntry is the version entry of the current version whose current
// entry is entry: an inline object's metadata marked InCurrent, without its
// bytes, which the current entry holds (ADR 0025). The metadata is never
// "{}" (size, etag and modified are always there), so the mark is appended
// to it without encoding the object again.
func versionEntry(entry []byte) []byte {
	i := bytes.IndexByte(entry, 0)
	if i < 0 {
		return entry
	}
	out := make([]byte, 0, i+len(`,"cur":true}`))
	return append(append(out, entry[:i-1]...), `,"cur":true}`...)
}

// Body is an object's bytes as a read returns them: its data file, or a
// reader over an inline object's bytes. The caller closes it.
type Body interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// inlineBody is the Body of an inline object.
type inlineBody struct {
	*bytes.Reader
	data []byte
}

func (inlineBody) Close() error { return nil }

func newInlineBody(data []byte) Body { return inlineBody{bytes.NewReader(data), data} }

// InlineBytes returns the bytes of an inline object's body without a copy,
// or false for a file.
func InlineBytes(b Body) ([]byte, bool) {
	ib, ok := b.(inlineBody)
	return ib.data, ok
}

// Attributes are what a writer sets on an object besides its bytes.
type Attributes struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	Metadata           map[string]string
	Tags               map[string]string
	ACL                string // canned ACL; "" and "private" are private
}

func (o *Object) setAttributes(a Attributes) {
	o.ContentType, o.ContentEncoding, o.ContentDisposition = a.ContentType, a.ContentEncoding, a.ContentDisposition
	o.ContentLanguage, o.CacheControl, o.Expires, o.Metadata = a.ContentLanguage, a.CacheControl, a.Expires, a.Metadata
	o.Tags, o.ACL = a.Tags, a.ACL
	if o.ACL == "private" {
		o.ACL = ""
	}
}

// Attributes returns the object's writer-set attributes.
func (o *Object) Attributes() Attributes {
	return Attributes{ContentType: o.ContentType, ContentEncoding: o.ContentEncoding, ContentDisposition: o.ContentDisposition,
		ContentLanguage: o.ContentLanguage, CacheControl: o.CacheControl, Expires: o.Expires, Metadata: o.Metadata, Tags: o.Tags, ACL: o.ACL}
}

// Open opens (or creates) the store under cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, d := range []string{"data", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("open object storage: %w", err)
		}
	}
	// Temporary files of writes a crash interrupted were never visible
	// (data directories written before files were written in place).
	if tmp, err := os.ReadDir(filepath.Join(cfg.Dir, "tmp")); err == nil {
		for _, e := range tmp {
			_ = os.Remove(filepath.Join(cfg.Dir, "tmp", e.Name()))
		}
	}
	db, err := pebble.Open(filepath.Join(cfg.Dir, "index"), indexOptions(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("open object index: %w%s", err, pebblewal.Damaged(err, filepath.Join(cfg.Dir, "index")))
	}
	s := &Store{cfg: cfg, db: db, log: cfg.Logger, notify: newNotifyState(), inlineLimit: InlineLimit,
		buffers: newBufferPool(64)}
	if cfg.InlineLimit != 0 {
		s.inlineLimit = int64(max(cfg.InlineLimit, 0))
	}
	files, err := s.existingFiles()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.startSweep(files)
	return s, nil
}

// Close stops the sweep and closes the index, after the notification
// dispatcher (stopped by the end of its context) has returned.
func (s *Store) Close() error {
	s.notify.stop()
	s.stopSweep()
	<-s.swept
	return s.db.Close()
}

// indexOptions tunes Pebble for how the index is read. Every PUT looks up
// its key's current entry (absent for a new key) and every GET reads one:
// Bloom filters let a lookup skip the tables that cannot hold the key, and
// a block cache larger than Pebble's 8 MB default keeps the entries of
// recently used objects (small ones hold their bytes) out of pread and
// snappy. Memtables keep Pebble's 4 MB: its WAL files are then recycled
// after a few MB of writes, and a sync that overwrites a recycled file
// needs no journal commit for a new file size (0.1 ms here against 0.3-1
// ms for an append), which is what a small PUT waits for.
func indexOptions(log *slog.Logger) *pebble.Options {
	o := &pebble.Options{Logger: pebbleLogger{log}, CacheSize: 64 << 20, FS: pebblewal.FS(vfs.Default),
		FormatMajorVersion: pebblewal.Format}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("object index: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("object index: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("object index: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}

func bucketKey(name string) []byte { return append([]byte{prefixBucket}, name...) }

func objectPrefix(bucket string) []byte {
	b := append([]byte{prefixObject}, bucket...)
	return append(b, 0)
}

func objectKey(bucket, key string) []byte { return append(objectPrefix(bucket), key...) }

var (
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ipAddress  = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
)

// ValidBucketName applies S3's naming rules for new buckets.
func ValidBucketName(name string) bool {
	return bucketName.MatchString(name) && !strings.Contains(name, "..") &&
		!ipAddress.MatchString(name)
}

// CreateBucket creates a bucket.
func (s *Store) CreateBucket(ctx context.Context, name string) (Bucket, error) {
	return s.CreateBucketWith(ctx, Bucket{Name: name})
}

// CreateBucketWith creates a bucket with b's ACL and object ownership.
func (s *Store) CreateBucketWith(_ context.Context, b Bucket) (Bucket, error) {
	name := b.Name
	if !ValidBucketName(name) {
		return Bucket{}, errorf(KindInvalidBucketName, "The specified bucket is not valid.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(name); err == nil {
		return Bucket{}, errorf(KindBucketExists, "Your previous request to create the named bucket succeeded and you already own it.")
	}
	b = Bucket{Name: name, Created: s.cfg.Now().UTC(), ACL: b.ACL, Ownership: b.Ownership}
	if b.ACL == "private" {
		b.ACL = ""
	}
	data, _ := json.Marshal(b)
	err := s.db.Set(bucketKey(name), data, pebble.Sync)
	s.buckets.drop(name)
	if err != nil {
		return Bucket{}, fmt.Errorf("create bucket %s: %w", name, err)
	}
	return b, nil
}

// bucketCache keeps bucket records read from the index: every object
// request reads its bucket's, and they change seldom. A writer drops the
// entry after its write; gen keeps a reader that read before that write
// from putting the old record back.
type bucketCache struct {
	mu      sync.Mutex
	gen     uint64
	records map[string]Bucket
}

func (c *bucketCache) get(name string) (Bucket, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.records[name]
	return b, c.gen, ok
}

func (c *bucketCache) put(name string, b Bucket, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if c.records == nil {
			c.records = map[string]Bucket{}
		}
		c.records[name] = b
	}
}

func (c *bucketCache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.records, name)
}

func (s *Store) bucket(name string) (Bucket, error) {
	b, gen, ok := s.buckets.get(name)
	if ok {
		return b, nil
	}
	b, err := s.readBucket(name)
	if err == nil {
		s.buckets.put(name, b, gen)
	}
	return b, err
}

func (s *Store) readBucket(name string) (Bucket, error) {
	v, closer, err := s.db.Get(bucketKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return Bucket{}, errorf(KindNoSuchBucket, "The specified bucket does not exist")
	} else if err != nil {
		return Bucket{}, fmt.Errorf("read bucket %s: %w", name, err)
	}
	defer closer.Close()
	b := Bucket{Name: name}
	if err := json.Unmarshal(v, &b); err != nil {
		return Bucket{}, fmt.Errorf("read bucket %s: %w", name, err)
	}
	return b, nil
}

// HeadBucket returns a bucket's metadata.
func (s *Store) HeadBucket(_ context.Context, name string) (Bucket, error) { return s.bucket(name) }

// DeleteBucket deletes an empty bucket.
func (s *Store) DeleteBucket(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(name); err != nil {
		return err
	}
	// Old versions and delete markers keep a bucket from being empty too.
	for _, p := range [][]byte{objectPrefix(name), versionPrefix(name)} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		if err := it.Close(); err != nil {
			return err
		}
		if nonEmpty {
			return errorf(KindBucketNotEmpty, "The bucket you tried to delete is not empty")
		}
	}
	if err := s.deleteBucketConfigs(name); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Delete(bucketKey(name), nil)
	// Its configurations and deploy ownership go with it.
	_ = b.Delete(notificationKey(name), nil)
	_ = b.Delete(lifecycleKey(name), nil)
	_ = b.Delete(ownerKey(name), nil)
	err := b.Commit(pebble.Sync)
	s.buckets.drop(name)
	if err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return nil
}

// ListBuckets lists every bucket in name order.
func (s *Store) ListBuckets(_ context.Context) ([]Bucket, error) {
	p := []byte{prefixBucket}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Bucket
	for it.First(); it.Valid(); it.Next() {
		b := Bucket{Name: string(it.Key()[1:])}
		if err := json.Unmarshal(it.Value(), &b); err != nil {
			return nil, fmt.Errorf("read bucket %s: %w", b.Name, err)
		}
		out = append(out, b)
	}
	return out, it.Error()
}

// prefixEnd is the smallest key above every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func validKey(key string) error {
	if key == "" || len(key) > 1024 {
		return errorf(KindKeyTooLong, "Your key is too long")
	}
	return nil
}

// PutObject stores body as bucket/key. The bytes go inline into the index
// entry or to a new data file that is fsync'd before the index names it, so
// a reader (or a crash) sees the old object or the new one, never part of
// one. size is the
// declared length (-1 if unknown); a body that ends short or runs long fails,
// as does one whose MD5 is not wantMD5 (when given).
func (s *Store) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, attrs Attributes, wantMD5 []byte) (Object, error) {
	if err := validKey(key); err != nil {
		return Object{}, err
	}
	if size > MaxObjectSize {
		return Object{}, errorf(KindEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
	}
	if _, err := s.bucket(bucket); err != nil {
		return Object{}, err
	}
	if size <= s.inlineLimit { // unknown (-1) or small: perhaps inline
		data, whole, err := readSmall(body, size, s.inlineLimit)
		if err != nil {
			return Object{}, err
		}
		if whole {
			if size >= 0 && int64(len(data)) != size {
				return Object{}, errIncompleteBody
			}
			sum := md5.Sum(data)
			if wantMD5 != nil && !bytes.Equal(sum[:], wantMD5) {
				return Object{}, errBadDigest
			}
			o := Object{Key: key, Size: int64(len(data)), ETag: `"` + hex.EncodeToString(sum[:]) + `"`, Inline: true, Data: data}
			o.setAttributes(attrs)
			return s.commit(ctx, bucket, o, EventPut)
		}
		body = io.MultiReader(bytes.NewReader(data), body) // over the limit: to a file
	}
	file, n, sum, err := s.writeHashed(ctx, body, size)
	if err != nil {
		return Object{}, err
	}
	if wantMD5 != nil && !bytes.Equal(sum, wantMD5) {
		s.removeData(file)
		return Object{}, errBadDigest
	}
	o := Object{Key: key, Size: n, ETag: `"` + hex.EncodeToString(sum) + `"`, File: file}
	o.setAttributes(attrs)
	return s.commit(ctx, bucket, o, EventPut)
}

var (
	errIncompleteBody = errorf(KindIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errBadDigest      = errorf(KindBadDigest, "The Content-MD5 you specified did not match what we received.")
)

// readSmall reads a body of declared size (-1: unknown) up to limit bytes.
// whole tells that the body ended within them (its end read, so checksum
// and signature readers have checked it); else data is the start of a
// longer body.
func readSmall(r io.Reader, size, limit int64) (data []byte, whole bool, err error) {
	n := limit + 1
	if size >= 0 {
		n = size + 1
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(r, buf)
	switch {
	case err == nil && size >= 0: // longer than declared
		return nil, false, errIncompleteBody
	case err == nil:
		return buf, false, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:k:k], true, nil
	default:
		return nil, false, fmt.Errorf("store object: %w", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store object: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store object: %w", err)
	}
	return nil
}

func newFileName() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dataPath spreads files over 256 directories.
func (s *Store) dataPath(name string) string {
	return filepath.Join(s.cfg.Dir, "data", name[:2], name)
}

// commit makes o the newest version of bucket/o.Key (see versions.go); the
// notifications of event (EventPut, ...) are recorded in the same write.
func (s *Store) commit(ctx context.Context, bucket string, o Object, event string) (Object, error) {
	return s.commitVersion(ctx, bucket, o, event)
}

func (s *Store) removeData(file string) {
	if file == "" { // an inline object or a delete marker
		return
	}
	if err := os.Remove(s.dataPath(file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("object data file not removed", "file", file, "err", err)
	}
}

// object reads bucket/key's current entry; with data, an inline object's
// bytes are copied out too.
func (s *Store) object(bucket, key string, data bool) (Object, error) {
	v, closer, err := s.db.Get(objectKey(bucket, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return Object{}, errorf(KindNoSuchKey, "The specified key does not exist.")
	} else if err != nil {
		return Object{}, fmt.Errorf("read object: %w", err)
	}
	defer closer.Close()
	o := Object{Key: key}
	if err := decodeEntry(v, &o, data); err != nil {
		return Object{}, fmt.Errorf("read object: %w", err)
	}
	return o, nil
}

// HeadObject returns an object's metadata.
func (s *Store) HeadObject(ctx context.Context, bucket, key string) (Object, error) {
	return s.HeadObjectVersion(ctx, bucket, key, "")
}

// GetObject returns an object's metadata and its bytes, which the caller
// closes. They stay readable even if the object is replaced.
func (s *Store) GetObject(ctx context.Context, bucket, key string) (Object, Body, error) {
	return s.GetObjectVersion(ctx, bucket, key, "")
}

// GetObjectVersion is GetObject of one version ("" the current one).
func (s *Store) GetObjectVersion(ctx context.Context, bucket, key, versionID string) (Object, Body, error) {
	for range 5 {
		o, err := s.objectVersion(bucket, key, versionID)
		if err != nil {
			return Object{}, nil, err
		}
		if o.Inline {
			data := o.Data
			o.Data = nil
			return o, newInlineBody(data), nil
		}
		f, err := os.Open(s.dataPath(o.File))
		if errors.Is(err, os.ErrNotExist) {
			continue // replaced between the lookup and the open: look again
		} else if err != nil {
			return Object{}, nil, fmt.Errorf("read object: %w", err)
		}
		return o, f, nil
	}
	if versionID != "" {
		return Object{}, nil, errNoSuchVersion
	}
	return Object{}, nil, errorf(KindNoSuchKey, "The specified key does not exist.")
}

// DeleteObject removes an object; a missing key is not an error, as in S3.
// In a versioned bucket it adds a delete marker (see DeleteObjectVersion).
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) error {
	_, err := s.DeleteObjectVersion(ctx, bucket, key, "")
	return err
}

// CopyObject copies src to bucket/key; with replace the new object takes
// attrs, else the source's attributes.
func (s *Store) CopyObject(ctx context.Context, srcBucket, srcKey, bucket, key string, replace bool, attrs Attributes) (Object, error) {
	o, _, err := s.CopyObjectVersion(ctx, CopyInput{SrcBucket: srcBucket, SrcKey: srcKey, Bucket: bucket, Key: key,
		ReplaceMetadata: replace, ReplaceTags: replace, Attrs: attrs})
	return o, err
}

// CopyInput names a copy's source (a version of it, when SrcVersion is
// set) and destination. The destination takes the source's metadata and
// tags unless told to replace them with Attrs'.
type CopyInput struct {
	SrcBucket, SrcKey, SrcVersion string
	Bucket, Key                   string
	ReplaceMetadata, ReplaceTags  bool
	Attrs                         Attributes
}

// CopyObjectVersion copies and returns the new object and the source.
func (s *Store) CopyObjectVersion(ctx context.Context, in CopyInput) (Object, Object, error) {
	if err := validKey(in.Key); err != nil {
		return Object{}, Object{}, err
	}
	if _, err := s.bucket(in.Bucket); err != nil {
		return Object{}, Object{}, err
	}
	src, f, err := s.GetObjectVersion(ctx, in.SrcBucket, in.SrcKey, in.SrcVersion)
	if err != nil {
		return Object{}, Object{}, err
	}
	defer f.Close()
	o := Object{Key: in.Key, Size: src.Size, ETag: src.ETag, PartSizes: src.PartSizes}
	if src.Size <= s.inlineLimit { // small copies are inline, whatever the source's kind
		data, ok := InlineBytes(f)
		if !ok {
			if data, _, err = readSmall(f, src.Size, s.inlineLimit); err != nil {
				return Object{}, src, err
			}
		}
		o.Inline, o.Data = true, data
	} else if o.File, o.Size, err = s.writeData(ctx, f, src.Size); err != nil {
		return Object{}, src, err
	}
	o.setAttributes(src.Attributes())
	o.ACL = in.Attrs.ACL // a copy takes the ACL its request names, never the source's
	if o.ACL == "private" {
		o.ACL = ""
	}
	if in.ReplaceMetadata {
		tags := o.Tags
		o.setAttributes(in.Attrs)
		o.Tags = tags
	}
	if in.ReplaceTags {
		o.Tags = in.Attrs.Tags
	}
	o, err = s.commit(ctx, in.Bucket, o, EventCopy)
	return o, src, err
}
