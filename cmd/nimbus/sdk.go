package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/sdk"
)

func newSDKCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sdk",
		Short: "The AWS SDKs functions use without packaging them (as on Lambda)",
	}
	cmd.AddCommand(newSDKInstallCommand(), newSDKStatusCommand())
	return cmd
}

func newSDKInstallCommand() *cobra.Command {
	opt := sdk.Options{Node: true, Python: true}
	var noNode, noPython bool
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the AWS SDK for JavaScript v3 (npm) and boto3 (Debian packages) into the SDK folder",
		Long: `Installs the SDK folder that nimbus up hands to functions: the AWS SDK for JavaScript v3 clients at the
versions pinned in nimbus's lock file (with npm ci) and boto3 with its dependencies from Debian's packages
(apt-get download, unpacked; no system package is installed). It needs the network once; the folder is then
self-contained. Run it again to reinstall; a failed install leaves the previous folder as it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt.Node, opt.Python = !noNode, !noPython
			opt.Out = os.Stderr
			if err := sdk.Install(cmd.Context(), opt); err != nil {
				return err
			}
			st := sdk.Check(opt.Dir)
			fmt.Printf("installed in %s: %s\n", opt.Dir, st.Describe())
			if opt.Dir != sdk.DefaultDir() {
				fmt.Printf("start the platform with: nimbus up --sdk-dir %s\n", opt.Dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opt.Dir, "dir", sdk.DefaultDir(), "SDK folder (nimbus up --sdk-dir); function users must be able to read it")
	cmd.Flags().BoolVar(&noNode, "no-node", false, "skip the AWS SDK for JavaScript (npm)")
	cmd.Flags().BoolVar(&noPython, "no-python", false, "skip boto3 (Debian packages)")
	return cmd
}

func newSDKStatusCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the SDK folder holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := sdk.Check(dir)
			fmt.Printf("%s: %s\n", dir, st.Describe())
			if !st.Node || !st.Python {
				fmt.Printf("install with: %s --dir %s\n", sdk.InstallCommand, dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", sdk.DefaultDir(), "SDK folder")
	return cmd
}
