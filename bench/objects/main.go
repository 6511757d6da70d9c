// Command objects measures the S3 API: PUT and GET of 1 KB, 1 MB and
// 256 MB objects and a LIST of many keys through the AWS SDK for Go v2,
// against nimbus (durable: file and index fsync'd before the answer), and
// in the same run against moto_server and the raw disk (a plain Go file
// write + fsync, and read) as the limit.
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
	cpuMs    float64 // CPU per operation (milliseconds); -1 unknown
}

func main() {
	clients := flag.Int("clients", 16, "concurrent clients for 1 KB and 1 MB objects")
	small := flag.Int("small", 4000, "1 KB operations")
	medium := flag.Int("medium", 400, "1 MB operations")
	large := flag.Int("large", 2, "256 MB operations")
	listKeys := flag.Int("list-keys", 100000, "keys in the bucket that LIST reads")
	withMoto := flag.Bool("moto", true, "also measure moto_server")
	write := flag.String("write", "", "write the table into this Markdown file (BENCHMARKS.md)")
	flag.Parse()
	work, err := os.MkdirTemp(".", ".nimbus-bench-objects-*") // on the disk measured, not a tmpfs
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	cases := []sizeCase{{"1 KB", 1 << 10, *small}, {"1 MB", 1 << 20, *medium}, {"256 MB", 256 << 20, *large}}

	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(work, "data"), Addr: "127.0.0.1:0",
		RunDir: filepath.Join(work, "run"), NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	targets := []string{"raw disk (write+fsync / read)", "nimbus (durable, fsync)"}
	rows := map[string][]result{}
	rows[targets[0]] = rawDisk(filepath.Join(work, "raw"), cases, *clients)
	nimbus := newClient(srv.URL(), credentials.NewStaticCredentialsProvider(srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey, ""), *clients)
	rows[targets[1]] = measure(nimbus, cases, *clients, *listKeys, selfCPU)
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
		targets = append(targets, "moto_server (in memory)")
		moto := newClient(url, credentials.NewStaticCredentialsProvider("test", "test", ""), *clients)
		rows[targets[2]] = measure(moto, cases, *clients, *listKeys, func() time.Duration { return procCPU(cmd.Process.Pid) })
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Command: `go run ./bench/objects -clients %d -small %d -medium %d -large %d -list-keys %d`.\n\n",
		benchkit.Machine(), *clients, *small, *medium, *large, *listKeys)
	b.WriteString("PUT and GET through the AWS SDK for Go v2 (path style, signed), 1 KB and 1 MB with concurrent clients, 256 MB with one;\n")
	b.WriteString("LIST is ListObjectsV2 pages of 1000 over the whole bucket. CPU per operation: for nimbus the whole benchmark\n")
	b.WriteString("process (server and SDK clients together), for moto_server its process only; for LIST, per 1000 keys. The raw\n")
	b.WriteString("disk row is the limit.\n\n")
	header := []string{"PUT 1 KB", "GET 1 KB", "PUT 1 MB", "GET 1 MB", "PUT 256 MB", "GET 256 MB", "LIST keys"}
	b.WriteString("| target | " + strings.Join(header, " | ") + " |\n|---|" + strings.Repeat("---:|", len(header)) + "\n")
	for _, t := range targets {
		r := rows[t]
		cells := []string{}
		for i, x := range r {
			if x.perSec == 0 {
				cells = append(cells, "—")
				continue
			}
			cell := fmt.Sprintf("%.0f/s", x.perSec)
			if i >= 2 && i <= 5 {
				cell = fmt.Sprintf("%.0f MB/s", x.mbPerSec)
			}
			if i == 6 {
				cell = fmt.Sprintf("%.0f keys/s", x.perSec)
			}
			if x.cpuMs >= 0 {
				cell += fmt.Sprintf(" (%.2f ms CPU)", x.cpuMs)
			}
			cells = append(cells, cell)
		}
		b.WriteString("| " + t + " | " + strings.Join(cells, " | ") + " |\n")
	}
	if m, ok := rows["moto_server (in memory)"]; ok {
		n, raw := rows[targets[1]], rows[targets[0]]
		fmt.Fprintf(&b, "\nnimbus / moto_server: PUT 1 KB %.1f×, GET 1 KB %.1f×, LIST %.1f×. nimbus / raw disk: PUT 256 MB %.0f%%, GET 256 MB %.0f%%, PUT 1 MB %.0f%%.\n",
			n[0].perSec/m[0].perSec, n[1].perSec/m[1].perSec, n[6].perSec/m[6].perSec,
			100*n[4].mbPerSec/raw[4].mbPerSec, 100*n[5].mbPerSec/raw[5].mbPerSec, 100*n[2].mbPerSec/raw[2].mbPerSec)
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := benchkit.WriteSection(*write, "Objects: S3 API (bench/objects)", b.String()); err != nil {
			log.Fatal(err)
		}
	}
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

func measure(c *awss3.Client, cases []sizeCase, clients, listKeys int, cpu func() time.Duration) []result {
	ctx := context.Background()
	bucket := aws.String(fmt.Sprint("bench-", time.Now().UnixNano()))
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bucket}); err != nil {
		log.Fatal(err)
	}
	var out []result
	for _, sc := range cases {
		body := bytes.Repeat([]byte("n"), sc.size)
		par := clients
		if sc.size > 64<<20 {
			par = 1
		}
		key := func(i int) *string {
			return aws.String(fmt.Sprintf("%s/%08d", strings.ReplaceAll(sc.name, " ", ""), i))
		}
		ps, pc := run(sc.n, par, cpu, func(i int) error {
			_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bucket, Key: key(i), Body: bytes.NewReader(body)})
			return err
		})
		out = append(out, result{ps, ps * float64(sc.size) / 1e6, pc})
		gs, gc := run(sc.n, par, cpu, func(i int) error {
			o, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: key(i)})
			if err != nil {
				return err
			}
			defer o.Body.Close()
			n, err := io.Copy(io.Discard, o.Body)
			if err == nil && n != int64(sc.size) {
				err = fmt.Errorf("GET read %d bytes of %d", n, sc.size)
			}
			return err
		})
		out = append(out, result{gs, gs * float64(sc.size) / 1e6, gc})
	}
	lb := aws.String(fmt.Sprint("list-", time.Now().UnixNano()))
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: lb}); err != nil {
		log.Fatal(err)
	}
	run(listKeys, clients, cpu, func(i int) error {
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
	if seen != listKeys {
		log.Fatalf("LIST saw %d keys of %d", seen, listKeys)
	}
	elapsed := time.Since(start).Seconds()
	out = append(out, result{float64(seen) / elapsed, 0, float64(cpu()-c0) / float64(time.Millisecond) / float64(seen) * 1000})
	return out
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
	return append(out, result{})
}
