package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

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
	fl.StringVar(&f.cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "address of the HTTP gateway (API Gateway compatible endpoints); empty disables it")
	fl.StringVar(&f.cfg.NATSURL, "nats-url", "", "external NATS cluster URL (default: run NATS JetStream embedded)")
	fl.IntVar(&f.cfg.MaxConcurrency, "max-concurrency", 1000, "platform-wide limit of concurrent executions")
	fl.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", 5*time.Minute, "stop an instance after it is idle this long")
	fl.DurationVar(&f.cfg.LogRetention, "log-retention", 7*24*time.Hour, "keep function logs this long")
	fl.Int64Var(&f.logBudget, "log-budget", 0, "MiB kept of all functions' logs, each function 1/8 of it (default 1024, or a quarter of a smaller data disk)")
	fl.StringVar(&f.cfg.RunDir, "run-dir", "", "directory for unpacked code and instance /tmp (default: under the system temp dir)")
	fl.BoolVar(&f.cfg.NoSandbox, "no-sandbox", false, "run functions under the platform's own uid instead of one per function")
	fl.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "on stop, let running invocations finish for this long")
	fl.StringVar(&f.logLevel, "log-level", "info", "server log level: debug, info, warn, error")
	fl.DurationSliceVar(&f.cfg.Async.RetryDelays, "async-retry-delays", []time.Duration{time.Minute, 2 * time.Minute}, "waits before the first and second retry of a failed asynchronous event")
	fl.DurationVar(&f.cfg.Async.AckWait, "async-ack-wait", 30*time.Second, "after a crash, events that were running are redelivered after this long")
	fl.IntVar(&f.cfg.Async.Workers, "async-workers", 64, "asynchronous invocations run at once")
}

func (f *upFlags) start(ctx context.Context) (*server.Server, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	f.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f.cfg.LogBudget = f.logBudget << 20
	return server.Start(ctx, f.cfg)
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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := f.start(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Printf("nimbus %s is up\n  API:  %s  (AWS SDK/CLI: --endpoint-url %s)\n  data: %s\n",
				server.Version, srv.URL(), srv.URL(), f.cfg.DataDir)
			if u := srv.Gateway.URL(); u != "" {
				fmt.Printf("  HTTP: %s  (http and httpApi events, function URLs)\n", u)
			}
			fmt.Println("Press Ctrl-C to stop.")
			<-cmd.Context().Done()
			return f.stop(srv)
		},
	}
	f.register(cmd)
	return cmd
}
