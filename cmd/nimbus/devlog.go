package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nimbus-platform/nimbus/internal/invoke"
)

// devPrinter shows each invocation as it ends, with the function's own
// output under it: what `nimbus dev` prints while the user works.
type devPrinter struct {
	mu    sync.Mutex
	out   io.Writer
	color bool
}

func newDevPrinter(out *os.File) *devPrinter {
	return &devPrinter{out: out, color: isTerminal(out) && os.Getenv("NO_COLOR") == ""}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

const (
	ansiReset = "\x1b[0m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
	ansiBold  = "\x1b[1m"
)

func (p *devPrinter) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

// Print writes one invocation.
func (p *devPrinter) Print(rec invoke.Record) {
	var b strings.Builder
	source := rec.Source
	if source == "" {
		source = "invoke"
	}
	fmt.Fprintf(&b, "%s %s %s", p.paint(ansiDim, rec.Time.Format("15:04:05.000")), p.paint(ansiCyan, source), p.paint(ansiBold, "→ "+rec.Function))
	switch {
	case rec.Err != nil:
		fmt.Fprintf(&b, " %s %s\n", p.paint(ansiRed, "not run:"), rec.Err)
	case rec.Result.FunctionError != "":
		typ, msg := errorOf(rec.Result.Payload, rec.Result.ErrorType)
		fmt.Fprintf(&b, " %s %s %s\n", p.paint(ansiRed, "error "+typ), timing(rec), msg)
	default:
		fmt.Fprintf(&b, " %s %s\n", p.paint(ansiGreen, "ok"), timing(rec))
	}
	if rec.Result != nil {
		for _, line := range functionOutput(rec.Result.LogTail) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.out, b.String())
}

func timing(rec invoke.Record) string {
	s := fmtDuration(rec.Result.Duration)
	if rec.Result.ColdStart {
		s += " (cold start"
		if rec.Result.InitDuration > 0 {
			s += ", init " + fmtDuration(rec.Result.InitDuration)
		}
		s += ")"
	}
	return s
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// errorOf reads a function error's type and message from Lambda's error
// payload.
func errorOf(payload []byte, fallbackType string) (typ, msg string) {
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &e) != nil {
		return fallbackType, strings.TrimSpace(string(payload))
	}
	typ = e.ErrorType
	if typ == "" {
		typ = fallbackType
	}
	return typ, e.ErrorMessage
}

// functionOutput is the function's own lines of an invocation's log tail:
// the platform's START, END and REPORT lines are left out.
func functionOutput(tail []byte) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(tail), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "START RequestId:") || strings.HasPrefix(line, "END RequestId:") ||
			strings.HasPrefix(line, "REPORT RequestId:") || strings.HasPrefix(line, "INIT_START") {
			continue
		}
		out = append(out, line)
	}
	return out
}
