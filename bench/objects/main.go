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
	"sort"
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

// large cases run with one client and are also read cold.
func (c sizeCase) large() bool { return c.size > 64<<20 }

// result is one operation's figures on one target.
type result struct {
	perSec   float64 // operations per second
	mbPerSec float64
	cpuMs    float64 // server CPU per operation (milliseconds); -1 unknown
	clientMs float64 // the load generator's CPU per operation; -1 unknown
}

// target is a server under test.
type target struct {
	name, endpoint, ak, sk string
	cpu                    func() time.Duration
	dir                    string // where it keeps its files ("": in memory)
}

var modeTitles = map[string]string{
	modeUnsigned: "Lean client, SigV4 with UNSIGNED-PAYLOAD (what the SDKs send over TLS)",
	modeSigned:   "Lean client, SigV4 with the payload's SHA-256 (what the SDKs send over plain HTTP)",
	modeSDK:      "AWS SDK for Go v2 (path style; signed payload over plain HTTP, CRC32 checksum on PUT)",
}

// Row names of the raw disk, the limit.
const (
	rawName   = "raw disk (Go write+fsync / read; cold: pages dropped first)"
	rawDirect = "raw disk, O_DIRECT read in 4 MiB blocks (dd iflag=direct)"
)

// samples collects each round's result per mode, row and column.
type samples map[string]map[string]map[string][]result

func (s samples) add(mode, row, col string, r result) {
	if s[mode] == nil {
		s[mode] = map[string]map[string][]result{}
	}
	if s[mode][row] == nil {
		s[mode][row] = map[string][]result{}
	}
	s[mode][row][col] = append(s[mode][row][col], r)
}

