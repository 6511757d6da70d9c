// Command auth measures what signature checks and policy evaluation cost on
// the API's two busiest calls, SQS SendMessage and Lambda Invoke (a no-op Go
// function), with aws-sdk-go-v2 against two platforms in this process: one
// with --no-auth, one checking SigV4 (operator key) — and, for SendMessage,
// with a function's credentials, which adds IAM policy evaluation. The SDK
// signs in every case (with made-up keys under --no-auth), so the difference
// is the server's work. CPU per call is this process's getrusage (user +
// system) around each loop; rounds alternate the platforms.
//
//	go run ./bench/auth -n 3000 -clients 8 -rounds 3 [-write BENCHMARKS.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

const manifest = `service: bench
provider:
  name: aws
  runtime: provided.al2023
  memorySize: 128
functions:
  noop:
    handler: bootstrap
    package:
      artifact: noop.zip
`

type target struct {
	name   string
	srv    *server.Server
	creds  aws.CredentialsProvider
	sqsURL string
}

func main() {
	n := flag.Int("n", 3000, "calls per loop")
	clients := flag.Int("clients", 8, "concurrent SDK clients")
	rounds := flag.Int("rounds", 3, "alternating rounds (the median is reported)")
	write := flag.String("write", "", "also write the results into this Markdown file's section")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the signed Invoke loops to this file")
	flag.Parse()
	ctx := context.Background()

	var targets []*target
	for _, noAuth := range []bool{true, false} {
		ws, err := benchkit.NewWorkspace("nimbus-bench-auth-*")
		if err != nil {
			log.Fatal(err)
		}
		defer ws.Close()
		_, zipData, err := ws.NoopGo()
		if err != nil {
			log.Fatal(err)
		}
		app, err := ws.App(manifest, map[string][]byte{"noop.zip": zipData})
		if err != nil {
			log.Fatal(err)
		}
		srv, err := ws.Start(app, func(c *server.Config) { c.NoAuth = noAuth; c.NoSandbox = true })
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Close(ctx)
		t := &target{name: "--no-auth", srv: srv, creds: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "made-up", "")}
		if !noAuth {
			t.name = "SigV4, operator key"
			t.creds = credentials.NewStaticCredentialsProvider(srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey, "")
		}
		q, err := sqsClient(t.srv, t.creds).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bench")})
		if err != nil {
			log.Fatal(err)
		}
		t.sqsURL = *q.QueueUrl
		targets = append(targets, t)
		if !noAuth {
			// A function's credentials, as the queue's sender would hold them:
			// the call also evaluates the function's IAM statements.
			if err := allowSend(ctx, srv); err != nil {
				log.Fatal(err)
			}
			fc, err := srv.Auth.FunctionCredentials("bench-dev-noop", "$LATEST")
			if err != nil {
				log.Fatal(err)
			}
			targets = append(targets, &target{name: "SigV4 + IAM policy, function credentials", srv: srv, sqsURL: t.sqsURL,
				creds: credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)})
		}
	}

	type key struct{ call, target string }
	samples := map[key][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, t := range targets {
			samples[key{"SendMessage", t.name}] = append(samples[key{"SendMessage", t.name}], measure(*n, *clients, sendMessage(t)))
			if !strings.Contains(t.name, "function") {
				stop := func() {}
				if *profile != "" && strings.HasPrefix(t.name, "SigV4") {
					stop = startProfile(*profile + "." + strconv.Itoa(r))
				}
				samples[key{"Invoke", t.name}] = append(samples[key{"Invoke", t.name}], measure(*n, *clients, invoke(t)))
				stop()
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. `go run ./bench/auth -n %d -clients %d -rounds %d`: CPU of the whole process (platform and SDK clients; the no-op function's own process is not counted) per call, median of %d alternating rounds.\n\n", benchkit.Machine(), *n, *clients, *rounds, *rounds)
	b.WriteString("| call | --no-auth | SigV4, operator key | SigV4 + IAM policy, function credentials | signed vs --no-auth |\n|---|---:|---:|---:|---:|\n")
	for _, call := range []string{"SendMessage", "Invoke"} {
		base := median(samples[key{call, "--no-auth"}])
		signed := median(samples[key{call, "SigV4, operator key"}])
		fn := "—"
		if s := samples[key{call, "SigV4 + IAM policy, function credentials"}]; len(s) > 0 {
			fn = fmt.Sprintf("%.1f µs", median(s))
		}
		fmt.Fprintf(&b, "| %s | %.1f µs | %.1f µs | %s | %+.1f%% |\n", call, base, signed, fn, 100*(signed-base)/base)
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := benchkit.WriteSection(*write, "Signatures and policies (bench/auth)", b.String()); err != nil {
			log.Fatal(err)
		}
	}
}

// allowSend gives the deployed function a statement allowing SendMessage,
// as a manifest's iam.role.statements would.
func allowSend(ctx context.Context, srv *server.Server) error {
	app, ok := srv.Registry.Service("bench")
	if !ok {
		return fmt.Errorf("service bench is not deployed")
	}
	a := *app
	a.Functions = slices.Clone(a.Functions)
	a.Functions[0].IAMStatements = []byte(`[{"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":"arn:aws:sqs:*:*:bench"}]`)
	_, err := srv.Registry.Deploy(ctx, &a)
	return err
}

func sqsClient(srv *server.Server, creds aws.CredentialsProvider) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Credentials: creds, Retryer: aws.NopRetryer{}})
}

func sendMessage(t *target) func(ctx context.Context) error {
	c := sqsClient(t.srv, t.creds)
	return func(ctx context.Context) error {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(t.sqsURL), MessageBody: aws.String(`{"order":42,"items":["a","b"]}`)})
		return err
	}
}

func invoke(t *target) func(ctx context.Context) error {
	c := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(t.srv.URL()), Credentials: t.creds, Retryer: aws.NopRetryer{}})
	return func(ctx context.Context) error {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("bench-dev-noop"), Payload: []byte(`{"k":"v"}`)})
		return err
	}
}

// measure runs call n times from clients goroutines (after a warm-up) and
// returns this process's CPU microseconds per call.
func measure(n, clients int, call func(ctx context.Context) error) float64 {
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if err := call(ctx); err != nil {
			log.Fatalf("warm-up: %v", err)
		}
	}
	before := cpu()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := call(ctx); err != nil {
					if failed.Add(1) == 1 {
						log.Printf("call failed: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		log.Fatalf("%d calls failed", f)
	}
	return float64((cpu() - before).Microseconds()) / float64(n)
}

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func startProfile(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}
