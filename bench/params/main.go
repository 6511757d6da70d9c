// Command params measures the SSM Parameter Store API through aws-sdk-go-v2:
// PutParameter (durable: fsync'd before the answer), GetParameter,
// GetParameter of a SecureString with decryption, and a first page of
// GetParametersByPath, against nimbus and, in the same run, moto_server.
// The steady figure is CPU per call: nimbus's whole process (platform and
// SDK client), moto's process plus this one's (the client).
//
//	go run ./bench/params -n 1000 -clients 4
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

type result struct {
	name   string
	perSec float64
	cpu    time.Duration // per call
}

func main() {
	n := flag.Int("n", 1000, "parameters (and calls per operation)")
	clients := flag.Int("clients", 4, "concurrent SDK clients")
	withMoto := flag.Bool("moto", true, "also measure moto_server")
	flag.Parse()
	work, err := os.MkdirTemp("", "nimbus-bench-params-*")
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
	fmt.Printf("machine: %s; %d parameters, %d clients\n\n", benchkit.Machine(), *n, *clients)
	nim := measure(srv.URL(), *n, *clients, credentials.NewStaticCredentialsProvider(srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey, ""), selfCPU)
	var moto []result
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
			if i > 300 {
				log.Fatal("moto_server did not start")
			}
			time.Sleep(100 * time.Millisecond)
		}
		pid := cmd.Process.Pid
		moto = measure(url, *n, *clients, credentials.NewStaticCredentialsProvider("test", "test", ""), func() time.Duration {
			return selfCPU() + treeCPU(pid)
		})
	}
	fmt.Println("| call | nimbus calls/s | nimbus CPU/call | moto calls/s | moto CPU/call (server + client) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for i, r := range nim {
		m := result{}
		if i < len(moto) {
			m = moto[i]
		}
		fmt.Printf("| %s | %.0f | %s | %.0f | %s |\n", r.name, r.perSec, us(r.cpu), m.perSec, us(m.cpu))
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// treeCPU is the CPU of pid and its children (moto_server runs under a
// pyenv shim), from /proc.
func treeCPU(pid int) time.Duration {
	total := procCPU(pid)
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, c := range strings.Fields(string(data)) {
		if cp, err := strconv.Atoi(c); err == nil {
			total += treeCPU(cp)
		}
	}
	return total
}

func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}

func measure(url string, n, clients int, creds aws.CredentialsProvider, cpu func() time.Duration) []result {
	c := ssm.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds,
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }})
	ctx := context.Background()
	run := func(name string, call func(i int) error) result {
		var next atomic.Int64
		var wg sync.WaitGroup
		c0, t0 := cpu(), time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := call(i); err != nil {
						log.Fatalf("%s %s: %v", url, name, err)
					}
				}
			}()
		}
		wg.Wait()
		el, used := time.Since(t0), cpu()-c0
		return result{name: name, perSec: float64(n) / el.Seconds(), cpu: used / time.Duration(n)}
	}
	name := func(i int) string { return fmt.Sprintf("/bench/app%d/p%05d", i%10, i) }
	return []result{
		run("PutParameter (String)", func(i int) error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name(i)), Value: aws.String("value-" + strconv.Itoa(i)), Type: types.ParameterTypeString})
			return err
		}),
		run("PutParameter (SecureString)", func(i int) error {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name(i) + "-s"), Value: aws.String("secret-" + strconv.Itoa(i)), Type: types.ParameterTypeSecureString})
			return err
		}),
		run("GetParameter", func(i int) error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name((i * 7) % n))})
			return err
		}),
		run("GetParameter (SecureString, decrypted)", func(i int) error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name((i*7)%n) + "-s"), WithDecryption: aws.Bool(true)})
			return err
		}),
		run(fmt.Sprintf("GetParametersByPath (first 10 of %d)", n/5), func(i int) error {
			_, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String(fmt.Sprintf("/bench/app%d", i%10))})
			return err
		}),
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
