package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"
)

// lambdaClient is a Lambda client for the platform, signed with the CLI's key.
func (g *globals) lambdaClient(cmd *cobra.Command) (*awslambda.Client, error) {
	creds, ok := g.credentials(cmd)
	if !ok {
		return nil, fmt.Errorf("no key to sign with: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --data to the directory of a platform on this machine")
	}
	cfg := aws.Config{Region: region(), BaseEndpoint: aws.String(strings.TrimRight(g.endpoint, "/")),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	return awslambda.NewFromConfig(cfg), nil
}

// parseWeights reads --weight VERSION=SHARE (share 0 to 1).
func parseWeights(list []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, s := range list {
		v, w, ok := strings.Cut(s, "=")
		f, err := strconv.ParseFloat(w, 64)
		if !ok || err != nil || v == "" {
			return nil, fmt.Errorf("--weight %q: write VERSION=SHARE, e.g. 2=0.1 for 10%% of the invocations on version 2", s)
		}
		out[v] = f
	}
	return out, nil
}

func newAliasCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alias",
		Short: "List, create, update and delete a function's aliases",
	}
	ls := &cobra.Command{
		Use:   "list FUNCTION",
		Short: "List a function's aliases and their versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.lambdaClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.ListAliases(cmd.Context(), &awslambda.ListAliasesInput{FunctionName: aws.String(args[0])})
			if err != nil {
				return err
			}
			printAliases(cmd.OutOrStdout(), out.Aliases)
			return nil
		},
	}
	var version, description string
	var weights []string
	create := &cobra.Command{
		Use:   "create FUNCTION ALIAS --version N",
		Short: "Create an alias of a published version",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if version == "" {
				return fmt.Errorf("--version is required: the published version (or $LATEST) the alias names")
			}
			w, err := parseWeights(weights)
			if err != nil {
				return err
			}
			c, err := g.lambdaClient(cmd)
			if err != nil {
				return err
			}
			in := &awslambda.CreateAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1]), FunctionVersion: aws.String(version)}
			if description != "" {
				in.Description = aws.String(description)
			}
			if len(w) > 0 {
				in.RoutingConfig = &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
			}
			out, err := c.CreateAlias(cmd.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created alias %s → version %s%s\n", aws.ToString(out.Name), aws.ToString(out.FunctionVersion), describeRouting(out.RoutingConfig))
			return nil
		},
	}
	update := &cobra.Command{
		Use:   "update FUNCTION ALIAS [--version N] [--weight V=SHARE] [--no-weights]",
		Short: "Move an alias to another version or change its weights",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := parseWeights(weights)
			if err != nil {
				return err
			}
			noWeights, _ := cmd.Flags().GetBool("no-weights")
			c, err := g.lambdaClient(cmd)
			if err != nil {
				return err
			}
			in := &awslambda.UpdateAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1])}
			if version != "" {
				in.FunctionVersion = aws.String(version)
			}
			if description != "" {
				in.Description = aws.String(description)
			}
			if len(w) > 0 || noWeights {
				in.RoutingConfig = &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
			}
			out, err := c.UpdateAlias(cmd.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Updated alias %s → version %s%s\n", aws.ToString(out.Name), aws.ToString(out.FunctionVersion), describeRouting(out.RoutingConfig))
			return nil
		},
	}
	update.Flags().Bool("no-weights", false, "send every invocation to the alias's version")
	for _, c := range []*cobra.Command{create, update} {
		c.Flags().StringVar(&version, "version", "", "published version number (or $LATEST)")
		c.Flags().StringVar(&description, "description", "", "description of the alias")
		c.Flags().StringArrayVar(&weights, "weight", nil, "VERSION=SHARE: another version and the share (0 to 1) of invocations it takes")
	}
	rm := &cobra.Command{
		Use:   "delete FUNCTION ALIAS",
		Short: "Delete an alias",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.lambdaClient(cmd)
			if err != nil {
				return err
			}
			if _, err := c.DeleteAlias(cmd.Context(), &awslambda.DeleteAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1])}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted alias %s of %s\n", args[1], args[0])
			return nil
		},
	}
	cmd.AddCommand(ls, create, update, rm)
	return cmd
}

func describeRouting(rc *types.AliasRoutingConfiguration) string {
	if rc == nil || len(rc.AdditionalVersionWeights) == 0 {
		return ""
	}
	var parts []string
	for v, w := range rc.AdditionalVersionWeights {
		parts = append(parts, fmt.Sprintf("%s at %g%%", v, w*100))
	}
	sort.Strings(parts)
	return " (and version " + strings.Join(parts, ", ") + ")"
}

func printAliases(w io.Writer, aliases []types.AliasConfiguration) {
	if len(aliases) == 0 {
		fmt.Fprintln(w, "No aliases.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tVERSION\tWEIGHTS\tDESCRIPTION")
	for _, a := range aliases {
		weights := "-"
		if a.RoutingConfig != nil && len(a.RoutingConfig.AdditionalVersionWeights) > 0 {
			weights = strings.TrimPrefix(describeRouting(a.RoutingConfig), " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", aws.ToString(a.Name), aws.ToString(a.FunctionVersion), weights, aws.ToString(a.Description))
	}
	_ = tw.Flush()
}
