package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/bench/benchkit"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// coldIsolation measures cold starts of the no-op functions with isolation
// on (the default as root: namespaces, private root, cgroups joined by the
// init step, own uid) and off (--no-sandbox: the init step only joins the
// memory and pids cgroups), interleaved in one run, beside the bare start.
func coldIsolation(outFile string, coldN int) error {
	ws, err := benchkit.NewWorkspace("nimbus-bench-iso-*")
	if err != nil {
		return err
	}
	defer ws.Close()
	goBin, app, err := noopService(ws)
	if err != nil {
		return err
	}
	// Two platforms, each with its own data and run directory.
	platform := func(sub string, noSandbox bool) (*server.Server, error) {
		return ws.Start(app, func(c *server.Config) {
			c.DataDir = filepath.Join(ws.Dir, sub, "data")
			c.RunDir = filepath.Join(ws.Dir, sub, "run")
			c.NoSandbox = noSandbox
		})
	}
	on, err := platform("on", false)
	if err != nil {
		return err
	}
	defer on.Close(context.Background())
	off, err := platform("off", true)
	if err != nil {
		return err
	}
	defer off.Close(context.Background())
	iso := on.Runtime().Isolation()

	python := pythonPath()
	cases := []runtimeCase{
		{key: "go", runtime: "Go (provided.al2023, aws-lambda-go)", bare: []string{goBin}},
		{key: "node", runtime: "Node.js 20", bare: []string{"node", "-e", "0"}},
		{key: "python", runtime: "Python 3.11", bare: []string{python, "-c", "0"}},
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	coldOnce := func(srv *server.Server, name string) (time.Duration, error) {
		srv.Runtime().Retire(name)
		time.Sleep(20 * time.Millisecond) // let the old instance exit
		return invokeOnce(httpc, srv.URL()+"/2015-03-31/functions/"+name+"/invocations")
	}
	var rows, verdicts []string
	for _, rc := range cases {
		if onlyRuntime != "" && rc.key != onlyRuntime {
			continue
		}
		name := "bench-dev-" + rc.key
		var onD, offD, bare []time.Duration
		for i := range coldN + 2 {
			a, err := coldOnce(on, name)
			if err != nil {
				return err
			}
			b, err := coldOnce(off, name)
			if err != nil {
				return err
			}
			start := time.Now()
			cmd := exec.Command(rc.bare[0], rc.bare[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			_ = cmd.Run()
			c := time.Since(start)
			if i >= 2 { // the first ones warm the page cache
				onD, offD, bare = append(onD, a), append(offD, b), append(bare, c)
			}
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", rc.runtime,
			ms(benchkit.Percentile(onD, 50)), ms(benchkit.Percentile(onD, 99)),
			ms(benchkit.Percentile(offD, 50)), ms(benchkit.Percentile(offD, 99)),
			ms(benchkit.Percentile(bare, 50)), ms(benchkit.Percentile(bare, 99))))
		verdicts = append(verdicts, rc.verdicts(0, 0, benchkit.Percentile(onD, 50), benchkit.Percentile(bare, 50))...)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Cold starts of the no-op functions (128 MB), %d each, measured at the client from request to\n", coldN)
	fmt.Fprintf(&b, "response, alternating between two platforms in one process. Isolation on (as root by default): each\n")
	fmt.Fprintf(&b, "instance comes from an init step of nimbus's own, started ahead and waiting in new mount, pid and IPC\n")
	fmt.Fprintf(&b, "namespaces inside its memory and pids cgroups; the cold start hands it its parameters, and it builds the\n")
	fmt.Fprintf(&b, "private root, drops to the function's uid and execs the runtime (on this host: isolated=%v, memory\n", iso.Isolated)
	fmt.Fprintf(&b, "limits=%v, pids limit=%v). Off (`--no-sandbox`): the waiting init step only joins the cgroups and execs.\n", iso.MemoryLimited, iso.ProcessLimit)
	fmt.Fprintf(&b, "Beside them, the bare start of the runtime. Other jobs loaded the machine (load average below): compare the\n")
	fmt.Fprintf(&b, "columns with each other; absolute figures are higher than on a quiet machine.\n\n")
	fmt.Fprintf(&b, "Machine: %s. Command: `go run ./bench/core -isolation -cold %d`.\n\n", benchkit.Machine(), coldN)
	b.WriteString("| runtime | cold p50, isolated | cold p99, isolated | cold p50, --no-sandbox | cold p99, --no-sandbox | bare start p50 | bare start p99 |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	b.WriteString("\nCold-start targets with isolation on:\n\n")
	for _, v := range verdicts {
		if strings.Contains(v, "cold") {
			b.WriteString("- " + v + "\n")
		}
	}
	fmt.Print(b.String())
	if outFile == "" {
		return nil
	}
	return benchkit.WriteSection(outFile, "Cold starts: isolation on and off", b.String())
}
