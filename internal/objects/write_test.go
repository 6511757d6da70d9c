package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

// oddReader hands out its bytes in pieces of uneven size, as a network
// body does.
type oddReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *oddReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), len(r.data), 1+r.rng.IntN(300<<10))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// TestLargeWrite sends objects through every stage of the write pipeline
// (many chunks, several writeback steps) and reads them back whole; a
// body that breaks after many chunks leaves no object and no file.
func TestLargeWrite(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, Config{Dir: dir})
	defer func() { s.Close() }()
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{writeChunk*writeBuffers + 1, 2*writebackStep + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		o, err := s.PutObject(ctx, "big", "k", &oddReader{data, rng}, int64(size), Attributes{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(data)
		if want := `"` + hex.EncodeToString(sum[:]) + `"`; o.ETag != want || o.Size != int64(size) {
			t.Fatalf("size %d: ETag %s size %d, want %s", size, o.ETag, o.Size, want)
		}
		if got := read(t, s, "big", "k"); !bytes.Equal([]byte(got), data) {
			t.Fatalf("size %d: read back %d different bytes", size, len(got))
		}
	}
	if _, err := s.PutObject(ctx, "big", "broken", &failingReader{n: 3 * writebackStep / 2}, 4*writebackStep, Attributes{}, nil); err == nil {
		t.Fatal("a broken body was stored")
	}
	if _, err := s.HeadObject(ctx, "big", "broken"); !IsKind(err, KindNoSuchKey) {
		t.Fatalf("broken upload: %v", err)
	}
	if files := countFiles(dir); len(files) != 1 {
		t.Fatalf("data files %v, want the one object's", files)
	}
}
