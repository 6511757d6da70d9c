package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// addSAMFlags adds the flags that only SAM templates (template.yaml) read.
func addSAMFlags(cmd *cobra.Command, opts *manifest.Options) {
	cmd.Flags().StringVar(&opts.StackName, "stack-name", "", "service name of a SAM template (default: its directory's name)")
	cmd.Flags().Var(&parameterOverrides{opts: opts}, "parameter-overrides",
		"a SAM template's parameter values: Name=Value or ParameterKey=Name,ParameterValue=Value (repeat, or separate with spaces)")
	cmd.Flags().StringVar(&opts.ConfigEnv, "config-env", "", "the samconfig.toml environment a SAM template deploys with (default: default)")
}

// parameterOverrides reads --parameter-overrides as the SAM CLI does.
type parameterOverrides struct{ opts *manifest.Options }

func (p *parameterOverrides) String() string {
	if p.opts == nil || len(p.opts.ParameterOverrides) == 0 {
		return ""
	}
	var parts []string
	for k, v := range p.opts.ParameterOverrides {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func (p *parameterOverrides) Type() string { return "Name=Value" }

func (p *parameterOverrides) Set(s string) error {
	if p.opts.ParameterOverrides == nil {
		p.opts.ParameterOverrides = map[string]string{}
	}
	for _, field := range strings.Fields(s) {
		name, value, ok := strings.Cut(field, "=")
		if name == "ParameterKey" {
			// ParameterKey=Name,ParameterValue=Value
			key, rest, found := strings.Cut(value, ",ParameterValue=")
			if !found {
				return fmt.Errorf("%q: write ParameterKey=Name,ParameterValue=Value", field)
			}
			name, value = key, rest
		}
		if !ok || name == "" {
			return fmt.Errorf("%q: write Name=Value", field)
		}
		p.opts.ParameterOverrides[name] = value
	}
	return nil
}
