package objects

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Multipart limits, S3's.
const (
	MinPartSize = 5 << 20
	MaxParts    = 10000
	maxPartSize = 5 << 30
)

// Index prefixes of uploads in progress: 'u' bucket NUL key NUL id, and
// 'p' id part-number (big-endian) for their parts.
const (
	prefixUpload = 'u'
	prefixPart   = 'p'
)

// Upload is a multipart upload in progress.
type Upload struct {
	Bucket    string     `json:"-"`
	Key       string     `json:"-"`
	ID        string     `json:"-"`
	Initiated time.Time  `json:"initiated"`
	Attrs     Attributes `json:"attrs"`
}

// Part is one uploaded part.
type Part struct {
	Number   int       `json:"-"`
	Size     int64     `json:"size"`
	ETag     string    `json:"etag"`
	Modified time.Time `json:"modified"`
	File     string    `json:"file"`
}

// CompletedPart names a part in CompleteMultipartUpload.
type CompletedPart struct {
	Number int
	ETag   string
}

func uploadPrefix(bucket string) []byte { return append(append([]byte{prefixUpload}, bucket...), 0) }

func uploadKey(bucket, key, id string) []byte {
	b := append(uploadPrefix(bucket), key...)
	return append(append(b, 0), id...)
}

func partPrefix(id string) []byte { return append(append([]byte{prefixPart}, id...), 0) }

func partKey(id string, n int) []byte {
	return binary.BigEndian.AppendUint16(partPrefix(id), uint16(n))
}

