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

// Instances are bounded with the cgroup memory and pids controllers: version 1
// (a hierarchy per controller) or version 2 (the unified one), under the cgroup
// the platform itself runs in. Where the memory controller cannot be written
// (no root, a read-only cgroupfs), functions run without a memory limit and the
// platform says so; where the pids controller is missing, RLIMIT_NPROC is the
// only bound on processes.

// MaxProcesses bounds an instance's processes and threads, as in Lambda.
const MaxProcesses = 1024

// cgroupRoots are the directories instance cgroups are created in.
type cgroupRoots struct {
	v2     bool
	memory string // v1: the memory hierarchy's "nimbus"; v2: the unified "nimbus"
	pids   string // v1: the pids hierarchy's "nimbus"; v2: same as memory; "" when unavailable
}

// dirs lists the distinct roots.
func (r cgroupRoots) dirs() []string {
	if r.pids == "" || r.pids == r.memory {
		return []string{r.memory}
	}
	return []string{r.memory, r.pids}
}

// Cgroup is one instance's cgroups (memory and, where available, pids).
type Cgroup struct {
	v2   bool
	mem  string
	pids string // "" when there is no pids controller; == mem on v2
}

// ownCgroups reads the platform's own cgroup paths from /proc/self/cgroup.
func ownCgroups() (v1 map[string]string, v2 string, err error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	v1 = map[string]string{}
	v2 = "-"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			v1[c] = parts[2]
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		}
	}
	return v1, v2, sc.Err()
}

// findCgroupRoots finds (and creates) the directories new instance cgroups go
// under: "nimbus" beneath the platform's own cgroup.
func findCgroupRoots() (cgroupRoots, error) {
	v1, v2Path, err := ownCgroups()
	if err != nil {
		return cgroupRoots{}, err
	}
	if p, ok := v1["memory"]; ok {
		base := filepath.Join("/sys/fs/cgroup/memory", p)
		if _, err := os.Stat(filepath.Join(base, "memory.limit_in_bytes")); err == nil {
			r := cgroupRoots{memory: filepath.Join(base, "nimbus")}
			if err := os.MkdirAll(r.memory, 0o755); err != nil {
				return cgroupRoots{}, err
			}
			if p, ok := v1["pids"]; ok {
				dir := filepath.Join("/sys/fs/cgroup/pids", p, "nimbus")
				if os.MkdirAll(dir, 0o755) == nil {
					r.pids = dir
				}
			}
			return r, nil
		}
	}
	if v2Path != "-" {
		base := filepath.Join("/sys/fs/cgroup", v2Path)
		if _, err := os.Stat(filepath.Join(base, "cgroup.controllers")); err == nil {
			dir := filepath.Join(base, "nimbus")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return cgroupRoots{}, err
			}
			// Children of "nimbus" may only use the controllers it enables.
			if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0o644); err != nil {
				return cgroupRoots{}, fmt.Errorf("enable the memory controller: %w", err)
			}
			r := cgroupRoots{v2: true, memory: dir}
			if os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+pids"), 0o644) == nil {
				r.pids = dir
			}
			return r, nil
		}
	}
	return cgroupRoots{}, errors.New("no writable cgroup memory controller")
}

// removeStaleCgroups kills what still runs in the cgroups of platforms that
// are gone (a kill -9 leaves its instances' cgroups behind, and a daemon could
// have outlived its pid namespace in a race) and removes them. Cgroups are
// named i<platform pid>-<tag>-<n>, so those of live platforms are left alone.
func removeStaleCgroups(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		var pid int
		if !e.IsDir() {
			continue
		}
		if _, err := fmt.Sscanf(e.Name(), "i%d-", &pid); err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		removeCgroupDir(filepath.Join(root, e.Name()), true)
	}
}

// newCgroup creates an instance's empty cgroups.
func newCgroup(roots cgroupRoots, name string) (*Cgroup, error) {
	cg := &Cgroup{v2: roots.v2, mem: filepath.Join(roots.memory, name)}
	if err := os.Mkdir(cg.mem, 0o755); err != nil {
		return nil, err
	}
	switch {
	case roots.pids == "":
	case roots.v2:
		cg.pids = cg.mem
	default:
		dir := filepath.Join(roots.pids, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			cg.Remove()
			return nil, err
		}
		cg.pids = dir
	}
	return cg, nil
}

// setLimits bounds the cgroup's memory and processes.
func (c *Cgroup) setLimits(memoryMB int) error {
	limit := []byte(strconv.FormatInt(int64(memoryMB)<<20, 10))
	file := "memory.limit_in_bytes"
	if c.v2 {
		file = "memory.max"
		// No swap: over the limit is over the limit, as in Lambda.
		_ = os.WriteFile(filepath.Join(c.mem, "memory.swap.max"), []byte("0"), 0o644)
	}
	if err := os.WriteFile(filepath.Join(c.mem, file), limit, 0o644); err != nil {
		return fmt.Errorf("set memory limit: %w", err)
	}
	if c.pids != "" {
		if err := os.WriteFile(filepath.Join(c.pids, "pids.max"), []byte(strconv.Itoa(MaxProcesses)), 0o644); err != nil {
			return fmt.Errorf("set process limit: %w", err)
		}
	}
	return nil
}

// HasPidsLimit reports whether the pids controller bounds the instance.
func (c *Cgroup) HasPidsLimit() bool { return c.pids != "" }

// procsFiles are the cgroup.procs files a process writes itself into.
func (c *Cgroup) procsFiles() []string {
	files := []string{filepath.Join(c.mem, "cgroup.procs")}
	if c.pids != "" && c.pids != c.mem {
		files = append(files, filepath.Join(c.pids, "cgroup.procs"))
	}
	return files
}

// Pids lists the processes in the instance's cgroup (host pids).
func (c *Cgroup) Pids() []int {
	return cgroupPids(c.mem)
}

func cgroupPids(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// PeakMB is the most memory the cgroup's processes used together.
func (c *Cgroup) PeakMB() (int, bool) {
	file := "memory.max_usage_in_bytes"
	if c.v2 {
		file = "memory.peak"
	}
	data, err := os.ReadFile(filepath.Join(c.mem, file))
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
	data, err := os.ReadFile(filepath.Join(c.mem, file))
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

// Remove kills whatever still runs in the cgroups (a process that left its
// process group, say) and deletes them.
func (c *Cgroup) Remove() {
	removeCgroupDir(c.mem, false)
	if c.pids != "" && c.pids != c.mem {
		removeCgroupDir(c.pids, false)
	}
}

// removeCgroupDir kills the cgroup's processes until it can be removed
// (killed processes leave it a moment after the signal). cgroup.procs lists
// only the processes visible in this pid namespace: a cgroup that holds
// none of those but cannot be removed belongs to a platform in another pid
// namespace (the pids hierarchy can be shared between containers), and is
// left alone when stale is set (our own instances' cgroups are waited for).
func removeCgroupDir(dir string, stale bool) {
	killed := !stale
	for range 100 {
		pids := cgroupPids(dir)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		killed = killed || len(pids) > 0
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) || !killed {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
