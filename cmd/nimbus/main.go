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
	"strings"
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

// Where client commands find a platform unless told otherwise: nimbus up's
// defaults.
const (
	defaultEndpoint = "http://127.0.0.1:9000"
	defaultDataDir  = ".nimbus"
)

// globals are the flags every client command shares.
type globals struct {
	endpoint string
	dataDir  string
}

// client is a client of the platform that signs with the key credentials finds.
func (g *globals) client(cmd *cobra.Command) *client.Client {
	c := client.New(g.endpoint)
	if creds, ok := g.credentials(cmd); ok {
		c.WithCredentials(creds, region())
	}
	return c
}

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
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	root.PersistentFlags().StringVar(&g.endpoint, "endpoint", endpoint, "platform API URL (env NIMBUS_ENDPOINT, else AWS_ENDPOINT_URL)")
	data := os.Getenv("NIMBUS_DATA")
	if data == "" {
		data = defaultDataDir
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data", data, "data directory of a platform on this machine, whose administrator key the CLI signs with unless AWS_ACCESS_KEY_ID is set (env NIMBUS_DATA; for invoke, whose --data is the event, use NIMBUS_DATA)")
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
		newEnvCommand(g),
		newKeysCommand(g),
		newConsoleCommand(g),
		newTableCommand(g),
		newS3Command(g),
		newParamsCommand(g),
		newAliasCommand(g),
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
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		return
	}
	switch {
	case strings.HasPrefix(apiErr.Code, "MissingAuthenticationToken"):
		fmt.Fprintln(os.Stderr, "hint: the CLI found no key to sign with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (eval \"$(nimbus env --data DIR)\"), or point --data/NIMBUS_DATA at the platform's data directory")
	case apiErr.Code == "UnrecognizedClientException" && os.Getenv("AWS_ACCESS_KEY_ID") != "":
		fmt.Fprintln(os.Stderr, "hint: the platform does not know the key in AWS_ACCESS_KEY_ID; unset it to sign with the data directory's key, or use one from `nimbus keys create`")
	}
}
