// Command objects measures the S3 API: PUT and GET of 1 KB, 1 MB and
// 256 MB objects and a LIST of many keys, against nimbus (durable: bytes
// and index fsync'd before the answer), and in the same run against
// moto_server and the raw disk (a plain Go file write + fsync, and read) as
// the limit. The clients run in a separate process (this binary with
// -loadgen), the same for both servers, so each server's CPU per operation
// is its own: lean clients with pre-built SigV4 requests (UNSIGNED-PAYLOAD,
// as the SDKs send over TLS, and with a signed payload), and the AWS SDK
// for Go v2.
//
//	go run ./bench/objects -write BENCHMARKS.md
package main

import (
	"bytes"
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
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

type sizeCase struct {
	name string
	size int
	n    int // operations
}

// result is one operation's figures on one target.
type result struct {
	perSec   float64 // operations per second
	mbPerSec float64
	cpuMs    float64 // server CPU per operation (milliseconds); -1 unknown
}

// target is a server under test.
type target struct {
	name, endpoint, ak, sk string
	cpu                    func() time.Duration
}

var modeTitles = map[string]string{
	modeUnsigned: "Lean client, SigV4 with UNSIGNED-PAYLOAD (what the SDKs send over TLS)",
	modeSigned:   "Lean client, SigV4 with the payload's SHA-256 (what the SDKs send over plain HTTP)",
	modeSDK:      "AWS SDK for Go v2 (path style; signed payload over plain HTTP, CRC32 checksum on PUT)",
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-loadgen" {
		loadgenMain(os.Args[2])
		return
	}
	clients := flag.Int("clients", 16, "concurrent clients for 1 KB and 1 MB objects")
	small := flag.Int("small", 4000, "1 KB operations")
	medium := flag.Int("medium", 400, "1 MB operations")
	large := flag.Int("large", 2, "256 MB operations")
	listKeys := flag.Int("list-keys", 100000, "keys in the bucket that LIST reads (0: no LIST)")
	modes := flag.String("modes", strings.Join([]string{modeUnsigned, modeSigned, modeSDK}, ","), "client modes, in table order")
	withMoto := flag.Bool("moto", true, "also measure moto_server")
	withPlain := flag.Bool("plain", true, "also measure a plain Go HTTP file server (no auth, no index): the transport's limit")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the nimbus server (this process) to this file")
	write := flag.String("write", "", "write the tables into this Markdown file (BENCHMARKS.md)")
	flag.Parse()
	work, err := os.MkdirTemp(".", ".nimbus-bench-objects-*") // on the disk measured, not a tmpfs
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	var cases []sizeCase
	for _, c := range []sizeCase{{"1 KB", 1 << 10, *small}, {"1 MB", 1 << 20, *medium}, {"256 MB", 256 << 20, *large}} {
		if c.n > 0 {
			cases = append(cases, c)
		}
	}

	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(work, "data"), Addr: "127.0.0.1:0",
		RunDir: filepath.Join(work, "run"), NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	targets := []target{{"nimbus (durable, fsync)", srv.URL(), srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey, selfCPU}}
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
		targets = append(targets, target{"moto_server (in memory)", url, "test", "test", func() time.Duration { return procCPU(cmd.Process.Pid) }})
	}
	raw := rawDisk(filepath.Join(work, "raw"), cases, *clients)
	if *withPlain {
		url, stop := plainServer(filepath.Join(work, "plain"))
		defer stop()
		targets = append(targets, target{plainName, url, "plain", "plain", selfCPU})
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	modeList := strings.Split(*modes, ",")
	rows := map[string]map[string][]result{} // mode -> target -> results
	lists := map[string]result{}
	for _, t := range targets {
		c := newClient(t.endpoint, credentials.NewStaticCredentialsProvider(t.ak, t.sk, ""), *clients)
		bucket := fmt.Sprint("bench-", time.Now().UnixNano())
		if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			log.Fatal(err)
		}
		for _, m := range modeList {
			if rows[m] == nil {
				rows[m] = map[string][]result{}
			}
			if t.name == plainName && m == modeSDK {
				continue // the SDK expects S3's answers, which the plain server does not give
			}
			for _, sc := range cases {
				par := *clients
				if sc.size > 64<<20 {
					par = 1
				}
				spec := loadSpec{Endpoint: t.endpoint, AccessKey: t.ak, SecretKey: t.sk, Mode: m, Bucket: bucket,
					Prefix: m + "-" + strings.ReplaceAll(sc.name, " ", ""), Size: sc.size, N: sc.n, Clients: par}
				for _, op := range []string{"put", "get"} {
					spec.Op = op
					ps, pc := runLoad(spec, t.cpu)
					rows[m][t.name] = append(rows[m][t.name], result{ps, ps * float64(sc.size) / 1e6, pc})
					fmt.Fprintf(os.Stderr, "%s %s %s %s: %.0f/s, %.3f ms CPU\n", t.name, m, op, sc.name, ps, pc)
				}
			}
		}
		if *listKeys > 0 && t.name != plainName {
			lists[t.name] = list(c, *clients, *listKeys, t.cpu)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Command: `go run ./bench/objects -clients %d -small %d -medium %d -large %d -list-keys %d -modes %s`.\n\n",
		benchkit.Machine(), *clients, *small, *medium, *large, *listKeys, *modes)
	b.WriteString("1 KB and 1 MB objects with concurrent clients, 256 MB with one. The clients run in their own process,\n")
	b.WriteString("the same for both servers; CPU per operation is the server's alone (getrusage of the benchmark process,\n")
	b.WriteString("which holds nimbus and nothing else while a phase runs; /proc of moto_server). The raw disk row is the limit\n")
	b.WriteString("of the disk (its reads come from the page cache); the plain Go HTTP row, a file server with no signature check,\n")
	b.WriteString("no hashing and no index (PUT: write + fsync; GET: http.ServeContent, sendfile), is what the same clients\n")
	b.WriteString("get over loopback TCP on this machine.\n")
	var header []string
	for _, sc := range cases {
		header = append(header, "PUT "+sc.name, "GET "+sc.name)
	}
	for i, m := range modeList {
		fmt.Fprintf(&b, "\n%s:\n\n", modeTitles[m])
		h := header
		if m == modeSDK && *listKeys > 0 {
			h = append(append([]string(nil), header...), "LIST keys")
		}
		b.WriteString("| target | " + strings.Join(h, " | ") + " |\n|---|" + strings.Repeat("---:|", len(h)) + "\n")
		if i == 0 {
			b.WriteString(row("raw disk (write+fsync / read)", cases, raw, nil))
		}
		for _, t := range targets {
			if rows[m][t.name] == nil {
				continue
			}
			var extra *result
			if m == modeSDK && *listKeys > 0 {
				l := lists[t.name]
				extra = &l
				if t.name == plainName {
					extra = &result{}
				}
			}
			b.WriteString(row(t.name, cases, rows[m][t.name], extra))
		}
		if len(targets) > 1 && targets[1].name != plainName {
			n, mo := rows[m][targets[0].name], rows[m][targets[1].name]
			var parts []string
			for j, sc := range cases {
				parts = append(parts, fmt.Sprintf("PUT %s %.1f×", sc.name, n[2*j].perSec/mo[2*j].perSec), fmt.Sprintf("GET %s %.1f×", sc.name, n[2*j+1].perSec/mo[2*j+1].perSec))
			}
			fmt.Fprintf(&b, "\nnimbus / moto_server: %s.", strings.Join(parts, ", "))
			if extra := lists[targets[0].name]; extra.perSec > 0 && m == modeSDK {
				fmt.Fprintf(&b, " LIST %.1f×.", extra.perSec/lists[targets[1].name].perSec)
			}
		}
		var parts []string
		for j, sc := range cases {
			if sc.size >= 1<<20 {
				n := rows[m][targets[0].name]
				parts = append(parts, fmt.Sprintf("PUT %s %.0f%%, GET %s %.0f%%", sc.name, 100*n[2*j].mbPerSec/raw[2*j].mbPerSec, sc.name, 100*n[2*j+1].mbPerSec/raw[2*j+1].mbPerSec))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, " nimbus / raw disk: %s.", strings.Join(parts, ", "))
		}
		b.WriteString("\n")
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := benchkit.WriteSection(*write, "Objects: S3 API (bench/objects)", b.String()); err != nil {
			log.Fatal(err)
		}
	}
}

