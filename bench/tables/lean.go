package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The lean load generator measures the servers rather than the clients: it
// runs as its own process, encodes and signs every request (aws-sdk-go-v2's
// SigV4 signer, the real algorithm) before the clock starts, then writes the
// prepared bytes over plain keep-alive connections, one per client, and
// reads the answers. Every target gets exactly the same bytes but for the
// signature.

// leanResult is what one lean run reports.
type leanResult struct {
	Rate     float64       // requests per second
	P50, P99 time.Duration // latency
	CPU      time.Duration // server CPU per request (filled by the parent)
	GenCPU   time.Duration // the generator's own CPU per request
	Err      string
}

// leanFlags are the child's flags.
type leanFlags struct {
	op, url, key, secret, table string
	n, clients                  int
	profile                     string // CPU profile of the run, if set
	procs                       int    // GOMAXPROCS of the generator
}

// leanMain is the child: prepare, say "ready", wait for a line on stdin,
// run, print the result as JSON.
func leanMain(f leanFlags) {
	// GOMAXPROCS is left to the runtime unless asked: with one P the
	// generator spends a little less CPU per request on an idle machine, but
	// on a loaded one its only thread, descheduled, stalls every client.
	if f.procs > 0 {
		runtime.GOMAXPROCS(f.procs)
	}
	reqs, want, host, err := prepare(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		log.Fatal(err)
	}
	if f.profile != "" {
		pf, err := os.Create(f.profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
	}
	cpu0 := selfCPU()
	res := drive(host, reqs, want, f.clients)
	res.GenCPU = (selfCPU() - cpu0) / time.Duration(len(reqs))
	pprof.StopCPUProfile()
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// leanBody is the JSON body of request i of op: 1 KB items keyed lean-i.
func leanBody(op, table string, i int) []byte {
	switch op {
	case "PutItem":
		return fmt.Appendf(nil, `{"TableName":%q,"Item":{"pk":{"S":"lean-%d"},"data":{"S":"%s"}}}`, table, i, strings.Repeat("x", 1000))
	case "GetItem":
		return fmt.Appendf(nil, `{"TableName":%q,"Key":{"pk":{"S":"lean-%d"}}}`, table, i)
	}
	log.Fatalf("lean: unknown operation %s", op)
	return nil
}

// prepare encodes and signs the n requests as raw HTTP/1.1 bytes, and
// for GetItem the bytes each answer must contain (the item's key, quoted).
func prepare(f leanFlags) (reqs, want [][]byte, host string, err error) {
	u, err := url.Parse(f.url)
	if err != nil {
		return nil, nil, "", err
	}
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: f.key, SecretAccessKey: f.secret}
	now := time.Now()
	out := make([][]byte, f.n)
	if f.op == "GetItem" {
		want = make([][]byte, f.n)
	}
	for i := range out {
		body := leanBody(f.op, f.table, i+1)
		if want != nil {
			want[i] = fmt.Appendf(nil, `"lean-%d"`, i+1)
		}
		req, err := http.NewRequest(http.MethodPost, f.url+"/", bytes.NewReader(body))
		if err != nil {
			return nil, nil, "", err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+f.op)
		req.Header.Set("User-Agent", "nimbus-bench-lean")
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "dynamodb", "us-east-1", now); err != nil {
			return nil, nil, "", err
		}
		var b bytes.Buffer
		if err := req.Write(&b); err != nil {
			return nil, nil, "", err
		}
		out[i] = b.Bytes()
	}
	return out, want, u.Host, nil
}

