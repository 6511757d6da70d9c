// Package server assembles a nimbus node: the store, the registry, the
// runtime, telemetry and the HTTP edges on one listener.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/lambda"
	"github.com/nimbus-platform/nimbus/internal/blobs"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/console"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/deployments"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/gateway"
	"github.com/nimbus-platform/nimbus/internal/httpguard"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/objects"
	"github.com/nimbus-platform/nimbus/internal/params"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/sandbox/netguard"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/tables"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
	"github.com/nimbus-platform/nimbus/internal/telemetry/metrics"
	"github.com/nimbus-platform/nimbus/internal/workflows"
	"github.com/nimbus-platform/nimbus/runtimes"
)

// Version is the platform version reported by the status API.
const Version = "0.1.0"

// Config is everything `nimbus up` can set.
type Config struct {
	DataDir        string        // default ./.nimbus
	Addr           string        // API listener, default 127.0.0.1:9000 ("127.0.0.1:0" picks a free port)
	NATSURL        string        // external NATS cluster; empty runs the embedded one
	NATSReplicas   int           // replicas of streams and buckets; 0: 1 embedded, 3 on a cluster
	MaxConcurrency int           // platform-wide concurrent executions, default 1000
	IdleTimeout    time.Duration // default 5m
	LogRetention   time.Duration // default 7 days
	// LogBudget bounds all functions' logs together (each gets 1/8 of it);
	// default 1 GiB, or a quarter of a smaller data disk.
	LogBudget int64
	// RunDir holds unpacked code and instance temp dirs; default a directory
	// under the system temp dir derived from DataDir.
	RunDir string
	// NoSandbox keeps function processes under the platform's own uid, in
	// its namespaces.
	NoSandbox bool
	// NoNetworkGuard lets functions reach every service on the host's own
	// addresses, not only the platform's listeners (ADR 0028).
	NoNetworkGuard bool
	// AllowLocalPorts opens local ports to every function besides the
	// platform's own: PORT, LO-HI, HOST:PORT, [V6]:PORT, PORT/udp (ADR 0028).
	AllowLocalPorts []string
	// AllowLocalPortsFromEnv opens to each function the local ports its
	// environment names, as before ADR 0028's amendment (single-user hosts).
	AllowLocalPortsFromEnv bool
	// MaxMemoryMB bounds the sum of memorySize of running instances; cold
	// starts beyond it are throttled. 0: 80% of the host's memory; negative:
	// no bound.
	MaxMemoryMB int
	// InitFailureCooldown: see runtime.Config; negative disables.
	InitFailureCooldown time.Duration
	// HTTPAddr is the HTTP gateway's listener (API Gateway compatible); empty
	// serves no gateway listener ("127.0.0.1:0" picks a free port).
	HTTPAddr string
	// AllowedHosts are names besides localhost and the listener's own
	// address by which clients may reach the API listener (see httpguard).
	AllowedHosts []string
	// APILimits bound connections and slow clients on the API listener.
	APILimits httpguard.Limits
	Logger    *slog.Logger
	// Async tunes asynchronous invocations (zero values: Lambda's behaviour).
	Async AsyncConfig
	// Events tunes the event bus and schedules.
	Events EventsConfig
	// SDKDir holds the AWS SDKs functions use without packaging them (see
	// `nimbus sdk install`); empty or missing means functions get none.
	SDKDir string
	// NoAuth turns signature checks off (loopback addresses only).
	NoAuth bool
	// CredentialLifetime of function credentials; default 12h (tests shorten it).
	CredentialLifetime time.Duration
	// MaxVersions bounds the published versions kept per function; default
	// functions.DefaultMaxVersions.
	MaxVersions int
	// DeploymentTimeScale multiplies the intervals of traffic shifts (0.01
	// runs Canary10Percent5Minutes' wait in 3 s); 0 means 1.
	DeploymentTimeScale float64
	// DeploymentHookTimeout is how long a traffic hook has to report;
	// default an hour, as CodeDeploy.
	DeploymentHookTimeout time.Duration
	// DeploymentClock and DeploymentTick are the shifting engine's clock
	// and period (tests move the clock); defaults time.Now and a second.
	DeploymentClock func() time.Time
	DeploymentTick  time.Duration
	// Runtimes name the interpreter of runtime identifiers (nodejs22.x →
	// /usr/local/bin/node22) over the one found by the declared version.
	Runtimes map[string]string
	// Console tunes the web console's sessions (tests move its clock).
	Console console.Options
}

