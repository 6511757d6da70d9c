// Package sandbox wraps function processes in the isolation the host allows.
// As root, every instance starts through the init step (initstep.go) in its
// own mount, pid and IPC namespaces, inside its memory and pids cgroups from
// its first instruction, under a uid of its function's own with no
// supplementary groups, in a private root that shows its code, the runtime
// clients and a private /tmp, and nothing of the platform. Where the host
// gives less, it gives what it can and says what is missing (Status).
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"

	"github.com/nimbus-platform/nimbus/internal/sandbox/netguard"
)

// Config chooses the isolation.
type Config struct {
	// DropPrivileges isolates each function: its own uid, namespaces and
	// root (needs root; turned off otherwise).
	DropPrivileges bool
	// BaseUID is the start of the uid range functions get (default 200000),
	// UIDRange its size (default 100000).
	BaseUID  uint32
	UIDRange uint32
	// UIDs is the registry of function uids (a KV bucket of the store); nil
	// keeps the registry in memory only.
	UIDs jetstream.KeyValue
	// UIDLockDir holds the host-wide uid claims shared by every platform on
	// the host (default /run/nimbus/uids).
	UIDLockDir string
	// MaxOpenFiles is RLIMIT_NOFILE for function processes (Lambda: 1024).
	MaxOpenFiles uint64
	// NoMemoryLimit leaves function memory unbounded even where cgroups allow a limit.
	NoMemoryLimit bool
	// NoNetworkGuard lets functions reach every service on the host's own
	// addresses (no nftables rules).
	NoNetworkGuard bool
	// AllowLocalPorts are the local ports the operator opens to every
	// function besides the platform's own (ADR 0028).
	AllowLocalPorts []netguard.Allowance
	// LocalPortsFromEnv opens to each function the local ports its
	// environment names (a single-user machine's convenience).
	LocalPortsFromEnv bool

	Logger *slog.Logger
}

// Sandbox starts and cleans up function processes.
type Sandbox struct {
	cfg   Config
	log   *slog.Logger
	roots cgroupRoots // memory == "": no cgroups
	uids  *uidRegistry
	// cloneflags are the namespaces of each instance; 0 where the host gives none.
	cloneflags uintptr
	// MemoryLimitError says why memory is not limited, if it is not.
	MemoryLimitError error
	// NamespaceError says why instances do not get namespaces of their own.
	NamespaceError error
	// NetworkError says why functions can reach the host's local services.
	NetworkError error
	// ScopeError says why instances are not confined to their own abstract
	// unix sockets and processes (Landlock scopes).
	ScopeError error
	// FilterError says why instances get no system call filter (ADR 0033).
	FilterError error
	// guard keeps function uids off the host's local ports; nil where the
	// host refuses nftables or functions keep the platform's uid.
	guard *netguard.Guard

	mu        sync.Mutex
	spares    []*waiting // init steps ready for instances
	seq       int
	tag       string // tells apart the sandboxes of one process (tests run several platforms)
	refilling bool
	closed    bool
	wg        sync.WaitGroup // the refill goroutine
}

