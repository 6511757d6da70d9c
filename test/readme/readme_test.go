// Package readme runs the README's commands as a reader pastes them.
//
// A fenced ```sh block right after a line `<!-- readme-test -->` is run, in
// order, in one temporary directory holding a link to examples/ and with a
// freshly built nimbus first on PATH. The rewriting is fixed and small, so a
// block that passes here works when pasted:
//
//   - `go run ./cmd/nimbus` and `./nimbus` become the built binary;
//   - `go test ...` (the tests themselves) and `go build -o nimbus ./cmd/nimbus`
//     (done once up front) are skipped;
//   - `nimbus up` and `nimbus dev` keep running, so they start in the
//     background, on free ports (--addr, --http-addr appended), stopping the
//     one before; 127.0.0.1:9000 and :8080 in other lines become those ports
//     and NIMBUS_ENDPOINT points client commands at them, as the default
//     would.
//
// The other lines of a block run as one bash script with errexit and
// pipefail. The commands nimbus itself prints for pasting (the `eval` hint of
// up and dev, the `try:` lines of a deploy) are run too.
package readme

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const marker = "<!-- readme-test -->"

// block is one marked fenced block of the README.
type block struct {
	line  int // of the opening fence, 1-based
	lines []string
}

// markedBlocks returns the README's blocks marked for testing.
func markedBlocks(t *testing.T, readme string) []block {
	var out []block
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != marker {
			continue
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
			t.Fatalf("README.md:%d: %s must be followed by a ```sh fence", i+1, marker)
		}
		b := block{line: i + 2}
		j := i + 2
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			b.lines = append(b.lines, lines[j])
		}
		if j == len(lines) {
			t.Fatalf("README.md:%d: unclosed fence", b.line)
		}
		out = append(out, b)
		i = j
	}
	return out
}

// syncBuffer collects a background process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running `nimbus up` or `nimbus dev`.
type server struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

func (s *server) stop(t *testing.T) {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("%v did not stop within 30s of SIGINT", s.cmd.Args)
	}
}

type env struct {
	dir      string
	vars     []string
	api, gw  string // host:port
	endpoint string
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (e *env) rewrite(line string) string {
	line = strings.ReplaceAll(line, "go run ./cmd/nimbus", "nimbus")
	line = strings.ReplaceAll(line, "./nimbus ", "nimbus ")
	line = strings.ReplaceAll(line, "./nimbus)", "nimbus)")
	line = strings.ReplaceAll(line, "127.0.0.1:9000", e.api)
	line = strings.ReplaceAll(line, "127.0.0.1:8080", e.gw)
	return line
}

// withoutComment drops a trailing shell comment from a line without quotes.
func withoutComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

func (e *env) startServer(t *testing.T, line string) *server {
	args := strings.Fields(withoutComment(line))
	args = append(args, "--addr", e.api, "--http-addr", e.gw)
	t.Logf("$ %s &", strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(e.dir, "bin", args[0]), args[1:]...)
	cmd.Dir = e.dir
	cmd.Env = e.vars
	s := &server{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			s.stop(t)
		}
	})
	ready := func() bool {
		if args[1] == "dev" {
			return strings.Contains(s.stdout.String(), "Watching ")
		}
		resp, err := http.Get("http://" + e.api + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.Contains(s.stdout.String(), "Press Ctrl-C")
	}
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case err := <-s.done:
			t.Fatalf("%s exited before it was ready (%v)\nstdout:\n%s\nstderr:\n%s", line, err, s.stdout, s.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s\nstdout:\n%s\nstderr:\n%s", line, s.stdout, s.stderr)
		}
	}
	return s
}

// run runs script with bash -euo pipefail in the test directory.
func (e *env) run(t *testing.T, where, script string) string {
	t.Helper()
	out, err := e.try(t, where, script)
	if err != nil {
		t.Fatalf("%s does not work as printed: %v\n%s\noutput:\n%s", where, err, script, out)
	}
	return out
}

// try runs script as run does and returns its error.
func (e *env) try(t *testing.T, where, script string) (string, error) {
	t.Helper()
	// Generous: a deploy of a Go example compiles it, slow on a cold cache.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = e.dir
	cmd.Env = e.vars
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s\n%s", where, script, out)
	return string(out), err
}

