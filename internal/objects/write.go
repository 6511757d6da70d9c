package objects

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Data files are written in writeChunk pieces, writeBuffers of them in
// flight through three goroutines: the request's reads (and the payload
// signature's SHA-256, which the verifier computes as it is read), the file
// writes, and the MD5. A large PUT then costs the slowest of the three
// rather than their sum, and a write that waits for the disk does not stop
// the reads. A few large buffers keep the syscalls per MiB few; 2 MiB in
// flight per upload keeps many concurrent ones cheap.
const (
	writeChunk   = 256 << 10
	writeBuffers = 8
	// writebackStep is how much is written before the kernel is asked to
	// start writing it back, so the fsync at the end waits for the tail
	// only rather than for the whole object.
	writebackStep = 8 << 20
)

// writeData copies r into a new data file and returns its name and size.
func (s *Store) writeData(ctx context.Context, r io.Reader, size int64) (string, int64, error) {
	name, n, _, err := s.writeFile(ctx, r, size, nil)
	return name, n, err
}

// writeHashed is writeData that also returns the bytes' MD5.
func (s *Store) writeHashed(ctx context.Context, r io.Reader, size int64) (string, int64, []byte, error) {
	return s.writeFile(ctx, r, size, md5.New())
}

// writeFile streams r to a new data file under its final name (hashing
// it into h, if given), fsyncs it and its directory: once it returns, the
// file is durable under its name. No index entry names the file before the
// caller commits one, so a reader never sees it partial; one a crash leaves
// behind is swept at the next start (sweep.go), and a failed write removes
// its own. Writing in place rather than to tmp/ and renaming saves the
// rename, and on ext4 the file's fsync commits its directory entry too, so
// the directory's fsync finds nothing left to write.
func (s *Store) writeFile(ctx context.Context, r io.Reader, size int64, h hash.Hash) (string, int64, []byte, error) {
	name := newFileName()
	final := s.dataPath(name)
	f, err := os.OpenFile(final, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrNotExist) { // a new shard directory
		// Its entry in data/ is synced too: the file's and its directory's
		// fsyncs below do not make the directory itself durable.
		if err = os.MkdirAll(filepath.Dir(final), 0o700); err == nil {
			if err = syncDir(filepath.Dir(filepath.Dir(final))); err == nil {
				f, err = os.OpenFile(final, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
			}
		}
	}
	if err != nil {
		return "", 0, nil, fmt.Errorf("store object: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(final)
		}
	}()
	n, sum, err := s.copyHashed(ctx, f, io.LimitReader(r, MaxObjectSize+1), h)
	if err != nil {
		return "", 0, nil, err
	}
	if n > MaxObjectSize {
		return "", 0, nil, errorf(KindEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
	}
	if size >= 0 && n != size {
		return "", 0, nil, errIncompleteBody
	}
	if err := f.Sync(); err != nil {
		return "", 0, nil, fmt.Errorf("store object: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", 0, nil, err
	}
	done = true
	if err := f.Close(); err != nil {
		s.removeData(name)
		return "", 0, nil, fmt.Errorf("store object: %w", err)
	}
	return name, n, sum, nil
}

// copyHashed copies r to f in writeChunk pieces: this goroutine reads, a
// second one writes each piece and hands it, with h, to a third that hashes
// it.
func (s *Store) copyHashed(ctx context.Context, f *os.File, r io.Reader, h hash.Hash) (int64, []byte, error) {
	free := make(chan []byte, writeBuffers)
	for range writeBuffers {
		free <- s.buffers.get()
	}
	toWrite := make(chan []byte, writeBuffers)
	toHash := make(chan []byte, writeBuffers)
	written, hashed := make(chan struct{}), make(chan struct{})
	var failed atomic.Bool
	var werr error // the writer's; read after written is closed
	go func() {
		defer close(written)
		defer close(toHash)
		var off, kicked int64
		for b := range toWrite {
			if werr == nil {
				if _, err := f.Write(b); err != nil {
					werr = fmt.Errorf("store object: %w", err)
					failed.Store(true)
				}
				off += int64(len(b))
				if off-kicked >= writebackStep {
					startWriteback(f, kicked, off-kicked)
					kicked = off
				}
			}
			if h != nil && werr == nil {
				toHash <- b
			} else {
				free <- b[:cap(b)]
			}
		}
	}()
	go func() {
		defer close(hashed)
		for b := range toHash {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var n int64
	rerr := func() error {
		for !failed.Load() {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := <-free
			k, err := io.ReadFull(r, b)
			if k > 0 {
				n += int64(k)
				toWrite <- b[:k]
			} else {
				free <- b
			}
			switch {
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				return nil
			case err != nil:
				return fmt.Errorf("store object: %w", err)
			}
		}
		return nil
	}()
	close(toWrite)
	<-written
	<-hashed
	for range writeBuffers {
		s.buffers.put(<-free)
	}
	if rerr != nil {
		return 0, nil, rerr
	}
	if werr != nil {
		return 0, nil, werr
	}
	var sum []byte
	if h != nil {
		sum = h.Sum(nil)
	}
	return n, sum, nil
}

// bufferPool keeps the write buffers of finished uploads for the next.
type bufferPool struct{ c chan []byte }

func newBufferPool(n int) bufferPool { return bufferPool{c: make(chan []byte, n)} }

func (p bufferPool) get() []byte {
	select {
	case b := <-p.c:
		return b
	default:
		return make([]byte, writeChunk)
	}
}

func (p bufferPool) put(b []byte) {
	select {
	case p.c <- b:
	default:
	}
}