// row is one target's line of a table.
func row(name string, cases []sizeCase, r []result, list *result) string {
	var cells []string
	for i, x := range r {
		cell := fmt.Sprintf("%.0f/s", x.perSec)
		if cases[i/2].size >= 1<<20 {
			cell = fmt.Sprintf("%.0f MB/s", x.mbPerSec)
		}
		if x.cpuMs >= 0 {
			cell += fmt.Sprintf(" (%.3f ms CPU)", x.cpuMs)
		}
		cells = append(cells, cell)
	}
	if list != nil && list.perSec > 0 {
		cells = append(cells, fmt.Sprintf("%.0f keys/s (%.2f ms CPU)", list.perSec, list.cpuMs))
	} else if list != nil {
		cells = append(cells, "—")
	}
	return "| " + name + " | " + strings.Join(cells, " | ") + " |\n"
}

func newClient(endpoint string, creds aws.CredentialsProvider, clients int) *awss3.Client {
	return awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds, UsePathStyle: true,
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}})
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads a process's user+system time from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	var u, s int64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// run runs op(i) for i in [0, n) on clients goroutines and returns the
// operations per second and the CPU per operation.
func run(n, clients int, cpu func() time.Duration, op func(i int) error) (float64, float64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	c0, start := cpu(), time.Now()
	for range min(clients, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		log.Fatal(err)
	}
	elapsed := time.Since(start).Seconds()
	return float64(n) / elapsed, float64(cpu()-c0) / float64(time.Millisecond) / float64(n)
}

