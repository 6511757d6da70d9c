package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// cpuShares, when above 0 (the -cpushares flag), puts each function process
// in a cgroup v1 cpu group of its own with that cpu.shares after the warm-up:
// an experiment for docs/adr/0029-function-cpu-share.md, which measures what a
// CPU weight per instance would change before the platform sets one.
var cpuShares int

const cpuSharesRoot = "/sys/fs/cgroup/cpu"

// weighChildren moves every child process into a weighted group and returns
// a function that moves them back and removes the groups.
func weighChildren() (func(), error) {
	if cpuShares <= 0 {
		return func() {}, nil
	}
	var dirs []string
	undo := func() {
		for _, d := range dirs {
			if data, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil && len(data) > 0 {
				for _, pid := range splitFields(string(data)) {
					_ = os.WriteFile(filepath.Join(cpuSharesRoot, "cgroup.procs"), []byte(pid), 0)
				}
			}
			_ = os.Remove(d)
		}
	}
	for _, pid := range childPIDs(os.Getpid()) {
		d := filepath.Join(cpuSharesRoot, fmt.Sprintf("nimbus-bench-%d", pid))
		if err := os.Mkdir(d, 0o755); err != nil {
			undo()
			return nil, err
		}
		dirs = append(dirs, d)
		if err := os.WriteFile(filepath.Join(d, "cpu.shares"), []byte(strconv.Itoa(cpuShares)), 0); err != nil {
			undo()
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			undo()
			return nil, err
		}
	}
	return undo, nil
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i, c := range s {
		if c == '\n' || c == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}