// median is the middle of a cell's rounds, each figure on its own.
func (s samples) median(mode, row, col string) (result, bool) {
	rs := s[mode][row][col]
	if len(rs) == 0 {
		return result{}, false
	}
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{pick(func(r result) float64 { return r.perSec }), pick(func(r result) float64 { return r.mbPerSec }),
		pick(func(r result) float64 { return r.cpuMs }), pick(func(r result) float64 { return r.clientMs })}, true
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
	rounds := flag.Int("rounds", 1, "rounds; each phase alternates between the targets and the tables show the median")
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
	machine := benchkit.Machine() // load average at the start

	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(work, "data"), Addr: "127.0.0.1:0",
		RunDir: filepath.Join(work, "run"), NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	targets := []target{{"nimbus (durable, fsync)", srv.URL(), srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey, selfCPU, filepath.Join(work, "data")}}
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
		targets = append(targets, target{"moto_server (in memory)", url, "test", "test", func() time.Duration { return procCPU(cmd.Process.Pid) }, ""})
	}
	if *withPlain {
		dir := filepath.Join(work, "plain")
		url, stop := plainServer(dir)
		defer stop()
		targets = append(targets, target{plainName, url, "plain", "plain", selfCPU, dir})
	}
	rawDir := filepath.Join(work, "raw")
	if err := os.MkdirAll(rawDir, 0o700); err != nil {
		log.Fatal(err)
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
	clientsOf := map[string]*awss3.Client{}
	buckets := map[string]string{}
	for _, t := range targets {
		c := newClient(t.endpoint, credentials.NewStaticCredentialsProvider(t.ak, t.sk, ""), *clients)
		bucket := fmt.Sprint("bench-", time.Now().UnixNano())
		if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			log.Fatal(err)
		}
		clientsOf[t.name], buckets[t.name] = c, bucket
	}
	// LIST first: filling its bucket also means the phases after run
	// against a store that holds keys already, not an empty one.
	lists := map[string]result{}
	if *listKeys > 0 {
		for _, t := range targets {
			if t.name != plainName {
				lists[t.name] = list(clientsOf[t.name], *clients, *listKeys, t.cpu)
			}
		}
	}
	got := samples{}
	logf := func(row, mode, col string, r result) {
		fmt.Fprintf(os.Stderr, "%s | %s | %s: %.0f/s %.0f MB/s, %.3f ms server CPU, %.3f ms client CPU\n", row, mode, col, r.perSec, r.mbPerSec, r.cpuMs, r.clientMs)
	}
	// Each phase runs on every target before the next phase starts, so a
	// change in the machine's load falls on all of them alike.
	for round := range *rounds {
		for mi, m := range modeList {
			for _, sc := range cases {
				par := *clients
				if sc.large() {
					par = 1
				}
				if mi == 0 {
					for col, r := range rawDisk(rawDir, sc, par) {
						row := rawName
						if col == "GET "+sc.name+" cold" && r.perSec == 0 {
							continue
						}
						if strings.HasSuffix(col, "direct") {
							row, col = rawDirect, "GET "+sc.name+" cold"
						}
						got.add(m, row, col, r)
						logf(row, m, col, r)
					}
				}
				for _, t := range targets {
					if t.name == plainName && m == modeSDK {
						continue // the SDK expects S3's answers, which the plain server does not give
					}
					spec := loadSpec{Endpoint: t.endpoint, AccessKey: t.ak, SecretKey: t.sk, Mode: m, Bucket: buckets[t.name],
						Prefix: fmt.Sprintf("%s-%s-%d", m, strings.ReplaceAll(sc.name, " ", ""), round), Size: sc.size, N: sc.n, Clients: par}
					phases := []struct{ op, col string }{{"put", "PUT " + sc.name}, {"get", "GET " + sc.name}}
					if sc.large() && t.dir != "" {
						phases = append(phases, struct{ op, col string }{"get", "GET " + sc.name + " cold"})
					}
					for _, ph := range phases {
						if strings.HasSuffix(ph.col, "cold") {
							if err := dropPages(t.dir); err != nil {
								log.Fatal(err)
							}
							if left := residentBytes(t.dir); left > int64(sc.size)/100 {
								fmt.Fprintf(os.Stderr, "warning: %s: %d bytes still cached after dropping\n", t.name, left)
							}
						}
						spec.Op = ph.op
						ps, pc, cc := runLoad(spec, t.cpu)
						r := result{ps, ps * float64(sc.size) / 1e6, pc, cc}
						got.add(m, t.name, ph.col, r)
						logf(t.name, m, ph.col, r)
					}
					if sc.large() { // keep the disk and moto's memory small
						for i := range sc.n {
							if _, err := clientsOf[t.name].DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: aws.String(buckets[t.name]), Key: aws.String(objectKey(spec.Prefix, i))}); err != nil {
								log.Fatal(err)
							}
						}
					}
				}
			}
		}
	}

	var cols []string
	for _, sc := range cases {
		cols = append(cols, "PUT "+sc.name, "GET "+sc.name)
		if sc.large() {
			cols = append(cols, "GET "+sc.name+" cold")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s, at the end %s, %s UTC. Command: `go run ./bench/objects -clients %d -small %d -medium %d -large %d -list-keys %d -rounds %d -modes %s`.\n\n",
		machine, loadAvg(), time.Now().UTC().Format("15:04"), *clients, *small, *medium, *large, *listKeys, *rounds, *modes)
	b.WriteString("1 KB and 1 MB objects with concurrent clients, 256 MB with one. The clients run in their own process (the\n")
	b.WriteString("same program and requests for every server); each cell is the median of the rounds, and every phase ran on\n")
	b.WriteString("all targets before the next one started. CPU per operation: the server's (getrusage of the benchmark\n")
	b.WriteString("process, which holds nimbus and nothing else while a phase runs; /proc of moto_server) and the load\n")
	b.WriteString("generator's own. GET is warm (the object's pages in the page cache, as after its PUT) unless marked cold:\n")
	b.WriteString("then the pages of the server's files were dropped first (posix_fadvise DONTNEED, checked with mincore), so\n")
	b.WriteString("the bytes come from the disk. The raw disk rows are the limit: write + fsync of the same size, and reads\n")
	b.WriteString("of it warm, cold, and with O_DIRECT. The plain Go HTTP row, a file server with no signature check, no\n")
	b.WriteString("hashing and no index (PUT: write + fsync; GET: http.ServeContent, sendfile), is what the same clients get\n")
	b.WriteString("over loopback TCP on this machine. The LIST bucket is filled (and listed) first, so the phases run\n")
	b.WriteString("against servers that hold that many keys already.\n")
	for i, m := range modeList {
		fmt.Fprintf(&b, "\n%s:\n\n", modeTitles[m])
		h := cols
		if m == modeSDK && *listKeys > 0 {
			h = append(append([]string(nil), cols...), "LIST keys")
		}
		b.WriteString("| target | " + strings.Join(h, " | ") + " |\n|---|" + strings.Repeat("---:|", len(h)) + "\n")
		rowNames := []string{}
		if i == 0 {
			rowNames = append(rowNames, rawName, rawDirect)
		}
		for _, t := range targets {
			rowNames = append(rowNames, t.name)
		}
		for _, name := range rowNames {
			src := m
			if name == rawName || name == rawDirect {
				src = modeList[0]
			}
			if got[src][name] == nil {
				continue
			}
			var cells []string
			for _, col := range cols {
				r, ok := got.median(src, name, col)
				cells = append(cells, cell(r, ok, cases, col))
			}
			if len(h) > len(cols) {
				if l, ok := lists[name]; ok {
					cells = append(cells, fmt.Sprintf("%.0f keys/s (%.2f ms CPU)", l.perSec, l.cpuMs))
				} else {
					cells = append(cells, "—")
				}
			}
			b.WriteString("| " + name + " | " + strings.Join(cells, " | ") + " |\n")
		}
		b.WriteString(ratios(got, m, modeList[0], targets, cases, lists))
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := benchkit.WriteSection(*write, "Objects: S3 API (bench/objects)", b.String()); err != nil {
			log.Fatal(err)
		}
	}
}

