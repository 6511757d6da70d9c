package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// credentials finds the key the CLI signs with: the standard AWS variables,
// unless --data was given; else the data directory of a platform on this
// machine. None found: requests go unsigned (a --no-auth platform).
func (g *globals) credentials(cmd *cobra.Command) (client.Credentials, bool) {
	// The root's --data (invoke has its own --data, the event).
	dataSet := cmd != nil && cmd.Root().PersistentFlags().Changed("data")
	if id := os.Getenv("AWS_ACCESS_KEY_ID"); id != "" && !dataSet {
		return client.Credentials{AccessKeyID: id, SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, true
	}
	k, err := server.ReadCredentials(g.dataDir)
	if err != nil {
		return client.Credentials{}, false
	}
	return client.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, true
}

func region() string {
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := os.Getenv(v); r != "" {
			return r
		}
	}
	return "us-east-1"
}

func newEnvCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print shell exports that point the AWS CLI and SDKs at this platform: eval \"$(nimbus env)\"",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := server.ReadCredentials(g.dataDir)
			if err != nil {
				return fmt.Errorf("no administrator key in %s (start the platform with `nimbus up --data %s` first): %w", g.dataDir, g.dataDir, err)
			}
			r := region()
			fmt.Printf("export AWS_ENDPOINT_URL=%s\nexport AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_REGION=%s\nexport AWS_DEFAULT_REGION=%s\nunset AWS_SESSION_TOKEN\n",
				shellQuote(g.endpoint), shellQuote(k.AccessKeyID), shellQuote(k.SecretAccessKey), shellQuote(r), shellQuote(r))
			if abs, err := filepath.Abs(g.dataDir); err == nil {
				fmt.Printf("export NIMBUS_DATA=%s\n", shellQuote(abs))
			}
			return nil
		},
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newKeysCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List, create and revoke operator access keys"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List operator access keys (without their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := g.client(cmd).ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY ID\tNAME\tCREATED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.AccessKeyID, k.Name, k.Created.Format("2006-01-02 15:04:05Z07:00"))
			}
			return tw.Flush()
		},
	})
	var name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an operator access key; its secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := g.client(cmd).CreateKey(cmd.Context(), name)
			if err != nil {
				return err
			}
			fmt.Printf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", k.AccessKeyID, k.SecretAccessKey)
			fmt.Fprintln(os.Stderr, "Keep the secret now: it is not shown again.")
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "operator", "a name for the key (who or what uses it)")
	cmd.AddCommand(create, &cobra.Command{
		Use:   "revoke ACCESS_KEY_ID",
		Short: "Revoke an operator access key: requests signed with it fail at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client(cmd).RevokeKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Println("revoked", args[0])
			return nil
		},
	})
	return cmd
}
