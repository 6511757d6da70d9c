package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func newDevCommand() *cobra.Command {
	f := &upFlags{}
	var opts manifest.Options
	cmd := &cobra.Command{
		Use:   "dev [DIR]",
		Short: "Run the platform, deploy DIR, and redeploy when a file changes",
		Example: "  nimbus dev examples/hello\n" +
			"  nimbus dev --addr 127.0.0.1:9100 --http-addr 127.0.0.1:8180 --data /tmp/nimbus-dev",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := dirArg(args)
			srv, err := f.start(cmd.Context())
			if err != nil {
				return err
			}
			c := client.New(srv.URL())
			if k := srv.AdminKey; k != nil {
				c.WithCredentials(client.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, region())
			}
			srv.Invoker.Watch(newDevPrinter(os.Stdout).Print)
			fmt.Printf("nimbus %s is up at %s (data: %s)\n", server.Version, srv.URL(), f.cfg.DataDir)
			printAuthBanner(srv, f)
			f.printSDK()
			if u := srv.Gateway.URL(); u != "" {
				fmt.Printf("HTTP endpoints (http, httpApi, function URLs) are served at %s\n", u)
			}
			if _, err := deploy(cmd, c, f.cfg.DataDir, dir, opts); err != nil {
				printError(err)
				fmt.Fprintln(os.Stderr, "fix the problem and save: nimbus redeploys on every change")
			}
			fmt.Printf("Watching %s for changes. Press Ctrl-C to stop.\n", dir)
			if err := watch(cmd.Context(), dir, func() {
				if _, err := deploy(cmd, c, f.cfg.DataDir, dir, opts); err != nil {
					printError(err)
				}
			}); err != nil {
				fmt.Fprintln(os.Stderr, "error: watching files:", err)
			}
			<-cmd.Context().Done()
			return f.stop(srv)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&opts.Stage, "stage", "s", "", "stage")
	cmd.Flags().StringVarP(&opts.Region, "region", "r", "", "region")
	addSAMFlags(cmd, &opts)
	return cmd
}

// watch calls changed (debounced) whenever a file under dir changes, until ctx ends.
func watch(ctx context.Context, dir string, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	add := func(root string) error {
		return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				base := d.Name()
				if p != root && (strings.HasPrefix(base, ".") || base == "node_modules") {
					return filepath.SkipDir
				}
				return w.Add(p)
			}
			return nil
		})
	}
	if err := add(dir); err != nil {
		w.Close()
		return err
	}
	go func() {
		defer w.Close()
		var timer <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() && ev.Has(fsnotify.Create) {
					_ = add(ev.Name)
				}
				timer = time.After(300 * time.Millisecond)
			case <-w.Errors:
			case <-timer:
				timer = nil
				fmt.Println("change detected: redeploying")
				changed()
			}
		}
	}()
	return nil
}