// New returns a sandbox with the isolation this host allows. It removes the
// cgroups (and kills the processes) a previous platform left behind.
func New(cfg Config) *Sandbox {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	s := &Sandbox{cfg: cfg, log: cfg.Logger, tag: hex.EncodeToString(tag[:])}
	// Descriptors the platform inherited without close-on-exec (from a shell,
	// a supervisor) would pass to every function it starts directly.
	closeOnExecFrom(3)
	if os.Geteuid() != 0 {
		if cfg.DropPrivileges {
			s.NamespaceError = errors.New("the platform does not run as root: functions run under its uid, see its files, and share its /tmp")
		}
		s.cfg.DropPrivileges = false
	}
	if s.cfg.BaseUID == 0 {
		s.cfg.BaseUID = 200000
	}
	if s.cfg.UIDRange == 0 {
		s.cfg.UIDRange = 100000
	}
	if s.cfg.UIDLockDir == "" {
		s.cfg.UIDLockDir = "/run/nimbus/uids"
	}
	if s.cfg.MaxOpenFiles == 0 {
		s.cfg.MaxOpenFiles = 1024
	}
	if cfg.NoMemoryLimit {
		s.MemoryLimitError = errors.New("memory limits are turned off")
	} else if roots, err := findCgroupRoots(); err != nil {
		s.MemoryLimitError = err
	} else {
		s.roots = roots
		for _, dir := range roots.dirs() {
			removeStaleCgroups(dir)
		}
	}
	if s.cfg.DropPrivileges {
		s.uids = newUIDRegistry(s.cfg.UIDs, s.cfg.BaseUID, s.cfg.UIDRange, s.cfg.UIDLockDir)
		flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC)
		if err := probe(flags); err != nil {
			s.NamespaceError = fmt.Errorf("instances cannot have namespaces of their own (%w): functions see the host's filesystem and processes", err)
		} else {
			s.cloneflags = flags
		}
		s.ScopeError = scopeSupport()
		if err := probePeerDiag(); err != nil {
			s.log.Info("connection owners are found by scanning /proc/net/tcp, which grows with the host's sockets: the kernel refused sock_diag", "err", err)
		}
		s.FilterError = filterSupport(goruntime.GOARCH)
		if cfg.NoNetworkGuard {
			s.NetworkError = errors.New("functions can reach every service listening on the host's own addresses (--no-network-guard)")
		} else if g, err := netguard.New(s.tag, cfg.AllowLocalPorts...); err != nil {
			s.NetworkError = fmt.Errorf("functions can reach every service listening on the host's own addresses (nftables rules not installed: %w)", err)
		} else {
			s.guard = g
			if len(g.Stale) > 0 {
				s.log.Info("removed the network rules of stopped platforms", "tables", g.Stale)
			}
		}
	}
	return s
}

// Status is what the sandbox gives on this host, for the status API.
type Status struct {
	// Isolated: instances get their own namespaces and private root.
	Isolated        bool   `json:"isolated"`
	IsolationReason string `json:"isolationReason,omitempty"`
	// OwnUsers: functions run under uids of their own.
	OwnUsers      bool   `json:"ownUsers"`
	MemoryLimited bool   `json:"memoryLimited"`
	MemoryReason  string `json:"memoryReason,omitempty"`
	// ProcessLimit: the pids controller bounds each instance.
	ProcessLimit bool `json:"processLimit"`
	// NetworkGuarded: functions cannot reach the host's local ports but the
	// platform's own (ADR 0028).
	NetworkGuarded bool   `json:"networkGuarded"`
	NetworkReason  string `json:"networkReason,omitempty"`
	// Scoped: an instance reaches only its own abstract unix sockets and
	// signals only its own processes (Landlock scopes, ADR 0033).
	Scoped      bool   `json:"scoped"`
	ScopeReason string `json:"scopeReason,omitempty"`
	// Filtered: a seccomp filter refuses the kernel surface of ADR 0033.
	Filtered     bool   `json:"filtered"`
	FilterReason string `json:"filterReason,omitempty"`
	// NetworkTable is the nftables table (inet family) holding the rules.
	NetworkTable string `json:"networkTable,omitempty"`
	// AllowedLocalPorts are the local ports the operator opened to every
	// function besides the platform's own (--allow-local-port).
	AllowedLocalPorts []string `json:"allowedLocalPorts,omitempty"`
	// LocalPortsFromEnvironment: each function may reach the local ports
	// its environment names (--allow-local-ports-from-env).
	LocalPortsFromEnvironment bool `json:"localPortsFromEnvironment,omitempty"`
}

// Status reports the isolation in force.
func (s *Sandbox) Status() Status {
	st := Status{Isolated: s.cloneflags != 0, OwnUsers: s.cfg.DropPrivileges, MemoryLimited: s.roots.memory != "",
		ProcessLimit: s.roots.pids != "", NetworkGuarded: s.guard != nil}
	if s.NamespaceError != nil {
		st.IsolationReason = s.NamespaceError.Error()
	} else if !s.cfg.DropPrivileges {
		st.IsolationReason = "isolation is turned off (--no-sandbox)"
	}
	if s.MemoryLimitError != nil {
		st.MemoryReason = s.MemoryLimitError.Error()
	}
	if s.guard != nil {
		st.NetworkTable = s.guard.Table()
		for _, a := range s.guard.Allowances() {
			st.AllowedLocalPorts = append(st.AllowedLocalPorts, a.String())
		}
		st.LocalPortsFromEnvironment = s.cfg.LocalPortsFromEnv
	}
	st.Scoped = s.cfg.DropPrivileges && s.ScopeError == nil
	if s.ScopeError != nil {
		st.ScopeReason = s.ScopeError.Error()
	}
	st.Filtered = s.cfg.DropPrivileges && s.FilterError == nil
	if s.FilterError != nil {
		st.FilterReason = s.FilterError.Error()
	}
	if s.NetworkError != nil {
		st.NetworkReason = s.NetworkError.Error()
	} else if !s.cfg.DropPrivileges {
		st.NetworkReason = "functions run under the platform's uid (--no-sandbox or not root): they reach every service on the host's own addresses"
	}
	return st
}

