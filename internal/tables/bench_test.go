package tables

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

func benchTable(b *testing.B) *Service {
	s := quietService(b, b.TempDir())
	b.Cleanup(func() { _ = s.Close() })
	if _, err := s.CreateTable(context.Background(), TableSpec{TableName: "bench", BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "id", AttributeType: "S"}}, KeySchema: []KeyElement{{AttributeName: "id", KeyType: "HASH"}}}); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPutItem: durable (fsync'd) 1 KB puts from parallel callers.
func BenchmarkPutItem(b *testing.B) {
	s := benchTable(b)
	payload := S(strings.Repeat("x", 1000))
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint(n.Add(1))
			if _, err := s.PutItem(context.Background(), PutInput{Table: "bench", Item: Item{"id": S(id), "data": payload}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetItem: 1 KB reads from parallel callers.
func BenchmarkGetItem(b *testing.B) {
	s := benchTable(b)
	payload := S(strings.Repeat("x", 1000))
	for i := 0; i < 1000; i++ {
		if _, err := s.PutItem(context.Background(), PutInput{Table: "bench", Item: Item{"id": S(fmt.Sprint(i)), "data": payload}}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetItem(context.Background(), GetInput{Table: "bench", Key: Item{"id": S(fmt.Sprint(n.Add(1) % 1000))}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPutItemSerial: durable 1 KB puts from one caller, so each waits
// for its own fsync: the log's sync latency.
func BenchmarkPutItemSerial(b *testing.B) {
	s := benchTable(b)
	payload := S(strings.Repeat("x", 1000))
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.PutItem(context.Background(), PutInput{Table: "bench", Item: Item{"id": S(fmt.Sprint(i)), "data": payload}}); err != nil {
			b.Fatal(err)
		}
	}
}