// cell formats one table cell.
func cell(r result, ok bool, cases []sizeCase, col string) string {
	if !ok {
		return "—"
	}
	s := fmt.Sprintf("%.0f/s", r.perSec)
	for _, sc := range cases {
		if strings.Contains(col, " "+sc.name) && sc.size >= 1<<20 {
			s = fmt.Sprintf("%.0f MB/s", r.mbPerSec)
		}
	}
	switch {
	case r.cpuMs >= 0 && r.clientMs >= 0:
		s += fmt.Sprintf(" (%.3f ms CPU; client %.3f)", r.cpuMs, r.clientMs)
	case r.cpuMs >= 0:
		s += fmt.Sprintf(" (%.3f ms CPU)", r.cpuMs)
	}
	return s
}

// ratios is the line under a table: nimbus against moto_server and
// against the raw disk.
func ratios(got samples, m, first string, targets []target, cases []sizeCase, lists map[string]result) string {
	nimbus := targets[0].name
	get := func(mode, row, col string) float64 {
		r, _ := got.median(mode, row, col)
		return r.perSec * 1 // per second, or bytes: the same ratio for one size
	}
	var out strings.Builder
	if len(targets) > 1 && targets[1].name != plainName {
		moto := targets[1].name
		var parts []string
		for _, sc := range cases {
			for _, op := range []string{"PUT ", "GET "} {
				if mo := get(m, moto, op+sc.name); mo > 0 {
					parts = append(parts, fmt.Sprintf("%s%s %.1f×", op, sc.name, get(m, nimbus, op+sc.name)/mo))
				}
			}
		}
		fmt.Fprintf(&out, "\nnimbus / moto_server: %s.", strings.Join(parts, ", "))
		if l, ok := lists[nimbus]; ok && m == modeSDK && lists[moto].perSec > 0 {
			fmt.Fprintf(&out, " LIST %.1f×.", l.perSec/lists[moto].perSec)
		}
	}
	var parts []string
	for _, sc := range cases {
		if sc.size < 1<<20 {
			continue
		}
		put, get1 := "PUT "+sc.name, "GET "+sc.name
		parts = append(parts, fmt.Sprintf("PUT %s %.0f%%, GET %s warm %.0f%% (page cache)", sc.name, 100*get(m, nimbus, put)/get(first, rawName, put),
			sc.name, 100*get(m, nimbus, get1)/get(first, rawName, get1)))
		if sc.large() {
			cold := get1 + " cold"
			limit := max(get(first, rawName, cold), get(first, rawDirect, cold))
			parts = append(parts, fmt.Sprintf("GET %s cold %.0f%% (of the faster cold raw read)", sc.name, 100*get(m, nimbus, cold)/limit))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(&out, " nimbus / raw disk: %s.", strings.Join(parts, ", "))
	}
	out.WriteString("\n")
	return out.String()
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
	return result{float64(seen) / elapsed, 0, float64(cpu()-c0) / float64(time.Millisecond) / float64(seen) * 1000, -1}
}

// rawDisk is the limit for one size case: each PUT a new file written
// and fsync'd, each GET that file read (from the page cache, as after a
// PUT); for large files also read cold (pages dropped first) and with
// O_DIRECT. The files are removed after.
func rawDisk(dir string, sc sizeCase, par int) map[string]result {
	body := bytes.Repeat([]byte("n"), sc.size)
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("%d-%d", sc.size, i)) }
	defer func() {
		for i := range sc.n {
			_ = os.Remove(name(i))
		}
	}()
	out := map[string]result{}
	measure := func(col string, op func(i int) error) {
		ps, _ := run(sc.n, par, selfCPU, op)
		out[col] = result{ps, ps * float64(sc.size) / 1e6, -1, -1}
	}
	measure("PUT "+sc.name, func(i int) error {
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
	bufs := sync.Pool{New: func() any { b := make([]byte, min(sc.size+1, 1<<20)); return &b }}
	read := func(i int) error { // in reads of up to 1 MiB: few syscalls, the disk's pace
		f, err := os.Open(name(i))
		if err != nil {
			return err
		}
		defer f.Close()
		bp := bufs.Get().(*[]byte)
		defer bufs.Put(bp)
		buf := *bp
		for {
			k, err := f.Read(buf)
			if err == io.EOF || k == 0 {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	// Warm reads of a few small files are over in milliseconds, too short
	// to measure on a busy machine: the files are read again until a phase
	// lasts half a second.
	for reps := 1; ; reps *= 4 {
		ps, _ := run(sc.n*reps, par, selfCPU, func(i int) error { return read(i % sc.n) })
		if float64(sc.n*reps)/ps >= 0.5 || reps >= 1024 {
			out["GET "+sc.name] = result{ps, ps * float64(sc.size) / 1e6, -1, -1}
			break
		}
	}
	if !sc.large() {
		return out
	}
	if err := dropPages(dir); err != nil {
		log.Fatal(err)
	}
	measure("GET "+sc.name+" cold", read)
	measure("GET direct", func(i int) error {
		n, err := directRead(name(i), 4<<20)
		if err == nil && n != int64(sc.size) {
			err = fmt.Errorf("O_DIRECT read %d bytes of %d", n, sc.size)
		}
		return err
	})
	return out
}

// loadAvg is /proc/loadavg's first three figures.
func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