// Isolated reports whether instances get a private root, where their code is
// at TaskRoot, the runtime clients at RuntimeDir and their /tmp at TmpDir.
func (s *Sandbox) Isolated() bool { return s.cloneflags != 0 }

// Spawn describes one instance's process.
type Spawn struct {
	Function string
	// Argv and Dir are paths as the process sees them (inside the private
	// root when Isolated).
	Argv     []string
	Env      []string
	Dir      string
	MemoryMB int
	// TmpMB sizes the private /tmp (and /var/tmp).
	TmpMB int
	// RootDir is an empty host directory to build the private root on.
	RootDir string
	// Binds are shown read-only in the private root (code, runtime clients,
	// interpreters outside the system directories).
	Binds []Bind
}

// Process is a started instance.
type Process struct {
	Cmd *exec.Cmd
	// Output is the read end of the process's stdout and stderr (one pipe,
	// as in Lambda, where both are the log).
	Output *os.File
	// Cgroup bounds the instance; nil where the host allows none.
	Cgroup *Cgroup
}

// EntryPointError means the function's entry point could not be executed.
type EntryPointError struct{ Msg string }

func (e *EntryPointError) Error() string { return e.Msg }

// Start starts an instance. Its cgroups are limited before it runs
// anything of the function, and it is inside them from its first
// instruction.
func (s *Sandbox) Start(ctx context.Context, sp *Spawn) (*Process, error) {
	if s.roots.memory == "" && !s.cfg.DropPrivileges {
		return s.startDirect(sp)
	}
	p := &initParams{Argv: sp.Argv, Env: sp.Env, Dir: sp.Dir, NoFile: s.cfg.MaxOpenFiles}
	if s.roots.pids == "" {
		// Without the pids controller, the per-uid limit is the only bound.
		p.NProc = MaxProcesses
	}
	if s.cfg.DropPrivileges {
		uid, err := s.uids.get(ctx, sp.Function)
		if err != nil {
			return nil, err
		}
		p.SetID, p.UID, p.GID = true, uid, uid
		p.Scope = s.ScopeError == nil
		if s.guard != nil {
			if err := s.guard.AddUID(uid); err != nil {
				return nil, err
			}
		}
	}
	if s.cloneflags != 0 {
		p.Root = &rootSpec{Dir: sp.RootDir, TmpMB: sp.TmpMB, ShmMB: sp.MemoryMB, Binds: sp.Binds, HostDirs: hostDirs}
	}
	for attempt := 0; ; attempt++ {
		w, err := s.takeWaiting()
		if err != nil {
			return nil, err
		}
		if w.cg != nil {
			if err := w.cg.setLimits(sp.MemoryMB); err != nil {
				w.discard()
				return nil, err
			}
		}
		proc, err := w.run(p)
		var ep *EntryPointError
		if err == nil || errors.As(err, &ep) || attempt > 0 {
			return proc, err
		}
		// A waiting init that died meanwhile: try once more with a new one.
		s.log.Debug("a waiting instance process failed; starting another", "err", err)
	}
}

// waiting is an init step started ahead of need: in its namespaces and
// cgroups, blocked on its parameters. Starting one (an exec of the platform's
// binary and, on cgroup v1, an RCU grace period for joining the cgroup) costs
// milliseconds that a cold start then does not pay.
type waiting struct {
	cmd    *exec.Cmd
	params *os.File // write end: the second-stage initParams
	status *os.File // read end: empty at a successful exec
	output *os.File // read end of stdout and stderr
	cg     *Cgroup
}

