package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/gcfloor"
	"github.com/nimbus-platform/nimbus/internal/sdk"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// upFlags are the platform's settings, shared by up and dev.
type upFlags struct {
	cfg       server.Config
	logLevel  string
	grace     time.Duration
	logBudget int64 // MiB
}

func (f *upFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.DataDir, "data", ".nimbus", "data directory (metadata, queues, code, logs)")
	fl.StringVar(&f.cfg.Addr, "addr", "127.0.0.1:9000", "address of the API listener")
	fl.StringSliceVar(&f.cfg.AllowedHosts, "allowed-host", nil, "further host names (name or name:port, subdomains included) clients may use to reach the API listener; localhost and the listener's address are always allowed")
	fl.IntVar(&f.cfg.APILimits.MaxConnsPerClient, "max-conns-per-client", 256, "open connections one client IP may hold on the API listener (-1: no limit)")
	fl.StringVar(&f.cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "address of the HTTP gateway (API Gateway compatible endpoints); empty disables it")
	fl.StringVar(&f.cfg.NATSURL, "nats-url", "", "external NATS cluster URL (default: run NATS JetStream embedded)")
	fl.IntVar(&f.cfg.MaxConcurrency, "max-concurrency", 1000, "platform-wide limit of concurrent executions")
	fl.IntVar(&f.cfg.MaxMemoryMB, "max-memory", 0, "MB of memorySize that running instances may hold together; cold starts beyond it are throttled (default 80% of the host's memory, -1: no bound)")
	fl.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", 5*time.Minute, "stop an instance after it is idle this long")
	fl.DurationVar(&f.cfg.LogRetention, "log-retention", 7*24*time.Hour, "keep function logs this long")
	fl.Int64Var(&f.logBudget, "log-budget", 0, "MiB kept of all functions' logs, each function 1/8 of it (default 1024, or a quarter of a smaller data disk)")
	fl.StringVar(&f.cfg.RunDir, "run-dir", "", "directory for unpacked code and instance /tmp (default: under the system temp dir)")
	fl.BoolVar(&f.cfg.NoSandbox, "no-sandbox", false, "run functions under the platform's own uid instead of one per function")
	fl.BoolVar(&f.cfg.NoNetworkGuard, "no-network-guard", false, "let functions reach every service on this host's own addresses, not only the platform's listeners and the ports opened with --allow-local-port")
	fl.StringSliceVar(&f.cfg.AllowLocalPorts, "allow-local-port", nil, "let every function reach this port on the host's own addresses (a database, a cache): PORT, LO-HI, HOST:PORT (an address of this host, [::1] or localhost), add /udp for UDP; repeatable. Functions reach only the platform's own ports otherwise")
	fl.BoolVar(&f.cfg.AllowLocalPortsFromEnv, "allow-local-ports-from-env", false, "let each function reach the ports on this host that its environment names (X=http://127.0.0.1:5432): whoever deploys then decides what functions reach; for single-user machines")
	fl.BoolVar(&f.cfg.NoAuth, "no-auth", false, "accept unsigned requests on --addr, everyone as an administrator (loopback addresses only; for local experiments)")
	fl.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "on stop, let running invocations finish for this long")
	fl.StringVar(&f.logLevel, "log-level", "info", "server log level: debug, info, warn, error")
	fl.DurationSliceVar(&f.cfg.Async.RetryDelays, "async-retry-delays", []time.Duration{time.Minute, 2 * time.Minute}, "waits before the first and second retry of a failed asynchronous event")
	fl.DurationVar(&f.cfg.Async.AckWait, "async-ack-wait", 30*time.Second, "after a crash, events that were running are redelivered after this long")
	fl.IntVar(&f.cfg.Async.Workers, "async-workers", 64, "asynchronous invocations run at once")
	fl.StringVar(&f.cfg.SDKDir, "sdk-dir", sdk.DefaultDir(), "AWS SDKs functions use without packaging them (install: nimbus sdk install); empty for none")
	fl.StringToStringVar(&f.cfg.Runtimes, "runtime", nil, "interpreter of a runtime, as RUNTIME=PATH (nodejs22.x=/usr/local/bin/node22); repeatable; by default nimbus looks for the declared version")
}

func (f *upFlags) start(ctx context.Context) (*server.Server, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	f.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f.cfg.LogBudget = f.logBudget << 20
	gcfloor.Start(gcfloor.DefaultFloor)
	return server.Start(ctx, f.cfg)
}

// printSDK says which AWS SDKs functions find, or how to install them.
func (f *upFlags) printSDK() {
	if f.cfg.SDKDir == "" {
		fmt.Println("  SDKs: none (--sdk-dir is empty): functions use only the AWS SDKs they package")
		return
	}
	st := sdk.Check(f.cfg.SDKDir)
	if st.Node && st.Python {
		fmt.Printf("  SDKs: %s  (%s)\n", st.Describe(), f.cfg.SDKDir)
		return
	}
	fmt.Printf("  SDKs: %s in %q: functions cannot use the missing AWS SDKs unless they package them; run: %s --dir %s\n",
		st.Describe(), f.cfg.SDKDir, sdk.InstallCommand, f.cfg.SDKDir)
}

func (f *upFlags) stop(srv *server.Server) error {
	fmt.Fprintln(os.Stderr, "stopping: letting running invocations finish (up to", f.grace, ")")
	ctx, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	return srv.Close(ctx)
}

func newUpCommand() *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the platform on this machine with embedded defaults",
		Example: "  nimbus up\n" +
			"  nimbus up --data /var/lib/nimbus --addr 0.0.0.0:9000 --allowed-host nimbus.internal\n" +
			"  nimbus up --allow-local-port 5432    # functions may reach the host's PostgreSQL\n" +
			"  nimbus up --no-auth                  # loopback only, for experiments",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := f.start(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Printf("nimbus %s is up\n  API:  %s  (AWS SDK/CLI: --endpoint-url %s)\n  data: %s\n",
				server.Version, srv.URL(), srv.URL(), f.cfg.DataDir)
			printAuthBanner(srv, f)
			if u := srv.Gateway.URL(); u != "" {
				fmt.Printf("  HTTP: %s  (http and httpApi events, function URLs)\n", u)
			}
			fmt.Printf("  web:  %s/console/  (a sign-in link: nimbus%s console)\n", srv.URL(), clientFlags(srv.URL(), f.cfg.DataDir))
			f.printSDK()
			printLocalPorts(os.Stdout, srv.Runtime().Isolation(), "  ")
			fmt.Println("Press Ctrl-C to stop.")
			<-cmd.Context().Done()
			return f.stop(srv)
		},
	}
	f.register(cmd)
	return cmd
}

// printAuthBanner says how clients authenticate, and loudly when nothing is checked.
func printAuthBanner(srv *server.Server, f *upFlags) {
	switch {
	case f.cfg.NoAuth:
		fmt.Println("  auth: OFF (--no-auth): every request is accepted unsigned, as an administrator. Do not expose this platform.")
	case srv.AdminKey != nil:
		fmt.Printf("  auth: SigV4; administrator key %s in %s\n        eval \"$(nimbus%s env)\"   # for the AWS CLI and SDKs\n",
			srv.AdminKey.AccessKeyID, filepath.Join(f.cfg.DataDir, server.CredentialsFile), clientFlags(srv.URL(), f.cfg.DataDir))
	default:
		fmt.Println("  auth: SigV4; the data directory's administrator key was revoked: use a key from `nimbus keys create`")
	}
}
