// Command tables measures the DynamoDB API through the AWS SDK for Go v2
// against nimbus (durable: every write fsync'd before the answer) and, in the
// same run, against moto_server: PutItem and GetItem of 1 KB items with
// concurrent clients, a Query returning 100 items from a table of -items
// items, and TransactWriteItems of 10 items.
//
//	go run ./bench/tables -n 3000 -clients 16 -items 10000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/server"
)

type result struct {
	put, get, tx float64       // operations per second
	query        time.Duration // median latency of a 100-item Query
}

func main() {
	n := flag.Int("n", 3000, "operations per measurement")
	clients := flag.Int("clients", 16, "concurrent SDK clients")
	itemsN := flag.Int("items", 10000, "items in the Query table")
	withMoto := flag.Bool("moto", true, "also measure moto_server")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the nimbus run to this file")
	flag.Parse()
	work, err := os.MkdirTemp("", "nimbus-bench-tables-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(work, "data"), Addr: "127.0.0.1:0",
		RunDir: filepath.Join(work, "run"), NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	fmt.Printf("machine: %d CPUs; %d operations, %d clients, 1 KB items, Query table of %d items\n\n", runtime.NumCPU(), *n, *clients, *itemsN)
	fmt.Println("| target | PutItem/s | GetItem/s | TransactWriteItems (10 items)/s | Query 100 items, median |")
	fmt.Println("|---|---:|---:|---:|---:|")
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	nim := measure(srv.URL(), *n, *clients, *itemsN)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("| nimbus (durable, fsync) | %.0f | %.0f | %.0f | %v |\n", nim.put, nim.get, nim.tx, nim.query.Round(10*time.Microsecond))
	if *withMoto {
		port := freePort()
		cmd := exec.Command("moto_server", "-p", fmt.Sprint(port))
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		for i := 0; ; i++ {
			if resp, err := http.Get(url + "/moto-api/"); err == nil {
				resp.Body.Close()
				break
			}
			if i > 200 {
				log.Fatal("moto_server did not start")
			}
			time.Sleep(100 * time.Millisecond)
		}
		m := measure(url, *n, *clients, *itemsN)
		fmt.Printf("| moto_server (in memory) | %.0f | %.0f | %s | %v |\n", m.put, m.get, rate(m.tx), m.query.Round(10*time.Microsecond))
		fmt.Printf("| nimbus / moto | %.1f× | %.1f× | %s | %.1f× faster |\n", nim.put/m.put, nim.get/m.get, ratio(nim.tx, m.tx), float64(m.query)/float64(nim.query))
	}
}

func rate(r float64) string {
	if r == 0 {
		return "failed"
	}
	return fmt.Sprintf("%.0f", r)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }

// parallel runs op n times over clients goroutines and returns operations
// per second (0 if an operation failed: the error is printed).
func parallel(n, clients int, op func(i int) error) float64 {
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) || failed.Load() {
					return
				}
				if err := op(int(i)); err != nil {
					if !failed.Swap(true) {
						log.Print(err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return 0
	}
	return float64(n) / time.Since(start).Seconds()
}

func measure(endpoint string, n, clients, itemsN int) result {
	ctx := context.Background()
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}})
	suffix := fmt.Sprint(time.Now().UnixNano())
	kv, series := "kv"+suffix, "series"+suffix
	for _, t := range []struct {
		name string
		sort bool
	}{{kv, false}, {series, true}} {
		in := &dynamodb.CreateTableInput{TableName: aws.String(t.name), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}
		if t.sort {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: "N"})
			in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange})
		}
		if _, err := c.CreateTable(ctx, in); err != nil {
			log.Fatal(err)
		}
	}
	payload := str(strings.Repeat("x", 1000))
	var r result
	r.put = parallel(n, clients, func(i int) error {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kv), Item: map[string]types.AttributeValue{"pk": str(fmt.Sprint(i)), "data": payload}})
		return err
	})
	r.get = parallel(n, clients, func(i int) error {
		_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(kv), Key: map[string]types.AttributeValue{"pk": str(fmt.Sprint(i))}})
		return err
	})
	txN := n / 10
	r.tx = parallel(txN, clients, func(i int) error {
		var items []types.TransactWriteItem
		for j := 0; j < 10; j++ {
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(kv),
				Item: map[string]types.AttributeValue{"pk": str(fmt.Sprintf("tx-%d-%d", i, j)), "data": payload}}})
		}
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return err
	})
	// The Query table: partitions of 100 items of 100 bytes each.
	batches := itemsN / 25
	small := str(strings.Repeat("y", 100))
	parallel(batches, clients, func(b int) error {
		var reqs []types.WriteRequest
		for j := 0; j < 25; j++ {
			k := (b-1)*25 + j
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk": str(fmt.Sprint("p", k/100)), "sk": num(k % 100), "data": small}}})
		}
		_, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{series: reqs}})
		return err
	})
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		start := time.Now()
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(series), KeyConditionExpression: aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(fmt.Sprint("p", i%(itemsN/100)))}})
		if err != nil {
			log.Fatal(err)
		}
		if len(out.Items) != 100 {
			log.Fatalf("query returned %d items", len(out.Items))
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.query = lat[len(lat)/2]
	return r
}
