package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/manifest"
)

func newInvokeCommand(g *globals) *cobra.Command {
	var data, path, qualifier string
	var showLog, async bool
	cmd := &cobra.Command{
		Use:   "invoke NAME",
		Short: "Invoke a function synchronously and print its result",
		Long: "Invoke a function through the Lambda API, as an SDK would. NAME is the deployed name,\n" +
			"an ARN, or a function key of the serverless.yml in the current directory.",
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
			name := resolveFunctionName(args[0])
			if async {
				if showLog {
					return errors.New("--log needs a synchronous invoke; drop --async")
				}
				id, err := g.client(cmd).InvokeAsync(cmd.Context(), name, qualifier, payload)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "accepted (stored durably); request id %s\n", id)
				return nil
			}
			res, err := g.client(cmd).Invoke(cmd.Context(), name, qualifier, payload, showLog)
			if err != nil {
				return err
			}
			fmt.Println(string(resultForDisplay(res.Payload, isTerminal(os.Stdout))))
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
	cmd.Flags().BoolVarP(&showLog, "log", "l", false, "print the invocation's log tail")
	cmd.Flags().BoolVar(&async, "async", false, "invoke asynchronously (InvocationType Event): return once the event is stored")
	return cmd
}

// resolveFunctionName maps a function key of ./serverless.yml to its
// deployed name, as `serverless invoke -f KEY` does; other names pass through.
func resolveFunctionName(name string) string {
	if _, err := os.Stat("serverless.yml"); err != nil {
		return name
	}
	p, err := manifest.Load(".", manifest.Options{})
	if err != nil {
		return name
	}
	if f := p.Function(name); f != nil {
		return f.Name
	}
	return name
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