// list fills a bucket with keys keys and times ListObjectsV2 pages of 1000
// over it through the SDK, in this process (for nimbus, its CPU includes the
// client's); the CPU is per 1000 keys.
func list(c *awss3.Client, clients, keys int, cpu func() time.Duration) result {
	ctx := context.Background()
	lb := aws.String(fmt.Sprint("list-", time.Now().UnixNano()))
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: lb}); err != nil {
		log.Fatal(err)
	}
	run(keys, clients, cpu, func(i int) error {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: lb, Key: aws.String(fmt.Sprintf("dir%02d/key-%08d", i%50, i)), Body: bytes.NewReader(nil)})
		return err
	})
	c0, start := cpu(), time.Now()
	seen := 0
	pages := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: lb})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		seen += len(p.Contents)
	}
	if seen != keys {
		log.Fatalf("LIST saw %d keys of %d", seen, keys)
	}
	elapsed := time.Since(start).Seconds()
	return result{float64(seen) / elapsed, 0, float64(cpu()-c0) / float64(time.Millisecond) / float64(seen) * 1000}
}

// rawDisk is the limit: each PUT a new file written and fsync'd, each GET
// that file read; no LIST.
func rawDisk(dir string, cases []sizeCase, clients int) []result {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Fatal(err)
	}
	var out []result
	for _, sc := range cases {
		body := bytes.Repeat([]byte("n"), sc.size)
		par := clients
		if sc.size > 64<<20 {
			par = 1
		}
		name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("%d-%d", sc.size, i)) }
		ps, _ := run(sc.n, par, selfCPU, func(i int) error {
			f, err := os.Create(name(i))
			if err != nil {
				return err
			}
			if _, err := f.Write(body); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
			return f.Close()
		})
		out = append(out, result{ps, ps * float64(sc.size) / 1e6, -1})
		gs, _ := run(sc.n, par, selfCPU, func(i int) error {
			f, err := os.Open(name(i))
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(io.Discard, f)
			return err
		})
		out = append(out, result{gs, gs * float64(sc.size) / 1e6, -1})
	}
	return out
}
