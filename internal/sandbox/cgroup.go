package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Memory limits use the cgroup memory controller: version 1 (a memory
// hierarchy of its own) or version 2 (the unified one), under the cgroup the
// platform itself runs in. Where neither can be written (no root, a read-only
// cgroupfs), functions run without a memory limit and the platform says so.

// Cgroup is one instance's memory cgroup.
type Cgroup struct {
	dir string
	v2  bool
}

// cgroupRoot finds the directory new instance cgroups go under, creating
// "nimbus" beneath the platform's own cgroup.
func cgroupRoot() (dir string, v2 bool, err error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var v1Path, v2Path string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Path = parts[2]
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
		}
	}
	if v1Path != "" {
		base := filepath.Join("/sys/fs/cgroup/memory", v1Path)
		if _, err := os.Stat(filepath.Join(base, "memory.limit_in_bytes")); err == nil {
			dir = filepath.Join(base, "nimbus")
			return dir, false, os.MkdirAll(dir, 0o755)
		}
	}
	if v2Path != "" {
		base := filepath.Join("/sys/fs/cgroup", v2Path)
		if _, err := os.Stat(filepath.Join(base, "cgroup.controllers")); err == nil {
			dir = filepath.Join(base, "nimbus")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", true, err
			}
			// Children of "nimbus" may only use the controllers it enables.
			if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0o644); err != nil {
				return "", true, fmt.Errorf("enable the memory controller: %w", err)
			}
			return dir, true, nil
		}
	}
	return "", false, errors.New("no writable cgroup memory controller")
}

// newCgroup creates an empty cgroup.
func newCgroup(root string, v2 bool, name string) (*Cgroup, error) {
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if !v2 {
		// The process joins after it started: bring the memory it already
		// charged along, so the limit and the peak count it.
		_ = os.WriteFile(filepath.Join(dir, "memory.move_charge_at_immigrate"), []byte("1"), 0o644)
	}
	return &Cgroup{dir: dir, v2: v2}, nil
}

// setLimit bounds the cgroup's memory.
func (c *Cgroup) setLimit(limitMB int) error {
	limit := []byte(strconv.FormatInt(int64(limitMB)<<20, 10))
	file := "memory.limit_in_bytes"
	if c.v2 {
		file = "memory.max"
		// No swap: over the limit is over the limit, as in Lambda.
		_ = os.WriteFile(filepath.Join(c.dir, "memory.swap.max"), []byte("0"), 0o644)
	}
	if err := os.WriteFile(filepath.Join(c.dir, file), limit, 0o644); err != nil {
		return fmt.Errorf("set memory limit: %w", err)
	}
	return nil
}

// killAll sends SIGKILL to every process in the cgroup.
func (c *Cgroup) killAll() {
	data, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Add moves a process into the cgroup.
func (c *Cgroup) Add(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// PeakMB is the most memory the cgroup's processes used together.
func (c *Cgroup) PeakMB() (int, bool) {
	file := "memory.max_usage_in_bytes"
	if c.v2 {
		file = "memory.peak"
	}
	data, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, false
	}
	return int((n + 1<<20 - 1) >> 20), true
}

// OOMKilled reports whether the kernel killed a process of the cgroup for
// exceeding its memory limit.
func (c *Cgroup) OOMKilled() bool {
	file, key := "memory.oom_control", "oom_kill"
	if c.v2 {
		file = "memory.events"
	}
	data, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n > 0
		}
	}
	return false
}

// Remove kills whatever still runs in the cgroup (a process that left its
// process group, say) and deletes the cgroup.
func (c *Cgroup) Remove() {
	for range 50 {
		c.killAll()
		if err := os.Remove(c.dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
