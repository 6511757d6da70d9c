// Command tables measures the DynamoDB API through the AWS SDK for Go v2
// against nimbus (durable: every write fsync'd before the answer) and, in the
// same run, against moto_server and dynalite: PutItem and GetItem of 1 KB
// items with concurrent clients, a Query returning 100 items from a table of
// -items items (and of -large items, nimbus only), and TransactWriteItems of
// 10 items. Every server runs in its own process, so the CPU it spends per
// operation is measured apart from the clients'. dynalite is installed with
// npm into the user's cache directory on first use.
//
//	go run ./bench/tables -n 3000 -clients 16 -items 10000 -large 1000000
package main

import (
	"bufio"
	"context"
	"errors"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/gcfloor"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// dynaliteVersion is the dynalite the bench installs.
const dynaliteVersion = "3.2.2"

type result struct {
	put, get, tx          float64       // operations per second
	putCPU, getCPU, txCPU time.Duration // server CPU per operation
	query, queryLarge     time.Duration // median latency of a 100-item Query
}

func main() {
	n := flag.Int("n", 3000, "operations per measurement")
	clients := flag.Int("clients", 16, "concurrent SDK clients")
	itemsN := flag.Int("items", 10000, "items in the Query table")
	large := flag.Int("large", 0, "items in a second Query table, nimbus only (0: none)")
	withMoto := flag.Bool("moto", true, "also measure moto_server")
	withDynalite := flag.Bool("dynalite", true, "also measure dynalite (installed with npm on first use)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the nimbus server to this file (and its allocations to FILE.allocs)")
	baseline := flag.String("baseline", "", "also measure this binary of an earlier bench/tables (its -serve mode) as \"nimbus before\"")
	baselineProfile := flag.String("baselineprofile", "", "write a CPU profile of the -baseline server to this file")
	withSDK := flag.Bool("sdk", true, "also measure through aws-sdk-go-v2 clients in the bench's process")
	withLean := flag.Bool("lean", true, "measure Put and Get with the lean load generator (its own process)")
	baselineFirst := flag.Bool("baselinefirst", false, "measure -baseline before nimbus (alternate runs with and without it: the first target measured is not always favoured)")
	genProfile := flag.String("genprofile", "", "write CPU profiles of the lean generator to this path with .PutItem and .GetItem appended")
	warmup := flag.Int("warmup", 0, "before measuring a target, put and get this many items of another table, unmeasured (every target alike: a fresh process's heap and a JIT's compiled code are then what a running server has)")
	serve := flag.String("serve", "", "internal: run only a nimbus server in this directory")
	lf := addLeanFlags(flag.CommandLine)
	flag.Parse()
	if *serve != "" {
		serveNimbus(*serve, *cpuProfile)
		return
	}
	if lf.op != "" {
		lf.n, lf.clients, lf.profile = *n, *clients, *cpuProfile
		leanMain(*lf)
		return
	}
	work, err := os.MkdirTemp("", "nimbus-bench-tables-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	var targets []target
	nimbus := startNimbus(os.Args[0], filepath.Join(work, "now"), *cpuProfile, "nimbus (durable, fsync)")
	targets = append(targets, nimbus)
	if *baseline != "" {
		targets = append(targets, startNimbus(*baseline, filepath.Join(work, "before"), *baselineProfile, "nimbus before (durable, fsync)"))
	}
	if *withMoto {
		targets = append(targets, startServer("moto_server (in memory)", "/moto-api/", "moto_server", "-p", "PORT"))
	}
	if *withDynalite {
		cli := installDynalite()
		targets = append(targets, startServer("dynalite (in memory)", "/", "node", cli, "--port", "PORT", "--createTableMs", "0"))
	}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	fmt.Printf("machine: %d CPUs; %d operations, %d clients, 1 KB items, Query tables of %d and %d items\n\n", runtime.NumCPU(), *n, *clients, *itemsN, *large)
	if *withLean {
		leanTable(targets, *n, *clients, *warmup, lf.procs, *genProfile, *baselineFirst && *baseline != "")
	}
	if !*withSDK {
		return
	}
	results := make([]result, len(targets))
	for i, t := range targets {
		l := 0
		if i == 0 {
			l = *large
		}
		results[i] = measure(t, *n, *clients, *itemsN, l)
		r := results[i]
		log.Printf("%s: put %.0f/s (%v CPU), get %.0f/s (%v CPU), tx %s/s (%v CPU), query %v", t.name, r.put, us(r.putCPU), r.get, us(r.getCPU), rate(r.tx), us(r.txCPU), r.query)
	}
	fmt.Println("| target | PutItem/s | server CPU/PutItem | GetItem/s | server CPU/GetItem | TransactWriteItems (10 items)/s | server CPU/transaction | Query 100 of", *itemsN, "items, median |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for i, t := range targets {
		r := results[i]
		fmt.Printf("| %s | %.0f | %v | %.0f | %v | %s | %v | %v |\n", t.name, r.put, us(r.putCPU), r.get, us(r.getCPU), rate(r.tx), us(r.txCPU), r.query.Round(10*time.Microsecond))
	}
	nim := results[0]
	for i, t := range targets[1:] {
		m := results[i+1]
		fmt.Printf("| nimbus / %s | %.1f× | | %.1f× | | %s | | %.1f× faster |\n", strings.SplitN(t.name, " (", 2)[0], nim.put/m.put, nim.get/m.get, ratio(nim.tx, m.tx), float64(m.query)/float64(nim.query))
	}
	if *large > 0 {
		fmt.Printf("\nnimbus Query of 100 items, median: %v from %d items, %v from %d items\n", nim.query.Round(10*time.Microsecond), *itemsN, nim.queryLarge.Round(10*time.Microsecond), *large)
	}
}

// leanTable measures PutItem then GetItem with the lean generator against
// every target and prints the table.
func leanTable(targets []target, n, clients, warmup, genProcs int, genProfile string, baselineFirst bool) {
	type pg struct{ put, get leanResult }
	res := make([]pg, len(targets))
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	if baselineFirst { // the baseline is targets[1]
		order[0], order[1] = 1, 0
	}
	for _, i := range order {
		t := targets[i]
		c := sdkClient(t, clients)
		if warmup > 0 {
			warm := leanCreateTable(c, "warm")
			for _, op := range []string{"PutItem", "GetItem"} {
				if r := lean(t, op, warm, warmup, clients, genProcs, ""); r.Err != "" {
					log.Fatalf("%s: warm-up %s: %s", t.name, op, r.Err)
				}
			}
		}
		table := leanCreateTable(c, "lean")
		prof := func(op string) string {
			if genProfile == "" || i > 0 {
				return ""
			}
			return genProfile + "." + op
		}
		res[i].put = lean(t, "PutItem", table, n, clients, genProcs, prof("PutItem"))
		res[i].get = lean(t, "GetItem", table, n, clients, genProcs, prof("GetItem"))
		log.Printf("%s lean: put %.0f/s server %v generator %v; get %.0f/s server %v generator %v", t.name, res[i].put.Rate, us(res[i].put.CPU), us(res[i].put.GenCPU), res[i].get.Rate, us(res[i].get.CPU), us(res[i].get.GenCPU))
	}
	fmt.Println("Lean load generator (own process, pre-signed requests, keep-alive HTTP):")
	fmt.Println()
	fmt.Println("| target | PutItem/s | p50 | p99 | server CPU/PutItem | GetItem/s | p50 | p99 | server CPU/GetItem |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	cell := func(r leanResult) string {
		if r.Err != "" {
			return "failed | | | "
		}
		return fmt.Sprintf("%.0f | %s | %s | %s", r.Rate, ms(r.P50), ms(r.P99), us(r.CPU))
	}
	for i, t := range targets {
		fmt.Printf("| %s | %s | %s |\n", t.name, cell(res[i].put), cell(res[i].get))
	}
	for i, t := range targets[1:] {
		m := res[i+1]
		cpuRatio := func(a, b time.Duration) string {
			if a == 0 || b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f× less CPU", float64(b)/float64(a))
		}
		fmt.Printf("| nimbus / %s | %s | | | %s | %s | | | %s |\n", strings.SplitN(t.name, " (", 2)[0], ratio(res[0].put.Rate, m.put.Rate),
			cpuRatio(res[0].put.CPU, m.put.CPU), ratio(res[0].get.Rate, m.get.Rate), cpuRatio(res[0].get.CPU, m.get.CPU))
	}
	fmt.Println()
}

// leanCreateTable creates a table keyed by the string pk, named prefix and
// the time, and waits until it is active.
func leanCreateTable(c *dynamodb.Client, prefix string) string {
	table := fmt.Sprint(prefix, time.Now().UnixNano())
	ctx := context.Background()
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
		log.Fatal(err)
	}
	waitActive(ctx, c, table)
	return table
}

func sdkClient(t target, clients int) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(t.url),
		Credentials: credentials.NewStaticCredentialsProvider(t.key, t.secret, ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}})
}

