package objects

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestInlineObjects: objects up to InlineLimit live in the index and
// nothing else on disk, larger ones in files; both read back whole after a
// reopen, through versions, copies and tags, and a data directory written
// before inline objects existed keeps working and migrates key by key as
// keys are written again.
func TestInlineObjects(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Objects written with every object in a file, as older data dirs are.
	s := openWith(t, Config{Dir: dir, InlineLimit: -1})
	if _, err := s.CreateBucket(ctx, "mixed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, "mixed", "old", strings.NewReader("from before"), -1, Attributes{}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if n := len(countFiles(dir)); n != 1 {
		t.Fatalf("%d files for one object kept in a file", n)
	}

	s = open(t, dir)
	defer func() { s.Close() }()
	if err := s.SetVersioning(ctx, "mixed", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	body := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	cases := []struct {
		key   string
		body  []byte
		size  int64 // declared; -1 unknown
		files int   // files this PUT adds
	}{
		{"empty", nil, 0, 0},
		{"one", body(1, 'a'), 1, 0},
		{"limit", body(InlineLimit, 'b'), InlineLimit, 0},
		{"limit-unsized", body(InlineLimit, 'c'), -1, 0},
		{"over", body(InlineLimit+1, 'd'), InlineLimit + 1, 1},
		{"over-unsized", body(InlineLimit+1, 'e'), -1, 1},
		{"large-unsized", body(3<<20+17, 'f'), -1, 1},
	}
	files := 1
	for _, c := range cases {
		o, err := s.PutObject(ctx, "mixed", c.key, bytes.NewReader(c.body), c.size, Attributes{ContentType: "x/y"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.key, err)
		}
		files += c.files
		if o.Size != int64(len(c.body)) || o.Inline != (c.files == 0) {
			t.Fatalf("%s: size %d inline %v", c.key, o.Size, o.Inline)
		}
		if got := len(countFiles(dir)); got != files {
			t.Fatalf("after %s: %d data files, want %d", c.key, got, files)
		}
	}
	// A body longer or shorter than declared is refused on both paths.
	for _, n := range []int64{10, InlineLimit - 1, InlineLimit + 10} {
		if _, err := s.PutObject(ctx, "mixed", "bad", bytes.NewReader(body(int(n)+1, 'z')), n, Attributes{}, nil); !IsKind(err, KindIncompleteBody) {
			t.Fatalf("long body of declared %d: %v", n, err)
		}
		if _, err := s.PutObject(ctx, "mixed", "bad", bytes.NewReader(body(int(n)-1, 'z')), n, Attributes{}, nil); !IsKind(err, KindIncompleteBody) {
			t.Fatalf("short body of declared %d: %v", n, err)
		}
	}
	s.Close()
	s = open(t, dir)
	for _, c := range append(cases, struct {
		key   string
		body  []byte
		size  int64
		files int
	}{"old", []byte("from before"), -1, 1}) {
		if got := read(t, s, "mixed", c.key); got != string(c.body) {
			t.Fatalf("%s reads %d bytes, want %d", c.key, len(got), len(c.body))
		}
		o, err := s.HeadObject(ctx, "mixed", c.key)
		if err != nil || o.Data != nil || (c.key != "old" && o.ContentType != "x/y") {
			t.Fatalf("%s: head %+v, %v", c.key, o.ContentType, err)
		}
	}
	// A range read of an inline object.
	_, b, err := s.GetObject(ctx, "mixed", "one")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := InlineBytes(b); !ok {
		t.Fatal("a small object is not read from the index")
	}
	b.Close()

	// The old file-kept key written again goes inline; its file goes.
	if err := s.SetVersioning(ctx, "mixed", VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, "mixed", "old", strings.NewReader("now inline"), -1, Attributes{}, nil); err != nil {
		t.Fatal(err)
	}
	files--
	if got := len(countFiles(dir)); got != files || read(t, s, "mixed", "old") != "now inline" {
		t.Fatalf("after rewriting the old key: %d files (want %d), %q", got, files, read(t, s, "mixed", "old"))
	}
	if err := s.SetVersioning(ctx, "mixed", VersioningEnabled); err != nil {
		t.Fatal(err)
	}

	// Versions: the older inline version becomes current again, bytes and all.
	first, err := s.PutObject(ctx, "mixed", "v", strings.NewReader("first"), 5, Attributes{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.PutObject(ctx, "mixed", "v", strings.NewReader("second"), 6, Attributes{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetObjectTags(ctx, "mixed", "v", first.VersionID, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObjectVersion(ctx, "mixed", "v", second.VersionID); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, "mixed", "v"); got != "first" {
		t.Fatalf("after deleting the newest version: %q", got)
	}
	if _, err := s.SetObjectTags(ctx, "mixed", "v", "", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, "mixed", "v"); got != "first" {
		t.Fatalf("after tagging: %q", got)
	}

	// Copies: small ones inline whatever the source, large ones in files.
	for src, inline := range map[string]bool{"one": true, "old": true, "over": false} {
		o, err := s.CopyObject(ctx, "mixed", src, "mixed", "copy-"+src, false, Attributes{})
		if err != nil || o.Inline != inline {
			t.Fatalf("copy of %s: inline %v, %v", src, o.Inline, err)
		}
		if read(t, s, "mixed", "copy-"+src) != read(t, s, "mixed", src) {
			t.Fatalf("copy of %s differs", src)
		}
	}

	// Listings show inline objects' sizes without their bytes.
	res, err := s.List(ctx, "mixed", ListOptions{Prefix: "limit", MaxKeys: 10})
	if err != nil || len(res.Objects) != 2 || res.Objects[0].Size != InlineLimit || res.Objects[0].Data != nil {
		t.Fatalf("list: %+v, %v", res, err)
	}
}

// storedCopies counts the index entries of bucket/key (current and
// versions) that hold body.
func storedCopies(t *testing.T, s *Store, bucket, key string, body []byte) int {
	t.Helper()
	n := 0
	for _, p := range [][]byte{objectKey(bucket, key), versionKeyPrefix(bucket, key)} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			t.Fatal(err)
		}
		for it.First(); it.Valid(); it.Next() {
			if bytes.Equal(it.Key(), p) || len(it.Key()) == len(p)+versionIDLen {
				if bytes.Contains(it.Value(), body) {
					n++
				}
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// A small object's bytes are stored once: in the current entry, while the
// current version's entry holds only its metadata. A version that stops
// being current (a newer write, a delete marker) takes its bytes along, and
// one that becomes current again gives them back; every version reads back
// whole, before and after a reopen, through tags, ACLs, copies and deletes.
func TestInlineBytesStoredOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	defer func() { s.Close() }()
	for _, b := range []string{"plain", "versioned"} {
		if _, err := s.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	body := func(c byte) []byte { return bytes.Repeat([]byte{c}, 1000) }
	put := func(bucket, key string, b []byte) Object {
		t.Helper()
		o, err := s.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), Attributes{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	version := func(bucket, key, vid string, want []byte) {
		t.Helper()
		_, f, err := s.GetObjectVersion(ctx, bucket, key, vid)
		if err != nil {
			t.Fatalf("%s/%s version %q: %v", bucket, key, vid, err)
		}
		defer f.Close()
		got, _ := io.ReadAll(f)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s/%s version %q: %d bytes %.10q, want %.10q", bucket, key, vid, len(got), got, want)
		}
	}
	copies := func(bucket, key string, b []byte, want int) {
		t.Helper()
		if n := storedCopies(t, s, bucket, key, b); n != want {
			t.Fatalf("%s/%s: %d stored copies of its bytes, want %d", bucket, key, n, want)
		}
	}

	// Unversioned: one copy, replaced in place.
	a := put("plain", "k", body('a'))
	copies("plain", "k", body('a'), 1)
	version("plain", "k", a.Version(), body('a'))
	put("plain", "k", body('b'))
	copies("plain", "k", body('a'), 0)
	copies("plain", "k", body('b'), 1)
	if _, err := s.SetObjectTags(ctx, "plain", "k", "", map[string]string{"t": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetObjectACL(ctx, "plain", "k", "null", "public-read"); err != nil {
		t.Fatal(err)
	}
	copies("plain", "k", body('b'), 1)
	version("plain", "k", "null", body('b'))

	// Versioned: each version's bytes once, wherever they are.
	if err := s.SetVersioning(ctx, "versioned", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := put("versioned", "k", body('1'))
	v2 := put("versioned", "k", body('2'))
	v3 := put("versioned", "k", body('3'))
	for c, n := range map[byte]int{'1': 1, '2': 1, '3': 1} {
		copies("versioned", "k", body(c), n)
	}
	if _, err := s.SetObjectTags(ctx, "versioned", "k", v3.VersionID, map[string]string{"t": "3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetObjectTags(ctx, "versioned", "k", v1.VersionID, map[string]string{"t": "1"}); err != nil {
		t.Fatal(err)
	}
	copies("versioned", "k", body('3'), 1)
	copies("versioned", "k", body('1'), 1)
	if _, _, err := s.CopyObjectVersion(ctx, CopyInput{SrcBucket: "versioned", SrcKey: "k", SrcVersion: v3.VersionID, Bucket: "plain", Key: "copy"}); err != nil {
		t.Fatal(err)
	}
	version("plain", "copy", "", body('3'))
	// A delete marker: the last version keeps its bytes.
	if _, err := s.DeleteObjectVersion(ctx, "versioned", "k", ""); err != nil {
		t.Fatal(err)
	}
	copies("versioned", "k", body('3'), 1)
	version("versioned", "k", v3.VersionID, body('3'))
	// Reopen: everything reads back.
	s.Close()
	s = open(t, dir)
	for vid, want := range map[string][]byte{v1.VersionID: body('1'), v2.VersionID: body('2'), v3.VersionID: body('3')} {
		version("versioned", "k", vid, want)
	}
	version("plain", "k", "", body('b'))
	// Deleting the marker and then the newest version makes the older ones
	// current again, their bytes still once.
	vs, err := s.keyVersions("versioned", "k", 1)
	if err != nil || len(vs) != 1 || !vs[0].DeleteMarker {
		t.Fatalf("newest version: %+v %v", vs, err)
	}
	for _, vid := range []string{vs[0].VersionID, v3.VersionID} {
		if _, err := s.DeleteObjectVersion(ctx, "versioned", "k", vid); err != nil {
			t.Fatal(err)
		}
	}
	version("versioned", "k", "", body('2'))
	version("versioned", "k", v2.VersionID, body('2'))
	version("versioned", "k", v1.VersionID, body('1'))
	copies("versioned", "k", body('2'), 1)
	copies("versioned", "k", body('3'), 0)
	// Suspended: a null write keeps the version it replaces as current.
	if err := s.SetVersioning(ctx, "versioned", VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	put("versioned", "k", body('n'))
	version("versioned", "k", "", body('n'))
	version("versioned", "k", "null", body('n'))
	version("versioned", "k", v2.VersionID, body('2'))
	copies("versioned", "k", body('2'), 1)
	copies("versioned", "k", body('n'), 1)
	put("versioned", "k", body('m'))
	copies("versioned", "k", body('n'), 0)
	version("versioned", "k", "null", body('m'))
}
