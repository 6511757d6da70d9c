package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/spf13/cobra"
)

func newParamsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "params",
		Short: "Set, read, list and remove the platform's parameters (what ${ssm:} in serverless.yml reads)",
		Long: "Parameters are kept by the platform, one set for all services and stages as in an AWS account, and\n" +
			"served by its SSM Parameter Store API. ${ssm:/NAME} in serverless.yml resolves against them at deploy.",
	}
	var secure bool
	var typ, description string
	set := &cobra.Command{
		Use:   "set NAME VALUE",
		Short: "Create a parameter, or add a version to it (VALUE - reads standard input, which keeps secrets out of ps)",
		Example: "  nimbus params set /shop/db-url postgres://db/shop\n" +
			"  nimbus params set /shop/api-key - --secure < key.txt\n" +
			"  nimbus params set /shop/hosts a.internal,b.internal --type StringList",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value := args[1]
			if value == "-" {
				data, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				value = strings.TrimRight(string(data), "\r\n")
			}
			if secure {
				if typ != "" && typ != string(types.ParameterTypeSecureString) {
					return fmt.Errorf("--secure makes a SecureString; it cannot be combined with --type %s", typ)
				}
				typ = string(types.ParameterTypeSecureString)
			}
			c, err := g.ssmClient(cmd)
			if err != nil {
				return err
			}
			return paramsSet(cmd.Context(), c, cmd.OutOrStdout(), args[0], value, typ, description)
		},
	}
	set.Flags().BoolVar(&secure, "secure", false, "a SecureString: encrypted at rest, shown only with --decrypt")
	set.Flags().StringVar(&typ, "type", "", "String, StringList or SecureString (default: String, or the parameter's type)")
	set.Flags().StringVar(&description, "description", "", "what the parameter is for")

	var decrypt bool
	get := &cobra.Command{
		Use:   "get NAME[:VERSION|:LABEL]",
		Short: "Print a parameter's value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.ssmClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.GetParameter(cmd.Context(), &awsssm.GetParameterInput{Name: aws.String(args[0]), WithDecryption: aws.Bool(decrypt)})
			if err != nil {
				return err
			}
			if out.Parameter.Type == types.ParameterTypeSecureString && !decrypt {
				return fmt.Errorf("%s is a SecureString: add --decrypt to show its value", args[0])
			}
			fmt.Fprintln(cmd.OutOrStdout(), aws.ToString(out.Parameter.Value))
			return nil
		},
	}
	get.Flags().BoolVar(&decrypt, "decrypt", false, "show a SecureString's value")

	ls := &cobra.Command{
		Use:   "ls [PATH]",
		Short: "List parameters (all, or those under PATH) with their type, version and date; values are not shown",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.ssmClient(cmd)
			if err != nil {
				return err
			}
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return paramsList(cmd.Context(), c, cmd.OutOrStdout(), path)
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Delete parameters with all their versions",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.ssmClient(cmd)
			if err != nil {
				return err
			}
			for _, name := range args {
				if _, err := c.DeleteParameter(cmd.Context(), &awsssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s\n", name)
			}
			return nil
		},
	}
	cmd.AddCommand(set, get, ls, rm)
	return cmd
}

// ssmClient is an SSM client for the platform, signed with the CLI's key.
func (g *globals) ssmClient(cmd *cobra.Command) (*awsssm.Client, error) {
	creds, ok := g.credentials(cmd)
	if !ok {
		return nil, fmt.Errorf("no key to sign with: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --data to the directory of a platform on this machine")
	}
	cfg := aws.Config{Region: region(), BaseEndpoint: aws.String(strings.TrimRight(g.endpoint, "/")),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	return awsssm.NewFromConfig(cfg), nil
}

func paramsSet(ctx context.Context, c *awsssm.Client, w io.Writer, name, value, typ, description string) error {
	in := &awsssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Overwrite: aws.Bool(true), Type: types.ParameterType(typ)}
	if description != "" {
		in.Description = aws.String(description)
	}
	if typ == "" {
		// A new parameter needs a type: a String, as most are; an existing
		// one keeps its own.
		_, err := c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String(name)})
		var nf *types.ParameterNotFound
		if errors.As(err, &nf) {
			in.Type = types.ParameterTypeString
		}
	}
	out, err := c.PutParameter(ctx, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Set %s (version %d)\n", name, out.Version)
	return nil
}

func paramsList(ctx context.Context, c *awsssm.Client, w io.Writer, path string) error {
	in := &awsssm.DescribeParametersInput{}
	if path != "" {
		in.ParameterFilters = []types.ParameterStringFilter{{Key: aws.String("Path"), Option: aws.String("Recursive"), Values: []string{path}}}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVERSION\tLAST MODIFIED")
	pages := awsssm.NewDescribeParametersPaginator(c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, p := range page.Parameters {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", aws.ToString(p.Name), p.Type, p.Version, aws.ToTime(p.LastModifiedDate).Local().Format("2006-01-02 15:04:05"))
		}
	}
	return tw.Flush()
}