var errNoSuchUpload = errorf(KindNoSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")

// CreateMultipartUpload starts an upload to bucket/key.
func (s *Store) CreateMultipartUpload(_ context.Context, bucket, key string, attrs Attributes) (Upload, error) {
	if err := validKey(key); err != nil {
		return Upload{}, err
	}
	if _, err := s.bucket(bucket); err != nil {
		return Upload{}, err
	}
	u := Upload{Bucket: bucket, Key: key, ID: newFileName(), Initiated: s.cfg.Now().UTC(), Attrs: attrs}
	data, _ := json.Marshal(u)
	if err := s.db.Set(uploadKey(bucket, key, u.ID), data, pebble.Sync); err != nil {
		return Upload{}, fmt.Errorf("create upload: %w", err)
	}
	return u, nil
}

func (s *Store) upload(bucket, key, id string) (Upload, error) {
	v, closer, err := s.db.Get(uploadKey(bucket, key, id))
	if errors.Is(err, pebble.ErrNotFound) {
		if _, berr := s.bucket(bucket); berr != nil {
			return Upload{}, berr
		}
		return Upload{}, errNoSuchUpload
	} else if err != nil {
		return Upload{}, fmt.Errorf("read upload: %w", err)
	}
	defer closer.Close()
	u := Upload{Bucket: bucket, Key: key, ID: id}
	if err := json.Unmarshal(v, &u); err != nil {
		return Upload{}, fmt.Errorf("read upload: %w", err)
	}
	return u, nil
}

// UploadPart stores one part; a part sent again replaces the earlier one.
func (s *Store) UploadPart(ctx context.Context, bucket, key, id string, n int, body io.Reader, size int64, wantMD5 []byte) (Part, error) {
	if n < 1 || n > MaxParts {
		return Part{}, errorf(KindInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
	}
	if size > maxPartSize {
		return Part{}, errorf(KindEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
	}
	if _, err := s.upload(bucket, key, id); err != nil {
		return Part{}, err
	}
	file, written, sum, err := s.writeHashed(ctx, body, size)
	if err != nil {
		return Part{}, err
	}
	if wantMD5 != nil && string(sum) != string(wantMD5) {
		s.removeData(file)
		return Part{}, errorf(KindBadDigest, "The Content-MD5 you specified did not match what we received.")
	}
	p := Part{Number: n, Size: written, ETag: `"` + hex.EncodeToString(sum) + `"`, Modified: s.cfg.Now().UTC().Truncate(time.Millisecond), File: file}
	data, _ := json.Marshal(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.upload(bucket, key, id); err != nil { // completed or aborted meanwhile
		s.removeData(file)
		return Part{}, err
	}
	old, oldErr := s.part(id, n)
	if err := s.db.Set(partKey(id, n), data, pebble.Sync); err != nil {
		s.removeData(file)
		return Part{}, fmt.Errorf("store part: %w", err)
	}
	if oldErr == nil {
		s.removeData(old.File)
	}
	return p, nil
}

func (s *Store) part(id string, n int) (Part, error) {
	v, closer, err := s.db.Get(partKey(id, n))
	if err != nil {
		return Part{}, err
	}
	defer closer.Close()
	p := Part{Number: n}
	return p, json.Unmarshal(v, &p)
}

// ListParts lists an upload's parts in order, after partMarker, at most max.
func (s *Store) ListParts(_ context.Context, bucket, key, id string, partMarker, max int) (Upload, []Part, bool, error) {
	u, err := s.upload(bucket, key, id)
	if err != nil {
		return Upload{}, nil, false, err
	}
	parts, err := s.parts(id)
	if err != nil {
		return Upload{}, nil, false, err
	}
	var out []Part
	for _, p := range parts {
		if p.Number <= partMarker {
			continue
		}
		if len(out) == max {
			return u, out, true, nil
		}
		out = append(out, p)
	}
	return u, out, false, nil
}

func (s *Store) parts(id string) ([]Part, error) {
	pre := partPrefix(id)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: pre, UpperBound: prefixEnd(pre)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Part
	for it.First(); it.Valid(); it.Next() {
		p := Part{Number: int(binary.BigEndian.Uint16(it.Key()[len(pre):]))}
		if err := json.Unmarshal(it.Value(), &p); err != nil {
			return nil, fmt.Errorf("read part: %w", err)
		}
		out = append(out, p)
	}
	return out, it.Error()
}

// ListUploads lists a bucket's uploads in progress, by key then id.
func (s *Store) ListUploads(_ context.Context, bucket, prefix string, max int) ([]Upload, bool, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, false, err
	}
	base := uploadPrefix(bucket)
	lower := append(append([]byte(nil), base...), prefix...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	var out []Upload
	for it.First(); it.Valid(); it.Next() {
		if len(out) == max {
			return out, true, nil
		}
		rest := it.Key()[len(base):]
		i := len(rest) - 32 - 1 // key NUL id (32 hex)
		if i < 0 {
			continue
		}
		u := Upload{Bucket: bucket, Key: string(rest[:i]), ID: string(rest[i+1:])}
		if err := json.Unmarshal(it.Value(), &u); err != nil {
			return nil, false, fmt.Errorf("read upload: %w", err)
		}
		out = append(out, u)
	}
	return out, false, it.Error()
}

// AbortMultipartUpload drops an upload and its parts.
func (s *Store) AbortMultipartUpload(_ context.Context, bucket, key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.upload(bucket, key, id); err != nil {
		return err
	}
	return s.dropUpload(bucket, key, id, "")
}

// dropUpload deletes an upload's entries and the parts' files except keep.
func (s *Store) dropUpload(bucket, key, id, keep string) error {
	parts, err := s.parts(id)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Delete(uploadKey(bucket, key, id), nil)
	pre := partPrefix(id)
	_ = b.DeleteRange(pre, prefixEnd(pre), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("drop upload: %w", err)
	}
	for _, p := range parts {
		if p.File != keep {
			s.removeData(p.File)
		}
	}
	return nil
}

// CompleteMultipartUpload joins the named parts, in order, into the
// object. The bytes are copied into one new file (constant memory), so a
// read is one file as for any object. The ETag is S3's multipart form: the
// MD5 of the parts' binary MD5s, a dash and the number of parts.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, id string, want []CompletedPart) (Object, error) {
	u, err := s.upload(bucket, key, id)
	if err != nil {
		return Object{}, err
	}
	if len(want) == 0 {
		return Object{}, errorf(KindMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
	}
	have, err := s.parts(id)
	if err != nil {
		return Object{}, err
	}
	byNumber := map[int]Part{}
	for _, p := range have {
		byNumber[p.Number] = p
	}
	chosen := make([]Part, 0, len(want))
	etags := md5.New()
	for i, w := range want {
		if i > 0 && w.Number <= want[i-1].Number {
			return Object{}, errorf(KindInvalidPartOrder, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
		}
		p, ok := byNumber[w.Number]
		if !ok || !sameETag(p.ETag, w.ETag) {
			return Object{}, errorf(KindInvalidPart, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
		}
		chosen = append(chosen, p)
	}
	// Every part is checked to exist before sizes, so a wrong list is InvalidPart.
	for i, p := range chosen {
		if i < len(chosen)-1 && p.Size < MinPartSize {
			return Object{}, errorf(KindEntityTooSmall, "Your proposed upload is smaller than the minimum allowed size")
		}
		raw, _ := hex.DecodeString(p.ETag[1 : len(p.ETag)-1])
		etags.Write(raw)
	}
	readers := make([]io.Reader, 0, len(chosen))
	var total int64
	for _, p := range chosen {
		f, err := os.Open(s.dataPath(p.File))
		if err != nil {
			return Object{}, fmt.Errorf("complete upload: %w", err)
		}
		defer f.Close()
		readers = append(readers, f)
		total += p.Size
	}
	if total > 5<<40 {
		return Object{}, errorf(KindEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
	}
	file, n, err := s.writeData(ctx, io.MultiReader(readers...), total)
	if err != nil {
		return Object{}, err
	}
	o := Object{Key: key, Size: n, ETag: `"` + hex.EncodeToString(etags.Sum(nil)) + "-" + strconv.Itoa(len(chosen)) + `"`, File: file}
	o.setAttributes(u.Attrs)
	for _, p := range chosen {
		o.PartSizes = append(o.PartSizes, p.Size)
	}
	s.mu.Lock()
	if _, err := s.upload(bucket, key, id); err != nil { // completed or aborted meanwhile
		s.mu.Unlock()
		s.removeData(file)
		return Object{}, err
	}
	s.mu.Unlock()
	o, err = s.commit(ctx, bucket, o, EventCompleteMultipart)
	if err != nil {
		return Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.dropUpload(bucket, key, id, ""); err != nil {
		s.log.Warn("completed upload's parts not removed", "upload", id, "err", err)
	}
	return o, nil
}

func sameETag(a, b string) bool {
	trim := func(s string) string {
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			return s[1 : len(s)-1]
		}
		return s
	}
	return trim(a) == trim(b)
}
