package main

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// The dev loop shows each invocation with its source, function, outcome,
// duration and cold start, and the function's own output under it: plain
// when written to a pipe, coloured on a terminal.
func TestDevLoopShowsInvocations(t *testing.T) {
	p := testkit.Start(t, nil)
	p.Deploy("examples/hello")
	p.Deploy("examples/node-styles")

	t.Run("pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		printer := newDevPrinter(w)
		if printer.color {
			t.Fatal("a pipe is not a terminal: no colours")
		}
		out := watchInvocations(t, p, printer, r)
		for _, want := range []string{
			"lambda api → hello-dev-hello ok", "(cold start", "greeting you",
			"lambda api → node-styles-dev-thrower error ValidationError", "bad input: name",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("dev output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "\x1b[") || strings.Contains(out, "REPORT RequestId") {
			t.Errorf("escape codes or platform lines in piped output:\n%s", out)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		master, slave := openPTY(t)
		printer := newDevPrinter(slave)
		if !printer.color {
			t.Fatal("a pseudo-terminal is a terminal: colours expected")
		}
		out := watchInvocations(t, p, printer, master)
		if !strings.Contains(out, ansiGreen+"ok"+ansiReset) || !strings.Contains(out, ansiRed+"error ValidationError"+ansiReset) {
			t.Errorf("no colours on the terminal:\n%q", out)
		}
	})
}

// watchInvocations invokes a function that succeeds and one that fails while
// printer watches, and returns what it wrote, read from r.
func watchInvocations(t *testing.T, p *testkit.Platform, printer *devPrinter, r *os.File) string {
	t.Helper()
	p.Invoker.Watch(printer.Print)
	defer p.Invoker.Watch(nil)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	invokeBoth(t, p.Client)
	var out []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return strings.Join(out, "\n")
			}
			out = append(out, l)
			if strings.Contains(l, "bad input") {
				return strings.Join(out, "\n")
			}
		case <-deadline:
			t.Fatalf("output so far:\n%s", strings.Join(out, "\n"))
		}
	}
}

func invokeBoth(t *testing.T, c *client.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Invoke(ctx, "hello-dev-hello", "", []byte(`{"name":"you"}`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, "node-styles-dev-thrower", "", []byte(`{"field":"name"}`), false); err != nil {
		t.Fatal(err)
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestInvokeResultIndentedOnlyOnTerminals(t *testing.T) {
	in := []byte(`{"a":[1,2],"b":"x"}`)
	if got := string(resultForDisplay(in, false)); got != string(in) {
		t.Errorf("piped result changed: %s", got)
	}
	want := "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"x\"\n}"
	if got := string(resultForDisplay(in, true)); got != want {
		t.Errorf("terminal result:\n%s", got)
	}
	if got := string(resultForDisplay([]byte("not json"), true)); got != "not json" {
		t.Errorf("non-JSON result changed: %s", got)
	}
}
