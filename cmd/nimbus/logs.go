package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

func newLogsCommand(g *globals) *cobra.Command {
	var since, filter string
	var tail bool
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a function's logs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := resolveFunctionName(args[0])
			return g.client(cmd).Logs(cmd.Context(), name, since, filter, tail, func(r logs.Record) error {
				if r.Dropped > 0 {
					fmt.Fprintf(os.Stderr, "nimbus: %d log lines of %s were not kept since the platform started (over its share of the log buffer, or refused by a full store)\n", r.Dropped, name)
					return nil
				}
				fmt.Printf("%s\t%s\n", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Message)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records newer than this: a duration (10m, 2h, 1d) or an RFC 3339 time")
	cmd.Flags().StringVar(&filter, "filter", "", "only records containing this text")
	cmd.Flags().BoolVarP(&tail, "tail", "t", false, "keep printing new records as they arrive")
	return cmd
}
