package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Client modes of the load generator.
const (
	modeUnsigned = "unsigned" // lean: SigV4 with UNSIGNED-PAYLOAD, as the SDKs send over TLS
	modeSigned   = "signed"   // lean: SigV4 with the payload's SHA-256
	modeSDK      = "sdk"      // the AWS SDK for Go v2, as an application uses it
)

// loadSpec is one phase the load generator runs: n PUTs or GETs of size
// bytes on keys prefix/00000000... with clients connections.
type loadSpec struct {
	Endpoint, AccessKey, SecretKey string
	Mode, Op, Bucket, Prefix       string
	Size, N, Clients               int
}

// loadResult is what the load generator reports: wall time and its own CPU.
type loadResult struct {
	Seconds float64 `json:"seconds"`
	CPUMs   float64 `json:"cpuMs"` // the client's CPU over the phase
	Err     string  `json:"err,omitempty"`
}

// runLoad runs spec in a child process (this binary with -loadgen), so the
// server's CPU is measured without the clients', and the clients are the
// same for every server. cpu reads the server's CPU; the result is the
// operations per second and the server's and the client's CPU per
// operation (milliseconds).
func runLoad(spec loadSpec, cpu func() time.Duration) (float64, float64, float64) {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	in, _ := json.Marshal(spec)
	cmd := exec.Command(self, "-loadgen", string(in))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	// The child prepares its requests, then says "go" and waits for a line.
	r := json.NewDecoder(stdout)
	var ready string
	if err := r.Decode(&ready); err != nil || ready != "ready" {
		log.Fatalf("load generator: %v %q", err, ready)
	}
	c0 := cpu()
	if _, err := fmt.Fprintln(stdin, "go"); err != nil {
		log.Fatal(err)
	}
	var res loadResult
	if err := r.Decode(&res); err != nil {
		log.Fatal(err)
	}
	c1 := cpu()
	_ = cmd.Wait()
	if res.Err != "" {
		log.Fatalf("load generator %s %s %d B: %s", spec.Mode, spec.Op, spec.Size, res.Err)
	}
	return float64(spec.N) / res.Seconds, float64(c1-c0) / float64(time.Millisecond) / float64(spec.N), res.CPUMs / float64(spec.N)
}

// loadgenMain is the child: it builds every request first (signing
// included), waits for "go" on stdin, runs them and prints the result.
func loadgenMain(arg string) {
	var spec loadSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		log.Fatal(err)
	}
	out := json.NewEncoder(os.Stdout)
	op, err := prepare(spec)
	if err != nil {
		_ = out.Encode("ready")
		_ = out.Encode(loadResult{Err: err.Error()})
		return
	}
	_ = out.Encode("ready")
	var line [8]byte
	_, _ = os.Stdin.Read(line[:])
	c0, start := selfCPU(), time.Now()
	err = parallel(spec.N, spec.Clients, op)
	res := loadResult{Seconds: time.Since(start).Seconds(), CPUMs: float64(selfCPU()-c0) / float64(time.Millisecond)}
	if err != nil {
		res.Err = err.Error()
	}
	_ = out.Encode(res)
}

func parallel(n, clients int, op func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range min(clients, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
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
		return err
	}
	return nil
}

func objectKey(prefix string, i int) string { return fmt.Sprintf("%s/%08d", prefix, i) }

// prepare returns the phase's operation, its requests built and signed.
func prepare(spec loadSpec) (func(i int) error, error) {
	body := bytes.Repeat([]byte("n"), spec.Size)
	creds := aws.Credentials{AccessKeyID: spec.AccessKey, SecretAccessKey: spec.SecretKey}
	transport := &http.Transport{MaxIdleConnsPerHost: spec.Clients * 2, DisableCompression: true}
	if spec.Mode == modeSDK {
		c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(spec.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(spec.AccessKey, spec.SecretKey, ""), HTTPClient: &http.Client{Transport: transport}})
		ctx := context.Background()
		if spec.Op == "put" {
			return func(i int) error {
				_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &spec.Bucket, Key: aws.String(objectKey(spec.Prefix, i)), Body: bytes.NewReader(body)})
				return err
			}, nil
		}
		return func(i int) error {
			o, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &spec.Bucket, Key: aws.String(objectKey(spec.Prefix, i))})
			if err != nil {
				return err
			}
			defer o.Body.Close()
			return readAll(o.Body, spec.Size)
		}, nil
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	payload := "UNSIGNED-PAYLOAD"
	if spec.Mode == modeSigned {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	if spec.Op == "get" {
		empty := sha256.Sum256(nil)
		payload = hex.EncodeToString(empty[:])
		if spec.Mode == modeUnsigned {
			payload = "UNSIGNED-PAYLOAD"
		}
	}
	method := http.MethodGet
	if spec.Op == "put" {
		method = http.MethodPut
	}
	reqs := make([]*http.Request, spec.N)
	now := time.Now()
	for i := range reqs {
		url := spec.Endpoint + "/" + spec.Bucket + "/" + objectKey(spec.Prefix, i)
		var rb io.Reader
		if method == http.MethodPut {
			rb = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, url, rb)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Amz-Content-Sha256", payload)
		if err := signer.SignHTTP(context.Background(), creds, req, payload, "s3", "us-east-1", now); err != nil {
			return nil, err
		}
		reqs[i] = req
	}
	client := &http.Client{Transport: transport}
	return func(i int) error {
		resp, err := client.Do(reqs[i])
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s %s: %s %s", method, reqs[i].URL.Path, resp.Status, strings.TrimSpace(string(b)))
		}
		if method == http.MethodPut {
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}
		return readAll(resp.Body, spec.Size)
	}, nil
}

func readAll(r io.Reader, size int) error {
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != int64(size) {
		err = fmt.Errorf("GET read %d bytes of %d", n, size)
	}
	return err
}