func us(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// target is a server under test, in its own process.
type target struct {
	name string
	url  string
	// key and secret sign requests (nimbus checks SigV4; peers take any).
	key, secret string
	pid         int
	stop        func()
}

// cpu is the CPU time (user and system) process pid has used so far.
func cpu(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command (which may hold spaces) start after ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// serveNimbus runs a nimbus server and prints its URL; it stops when its
// standard input closes.
func serveNimbus(dir, profile string) {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if floor := os.Getenv("NIMBUS_BENCH_GCFLOOR"); floor != "0" { // as cmd/nimbus does
		gcfloor.Start(gcfloor.DefaultFloor)
	}
	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(dir, "data"), Addr: "127.0.0.1:0",
		RunDir: filepath.Join(dir, "run"), NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	id, secret := "anonymous", "anonymous"
	if srv.AdminKey != nil {
		id, secret = srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey
	}
	fmt.Println(srv.URL(), id, secret)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if profile != "" { // and the allocations beside it
		if f, err := os.Create(profile + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}
	}
	_ = srv.Close(context.Background())
}

func startNimbus(bin, work, profile, name string) target {
	cmd := exec.Command(bin, "-serve", work, "-cpuprofile", profile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		log.Fatalf("nimbus server: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		log.Fatalf("nimbus server said %q", line)
	}
	return target{name: name, url: f[0], key: f[1], secret: f[2], pid: cmd.Process.Pid, stop: func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}}
}

// startServer starts a peer on a free port (PORT in args) and waits until
// path answers.
func startServer(name, path, prog string, args ...string) target {
	port := freePort()
	for i, a := range args {
		if a == "PORT" {
			args[i] = fmt.Sprint(port)
		}
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(url + path); err == nil {
			resp.Body.Close()
			break
		}
		if i > 300 {
			log.Fatalf("%s did not start", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return target{name: name, url: url, key: "test", secret: "test", pid: cmd.Process.Pid, stop: func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	}}
}

// installDynalite installs dynalite with npm into the user's cache
// directory (not the repository) unless it is there, and returns its CLI.
func installDynalite() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(cache, "nimbus-bench", "dynalite-"+dynaliteVersion)
	cli := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); errors.Is(err, os.ErrNotExist) {
		log.Printf("installing dynalite %s into %s", dynaliteVersion, dir)
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "dynalite@"+dynaliteVersion)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("npm install dynalite: %v", err)
		}
	}
	return cli
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

// waitActive waits for a new table to be ACTIVE (dynalite creates them
// asynchronously).
func waitActive(ctx context.Context, c *dynamodb.Client, name string) {
	for i := 0; ; i++ {
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && d.Table.TableStatus == types.TableStatusActive {
			return
		}
		if i > 600 {
			log.Fatalf("table %s not ACTIVE: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timed runs op and returns its rate and the server's CPU per operation.
func timed(t target, n int, run func() float64) (float64, time.Duration) {
	before := cpu(t.pid)
	r := run()
	used := cpu(t.pid) - before
	if r == 0 || n == 0 {
		return r, 0
	}
	return r, used / time.Duration(n)
}

func measure(t target, n, clients, itemsN, large int) result {
	ctx := context.Background()
	c := sdkClient(t, clients)
	suffix := fmt.Sprint(time.Now().UnixNano())
	kv, series, big := "kv"+suffix, "series"+suffix, "big"+suffix
	for _, tb := range []struct {
		name string
		sort bool
	}{{kv, false}, {series, true}, {big, true}} {
		if tb.name == big && large == 0 {
			continue
		}
		in := &dynamodb.CreateTableInput{TableName: aws.String(tb.name), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}
		if tb.sort {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: "N"})
			in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange})
		}
		if _, err := c.CreateTable(ctx, in); err != nil {
			log.Fatal(err)
		}
		waitActive(ctx, c, tb.name)
	}
	payload := str(strings.Repeat("x", 1000))
	var r result
	r.put, r.putCPU = timed(t, n, func() float64 {
		return parallel(n, clients, func(i int) error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kv), Item: map[string]types.AttributeValue{"pk": str(fmt.Sprint(i)), "data": payload}})
			return err
		})
	})
	r.get, r.getCPU = timed(t, n, func() float64 {
		return parallel(n, clients, func(i int) error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(kv), Key: map[string]types.AttributeValue{"pk": str(fmt.Sprint(i))}})
			return err
		})
	})
	txN := n / 10
	r.tx, r.txCPU = timed(t, txN, func() float64 {
		return parallel(txN, clients, func(i int) error {
			var items []types.TransactWriteItem
			for j := 0; j < 10; j++ {
				items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(kv),
					Item: map[string]types.AttributeValue{"pk": str(fmt.Sprintf("tx-%d-%d", i, j)), "data": payload}}})
			}
			_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			return err
		})
	})
	r.query = queryMedian(ctx, c, series, itemsN, clients)
	if large > 0 {
		start := time.Now()
		r.queryLarge = queryMedian(ctx, c, big, large, clients)
		log.Printf("%s: loaded and queried %d items in %v", t.name, large, time.Since(start).Round(time.Second))
	}
	return r
}

// queryMedian loads a table of itemsN items in partitions of 100 items of
// 100 bytes and returns the median latency of 200 Queries of a partition.
func queryMedian(ctx context.Context, c *dynamodb.Client, table string, itemsN, clients int) time.Duration {
	batches := itemsN / 25
	small := str(strings.Repeat("y", 100))
	if parallel(batches, clients, func(b int) error {
		var reqs []types.WriteRequest
		for j := 0; j < 25; j++ {
			k := (b-1)*25 + j
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk": str(fmt.Sprint("p", k/100)), "sk": num(k % 100), "data": small}}})
		}
		pending := map[string][]types.WriteRequest{table: reqs}
		for len(pending) > 0 { // peers may leave items unprocessed
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
		}
		return nil
	}) == 0 {
		log.Fatal("loading the Query table failed")
	}
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		start := time.Now()
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(fmt.Sprint("p", (i*7919)%(itemsN/100)))}})
		if err != nil {
			log.Fatal(err)
		}
		if len(out.Items) != 100 {
			log.Fatalf("query returned %d items", len(out.Items))
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2]
}
