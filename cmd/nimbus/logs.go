package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

type logsOptions struct {
	since, start, end, filter, service, stage string
	tail                                      bool
}

func newLogsCommand(g *globals) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [NAME]",
		Short: "Print the logs of a function, or of every function of a service",
		Long: "Print log records as Lambda writes them (START, END, REPORT and the function's output).\n" +
			"NAME is a deployed function name, a function key of ./serverless.yml, or SERVICE.access\n" +
			"for a service's HTTP access log. --service prints all functions of a service, interleaved\n" +
			"by time, each line prefixed with the function.\n\n" +
			"Times (--since, --start-time, --end-time) are a duration before now (10m, 2h, 1d, \"5mins ago\"),\n" +
			"an RFC 3339 time (2026-01-02T15:04:05Z) or \"2006-01-02 15:04:05\" (UTC).",
		Example: "  nimbus logs hello-dev-hello --since 10m\n" +
			"  nimbus logs hello --tail                      # a key of ./serverless.yml\n" +
			"  nimbus logs --service orders --filter ERROR\n" +
			"  nimbus logs --service orders --stage prod\n" +
			"  nimbus logs orders-dev-worker --start-time '1h ago' --end-time '30mins ago'\n" +
			"  nimbus logs orders.access",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.since != "" && o.start != "" {
				return errors.New("give --since or --start-time, not both")
			}
			if o.start == "" {
				o.start = o.since
			}
			now := time.Now()
			var start, end time.Time
			var err error
			if o.start != "" {
				if start, err = parseLogTime(o.start, now); err != nil {
					return fmt.Errorf("--start-time: %w", err)
				}
			}
			if o.end != "" {
				if end, err = parseLogTime(o.end, now); err != nil {
					return fmt.Errorf("--end-time: %w", err)
				}
			}
			since := ""
			if !start.IsZero() {
				since = start.UTC().Format(time.RFC3339Nano)
			}
			c := g.client(cmd)
			out := cmd.OutOrStdout()
			switch {
			case len(args) == 1 && o.service != "":
				return errors.New("give a function NAME or --service, not both")
			case o.service != "":
				return serviceLogs(cmd.Context(), c, out, o, since, end)
			case len(args) == 0:
				return errors.New("name a function (nimbus logs NAME) or a service (nimbus logs --service NAME)")
			}
			name, manifestErr := resolveFunctionName(cmd.Context(), c, args[0], o.stage)
			err = c.Logs(cmd.Context(), name, since, o.filter, o.tail, func(r logs.Record) error {
				if !end.IsZero() && r.Time.After(end) {
					return nil
				}
				printRecord(out, r, "")
				return nil
			})
			return g.notFound(cmd, args[0], manifestErr, err)
		},
	}
	cmd.Flags().StringVar(&o.since, "since", "", "only records newer than this (same as --start-time)")
	cmd.Flags().StringVarP(&o.start, "start-time", "s", "", "only records from this time on")
	cmd.Flags().StringVarP(&o.end, "end-time", "e", "", "only records up to this time")
	cmd.Flags().StringVar(&o.filter, "filter", "", "only records containing this text")
	cmd.Flags().BoolVarP(&o.tail, "tail", "t", false, "keep printing new records as they arrive")
	cmd.Flags().StringVar(&o.service, "service", "", "print the logs of every function of this service")
	cmd.Flags().StringVar(&o.stage, "stage", "", "the stage: of --service (default: all its stages), or whose function a key of ./serverless.yml names")
	return cmd
}

func printRecord(out io.Writer, r logs.Record, prefix string) {
	if r.Dropped > 0 {
		fmt.Fprintf(os.Stderr, "nimbus: %d log lines of %s were not kept since the platform started (over its share of the log buffer, or refused by a full store)\n", r.Dropped, r.Function)
		return
	}
	fmt.Fprintf(out, "%s%s\t%s\n", prefix, r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Message)
}

// serviceLogs prints the logs of every function of a service: sorted by time
// when reading, as they come when following.
func serviceLogs(ctx context.Context, c *client.Client, out io.Writer, o logsOptions, since string, end time.Time) error {
	services, err := c.Services(ctx)
	if err != nil {
		return err
	}
	var fns []deployapi.FunctionInfo
	for _, s := range services {
		if s.Service == o.service && (o.stage == "" || s.Stage == o.stage) {
			fns = append(fns, s.Functions...)
		}
	}
	if fns == nil {
		if o.stage != "" {
			return fmt.Errorf("stage %s of service %q is not deployed", o.stage, o.service)
		}
		return fmt.Errorf("service %q is not deployed", o.service)
	}
	width := 0
	for _, f := range fns {
		width = max(width, len(f.Name))
	}
	prefix := func(name string) string { return fmt.Sprintf("%-*s  ", width, name) }
	var mu sync.Mutex
	var records []logs.Record
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Logs(ctx, f.Name, since, o.filter, o.tail, func(r logs.Record) error {
				if !end.IsZero() && r.Time.After(end) {
					return nil
				}
				r.Function = f.Name
				mu.Lock()
				defer mu.Unlock()
				if o.tail {
					printRecord(out, r, prefix(f.Name))
				} else {
					records = append(records, r)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	slices.SortStableFunc(records, func(a, b logs.Record) int { return a.Time.Compare(b.Time) })
	for _, r := range records {
		printRecord(out, r, prefix(r.Function))
	}
	return errors.Join(errs...)
}

var agoPattern = regexp.MustCompile(`^(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)\s+ago$`)

// parseLogTime reads a time as sam logs and serverless logs take them: a
// duration before now ("10m", "5mins ago"), RFC 3339, or "YYYY-MM-DD HH:MM:SS"
// in UTC.
func parseLogTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if m := agoPattern.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[m[2][0]]
		return now.Add(-time.Duration(n) * unit), nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return deployapi.ParseSince(strings.TrimSuffix(s, " ago"), now)
}
