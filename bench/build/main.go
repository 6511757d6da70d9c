// Command build measures deploys of a TypeScript project of -modules modules
// bundled by nimbus's built-in esbuild: cold (empty build cache, new
// platform), warm (cache filled, new platform), one module edited, and a
// no-change redeploy; and, in the same run when -sls names a folder where
// `npm install serverless@3 serverless-esbuild esbuild` was run, the Serverless
// Framework's `serverless package` of the same project, cold and again.
//
//	go run ./bench/build -modules 200 -rounds 3 -sls /tmp/slsbench
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/packaging"
	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	modules := flag.Int("modules", 200, "TypeScript modules in the project")
	rounds := flag.Int("rounds", 3, "measurements of each case (the median is reported)")
	sls := flag.String("sls", "", "folder whose node_modules holds serverless@3 and serverless-esbuild (empty: skip the comparison)")
	write := flag.String("write", "", "write the results into this BENCHMARKS.md")
	flag.Parse()

	ws, err := benchkit.NewWorkspace("nimbus-bench-build-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	project := filepath.Join(ws.Dir, "project")
	if err := writeProject(project, *modules); err != nil {
		return err
	}

	cases := []string{"package, cold cache", "package, warm cache", "deploy, cold cache (new platform)",
		"deploy, warm cache (new platform)", "deploy, one module edited", "deploy, no change"}
	times := map[string][]time.Duration{}
	for r := 0; r < *rounds; r++ {
		res, err := nimbusRound(ws, project, r)
		if err != nil {
			return err
		}
		for k, v := range res {
			times[k] = append(times[k], v)
		}
	}
	var slsTimes map[string][]time.Duration
	if *sls != "" {
		slsTimes = map[string][]time.Duration{}
		for r := 0; r < *rounds; r++ {
			for _, c := range []string{"serverless package, cold", "serverless package, again"} {
				d, err := slsPackage(*sls, project, c == "serverless package, cold")
				if err != nil {
					return err
				}
				slsTimes[c] = append(slsTimes[c], d)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Deploy time of a TypeScript project of %d modules (one handler importing them all through an\n", *modules)
	b.WriteString("index, each module a class, an interface and functions importing a shared module and a type-only\n")
	b.WriteString("import; serverless-esbuild in `plugins`, sourcemap on). nimbus bundles it with esbuild linked as a Go\n")
	b.WriteString("library (docs/adr/0018-build-steps.md). \"package\" is the CLI's packaging alone (esbuild and the zip);\n")
	b.WriteString("\"deploy\" is the whole `Client.Deploy` against an in-process platform (packaging, upload, deploy).\n")
	b.WriteString("Cold: empty build cache; warm: the cache of a previous build; one module edited: one file's content\n")
	b.WriteString("changed, so esbuild runs again; no change: the same project redeployed.\n\n")
	fmt.Fprintf(&b, "Machine: %s.\n\n", benchkit.Machine())
	fmt.Fprintf(&b, "Command: `go run ./bench/build -modules %d -rounds %d", *modules, *rounds)
	if *sls != "" {
		b.WriteString(" -sls <folder with serverless@3, serverless-esbuild and esbuild installed by npm>")
	}
	b.WriteString("`\n\n| case | median | all rounds |\n|---|---:|---|\n")
	row := func(name string, ds []time.Duration) {
		var all []string
		for _, d := range ds {
			all = append(all, ms(d))
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, ms(benchkit.Percentile(ds, 50)), strings.Join(all, ", "))
	}
	for _, c := range cases {
		row("nimbus "+c, times[c])
	}
	if slsTimes != nil {
		for _, c := range []string{"serverless package, cold", "serverless package, again"} {
			row(c, slsTimes[c])
		}
		cold := benchkit.Percentile(slsTimes["serverless package, cold"], 50)
		fmt.Fprintf(&b, "\nnimbus's packaging with a cold cache is %.1f× faster than a cold `serverless package` (Serverless Framework 3,\n"+
			"serverless-esbuild, esbuild's npm binary, same esbuild version); nimbus's whole cold deploy is %.1f× faster.\n",
			float64(cold)/float64(benchkit.Percentile(times[cases[0]], 50)), float64(cold)/float64(benchkit.Percentile(times[cases[2]], 50)))
	}
	noChange := times[cases[5]]
	fmt.Fprintf(&b, "\nTargets (issue 13): a no-change redeploy under 300 ms: median %s, slowest %s", ms(benchkit.Percentile(noChange, 50)), ms(slices.Max(noChange)))
	if slsTimes != nil {
		fmt.Fprintf(&b, "; at least 5× faster than the framework's packaging cold: %.1f×",
			float64(benchkit.Percentile(slsTimes["serverless package, cold"], 50))/float64(benchkit.Percentile(times[cases[0]], 50)))
	}
	b.WriteString(".\nesbuild is the same version on both sides; the framework's time goes to starting Node.js, loading the\n" +
		"framework and its plugins, and copying and zipping through JavaScript. Figures vary run to run on this shared machine.\n")
	fmt.Print(b.String())
	if *write != "" {
		return benchkit.WriteSection(*write, "Build steps: TypeScript deploys (bench/build)", b.String())
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// nimbusRound measures every nimbus case once, each platform and cache new.
func nimbusRound(ws *benchkit.Workspace, project string, round int) (map[string]time.Duration, error) {
	ctx := context.Background()
	out := map[string]time.Duration{}
	cache := filepath.Join(ws.Dir, fmt.Sprintf("cache-%d", round))
	pack := func() (time.Duration, error) {
		p, err := manifest.Load(project, manifest.Options{})
		if err != nil {
			return 0, err
		}
		dir, err := os.MkdirTemp(ws.Dir, "zip-*")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		_, err = packaging.BuildWith(ctx, p, dir, packaging.Options{CacheDir: cache})
		return time.Since(start), err
	}
	var err error
	if out["package, cold cache"], err = pack(); err != nil {
		return nil, err
	}
	if out["package, warm cache"], err = pack(); err != nil {
		return nil, err
	}
	deploy := func(srv *server.Server, cache string) (time.Duration, error) {
		c := benchkit.Client(srv)
		c.BuildCache = cache
		start := time.Now()
		_, err := c.Deploy(ctx, project, manifest.Options{}, nil)
		return time.Since(start), err
	}
	for i, c := range []string{"deploy, cold cache (new platform)", "deploy, warm cache (new platform)"} {
		srv, err := startPlatform(ws, fmt.Sprintf("%d-%d", round, i))
		if err != nil {
			return nil, err
		}
		cacheDir := filepath.Join(ws.Dir, fmt.Sprintf("deploy-cache-%d", round))
		d, err := deploy(srv, cacheDir)
		if err == nil && i == 1 {
			// The same platform: edit one module, then redeploy unchanged.
			mod := filepath.Join(project, "src", "modules", "m007.ts")
			var data []byte
			if data, err = os.ReadFile(mod); err == nil {
				if err = os.WriteFile(mod, append(data, fmt.Sprintf("export const edited%d = %d;\n", round, round)...), 0o644); err == nil {
					if out["deploy, one module edited"], err = deploy(srv, cacheDir); err == nil {
						out["deploy, no change"], err = deploy(srv, cacheDir)
					}
				}
			}
		}
		_ = srv.Close(ctx)
		if err != nil {
			return nil, err
		}
		out[c] = d
	}
	return out, nil
}

func startPlatform(ws *benchkit.Workspace, name string) (*server.Server, error) {
	return server.Start(context.Background(), server.Config{
		DataDir: filepath.Join(ws.Dir, "data-"+name), Addr: "127.0.0.1:0", RunDir: filepath.Join(ws.Dir, "run-"+name),
		NoSandbox: true, Logger: benchLogger(),
	})
}

// slsPackage runs `serverless package` in a copy of the project whose
// node_modules is the npm install in slsDir.
func slsPackage(slsDir, project string, cold bool) (time.Duration, error) {
	bin := filepath.Join(slsDir, "node_modules", ".bin", "serverless")
	if _, err := os.Stat(bin); err != nil {
		return 0, fmt.Errorf("serverless is not installed in %s: %w", slsDir, err)
	}
	work := filepath.Join(filepath.Dir(project), "sls-project")
	if cold {
		_ = os.RemoveAll(work)
		if err := exec.Command("cp", "-r", project, work).Run(); err != nil {
			return 0, err
		}
		// The project's own dependencies plus the framework's.
		if err := os.MkdirAll(filepath.Join(work, "node_modules"), 0o755); err != nil {
			return 0, err
		}
		for _, e := range mustReadDir(filepath.Join(slsDir, "node_modules")) {
			dst := filepath.Join(work, "node_modules", e)
			if _, err := os.Lstat(dst); err == nil {
				continue
			}
			if err := os.Symlink(filepath.Join(slsDir, "node_modules", e), dst); err != nil {
				return 0, err
			}
		}
	}
	_ = os.RemoveAll(filepath.Join(work, ".serverless"))
	_ = os.RemoveAll(filepath.Join(work, ".esbuild"))
	cmd := exec.Command(bin, "package")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "SLS_TELEMETRY_DISABLED=1", "SLS_NOTIFICATIONS_MODE=off", "SLS_DEPRECATION_DISABLE=*",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("serverless package: %w\n%s", err, out)
	}
	return time.Since(start), nil
}

func mustReadDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