// AsyncConfig tunes asynchronous invocations; tests shorten the delays.
type AsyncConfig struct {
	Workers       int
	RetryDelays   []time.Duration // default 1m, 2m
	ThrottleDelay time.Duration
	AckWait       time.Duration // redelivery after a crash; default 30s
}

// Server is a running node.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	logs     *logs.Store
	runtime  *runtime.Manager
	sandbox  *sandbox.Sandbox
	Registry *functions.Registry
	Invoker  *invoke.Service
	Gateway  *gateway.Gateway
	Async    *async.Service
	Metrics  *metrics.Metrics
	// Auth verifies signatures and evaluates policies; nil with NoAuth.
	Auth *auth.Service
	// AdminKey is the administrator key of the data directory (nil with
	// NoAuth, or when the operator revoked it).
	AdminKey *auth.Key
	// metricsToken reads /metrics (metricsauth.go); empty with NoAuth.
	metricsToken string
	http         apiServer
	ln           net.Listener
	cancel       context.CancelFunc
	// stopEvents stops the event consumers (async, pollers) first on shutdown.
	stopEvents context.CancelFunc
	events     eventParts
	tables     *tables.Service
	objects    *objects.Store
	params     *params.Store
	workflows  *workflows.Service
	// deployments drives traffic shifts (deployments.go).
	deployments *deployments.Engine
	served      chan error
	lock        *dataLock
}

