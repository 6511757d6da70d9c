// Package sandbox wraps function processes in the isolation the host allows:
// their own process group (so a whole tree is killed at once), death with the
// platform, file-descriptor limits, and, when the platform runs as root, an
// unprivileged uid of their own so they can read neither the platform's data
// nor another function's files.
package sandbox

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Config chooses the isolation.
type Config struct {
	// DropPrivileges runs each function under its own uid/gid (needs root).
	DropPrivileges bool
	// BaseUID is the start of the uid range functions get (default 200000); a
	// function's uid is BaseUID plus a hash of its name within UIDRange.
	BaseUID  uint32
	UIDRange uint32
	// MaxOpenFiles is RLIMIT_NOFILE for function processes (Lambda: 1024).
	MaxOpenFiles uint64
	// NoMemoryLimit leaves function memory unbounded even where cgroups allow a limit.
	NoMemoryLimit bool
}

// Sandbox prepares and cleans up function processes.
type Sandbox struct {
	cfg Config
	// cgroupRoot is where instance memory cgroups go; empty: no limits.
	cgroupRoot string
	cgroupV2   bool
	// MemoryLimitError says why memory is not limited, if it is not.
	MemoryLimitError error

	mu        sync.Mutex
	spares    []*Cgroup // empty cgroups ready for instances
	seq       int
	refilling bool
	closed    bool
	wg        sync.WaitGroup // the refill goroutine
}

// New returns a sandbox; DropPrivileges is turned off when not running as root.
func New(cfg Config) *Sandbox {
	if os.Geteuid() != 0 {
		cfg.DropPrivileges = false
	}
	if cfg.BaseUID == 0 {
		cfg.BaseUID = 200000
	}
	if cfg.UIDRange == 0 {
		cfg.UIDRange = 100000
	}
	if cfg.MaxOpenFiles == 0 {
		cfg.MaxOpenFiles = 1024
	}
	s := &Sandbox{cfg: cfg}
	if cfg.NoMemoryLimit {
		s.MemoryLimitError = errors.New("memory limits are turned off")
	} else if root, v2, err := cgroupRoot(); err != nil {
		s.MemoryLimitError = err
	} else {
		s.cgroupRoot, s.cgroupV2 = root, v2
		removeStaleCgroups(root)
	}
	return s
}

// removeStaleCgroups deletes the cgroups left by platforms that are gone (a
// kill -9 leaves its instances' empty cgroups behind). Cgroups are named
// i<platform pid>-<n>, so those of live platforms are left alone.
func removeStaleCgroups(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		var pid, n int
		if !e.IsDir() {
			continue
		}
		if _, err := fmt.Sscanf(e.Name(), "i%d-%d", &pid, &n); err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		_ = os.Remove(filepath.Join(root, e.Name())) // fails harmlessly while processes remain
	}
}

// spareCgroups is how many empty cgroups are kept ready: creating one takes
// milliseconds, which would otherwise be paid by every cold start.
const spareCgroups = 2

// Confine puts a started process under a memory limit of limitMB, when the
// host allows it; it returns nil when it does not.
func (s *Sandbox) Confine(pid, limitMB int) (*Cgroup, error) {
	if s.cgroupRoot == "" {
		return nil, nil
	}
	cg, err := s.takeCgroup()
	if err != nil {
		return nil, err
	}
	if err := cg.setLimit(limitMB); err != nil {
		cg.Remove()
		return nil, err
	}
	if err := cg.Add(pid); err != nil {
		cg.Remove()
		return nil, fmt.Errorf("move %d into its memory cgroup: %w", pid, err)
	}
	return cg, nil
}

// takeCgroup returns a spare cgroup, or makes one, and tops the spares up in
// the background.
func (s *Sandbox) takeCgroup() (*Cgroup, error) {
	s.mu.Lock()
	var cg *Cgroup
	if n := len(s.spares); n > 0 {
		cg = s.spares[n-1]
		s.spares = s.spares[:n-1]
	}
	name := s.nextName()
	refill := !s.refilling && !s.closed
	if refill {
		s.refilling = true
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if refill {
		go s.refill()
	}
	if cg != nil {
		return cg, nil
	}
	return newCgroup(s.cgroupRoot, s.cgroupV2, name)
}

func (s *Sandbox) refill() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.closed || len(s.spares) >= spareCgroups {
			s.refilling = false
			s.mu.Unlock()
			return
		}
		name := s.nextName()
		s.mu.Unlock()
		cg, err := newCgroup(s.cgroupRoot, s.cgroupV2, name)
		s.mu.Lock()
		if err != nil || s.closed {
			s.refilling = false
			s.mu.Unlock()
			if cg != nil {
				cg.Remove()
			}
			return
		}
		s.spares = append(s.spares, cg)
		s.mu.Unlock()
	}
}

// nextName names a cgroup; called with mu held.
func (s *Sandbox) nextName() string {
	s.seq++
	return fmt.Sprintf("i%d-%d", os.Getpid(), s.seq)
}

// Close removes the spare cgroups. Instances' cgroups go with their processes.
func (s *Sandbox) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	spares := s.spares
	s.spares = nil
	s.mu.Unlock()
	for _, cg := range spares {
		cg.Remove()
	}
}

// Identity is the uid/gid a function runs as; ok is false when the process
// keeps the platform's identity.
func (s *Sandbox) Identity(function string) (uid, gid int, ok bool) {
	if !s.cfg.DropPrivileges {
		return os.Getuid(), os.Getgid(), false
	}
	h := fnv.New32a()
	h.Write([]byte(function))
	id := int(s.cfg.BaseUID + h.Sum32()%s.cfg.UIDRange)
	return id, id, true
}

// Prepare sets the process attributes of cmd for function.
func (s *Sandbox) Prepare(cmd *exec.Cmd, function string) {
	attr := &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL, // instances never outlive the platform
	}
	if uid, gid, ok := s.Identity(function); ok {
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	cmd.SysProcAttr = attr
}

// Started applies limits that can only be set once the process exists.
func (s *Sandbox) Started(pid int) error {
	lim := unix.Rlimit{Cur: s.cfg.MaxOpenFiles, Max: s.cfg.MaxOpenFiles}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		return fmt.Errorf("limit open files of %d: %w", pid, err)
	}
	return nil
}

// Kill stops the process and everything it started.
func Kill(pid int) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// Chown gives a directory to the function's identity (its private /tmp).
func (s *Sandbox) Chown(path, function string) error {
	uid, gid, ok := s.Identity(function)
	if !ok {
		return nil
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("hand %s to the function's user: %w", path, err)
	}
	return nil
}
