// Package testkit starts real platforms for integration tests: an in-process
// server on a free port with a temporary data directory, real function
// processes, and real clients (the CLI's client and aws-sdk-go-v2).
package testkit

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/conformance"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/sdk"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// Platform is a running platform for one test.
type Platform struct {
	*server.Server
	Config server.Config
	Client *client.Client
	t      testing.TB
	closed bool
}

// Start runs a platform until the test ends. mutate may adjust the config.
func Start(t testing.TB, mutate func(*server.Config)) *Platform {
	t.Helper()
	cfg := server.Config{
		DataDir:     filepath.Join(t.TempDir(), "data"),
		Addr:        "127.0.0.1:0",
		RunDir:      runDir(t),
		IdleTimeout: time.Minute,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		SDKDir:      sdk.DefaultDir(),
	}
	if os.Getenv("NIMBUS_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return start(t, cfg)
}

// runDir is a run directory function users can reach (t.TempDir's are
// private to the test's user).
func runDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nimbus-test-run-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func start(t testing.TB, cfg server.Config) *Platform {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start platform: %v", err)
	}
	p := &Platform{Server: srv, Config: cfg, Client: client.New(srv.URL()), t: t}
	if srv.AdminKey != nil {
		p.Client.WithCredentials(client.Credentials{AccessKeyID: srv.AdminKey.AccessKeyID, SecretAccessKey: srv.AdminKey.SecretAccessKey}, "us-east-1")
	}
	t.Cleanup(p.Stop)
	return p
}

// Stop shuts the platform down (idempotent).
func (p *Platform) Stop() {
	if p.closed {
		return
	}
	p.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		p.t.Logf("platform stop: %v", err)
	}
}

// Restart stops the platform and starts a new one on the same data
// directory (and the same address if it was fixed).
func (p *Platform) Restart() *Platform {
	p.t.Helper()
	p.Stop()
	return start(p.t, p.Config)
}

// Deploy deploys the service in dir (a path relative to the repository root
// or absolute) and fails the test on error.
func (p *Platform) Deploy(dir string) *client.DeployOutcome {
	p.t.Helper()
	out, err := p.Client.Deploy(context.Background(), Path(p.t, dir), manifest.Options{}, nil)
	if err != nil {
		p.t.Fatalf("deploy %s: %v", dir, err)
	}
	return out
}

// Lambda is an aws-sdk-go-v2 Lambda client pointed at the platform.
func (p *Platform) Lambda() *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL()),
		Credentials:  p.Credentials(),
		Retryer:      aws.NopRetryer{},
	})
}

// Credentials are the platform's administrator key (made-up ones when the
// platform runs with NoAuth), for AWS SDK clients.
func (p *Platform) Credentials() aws.CredentialsProvider {
	if p.AdminKey == nil {
		return credentials.NewStaticCredentialsProvider("anonymous", "anonymous", "")
	}
	return credentials.NewStaticCredentialsProvider(p.AdminKey.AccessKeyID, p.AdminKey.SecretAccessKey, "")
}

// AWSConfig is an aws-sdk-go-v2 configuration for the platform: its
// endpoint, us-east-1, the administrator key and no retries.
func (p *Platform) AWSConfig() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL()),
		Credentials:  p.Credentials(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:   HTTPClient(),
	}
}

// Sign signs a hand-made request with the administrator key for service
// (e.g. "sqs"), as an AWS SDK would.
func (p *Platform) Sign(r *http.Request, service string) {
	p.t.Helper()
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			p.t.Fatal(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	sum := sha256.Sum256(body)
	c, _ := p.Credentials().Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), c, r, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		p.t.Fatal(err)
	}
}

// AWSEnv is the environment that points the AWS CLI and boto3 at the
// platform with the administrator key.
func (p *Platform) AWSEnv() []string {
	c, _ := p.Credentials().Retrieve(context.Background())
	return []string{"AWS_ENDPOINT_URL=" + p.URL(), "AWS_ACCESS_KEY_ID=" + c.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CONFIG_FILE=/dev/null"}
}

// Root is the repository root.
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Path resolves a repository-relative path.
func Path(t testing.TB, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(Root(t), rel)
}

// Shared is the ../shared directory beside the repository; tests that need it
// skip when it is absent (see internal/conformance).
func Shared(t testing.TB) string {
	t.Helper()
	return filepath.Dir(conformance.Dir(t))
}

// BuildGo compiles the Go package at pkg (repository-relative) for Lambda into
// out (the file name is the executable's), statically, as users do for
// provided.al2 and go1.x.
func BuildGo(t testing.TB, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "./"+pkg)
	cmd.Dir = Root(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// BuildGoZip compiles pkg and writes a zip at zipPath holding the executable
// as entry (mode 0755), like `zip` after `go build` in a Makefile.
func BuildGoZip(t testing.TB, pkg, zipPath, entry string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	BuildGo(t, pkg, bin)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(Path(t, zipPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(Path(t, zipPath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	hdr := &zip.FileHeader{Name: entry, Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// AllowLocalPortOf opens to the platform's functions the local port of a
// URL or host:port (a test's callback server), as an operator would with
// `nimbus up --allow-local-port`. Functions whose environment names a test
// server need it: the network rules refuse other local ports (ADR 0028).
func AllowLocalPortOf(addr string) func(*server.Config) {
	hostport := addr
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		hostport = u.Host
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		panic("testkit.AllowLocalPortOf(" + addr + "): " + err.Error())
	}
	return func(c *server.Config) { c.AllowLocalPorts = append(c.AllowLocalPorts, port) }
}
