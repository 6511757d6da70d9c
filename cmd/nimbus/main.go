// Command nimbus runs the platform (up, dev) and drives it (deploy, remove,
// invoke, logs, info).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		printError(err)
		os.Exit(1)
	}
}

// globals are the flags every client command shares.
type globals struct {
	endpoint string
}

func (g *globals) client() *client.Client { return client.New(g.endpoint) }

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "nimbus",
		Short:         "A self-hosted serverless platform: Lambda-compatible functions on your own machines",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	endpoint := os.Getenv("NIMBUS_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:9000"
	}
	root.PersistentFlags().StringVar(&g.endpoint, "endpoint", endpoint, "platform API URL (env NIMBUS_ENDPOINT)")
	root.AddCommand(
		newUpCommand(),
		newDevCommand(),
		newDeployCommand(g),
		newRemoveCommand(g),
		newInvokeCommand(g),
		newLogsCommand(g),
		newInfoCommand(g),
		newGenerateEventCommand(),
		newSDKCommand(),
	)
	return root
}

// commit is set at link time (-ldflags "-X main.commit=...") where the build
// info carries no VCS stamp (go run, GOFLAGS=-buildvcs=false).
var commit string

// version is the platform version with the commit the binary was built from.
func version() string {
	v := server.Version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	rev, modified := commit, ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if rev == "" {
				rev = s.Value
			}
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " (commit " + rev + modified + ")"
	}
	return v + " " + info.GoVersion
}

// printError prints manifest errors with their positions, others plainly.
func printError(err error) {
	var list manifest.ErrorList
	if errors.As(err, &list) {
		fmt.Fprintf(os.Stderr, "%d problem(s) in the manifest:\n\n%s\n", len(list), list.Error())
		return
	}
	var merr *manifest.Error
	if errors.As(err, &merr) {
		fmt.Fprintln(os.Stderr, merr.Error())
		return
	}
	fmt.Fprintln(os.Stderr, "error:", err)
}
