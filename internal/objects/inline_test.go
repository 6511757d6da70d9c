package objects

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
