package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newConsoleCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "console",
		Short: "Print a one-time link that signs your browser in to the web console",
		Long: `Print a link to the web console (served at /console/ on the platform's API address) that signs the
browser in once: it works for a few minutes and only the first time it is opened. The CLI asks for it
with the operator key it signs with (the data directory's, or AWS_ACCESS_KEY_ID); the session then lasts
8 hours, or until that key is revoked.`,
		Example: "  nimbus console\n  nimbus console --endpoint http://10.0.0.5:9000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			link, err := g.client(cmd).ConsoleLink(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), link.URL)
			fmt.Fprintf(cmd.ErrOrStderr(), "Open it within %s; it signs in once.\n", time.Until(link.Expires).Round(time.Second))
			return nil
		},
	}
}
