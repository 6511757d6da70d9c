package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/sandbox"
)

func dirArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return "."
}

func newDeployCommand(g *globals) *cobra.Command {
	var opts manifest.Options
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Deploy the service described by DIR/serverless.yml (or a SAM template.yaml)",
		Example: "  nimbus deploy examples/hello\n" +
			"  nimbus deploy --stage prod\n" +
			"  nimbus deploy ./orders --region eu-west-1",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := deploy(cmd, g.client(cmd), g.dataDir, dirArg(args), opts)
			return err
		},
	}
	cmd.Flags().StringVarP(&opts.Stage, "stage", "s", "", "stage (overrides provider.stage)")
	cmd.Flags().StringVarP(&opts.Region, "region", "r", "", "region (overrides provider.region)")
	addSAMFlags(cmd, &opts)
	return cmd
}

func deploy(cmd *cobra.Command, c *client.Client, dataDir, dir string, opts manifest.Options) (*client.DeployOutcome, error) {
	start := time.Now()
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", args...) }
	out, err := c.Deploy(cmd.Context(), dir, opts, progress)
	if err != nil {
		return nil, err
	}
	res := out.Response
	if !res.Changed {
		fmt.Printf("No changes: service %s stage %s is already deployed as it is (%.1fs)\n", res.Service, res.Stage, time.Since(start).Seconds())
	} else {
		fmt.Printf("Deployed service %s stage %s (%.1fs)\n", res.Service, res.Stage, time.Since(start).Seconds())
		printChanges(res.Changes)
	}
	printVersions(res.Versions)
	for _, n := range slices.Sorted(maps.Keys(res.Deployments)) {
		fmt.Printf("  traffic shift %s of %s started: follow it with `nimbus alias list %s` or `aws deploy get-deployment --deployment-id %s`\n",
			res.Deployments[n], n, n, res.Deployments[n])
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "  warning: %s\n", w)
	}
	if len(res.Endpoints) > 0 {
		fmt.Println("endpoints:")
		for _, e := range res.Endpoints {
			fmt.Printf("  %s\n", e)
		}
		if res.Host != "" {
			fmt.Printf("  all of them on this stage's own host: %s\n", res.Host)
		}
	}
	if out.Project != nil && out.Project.IsSAM() {
		printOutputs(out.Project.Outputs(c.Endpoint))
	}
	// How to call it, once: when the deploy created functions, not on
	// every redeploy. Each line works when pasted into a shell.
	isNew := map[string]bool{}
	for _, ch := range res.Changes {
		if ch.Kind == "function" && ch.Action == functions.Created {
			isNew[ch.Name] = true
		}
	}
	var created []string // in the manifest's order: its first function is the one to try
	for _, f := range res.Functions {
		if isNew[f.Name] {
			created = append(created, f.Name)
		}
	}
	if len(created) > 0 {
		fmt.Println("try:")
		fmt.Printf("  nimbus%s invoke %s -d '{}'\n", clientFlags(c.Endpoint, dataDir), created[0])
		fmt.Printf("  eval \"$(nimbus%s env)\"   # then the AWS CLI and SDKs reach nimbus:\n", clientFlags(c.Endpoint, dataDir))
		fmt.Printf("  aws lambda invoke --function-name %s out.json\n", created[0])
	}
	return out, nil
}

// printOutputs prints a SAM template's Outputs, as `sam deploy` does.
func printOutputs(outputs []manifest.Output) {
	if len(outputs) == 0 {
		return
	}
	fmt.Println("outputs:")
	for _, o := range outputs {
		if o.Err != nil {
			fmt.Printf("  %s: (not resolved: %v)\n", o.Name, o.Err)
			continue
		}
		fmt.Printf("  %s: %s\n", o.Name, o.Value)
	}
}

// printChanges prints one line per change: action, kind and name. Items a
// deploy no longer declares but that stay on the platform say so.
func printChanges(changes []functions.Change) {
	for _, ch := range changes {
		line := fmt.Sprintf("  %-9s %-12s %s", ch.Action, ch.Kind, ch.Name)
		if ch.Action == functions.Retained {
			line += " (no longer declared; kept with its data, delete it with the AWS API if unused)"
		}
		fmt.Println(line)
	}
}

func newRemoveCommand(g *globals) *cobra.Command {
	var opts manifest.Options
	var service string
	cmd := &cobra.Command{
		Use:   "remove [DIR]",
		Short: "Remove one stage of the service described by DIR/serverless.yml (or --service)",
		Example: "  nimbus remove examples/hello\n" +
			"  nimbus remove --stage prod\n" +
			"  nimbus remove --service orders --stage dev",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stage := opts.Stage
			if service == "" {
				p, err := g.client(cmd).LoadManifest(cmd.Context(), dirArg(args), opts)
				if err != nil {
					return err
				}
				service, stage = p.App.Service, p.App.Stage
			}
			res, err := g.client(cmd).RemoveStage(cmd.Context(), service, stage)
			if err != nil {
				return err
			}
			fmt.Printf("Removed service %s stage %s (its other stages stay)\n", res.Service, res.Stage)
			printChanges(res.Changes)
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "name of the service to remove")
	cmd.Flags().StringVarP(&opts.Stage, "stage", "s", "", "stage (default: the manifest's; with --service, the only stage deployed)")
	cmd.Flags().StringVarP(&opts.Region, "region", "r", "", "region")
	addSAMFlags(cmd, &opts)
	return cmd
}