// spawnInit starts the init step and tells it its cgroups; it then waits for
// its parameters.
func spawnInit(cloneflags uintptr, cg *Cgroup) (*waiting, error) {
	paramsR, paramsW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		paramsR.Close()
		paramsW.Close()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		for _, f := range []*os.File{paramsR, paramsW, statusR, statusW} {
			f.Close()
		}
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{initArgv0},
		Env:        []string{}, // nothing of the platform's environment
		Dir:        "/",
		Stdout:     outW,
		Stderr:     outW,
		ExtraFiles: []*os.File{paramsR, statusW},
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL, // instances never outlive the platform
			Cloneflags: cloneflags,
		},
	}
	err = cmd.Start()
	paramsR.Close()
	statusW.Close()
	outW.Close()
	if err != nil {
		paramsW.Close()
		statusR.Close()
		outR.Close()
		return nil, fmt.Errorf("start the instance: %w", err)
	}
	w := &waiting{cmd: cmd, params: paramsW, status: statusR, output: outR, cg: cg}
	join := initJoin{}
	if cg != nil {
		join.Procs = cg.procsFiles()
	}
	if err := json.NewEncoder(paramsW).Encode(join); err != nil {
		w.discard()
		return nil, fmt.Errorf("hand the instance its cgroups: %w", err)
	}
	return w, nil
}

// run hands the waiting init its parameters and waits until it has exec'd
// the runtime (or failed).
func (w *waiting) run(p *initParams) (*Process, error) {
	// The pipe holds 64 KB: parameters (argv, 4 KB of environment) fit
	// without waiting for the reader.
	werr := json.NewEncoder(w.params).Encode(p)
	msg, _ := io.ReadAll(w.status) // EOF at a successful exec
	w.status.Close()
	w.params.Close() // only now: the init step takes an early hang-up for the platform's death
	if werr != nil || len(msg) > 0 {
		w.discard()
		if werr != nil {
			return nil, fmt.Errorf("hand the instance its parameters: %w", werr)
		}
		if strings.HasPrefix(string(msg), "exec") {
			return nil, &EntryPointError{Msg: string(msg)}
		}
		return nil, fmt.Errorf("set up the instance: %s", msg)
	}
	return &Process{Cmd: w.cmd, Output: w.output, Cgroup: w.cg}, nil
}

// discard kills a waiting init and removes its cgroups.
func (w *waiting) discard() {
	Kill(w.cmd.Process.Pid)
	_ = w.cmd.Wait()
	w.params.Close()
	w.status.Close()
	w.output.Close()
	if w.cg != nil {
		w.cg.Remove()
	}
}

// probe starts the init step in new namespaces and checks it can mount.
func probe(flags uintptr) error {
	w, err := spawnInit(flags, nil)
	if err != nil {
		return err
	}
	if _, err := w.run(&initParams{Probe: true}); err != nil {
		return err
	}
	w.output.Close()
	return w.cmd.Wait()
}

// startDirect starts the runtime itself, where there is nothing to set up
// before it runs (no root, no cgroups).
func (s *Sandbox) startDirect(sp *Spawn) (*Process, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(sp.Argv[0], sp.Argv[1:]...)
	cmd.Dir = sp.Dir
	cmd.Env = sp.Env
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	outW.Close()
	if err != nil {
		outR.Close()
		return nil, &EntryPointError{Msg: fmt.Sprintf("exec %s: %v", sp.Argv[0], err)}
	}
	lim := unix.Rlimit{Cur: s.cfg.MaxOpenFiles, Max: s.cfg.MaxOpenFiles}
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		s.log.Debug("open-file limit not applied", "pid", cmd.Process.Pid, "err", err)
	}
	return &Process{Cmd: cmd, Output: outR}, nil
}

// spareInits is how many init steps wait ready for cold starts.
const spareInits = 2