// runHints runs what nimbus printed for pasting. A function that answers
// with its own error (an example that fails on purpose) still shows the
// command works: nimbus invoke exits 1 saying so, and that is the only
// error accepted.
func (e *env) runHints(t *testing.T, where string, hints []string) {
	t.Helper()
	script := strings.Join(hints, "\n")
	out, err := e.try(t, where, script)
	if err == nil {
		return
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "error: ") && !strings.HasPrefix(l, "error: the function failed (") {
			t.Fatalf("%s does not work as printed: %v\n%s\noutput:\n%s", where, err, script, out)
		}
	}
	if !strings.Contains(out, "error: the function failed (") {
		t.Fatalf("%s does not work as printed: %v\n%s\noutput:\n%s", where, err, script, out)
	}
	// The invoke stopped the script: run the rest after it.
	if len(hints) > 1 && strings.Contains(hints[0], " invoke ") {
		e.runHints(t, where, hints[1:])
	}
}

// printedCommands returns the commands nimbus printed for pasting: the
// `eval "$(nimbus ... env)"` hint and the lines under a deploy's "try:".
func printedCommands(out string) []string {
	var cmds []string
	inTry := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		trimmed := strings.TrimSpace(l)
		switch {
		case l == "try:":
			inTry = true
			continue
		case inTry && strings.HasPrefix(l, "  "):
			cmds = append(cmds, trimmed)
			continue
		}
		inTry = false
		if strings.HasPrefix(trimmed, `eval "$(nimbus`) {
			cmds = append(cmds, withoutComment(trimmed))
		}
	}
	return cmds
}

func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nimbus and runs the README's commands; skipped in -short")
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the README uses the AWS CLI (aws), not installed here")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := markedBlocks(t, string(readme))
	if len(blocks) == 0 {
		t.Fatalf("README.md has no block marked %s", marker)
	}

	e := &env{dir: t.TempDir(), api: freeAddr(t), gw: freeAddr(t)}
	e.endpoint = "http://" + e.api
	build := exec.Command("go", "build", "-o", filepath.Join(e.dir, "bin", "nimbus"), "./cmd/nimbus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The examples themselves: Go examples build inside the repository's module.
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(e.dir, "examples")); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(e.dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// A clean environment, as a reader's shell before the README: no AWS
	// settings, nimbus first on PATH, the client pointed at the test's port.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "NIMBUS_") || k == "HOME" || k == "PATH" {
			continue
		}
		e.vars = append(e.vars, kv)
	}
	e.vars = append(e.vars,
		"HOME="+home,
		"PATH="+filepath.Join(e.dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NIMBUS_ENDPOINT="+e.endpoint,
	)

	var srv *server
	for _, b := range blocks {
		var script []string
		for _, raw := range b.lines {
			line := e.rewrite(raw)
			fields := strings.Fields(withoutComment(line))
			switch {
			case len(fields) >= 2 && fields[0] == "go" && fields[1] == "test":
				continue
			case withoutComment(raw) == "go build -o nimbus ./cmd/nimbus":
				continue
			case len(fields) >= 2 && fields[0] == "nimbus" && (fields[1] == "up" || fields[1] == "dev"):
				if srv != nil {
					srv.stop(t)
				}
				srv = e.startServer(t, line)
				if hints := printedCommands(srv.stdout.String()); len(hints) > 0 {
					// The eval hint alone proves nothing: the AWS CLI must then work.
					hints = append(hints, "aws lambda list-functions > /dev/null")
					e.run(t, fmt.Sprintf("what %q printed", fields[0]+" "+fields[1]), strings.Join(hints, "\n"))
				} else {
					t.Errorf("%s printed no command to paste (eval hint, try: lines)\n%s", line, srv.stdout)
				}
				continue
			}
			script = append(script, line)
		}
		if len(script) > 0 {
			out := e.run(t, fmt.Sprintf("README.md:%d", b.line), strings.Join(script, "\n"))
			// What the block's last deploy told the reader to try (earlier
			// services of the block may be removed by then).
			if i := strings.LastIndex(out, "\ntry:\n"); i >= 0 {
				out = out[i+1:]
			}
			if hints := printedCommands(out); len(hints) > 0 {
				e.runHints(t, fmt.Sprintf("what README.md:%d printed", b.line), hints)
			}
		}
	}
	if srv != nil {
		srv.stop(t)
	}
}
