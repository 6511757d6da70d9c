package streamsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const benchYML = `service: sb
provider:
  name: aws
  runtime: provided.al2023
  timeout: 60
functions:
  reader:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
    events:
      - stream:
          type: kinesis
          arn:
            Fn::GetAtt: [Events, Arn]
          batchSize: 10
          parallelizationFactor: %d
resources:
  Resources:
    Events:
      Type: AWS::Kinesis::Stream
      Properties:
        Name: bench
        ShardCount: 1
`

// BenchmarkStreamDelivery delivers 200 records of 20 partition keys from
// one shard to a function whose every batch takes 20 ms of (waiting) work,
// with parallelizationFactor 1 and 4.
func BenchmarkStreamDelivery(b *testing.B) {
	for _, factor := range []int{1, 4} {
		b.Run(fmt.Sprintf("factor=%d", factor), func(b *testing.B) {
			var mu sync.Mutex
			delivered := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var ev struct{ Records []json.RawMessage }
				_ = json.Unmarshal(body, &ev)
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				delivered += len(ev.Records)
				mu.Unlock()
			}))
			defer srv.Close()
			dir := b.TempDir()
			testkit.BuildGoZip(b, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
			if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(fmt.Sprintf(benchYML, srv.URL, factor)), 0o644); err != nil {
				b.Fatal(err)
			}
			p := testkit.Start(b, func(c *server.Config) { c.NoSandbox = true })
			p.Deploy(dir)
			c := kinesis.NewFromConfig(p.AWSConfig())
			const records = 200
			var entries []ktypes.PutRecordsRequestEntry
			for i := range records {
				entries = append(entries, ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("key%d", i%20)), Data: []byte("x")})
			}
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mu.Lock()
				delivered = 0
				mu.Unlock()
				if _, err := c.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries}); err != nil {
					b.Fatal(err)
				}
				for {
					mu.Lock()
					n := delivered
					mu.Unlock()
					if n >= records {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(b.N*records)
			b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Microseconds()), "platform-cpu-µs/record")
		})
	}
}