// Start brings a node up and serves until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = ".nimbus"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9000"
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NoAuth {
		if err := checkNoAuth(cfg.Addr); err != nil {
			return nil, err
		}
		cfg.Logger.Warn("AUTHENTICATION IS OFF (--no-auth): every request to the API listener is accepted unsigned, as an administrator", "addr", cfg.Addr)
	}
	var allow []netguard.Allowance
	for _, spec := range cfg.AllowLocalPorts {
		a, err := netguard.ParseAllowance(spec)
		if err != nil {
			return nil, fmt.Errorf("--allow-local-port: %w", err)
		}
		allow = append(allow, a...)
	}
	if (len(allow) > 0 || cfg.AllowLocalPortsFromEnv) && (cfg.NoNetworkGuard || cfg.NoSandbox) {
		cfg.Logger.Warn("--allow-local-port and --allow-local-ports-from-env change nothing: without network rules (--no-network-guard or --no-sandbox) functions reach every local port")
	}
	for _, a := range allow {
		if a.Hi-a.Lo >= 1<<14 {
			cfg.Logger.Warn("--allow-local-port opens a wide range of this host's ports to every function", "ports", a.String())
		}
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if cfg.RunDir == "" {
		sum := sha256.Sum256([]byte(dataDir))
		cfg.RunDir = filepath.Join(os.TempDir(), "nimbus-"+hex.EncodeToString(sum[:6]))
	}
	// The run directory must be traversable by function users, but not listable.
	if err := os.MkdirAll(cfg.RunDir, 0o711); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	_ = os.Chmod(cfg.RunDir, 0o711)

	s := &Server{cfg: cfg, log: cfg.Logger, served: make(chan error, 1)}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ok := false
	defer func() {
		if !ok {
			s.shutdown(context.Background())
		}
	}()
	// Before anything touches the data or run directories.
	if s.lock, err = lockDataDir(dataDir); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(filepath.Join(cfg.RunDir, "tmp")) // instance dirs of a previous run

	s.store, err = store.Open(ctx, store.Config{DataDir: dataDir, URL: cfg.NATSURL, Replicas: cfg.NATSReplicas, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if !cfg.NoAuth {
		s.Auth, err = auth.Open(bg, auth.Config{Store: s.store, AccountID: appspec.AccountID, Functions: s.functionIdentity, FunctionVersion: s.functionVersionIdentity,
			CredentialLifetime: cfg.CredentialLifetime, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		if err := s.ensureAdminKey(ctx); err != nil {
			return nil, err
		}
		if err := s.ensureMetricsToken(); err != nil {
			return nil, err
		}
	}
	if err := s.openParams(ctx); err != nil { // params.go
		return nil, err
	}
	s.logs, err = logs.Open(ctx, s.store, logs.Config{Retention: cfg.LogRetention, MaxBytes: cfg.LogBudget, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s.tables, err = tables.Open(tables.Config{Dir: filepath.Join(dataDir, "tables"), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s.objects, err = objects.Open(objects.Config{Dir: filepath.Join(dataDir, "objects"), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	blobStore, err := blobs.Open(filepath.Join(dataDir, "blobs"))
	if err != nil {
		return nil, err
	}
	runtimeDir := filepath.Join(cfg.RunDir, "runtimes")
	nodeEntry, pythonEntry, err := runtimes.Install(runtimeDir)
	if err != nil {
		return nil, err
	}
	python := findPython()
	if python != "" {
		// Function users cannot write the client's bytecode cache: write it once here.
		if err := runtimes.PrecompilePython(ctx, python, runtimeDir); err != nil {
			s.log.Warn("python runtime client not precompiled; cold starts pay for compiling it", "err", err)
		}
	}
	// Listen before instances start: they are told the API's address.
	s.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	sdkDir := s.checkSDK(cfg.SDKDir)
	s.Metrics = metrics.New()
	s.Metrics.Registry.MustRegister(s.logs.Collectors()...)
	uidBucket, err := s.store.KeyValue(ctx, "nimbus_uids", 1)
	if err != nil {
		return nil, err
	}
	sb := sandbox.New(sandbox.Config{DropPrivileges: !cfg.NoSandbox, NoNetworkGuard: cfg.NoNetworkGuard,
		AllowLocalPorts: allow, LocalPortsFromEnv: cfg.AllowLocalPortsFromEnv, UIDs: uidBucket, Logger: cfg.Logger})
	s.sandbox = sb
	if sb.MemoryLimitError != nil {
		s.log.Warn("function memory is not limited on this host", "reason", sb.MemoryLimitError)
	}
	if sb.NamespaceError != nil {
		s.log.Warn("functions are not isolated on this host", "reason", sb.NamespaceError)
	}
	if sb.NetworkError != nil {
		s.log.Warn("functions are not kept off the host's network services", "reason", sb.NetworkError)
	}
	if sb.ScopeError != nil && sb.NamespaceError == nil {
		s.log.Warn("functions are not confined to their own abstract unix sockets", "reason", sb.ScopeError)
	}
	if sb.FilterError != nil && sb.NamespaceError == nil {
		s.log.Warn("functions' system calls are not filtered", "reason", sb.FilterError)
	}
	// Functions reach the API through the network rules (ADR 0028).
	if _, err := sb.AllowPort(s.ln.Addr().(*net.TCPAddr).Port); err != nil {
		sb.Close()
		return nil, err
	}
	if sb.Isolated() {
		// Instances see their code through binds made as root: no function
		// user needs to reach the run directory.
		_ = os.Chmod(cfg.RunDir, 0o700)
	} else if sb.Status().OwnUsers {
		if dir := unreachableAncestor(cfg.RunDir); dir != "" {
			sb.Close()
			return nil, fmt.Errorf("function users cannot reach the run directory %s: %s is not searchable by others (chmod o+x it, choose --run-dir elsewhere, or use --no-sandbox)", cfg.RunDir, dir)
		}
	}
	maxMemory := cfg.MaxMemoryMB
	if maxMemory == 0 {
		maxMemory = sandbox.HostMemoryMB() * 8 / 10
	}
	credentials := s.functionCredentials
	s.runtime, err = runtime.NewManager(runtime.Config{
		Credentials:         credentials,
		MaxConcurrency:      cfg.MaxConcurrency,
		MaxMemoryMB:         maxMemory,
		IdleTimeout:         cfg.IdleTimeout,
		InitFailureCooldown: cfg.InitFailureCooldown,
		RunDir:              cfg.RunDir,
		RuntimeDir:          runtimeDir,
		NodePath:            findNode(),
		NodeEntry:           nodeEntry,
		PythonPath:          python,
		PythonEntry:         pythonEntry,
		Runtimes:            cfg.Runtimes,
		EndpointURL:         functionEndpoint(s.ln.Addr()),
		SDKDir:              sdkDir,
		Sandbox:             sb,
		Logs:                s.logs,
		Observer:            s.Metrics,
		Logger:              cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.Registry, err = functions.Open(bg, functions.Config{
		Store:       s.store,
		Blobs:       blobStore,
		CodeDir:     filepath.Join(cfg.RunDir, "code"),
		Logger:      cfg.Logger,
		Retired:     s.runtime.RetireVersion,
		MaxVersions: cfg.MaxVersions,
		Shift:       s.startShift, // deployments.go
		Resolve:     s.resolveDeploy,
		Checks:      []functions.DeployCheck{gateway.CheckDeploy, s.checkEvents},
		// Code under a running instance of a replaced version stays until it ends.
		CodeInUse: s.runtime.CodeInUse,
	})
	if err != nil {
		return nil, err
	}
	s.Registry.OnRemove(cfn.CheckRemove)
	s.registerBuckets() // notify.go
	s.logs.SetRetention(func(function string) time.Duration {
		if f, ok := s.Registry.Get(function); ok {
			return time.Duration(f.Config.LogRetentionInDays) * 24 * time.Hour
		}
		return 0
	})
	s.Invoker = invoke.New(s.Registry, s.runtime)
	gcfg := gateway.Config{Registry: s.Registry, Invoker: s.Invoker, Logs: s.logs, Logger: cfg.Logger, PutEvent: s.putWebhookEvent,
		StartMachine: s.startMachine}
	if s.Auth != nil {
		gcfg.Verify = s.verifyFunctionURL // auth.go
	}
	s.Gateway = gateway.New(gcfg)
	s.Registry.AddInventory(s.routes)
	s.registerBucketWebsites() // bucketsweb.go
	if cfg.HTTPAddr != "" {
		if err := s.Gateway.Listen(cfg.HTTPAddr); err != nil {
			return nil, err
		}
		// Functions may call the platform's own HTTP endpoints.
		_, port, _ := net.SplitHostPort(s.Gateway.Addr())
		n, _ := strconv.Atoi(port)
		if _, err := sb.AllowPort(n); err != nil {
			return nil, err
		}
	}
	if err := s.startEvents(ctx); err != nil {
		return nil, err
	}
	if err := s.openWorkflows(ctx); err != nil { // workflows.go
		return nil, err
	}
	if err := s.openDeployments(bg); err != nil { // deployments.go
		return nil, err
	}

	mux := http.NewServeMux()
	endpoint := func(r *http.Request) string { return "http://" + r.Host }
	(&lambda.API{Invoker: s.Invoker, Registry: s.Registry, Async: s.Async, CodeURL: func(r *http.Request, sha string) string {
		if s.Auth == nil {
			return endpoint(r) + deployapi.Prefix + "/code/" + sha
		}
		return s.Auth.SignURL(endpoint(r)+deployapi.Prefix+"/code/"+sha, 10*time.Minute)
	}}).Register(mux)
	(&deployapi.API{Blobs: blobStore, Registry: s.Registry, Logs: s.logs, Runtime: s.runtime, Version: Version, Endpoint: endpoint,
		HTTPInfo: func(app *appspec.Application) deployapi.HTTPEndpoints {
			endpoints, keys := s.Gateway.Endpoints(app)
			out := deployapi.HTTPEndpoints{Endpoints: endpoints, APIKeys: keys}
			if len(endpoints) > 0 {
				out.Host = s.Gateway.Host(app)
			}
			return out
		},
		ExtraLogs: s.Gateway.IsAccessLog,
		Keys:      s.keys(),
	}).Register(mux)
	s.registerEventAPIs(mux)
	s.registerConsole(mux) // console.go
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	api := s.withS3(mux)
	s.workflows.SetAPI(api) // service integrations call the edges in process
	if err := s.serveAPI(auth.Middleware(s.Auth, appspec.AccountID, api, s.classify)); err != nil {
		return nil, err
	}
	if err := s.lock.record(s.Addr()); err != nil {
		return nil, err
	}
	ok = true
	s.log.Info("nimbus is up", "addr", s.Addr(), "data", dataDir, "functions", len(s.Registry.List()))
	return s, nil
}

// Addr is the API listener's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the API's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// routes lists an application's HTTP endpoints, for deploy summaries.
func (s *Server) routes(app *appspec.Application) []functions.Item {
	endpoints := s.Gateway.RouteLines(app)
	out := make([]functions.Item, 0, len(endpoints))
	for _, e := range endpoints {
		out = append(out, functions.Item{Kind: "route", Name: e, Digest: e})
	}
	return out
}

// resolveDeploy evaluates a deploy's references (a functions.Config.Resolve).
func (s *Server) resolveDeploy(app, prev *appspec.Application, others []appspec.Application) ([]string, error) {
	warnings, err := cfn.ResolveDeploy(app, prev, others, cfn.DeployOptions{QueueEndpoint: s.queueEndpoint()})
	if err != nil {
		return warnings, err
	}
	// Interpreters this node has for the runtimes (a missing one refuses the deploy).
	more, err := s.runtime.CheckRuntimes(app)
	warnings = append(warnings, more...)
	return append(warnings, s.unreachableWarnings(app)...), err
}

// unreachableWarnings names, per function and variable, the local services
// a function's environment points it to that the network rules will refuse
// it, and how the operator would open them (ADR 0028). Values are not
// repeated: they may hold passwords.
//
// The operator reads them on the platform's log and the function's author
// in the function's log group, where the refused connections show up too.
func (s *Server) unreachableWarnings(app *appspec.Application) []string {
	var out []string
	for _, f := range app.Functions {
		for _, e := range s.sandbox.Unreachable(f.Environment) {
			const refused = "a port on this host that functions may not reach: its connections will be refused unless the operator starts nimbus with --allow-local-port %d (or --allow-local-ports-from-env on a single-user machine)"
			out = append(out, fmt.Sprintf("function %s: %s names %s, "+refused, f.Key, e.Var, e.String(), e.Port))
			s.log.Warn("function environment names a local endpoint the network rules refuse",
				"function", f.Name, "variable", e.Var, "endpoint", e.String(), "flag", fmt.Sprintf("--allow-local-port %d", e.Port))
			if s.logs != nil {
				s.logs.Append(logs.Record{Time: time.Now(), Function: f.Name, Stream: "nimbus/deploy",
					Message: fmt.Sprintf("nimbus: environment variable %s names %s, "+refused, e.Var, e.String(), e.Port)})
			}
		}
	}
	return out
}

// queueEndpoint is the base URL of queue URLs that references hand out: the
// API listener, on loopback when it listens on every address.
func (s *Server) queueEndpoint() string {
	if s.ln == nil {
		return ""
	}
	return functionEndpoint(s.ln.Addr())
}

// Runtime exposes the instance manager (for status and tests).
func (s *Server) Runtime() *runtime.Manager { return s.runtime }

// Close stops accepting requests, lets running invocations finish until ctx
// ends, then stops every instance and the store.
func (s *Server) Close(ctx context.Context) error {
	return s.shutdown(ctx)
}

func (s *Server) shutdown(ctx context.Context) error {
	var errs []error
	if s.Gateway != nil {
		if err := s.Gateway.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.workflows != nil {
		s.workflows.Close() // running executions resume on the next start
	}
	if err := s.stopEventParts(ctx); err != nil {
		errs = append(errs, err)
	}
	if s.http != nil {
		// Stop taking new requests; running invocations hold their handlers.
		shutdownErr := make(chan error, 1)
		go func() { shutdownErr <- s.http.Shutdown(ctx) }()
		if s.runtime != nil {
			if err := s.runtime.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := <-shutdownErr; err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
		_ = s.http.Close()
	} else {
		if s.ln != nil {
			_ = s.ln.Close()
		}
		if s.runtime != nil {
			if err := s.runtime.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.logs != nil {
		s.logs.Close()
	}
	if s.tables != nil {
		if err := s.tables.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.objects != nil {
		if err := s.objects.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.store != nil {
		s.store.Close()
	}
	s.lock.release()
	return errors.Join(errs...)
}

// unreachableAncestor returns the first directory on the way to dir that
// other users cannot search, or "".
func unreachableAncestor(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

func findNode() string {
	if p := os.Getenv("NIMBUS_NODE"); p != "" {
		return p
	}
	p, _ := exec.LookPath("node")
	return p
}

// findPython prefers the system interpreter: version managers put slow shims
// first on PATH (and under home directories function users cannot reach).
func findPython() string {
	if p := os.Getenv("NIMBUS_PYTHON"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return ""
	}
	if strings.Contains(p, "/shims/") {
		if out, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output(); err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	return p
}
