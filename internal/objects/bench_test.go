package objects

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkSmallPut writes inline objects (replacing 100 keys) straight to
// the store, unversioned and versioned, and reports the bytes Pebble's WAL
// took per PUT beside the time: what keeping a small body once saves.
func BenchmarkSmallPut(b *testing.B) {
	for _, versioned := range []bool{false, true} {
		for _, size := range []int{1 << 10, 16 << 10, 60 << 10} {
			b.Run(fmt.Sprintf("versioned=%v/%dKB", versioned, size>>10), func(b *testing.B) {
				s, err := Open(Config{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				if _, err := s.CreateBucket(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
				if versioned {
					if err := s.SetVersioning(ctx, "bench", VersioningEnabled); err != nil {
						b.Fatal(err)
					}
				}
				body := bytes.Repeat([]byte("x"), size)
				before := s.db.Metrics().WAL.BytesWritten
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := range b.N {
					if _, err := s.PutObject(ctx, "bench", fmt.Sprintf("k%d", i%100), bytes.NewReader(body), int64(size), Attributes{}, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(s.db.Metrics().WAL.BytesWritten-before)/float64(b.N), "WAL-B/op")
			})
		}
	}
}