// takeWaiting returns a waiting init, or starts one, and tops the spares up
// in the background.
func (s *Sandbox) takeWaiting() (*waiting, error) {
	s.mu.Lock()
	var w *waiting
	if n := len(s.spares); n > 0 {
		w = s.spares[n-1]
		s.spares = s.spares[:n-1]
	}
	refill := !s.refilling && !s.closed
	if refill {
		s.refilling = true
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if refill {
		go s.refill()
	}
	if w != nil {
		return w, nil
	}
	return s.newWaiting()
}

// newWaiting starts an init step in a new cgroup of its own.
func (s *Sandbox) newWaiting() (*waiting, error) {
	var cg *Cgroup
	if s.roots.memory != "" {
		s.mu.Lock()
		name := s.nextName()
		s.mu.Unlock()
		var err error
		if cg, err = newCgroup(s.roots, name); err != nil {
			return nil, fmt.Errorf("create the instance's cgroup: %w", err)
		}
	}
	w, err := spawnInit(s.cloneflags, cg)
	if err != nil && cg != nil {
		cg.Remove()
	}
	return w, err
}

func (s *Sandbox) refill() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.closed || len(s.spares) >= spareInits {
			s.refilling = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		w, err := s.newWaiting()
		s.mu.Lock()
		if err != nil || s.closed {
			s.refilling = false
			s.mu.Unlock()
			if w != nil {
				w.discard()
			}
			return
		}
		s.spares = append(s.spares, w)
		s.mu.Unlock()
	}
}

// nextName names a cgroup; called with mu held.
func (s *Sandbox) nextName() string {
	s.seq++
	return fmt.Sprintf("i%d-%s-%d", os.Getpid(), s.tag, s.seq)
}

// Close stops the waiting init steps and gives up the uid claims. Instances'
// cgroups go with their processes.
func (s *Sandbox) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	spares := s.spares
	s.spares = nil
	s.mu.Unlock()
	for _, w := range spares {
		w.discard()
	}
	// Before the uid claims go: another platform may take the uids next.
	if s.guard != nil {
		if err := s.guard.Close(); err != nil {
			s.log.Warn("network rules left behind (the next platform to start removes them)", "table", s.guard.Table(), "err", err)
		}
	}
	if s.uids != nil {
		s.uids.close()
	}
}

// AllowPort lets functions reach a TCP port on the host's own addresses until
// release is called: the platform's listeners and each instance's Runtime API.
func (s *Sandbox) AllowPort(port int) (release func(), err error) {
	if s.guard == nil {
		return func() {}, nil
	}
	return s.guard.AllowPort(port)
}

// AllowFunctionPorts lets one function's uid reach TCP ports on the host's
// own addresses until release is called: its instance's Runtime API and the
// local endpoints its environment names (see LocalPorts).
func (s *Sandbox) AllowFunctionPorts(uid int, ports []int) (release func(), err error) {
	if s.guard == nil {
		return func() {}, nil
	}
	return s.guard.AllowUIDPorts(uid, ports)
}

// EnvironmentPorts returns the local ports a function's environment names
// that its instances may reach: with LocalPortsFromEnv, the ports of every
// local endpoint it names (see netguard.LocalEndpoints); otherwise none, the
// operator decides (AllowLocalPorts).
func (s *Sandbox) EnvironmentPorts(env map[string]string) []int {
	if s.guard == nil || !s.cfg.LocalPortsFromEnv {
		return nil
	}
	return netguard.LocalPorts(env)
}

// Unreachable returns the local endpoints a function's environment names
// that the network rules will refuse it: neither the platform's listeners
// nor opened by the operator. Empty without rules.
func (s *Sandbox) Unreachable(env map[string]string) []netguard.Endpoint {
	if s.guard == nil || s.cfg.LocalPortsFromEnv {
		return nil
	}
	var out []netguard.Endpoint
	for _, e := range netguard.LocalEndpoints(env) {
		if !s.guard.Reachable(e.Addr, e.Port) {
			out = append(out, e)
		}
	}
	return out
}

// NetworkTable is the name of the platform's nftables table (inet family),
// or "" when there is none.
func (s *Sandbox) NetworkTable() string {
	if s.guard == nil {
		return ""
	}
	return s.guard.Table()
}

// Identity is the uid a function runs as; ok is false when the process keeps
// the platform's identity.
func (s *Sandbox) Identity(ctx context.Context, function string) (uid int, ok bool, err error) {
	if !s.cfg.DropPrivileges {
		return os.Getuid(), false, nil
	}
	uid, err = s.uids.get(ctx, function)
	return uid, err == nil, err
}

// Kill stops the process and everything it started: with a pid namespace,
// the end of its first process ends every process in it.
func Kill(pid int) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// HostMemoryMB is the host's memory (MemTotal), or 0 when unknown.
func HostMemoryMB() int {
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0
	}
	return int(uint64(info.Totalram) * uint64(info.Unit) >> 20)
}
