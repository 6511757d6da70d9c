package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Go cannot run code between fork and exec, so every instance starts as a
// re-exec of the platform's own binary: the "init step". It runs as root in the
// instance's new namespaces, joins the instance's cgroups before anything of
// the function runs, builds the private root, sets limits, drops every group
// and privilege, and execs the runtime. It is recognised by argv[0] in an init
// function, so any binary that links this package (nimbus, a test binary) can
// play it; its parameters come through an inherited pipe, so nothing of them
// shows in /proc/<pid>/cmdline or environ.
const initArgv0 = "nimbus-sandbox-init"

// File descriptors the init step inherits.
const (
	paramsFD = 3 // read: the JSON initParams
	statusFD = 4 // write: why the step failed; closed on a successful exec
)

// initJoin is the first message to the init step, sent as it starts.
type initJoin struct {
	// Procs are cgroup.procs files to write the process into, first thing.
	Procs []string `json:"procs,omitempty"`
}

// initParams is the second message, sent when the instance is needed.
type initParams struct {
	// Probe only checks that namespaces and mounts work, then exits.
	Probe bool `json:"probe,omitempty"`
	// Root, when set, is the private filesystem view to pivot into.
	Root   *rootSpec `json:"root,omitempty"`
	SetID  bool      `json:"setID,omitempty"`
	UID    int       `json:"uid"`
	GID    int       `json:"gid"`
	NoFile uint64    `json:"noFile"`
	NProc  uint64    `json:"nproc,omitempty"` // 0: not limited here
	// Scope confines the instance to its own abstract sockets and processes.
	Scope bool     `json:"scope,omitempty"`
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	Dir   string   `json:"dir"`
}

func init() {
	if len(os.Args) == 0 || os.Args[0] != initArgv0 {
		return
	}
	// Thread attributes (no_new_privs, the parent-death signal) must be set
	// on the thread that execs.
	goruntime.LockOSThread()
	err := runInit()
	status := os.NewFile(statusFD, "status")
	if err == nil {
		os.Exit(0) // a probe
	}
	_, _ = io.WriteString(status, err.Error())
	os.Exit(127)
}

// runInit returns only on failure (or after a probe, with nil).
func runInit() error {
	// Nothing but stdin, stdout and stderr reaches the function: not these
	// pipes (fd 3 is kept open until the exec: see platformGone), nor any
	// descriptor the platform itself inherited without close-on-exec.
	closeOnExecFrom(paramsFD)
	f := os.NewFile(paramsFD, "params")
	dec := json.NewDecoder(f)
	var join initJoin
	if err := dec.Decode(&join); err != nil {
		return fmt.Errorf("read the instance's cgroups: %w", err)
	}
	// Into the instance's cgroups before anything else: what follows, and the
	// function, is counted and limited from here on. "0" is the writer itself.
	for _, procs := range join.Procs {
		if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", filepath.Dir(procs), err)
		}
	}
	// Then wait, possibly long (a spare waits for a cold start), for the rest.
	var p initParams
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("read init parameters: %w", err)
	}
	if p.Probe {
		return probeMounts()
	}
	if p.Root != nil {
		if err := p.Root.build(p.UID, p.GID); err != nil {
			return fmt.Errorf("build the instance's root: %w", err)
		}
	}
	// Lowering limits needs no privilege; setting them before the identity
	// change makes them apply from the first instruction.
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: p.NoFile, Max: p.NoFile}); err != nil {
		return fmt.Errorf("limit open files: %w", err)
	}
	if p.NProc > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: p.NProc, Max: p.NProc}); err != nil {
			return fmt.Errorf("limit processes: %w", err)
		}
	}
	if p.SetID {
		if err := leaveHostKeys(); err != nil {
			return err
		}
		if err := emptyBoundingSet(); err != nil {
			return err
		}
		// No supplementary groups at all: the platform's (root's, sudo's)
		// must not reach the function.
		if err := syscall.Setgroups([]int{}); err != nil {
			return fmt.Errorf("drop supplementary groups: %w", err)
		}
		if err := syscall.Setresgid(p.GID, p.GID, p.GID); err != nil {
			return fmt.Errorf("set gid %d: %w", p.GID, err)
		}
		if err := syscall.Setresuid(p.UID, p.UID, p.UID); err != nil {
			return fmt.Errorf("set uid %d: %w", p.UID, err)
		}
	}
	// The identity change cleared the parent-death signal: set it again, so
	// the instance (and with it its pid namespace) dies with the platform.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set the parent-death signal: %w", err)
	}
	// The platform may have died before the signal was set again: it keeps
	// its end of the parameters pipe open until the exec, so a hang-up on
	// ours means nobody is left to kill the instance.
	if platformGone() {
		return errors.New("the platform is gone")
	}
	// No set-uid binary can give the function back what it just lost.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if p.Scope {
		if err := restrictScopes(); err != nil {
			return err
		}
	}
	if p.SetID {
		if err := installFilter(); err != nil {
			return err
		}
	}
	if err := os.Chdir(p.Dir); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	path := p.Argv[0]
	if !strings.Contains(path, "/") {
		return fmt.Errorf("exec %s: not a path", path)
	}
	err := unix.Exec(path, p.Argv, p.Env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// platformGone reports whether the platform's end of the parameters pipe
// is closed.
func platformGone() bool {
	fds := []unix.PollFd{{Fd: paramsFD, Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0
}

// probeMounts checks that the mount namespace can be made private and a
// tmpfs mounted in it.
func probeMounts() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	dir, err := os.MkdirTemp("", "nimbus-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k"); err != nil {
		return fmt.Errorf("mount a tmpfs: %w", err)
	}
	return unix.Unmount(dir, unix.MNT_DETACH)
}

// closeOnExecFrom marks every descriptor from fd up close-on-exec.
func closeOnExecFrom(fd int) {
	if unix.CloseRange(uint(fd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd") // kernels before 5.11
	if err != nil {
		return
	}
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= fd {
			unix.CloseOnExec(n)
		}
	}
}

// leaveHostKeys gives the instance a new, empty session keyring. The one it
// inherited is the platform's (a service manager gives every service one,
// and tools keep credentials in it), and whoever holds a keyring possesses
// its keys: the uid change alone would leave them readable. It is made
// while still root, so it counts against root's key quota, not against the
// function uid's, which many instances of one function share.
func leaveHostKeys() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	switch errno {
	case 0, unix.ENOSYS, unix.EPERM:
		// A kernel without keyrings, or a container's filter refusing
		// keyctl to the platform (and so to the function): nothing to leave.
		return nil
	}
	return fmt.Errorf("join a session keyring of the instance's own: %w", errno)
}

// emptyBoundingSet drops every capability from the bounding set, so that
// nothing the function execs can gain one, whatever else fails. Dropping
// needs CAP_SETPCAP: it runs before the uid change.
func emptyBoundingSet() error {
	for c := 0; c < 64; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
				// Past the kernel's last capability, or a host that gave the
				// platform no CAP_SETPCAP: the uid change still takes every
				// capability, and no_new_privs keeps them out of reach.
				return nil
			}
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}