// drive sends the requests over clients keep-alive connections. A 200's
// body must contain want[i] when want is set (a GetItem answer, its key).
func drive(host string, reqs, want [][]byte, clients int) leanResult {
	var next atomic.Int64
	var failed atomic.Value
	lat := make([]time.Duration, len(reqs))
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			var status0 [2048]byte // an error answer's body, for the message
			var renew time.Time    // when to push the connection's deadline on
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if conn == nil { // first request, or the server closed the connection (moto_server does after each answer)
					var err error
					if conn, err = net.Dial("tcp", host); err != nil {
						failed.Store(err.Error())
						return
					}
					br = bufio.NewReaderSize(conn, 16<<10)
					renew = time.Time{}
				}
				// A stuck server fails the run instead of hanging it: no answer
				// within a minute. The deadline is pushed on every few seconds
				// rather than set per request (a timer update each time).
				if t0.After(renew) {
					_ = conn.SetDeadline(t0.Add(time.Minute))
					renew = t0.Add(5 * time.Second)
				}
				if _, err := conn.Write(reqs[i]); err != nil {
					failed.Store(err.Error())
					return
				}
				var w []byte
				if want != nil {
					w = want[i]
				}
				status, body, closed, err := readAnswer(br, status0[:], w)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				if status != http.StatusOK {
					failed.Store(fmt.Sprintf("HTTP %d: %s", status, body))
					return
				}
				if w != nil && body != nil && !bytes.Contains(body, w) { // a 200 not framed by its length
					failed.Store(fmt.Sprintf("answer %.200q lacks %s", body, w))
					return
				}
				lat[i] = time.Since(t0)
				if closed {
					conn.Close()
					conn = nil
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := failed.Load(); e != nil {
		return leanResult{Err: e.(string)}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return leanResult{Rate: float64(len(reqs)) / elapsed.Seconds(), P50: lat[len(lat)/2], P99: lat[len(lat)*99/100]}
}

// lean runs the lean generator in its own process against t and measures
// the server's CPU over the run only (not the preparation).
func lean(t target, op, table string, n, clients, genProcs int, profile string) leanResult {
	cmd := exec.Command(os.Args[0], "-load", op, "-url", t.url, "-key", t.key, "-secret", t.secret, "-table", table,
		"-n", fmt.Sprint(n), "-clients", fmt.Sprint(clients), "-cpuprofile", profile, "-genprocs", fmt.Sprint(genProcs))
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
	defer func() { _ = cmd.Wait() }()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		log.Fatalf("lean generator: %q %v", line, err)
	}
	before := cpu(t.pid)
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		log.Fatal(err)
	}
	var res leanResult
	if err := json.NewDecoder(out).Decode(&res); err != nil {
		log.Fatalf("lean generator: %v", err)
	}
	res.CPU = (cpu(t.pid) - before) / time.Duration(n)
	_ = stdin.Close()
	return res
}

// addLeanFlags declares the child's flags.
func addLeanFlags(fs *flag.FlagSet) *leanFlags {
	f := &leanFlags{}
	fs.StringVar(&f.op, "load", "", "internal: run the lean load generator for this operation")
	fs.StringVar(&f.url, "url", "", "internal: lean target URL")
	fs.StringVar(&f.key, "key", "", "internal: lean access key")
	fs.StringVar(&f.secret, "secret", "", "internal: lean secret key")
	fs.StringVar(&f.table, "table", "", "internal: lean table")
	fs.IntVar(&f.procs, "genprocs", 0, "GOMAXPROCS of the lean load generator (0: the runtime's default)")
	return f
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// selfCPU is the CPU time (user and system) this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readAnswer reads one HTTP/1.1 answer from br without net/http's
// allocations: the status, the body when it is not 200 (up to len(keep)
// bytes, for the message; a 200's body is skipped, after checking that it
// contains want when want is set), and whether the server closes the
// connection after it (Connection: close, HTTP/1.0, or a body delimited by
// the connection's end).
func readAnswer(br *bufio.Reader, keep, want []byte) (status int, body []byte, closed bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, fmt.Errorf("read status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	closed = line[7] == '0'
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return 0, nil, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closed = bytes.EqualFold(value, []byte("close"))
		}
	}
	var r io.Reader
	switch {
	case chunked:
		r = httputil.NewChunkedReader(br)
	case length >= 0:
		if status == http.StatusOK && want == nil {
			_, err = br.Discard(int(length))
			return status, nil, closed, err
		}
		if status == http.StatusOK && length <= int64(br.Size()) { // checked in place
			b, err := br.Peek(int(length))
			if err == nil && !bytes.Contains(b, want) {
				err = fmt.Errorf("answer %.200q lacks %s", b, want)
			}
			_, _ = br.Discard(len(b))
			return status, nil, closed, err
		}
		r = io.LimitReader(br, length)
	default:
		r, closed = br, true // the body ends with the connection
	}
	n, _ := io.ReadFull(r, keep)
	if _, err = io.Copy(io.Discard, r); err != nil || !chunked {
		return status, keep[:n], closed, err
	}
	for { // the chunked body's trailer, up to its empty line
		line, err := br.ReadSlice('\n')
		if err != nil {
			return status, keep[:n], closed, fmt.Errorf("read trailer: %w", err)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return status, keep[:n], closed, nil
		}
	}
}
