package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

func newInvokeCommand(g *globals) *cobra.Command {
	var data, path, qualifier, stage string
	var showLog, async bool
	cmd := &cobra.Command{
		Use:   "invoke NAME",
		Short: "Invoke a function synchronously and print its result",
		Long: "Invoke a function through the Lambda API, as an SDK would. NAME is the deployed name,\n" +
			"an ARN, or a function key of the serverless.yml in the current directory.",
		Example: "  nimbus invoke hello-dev-hello -d '{\"name\":\"you\"}' --log\n" +
			"  nimbus invoke hello -p event.json          # a key of ./serverless.yml\n" +
			"  nimbus invoke hello --stage prod -d '{}'   # that key in stage prod\n" +
			"  nimbus generate-event sqs receive-message | nimbus invoke worker -p -\n" +
			"  nimbus invoke orders-dev-worker --async -d '{}'",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data != "" && path != "" {
				return errors.New("give the event with -d or -p, not both")
			}
			payload := []byte(data)
			if path == "-" {
				b, err := io.ReadAll(os.Stdin)
				if err != nil {
					return err
				}
				payload = b
			} else if path != "" {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				payload = b
			}
			if len(payload) > 0 && !json.Valid(payload) {
				return errors.New("the event is not valid JSON")
			}
			name, manifestErr := resolveFunctionName(cmd.Context(), g.client(cmd), args[0], stage)
			if async {
				if showLog {
					return errors.New("--log needs a synchronous invoke; drop --async")
				}
				id, err := g.client(cmd).InvokeAsync(cmd.Context(), name, qualifier, payload)
				if err != nil {
					return g.notFound(cmd, args[0], manifestErr, err)
				}
				fmt.Fprintf(os.Stderr, "accepted (stored durably); request id %s\n", id)
				return nil
			}
			res, err := g.client(cmd).Invoke(cmd.Context(), name, qualifier, payload, showLog)
			if err != nil {
				return g.notFound(cmd, args[0], manifestErr, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(resultForDisplay(res.Payload, isTerminal(os.Stdout))))
			if showLog {
				fmt.Fprintln(os.Stderr, "--- log tail ---")
				fmt.Fprint(os.Stderr, res.LogTail)
			}
			if res.FunctionError != "" {
				return fmt.Errorf("the function failed (%s)", res.FunctionError)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&data, "data", "d", "", "event JSON")
	cmd.Flags().StringVarP(&path, "path", "p", "", "file holding the event JSON (- reads standard input)")
	cmd.Flags().StringVarP(&qualifier, "qualifier", "q", "", "version or alias")
	cmd.Flags().StringVarP(&stage, "stage", "s", "", "stage whose function a key of ./serverless.yml names (default: the manifest's)")
	cmd.Flags().BoolVarP(&showLog, "log", "l", false, "print the invocation's log tail")
	cmd.Flags().BoolVar(&async, "async", false, "invoke asynchronously (InvocationType Event): return once the event is stored")
	return cmd
}

// resolveFunctionName maps a function key of ./serverless.yml (or of a SAM
// ./template.yaml: a logical id) to its deployed name, as `serverless invoke -f KEY` does; other names pass through.
// A manifest that does not load is returned with the name unchanged, for
// notFound to report if the name turns out unknown. The manifest loads as a
// deploy loads it (${ssm:} included), so keys mean what they meant there.
func resolveFunctionName(ctx context.Context, c *client.Client, name, stage string) (string, error) {
	if _, err := os.Stat("serverless.yml"); err != nil && manifest.SAMTemplate(".") == "" {
		return name, nil
	}
	p, err := c.LoadManifest(ctx, ".", manifest.Options{Stage: stage})
	if err != nil {
		return name, err
	}
	if f := p.Function(name); f != nil {
		return f.Name, nil
	}
	return name, nil
}

// notFound explains err when it says function name does not exist: the
// local manifest that could have named it is broken, or a deployed name is
// close. Other errors pass unchanged.
func (g *globals) notFound(cmd *cobra.Command, name string, manifestErr, err error) error {
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		return err
	}
	if manifestErr != nil {
		fmt.Fprintf(os.Stderr, "error: no function %q is deployed, and ./serverless.yml, which maps function keys to deployed names, is broken:\n", name)
		return manifestErr
	}
	services, lerr := g.client(cmd).Services(cmd.Context())
	if lerr != nil {
		return err
	}
	var names []string
	for _, s := range services {
		for _, f := range s.Functions {
			names = append(names, f.Name)
		}
	}
	if s := suggest(name, names); len(s) > 0 {
		return fmt.Errorf("%w\ndid you mean %s?", err, strings.Join(s, " or "))
	}
	return err
}

// suggest returns the deployed names that name probably meant: those it is
// the function key of (service-stage-KEY), else those a few edits away.
func suggest(name string, names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "-"+name) {
			out = append(out, n)
		}
	}
	if len(out) > 0 {
		return out
	}
	best := len(name)/3 + 1
	for _, n := range names {
		switch d := editDistance(strings.ToLower(name), strings.ToLower(n)); {
		case d < best:
			best, out = d, []string{n}
		case d == best:
			out = append(out, n)
		}
	}
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// resultForDisplay indents a JSON result for a person at a terminal and keeps
// it byte for byte for pipes and scripts.
func resultForDisplay(payload []byte, terminal bool) []byte {
	if !terminal || !json.Valid(payload) {
		return payload
	}
	var b bytes.Buffer
	if err := json.Indent(&b, payload, "", "  "); err != nil {
		return payload
	}
	return b.Bytes()
}
