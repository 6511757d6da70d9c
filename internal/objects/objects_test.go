package objects

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	return openWith(t, Config{Dir: dir})
}

func openWith(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// kinds are the two ways an object is kept: tests of the write path run
// with each. files says how many data files n small objects leave.
var kinds = []struct {
	name   string
	inline int
	files  func(n int) int
}{
	{"files", -1, func(n int) int { return n }},
	{"inline", 0, func(int) int { return 0 }},
}

func countFiles(dir string) []string {
	var files []string
	_ = filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func read(t *testing.T, s *Store, bucket, key string) string {
	t.Helper()
	_, f, err := s.GetObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return string(b)
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

// TestFailedPutKeepsTheOldObject: a body that breaks off, ends short or
// fails its MD5 leaves the previous object as it was and no file behind.
func TestFailedPutKeepsTheOldObject(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) { testFailedPut(t, kind.inline, kind.files) })
	}
}

func testFailedPut(t *testing.T, inline int, want func(int) int) {
	dir := t.TempDir()
	s := openWith(t, Config{Dir: dir, InlineLimit: inline})
	defer func() { s.Close() }()
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, "keep", "k", strings.NewReader("old"), 3, Attributes{}, nil); err != nil {
		t.Fatal(err)
	}
	for name, put := range map[string]func() error{
		"broken body": func() error {
			_, err := s.PutObject(ctx, "keep", "k", &failingReader{n: 100000}, 200000, Attributes{}, nil)
			return err
		},
		"short body": func() error {
			_, err := s.PutObject(ctx, "keep", "k", strings.NewReader("ne"), 3, Attributes{}, nil)
			return err
		},
		"bad md5": func() error {
			_, err := s.PutObject(ctx, "keep", "k", strings.NewReader("new"), 3, Attributes{}, bytes.Repeat([]byte{1}, 16))
			return err
		},
	} {
		if err := put(); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if got := read(t, s, "keep", "k"); got != "old" {
			t.Fatalf("%s: object holds %q", name, got)
		}
	}
	files := countFiles(dir)
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(files) != want(1) || len(tmp) != 0 {
		t.Fatalf("data files %v, temporary files %d", files, len(tmp))
	}
	// Replacing and deleting leave no data file behind; a reopened store
	// still has the bucket.
	if _, err := s.PutObject(ctx, "keep", "k", strings.NewReader("new"), 3, Attributes{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(ctx, "keep", "k"); err != nil {
		t.Fatal(err)
	}
	if files = countFiles(dir); len(files) != 0 {
		t.Fatalf("data files after delete: %v", files)
	}
	s.Close()
	s = openWith(t, Config{Dir: dir, InlineLimit: inline})
	if _, err := s.HeadBucket(ctx, "keep"); err != nil {
		t.Fatalf("bucket after reopen: %v", err)
	}
}

// TestReaderSurvivesReplace: an open object keeps its bytes while a writer
// replaces it.
func TestReaderSurvivesReplace(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "race"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, "race", "k", strings.NewReader("first"), -1, Attributes{}, nil); err != nil {
		t.Fatal(err)
	}
	_, f, err := s.GetObject(ctx, "race", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.PutObject(ctx, "race", "k", strings.NewReader("second"), -1, Attributes{}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if string(b) != "first" || read(t, s, "race", "k") != "second" {
		t.Fatalf("open reader got %q, new reader %q", b, read(t, s, "race", "k"))
	}
}

// TestConcurrentWriters: writers racing on one key and readers beside them
// each see one whole object, and one data file is left.
func TestConcurrentWriters(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) { testConcurrentWriters(t, kind.inline, kind.files) })
	}
}

func testConcurrentWriters(t *testing.T, inline int, want func(int) int) {
	dir := t.TempDir()
	s := openWith(t, Config{Dir: dir, InlineLimit: inline})
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	bodies := []string{strings.Repeat("a", 1000), strings.Repeat("b", 2000), strings.Repeat("c", 3000), strings.Repeat("d", 4000)}
	errs := make(chan error, 200)
	for w := range 4 {
		go func() {
			for range 20 {
				_, err := s.PutObject(ctx, "busy", "k", strings.NewReader(bodies[w]), -1, Attributes{}, nil)
				errs <- err
			}
		}()
		go func() {
			for range 20 {
				o, f, err := s.GetObject(ctx, "busy", "k")
				if IsKind(err, KindNoSuchKey) {
					errs <- nil
					continue
				} else if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(f)
				f.Close()
				if int64(len(b)) != o.Size || strings.Trim(string(b), string(b[:1])) != "" {
					errs <- errors.New("a reader saw a mixed or partial object")
					continue
				}
				errs <- nil
			}
		}()
	}
	for range 160 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if files := len(countFiles(dir)); files != want(1) {
		t.Fatalf("%d data files for one object", files)
	}
}

// TestSweepOrphans: a data file no index entry names (a crash between the
// rename and the commit) is removed when the store opens again; files
// that objects, old versions and upload parts name stay.
func TestSweepOrphans(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) { testSweepOrphans(t, kind.inline, kind.files) })
	}
}

func testSweepOrphans(t *testing.T, inline int, want func(int) int) {
	dir := t.TempDir()
	s := openWith(t, Config{Dir: dir, InlineLimit: inline})
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "swept"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVersioning(ctx, "swept", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two"} {
		if _, err := s.PutObject(ctx, "swept", "k", strings.NewReader(body), -1, Attributes{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.CreateMultipartUpload(ctx, "swept", "big", Attributes{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(ctx, "swept", "big", u.ID, 1, strings.NewReader("part"), 4, nil); err != nil {
		t.Fatal(err)
	}
	orphan, _, err := s.writeData(ctx, strings.NewReader("never committed"), -1)
	if err != nil {
		t.Fatal(err)
	}
	<-s.Swept()
	if _, err := os.Stat(s.dataPath(orphan)); err != nil {
		t.Fatalf("a file written in this run was swept: %v", err)
	}
	s.Close()
	s = openWith(t, Config{Dir: dir, InlineLimit: inline})
	defer s.Close()
	<-s.Swept()
	if _, err := os.Stat(s.dataPath(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the orphan is still there: %v", err)
	}
	if files := len(countFiles(dir)); files != want(2)+1 {
		t.Fatalf("%d data files, want two versions and a part", files)
	}
	o, err := s.HeadObjectVersion(ctx, "swept", "k", "")
	if err != nil || read(t, s, "swept", "k") != "two" || o.Size != 3 {
		t.Fatalf("object after the sweep: %+v, %v", o, err)
	}
}