func newInfoCommand(g *globals) *cobra.Command {
	var asJSON bool
	var service, stage string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "List deployed services: functions, triggers, HTTP endpoints and resources",
		Example: "  nimbus info\n" +
			"  nimbus info --service orders               # every stage of it\n" +
			"  nimbus info --service orders --stage prod\n" +
			"  nimbus info --json | jq '.[].functions[].name'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			services, err := g.client(cmd).Services(cmd.Context())
			if err != nil {
				return err
			}
			if service != "" {
				services = slices.DeleteFunc(services, func(s deployapi.ServiceInfo) bool { return s.Service != service })
				if len(services) == 0 {
					return fmt.Errorf("service %q is not deployed", service)
				}
			}
			if stage != "" {
				services = slices.DeleteFunc(services, func(s deployapi.ServiceInfo) bool { return s.Stage != stage })
				if len(services) == 0 {
					return fmt.Errorf("no service is deployed in stage %s", stage)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(services)
			}
			if iso, err := g.client(cmd).Isolation(cmd.Context()); err == nil {
				printIsolationWarnings(iso)
			}
			if len(services) == 0 {
				fmt.Fprintln(out, "No services deployed.")
			}
			for i, s := range services {
				if i > 0 {
					fmt.Fprintln(out)
				}
				printService(out, s)
			}
			printMetricsAccess(out, g.endpoint, g.dataDir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the services as JSON, for scripts")
	cmd.Flags().StringVar(&service, "service", "", "only this service (all its stages)")
	cmd.Flags().StringVarP(&stage, "stage", "s", "", "only this stage")
	return cmd
}

// printService prints one service for a person: functions with their
// settings and triggers, endpoints, resources.
func printService(out io.Writer, s deployapi.ServiceInfo) {
	fmt.Fprintf(out, "service: %s  stage: %s  region: %s\n", s.Service, s.Stage, s.Region)
	fmt.Fprintln(out, "functions:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, f := range s.Functions {
		trig := strings.Join(f.Triggers, ", ")
		if trig == "" {
			trig = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d MB\t%ds\t%s\n", f.Key, f.Name, f.Runtime, f.MemorySize, f.Timeout, trig)
	}
	_ = tw.Flush()
	if len(s.Endpoints) > 0 {
		fmt.Fprintln(out, "endpoints:")
		for _, e := range s.Endpoints {
			fmt.Fprintf(out, "  %s\n", e)
		}
		if s.Host != "" {
			fmt.Fprintf(out, "  all of them on this stage's own host: %s\n", s.Host)
		}
		fmt.Fprintf(out, "  access log: nimbus logs %s.access\n", s.Service)
	}
	for _, name := range slices.Sorted(maps.Keys(s.APIKeys)) {
		fmt.Fprintf(out, "  api key %s: %s\n", name, s.APIKeys[name])
	}
	var res []deployapi.Resource
	for _, r := range s.Resources {
		if r.Kind != "route" { // listed as endpoints
			res = append(res, r)
		}
	}
	if len(res) > 0 {
		fmt.Fprintln(out, "resources:")
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, r := range res {
			fmt.Fprintf(tw, "  %s\t%s\n", r.Kind, r.Name)
		}
		_ = tw.Flush()
	}
}

// printIsolationWarnings says what the platform's host does not give functions.
func printIsolationWarnings(iso sandbox.Status) {
	if !iso.Isolated && iso.IsolationReason != "" {
		fmt.Printf("warning: functions are not isolated: %s\n", iso.IsolationReason)
	}
	if !iso.MemoryLimited && iso.MemoryReason != "" {
		fmt.Printf("warning: function memory is not limited: %s\n", iso.MemoryReason)
	}
	if !iso.NetworkGuarded && iso.NetworkReason != "" {
		fmt.Printf("warning: functions are not kept off the host's network services: %s\n", iso.NetworkReason)
	}
	printLocalPorts(os.Stdout, iso, "")
}

// printLocalPorts says which ports of the host functions may reach besides
// the platform's own, when the network rules apply (ADR 0028).
func printLocalPorts(out io.Writer, iso sandbox.Status, indent string) {
	if !iso.NetworkGuarded {
		return
	}
	ports := "none (nimbus up --allow-local-port PORT opens one)"
	if len(iso.AllowedLocalPorts) > 0 {
		ports = strings.Join(iso.AllowedLocalPorts, ", ")
	}
	fmt.Fprintf(out, "%slocal ports functions may reach besides the platform's: %s\n", indent, ports)
	if iso.LocalPortsFromEnvironment {
		fmt.Fprintf(out, "%s  and each function those its environment names (--allow-local-ports-from-env)\n", indent)
	}
}

// clientFlags are the --endpoint and --data flags a printed nimbus command
// needs to reach this platform, empty where the defaults do.
func clientFlags(endpoint, dataDir string) string {
	var b strings.Builder
	if endpoint != defaultEndpoint {
		b.WriteString(" --endpoint " + shellQuote(endpoint))
	}
	if dataDir != defaultDataDir {
		b.WriteString(" --data " + shellQuote(dataDir))
	}
	return b.String()
}

// printVersions names the version of each function that the deploy
// published or found published (provider.versionFunctions).
func printVersions(versions map[string]string) {
	for _, n := range slices.Sorted(maps.Keys(versions)) {
		fmt.Printf("  version %s of %s\n", versions[n], n)
	}
}
