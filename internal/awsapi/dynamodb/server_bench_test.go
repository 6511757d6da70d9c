package dynamodb_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// The server benchmarks measure what one PutItem or GetItem of a 1 KB item
// costs the whole platform (HTTP, SigV4, the edge, the core, Pebble): the
// requests are signed beforehand and written as raw HTTP/1.1 over one
// keep-alive connection, and answers are read by their length, so the
// allocations and CPU reported are nearly all the server's. PutItem's time
// is mostly its fsync; CPU and allocations per operation are the steady
// figures.
//
//	go test -run '^$' -bench Server -benchmem ./internal/awsapi/dynamodb/

func BenchmarkServerPutItem(b *testing.B) { benchServer(b, "PutItem") }
func BenchmarkServerGetItem(b *testing.B) { benchServer(b, "GetItem") }

func benchServer(b *testing.B, op string) {
	p := testkit.Start(b, nil)
	c := dynamodb.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("bench"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
		b.Fatal(err)
	}
	const items = 1000
	data := strings.Repeat("x", 1000)
	body := func(op string, i int) string {
		if op == "PutItem" {
			return fmt.Sprintf(`{"TableName":"bench","Item":{"pk":{"S":"k-%d"},"data":{"S":"%s"}}}`, i%items, data)
		}
		return fmt.Sprintf(`{"TableName":"bench","Key":{"pk":{"S":"k-%d"}}}`, i%items)
	}
	u, err := url.Parse(p.URL())
	if err != nil {
		b.Fatal(err)
	}
	prepare := func(op string, n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			req, err := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader(body(op, i)))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
			p.Sign(req, "dynamodb")
			var buf bytes.Buffer
			if err := req.Write(&buf); err != nil {
				b.Fatal(err)
			}
			out[i] = buf.Bytes()
		}
		return out
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 16<<10)
	send := func(reqs [][]byte) {
		for _, r := range reqs {
			if _, err := conn.Write(r); err != nil {
				b.Fatal(err)
			}
			if err := readOK(br); err != nil {
				b.Fatal(err)
			}
		}
	}
	send(prepare("PutItem", items)) // the items GetItem reads
	reqs := prepare(op, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	send(reqs)
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user and system, every thread) the process
// has used so far, in nanoseconds: steadier than wall time on a busy machine.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// readOK reads one answer and fails unless it is a 200.
func readOK(br *bufio.Reader) error {
	status, length := "", -1
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if first {
			status = string(line)
			continue
		}
		if name, value, ok := bytes.Cut(line, []byte(": ")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(value)); err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return fmt.Errorf("%s: no Content-Length", status)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		msg := make([]byte, length)
		_, _ = br.Read(msg)
		return fmt.Errorf("%s: %s", status, msg)
	}
	_, err := br.Discard(length)
	return err
}
