package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/runtime/goshim"
	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
	"github.com/nimbus-platform/nimbus/runtimes"
)

// call is one invocation handed to an instance.
type call struct {
	inv     *Invocation
	started time.Time    // when the runtime took it; written by the invoking goroutine only
	done    chan outcome // buffered: the runtime API never blocks on it
	tail    *tailBuffer  // nil unless the caller asked for the log
	// deadline, when set, ends the invocation: its init was retried as part
	// of it and counts against the function's timeout (initRetry).
	deadline time.Time
	// startLogged: START was written before the runtime took the call.
	startLogged bool
}

// initRetry is the state of an invocation whose first init ran past the init
// limit. As in Lambda, the init is retried on a fresh instance as part of the
// invocation, bounded by the function's timeout from the retry's start.
type initRetry struct {
	start time.Time
	tail  *tailBuffer // the first attempt's log, for X-Amz-Log-Type: Tail
}

type outcome struct {
	payload   []byte
	errorType string // "" on success
	isError   bool
}

// instance is one function process and its Runtime API endpoint.
type instance struct {
	pool     *Pool
	id       string // 32 hex digits, as in Lambda's log stream names
	stream   string // log stream name
	ln       net.Listener
	api      *apiServer
	cmd      *exec.Cmd
	tmpDir   string
	spawned  atomic.Int64 // unix nanoseconds; read by the Runtime API goroutines
	initOnce sync.Once    // the first next ends initialisation
	initDur  time.Duration
	initErr  atomic.Pointer[outcome]

	work    chan *call    // handed to the runtime's waiting next
	exited  chan struct{} // closed when the process has exited
	exitErr error         // set before exited is closed
	// oomKilled: the kernel killed the process for its memory limit (set
	// before exited is closed).
	oomKilled bool
	current   atomic.Pointer[call]
	// initCall is the call that started this instance, while it initialises:
	// init output belongs to its log.
	initCall atomic.Pointer[call]

	// memoryHeld: the instance's memory is still reserved for admission.
	memoryHeld atomic.Bool

	stopOnce sync.Once
	lastUsed time.Time // guarded by pool.mu
	// timer bounds the invocation in progress; used only by the invoking
	// goroutine, which the pool lets have the instance alone.
	timer *time.Timer

	credentialEnv []string  // AWS_ACCESS_KEY_ID ... of the instance's credentials
	retireAt      time.Time // take no invocation after this (credentials expire)

	output    *os.File                       // read end of the process's stdout and stderr
	cgroup    atomic.Pointer[sandbox.Cgroup] // memory and process limits; nil where the host allows none
	logMu     sync.Mutex                     // held while output is read and stored
	peakMB    atomic.Int64                   // last peak memory read, for after the process is gone
	memReadAt atomic.Int64                   // unix nanoseconds of the last read

	// unguard closes the Runtime API's port to functions again (the
	// sandbox's network rules); nil when not opened.
	unguard func()
}

func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start launches the process. The instance is usable once its runtime calls next.
func (p *Pool) startInstance(ctx context.Context) (*instance, error) {
	m := p.m
	spec := p.spec
	inst := &instance{
		pool:   p,
		id:     newInstanceID(),
		work:   make(chan *call),
		exited: make(chan struct{}),
	}
	inst.memoryHeld.Store(true)
	now := time.Now().UTC()
	inst.stream = fmt.Sprintf("%s/[%s]%s", now.Format("2006/01/02"), spec.Version, inst.id)
	inst.tmpDir = filepath.Join(m.cfg.RunDir, "tmp", inst.id)
	paths := m.paths(spec, inst)

	argv, err := m.command(spec, paths)
	if err != nil {
		return nil, &startError{err}
	}
	uid, owned, err := m.sandbox.Identity(ctx, spec.FunctionName)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the runtime API: %w", err)
	}
	var owner *sandbox.OwnerListener
	if owned {
		// Only the instance's own processes may take its invocations.
		owner = sandbox.NewOwnerListener(ln, uid)
		defer owner.SetCgroup(nil) // unless set below: a failed start
		ln = owner
	}
	inst.ln = ln
	if owned {
		// The network rules refuse functions the host's local ports but the
		// ones they need: this one, while it listens, and, where the operator
		// allows it, the local services the function's environment names.
		ports := append(m.sandbox.EnvironmentPorts(spec.Environment), ln.Addr().(*net.TCPAddr).Port)
		if len(argv) == 3 && argv[1] == goshim.Argv1 {
			// The go1.x shim connects to the function's RPC server on
			// loopback: it gets ports of its own to try, opened to it.
			rpcPorts, err := goshim.FreePorts(goshim.MaxStarts)
			if err != nil {
				inst.closeListener()
				return nil, fmt.Errorf("pick ports for the go1.x function: %w", err)
			}
			argv = goshim.Command(argv[2], rpcPorts)
			ports = append(ports, rpcPorts...)
		}
		if inst.unguard, err = m.sandbox.AllowFunctionPorts(uid, ports); err != nil {
			inst.closeListener()
			return nil, err
		}
	}
	inst.api = newAPIServer(inst, ln)
	go inst.api.serve()

	// The instance's private /tmp; when isolated, the mount point its root is
	// built on (the tmpfs mounted there is seen only inside the instance).
	if err := os.MkdirAll(inst.tmpDir, 0o700); err != nil {
		inst.closeListener()
		return nil, fmt.Errorf("create instance /tmp: %w", err)
	}
	if owned && !m.sandbox.Isolated() {
		if err := os.Chown(inst.tmpDir, uid, uid); err != nil {
			inst.cleanup()
			return nil, fmt.Errorf("hand %s to the function's user: %w", inst.tmpDir, err)
		}
	}

	if err := m.issueCredentials(spec, inst); err != nil {
		inst.cleanup()
		return nil, &startError{err}
	}
	inst.spawned.Store(time.Now().UnixNano())
	proc, err := m.sandbox.Start(ctx, &sandbox.Spawn{
		Function: spec.FunctionName,
		Argv:     argv,
		Env:      m.environment(spec, inst, paths),
		Dir:      paths.taskRoot,
		MemoryMB: spec.MemoryMB,
		TmpMB:    spec.ephemeralMB(),
		RootDir:  inst.tmpDir,
		Binds:    m.binds(spec),
	})
	if err != nil {
		inst.cleanup()
		var ep *sandbox.EntryPointError
		if errors.As(err, &ep) {
			return nil, &startError{err}
		}
		return nil, err
	}
	inst.cmd = proc.Cmd
	inst.output = proc.Output
	if proc.Cgroup != nil {
		inst.cgroup.Store(proc.Cgroup)
	}
	if owner != nil {
		owner.SetCgroup(proc.Cgroup)
	}
	go inst.readLog(proc.Output)
	go inst.wait()
	return inst, nil
}

func (inst *instance) sinceSpawn() time.Duration {
	return time.Duration(time.Now().UnixNano() - inst.spawned.Load())
}

// startError means the function's process could not be started.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// instancePaths are the paths an instance is given, as it sees them: inside
// its private root when isolated, the host's otherwise. Every path handed to
// a function comes from here.
type instancePaths struct {
	taskRoot   string // the function's code (LAMBDA_TASK_ROOT)
	runtimeDir string // the runtime clients (LAMBDA_RUNTIME_DIR)
	tmp        string // its /tmp (TMPDIR, HOME)
}

func (m *Manager) paths(spec *Spec, inst *instance) instancePaths {
	if m.sandbox.Isolated() {
		return instancePaths{taskRoot: sandbox.TaskRoot, runtimeDir: sandbox.RuntimeDir, tmp: sandbox.TmpDir}
	}
	return instancePaths{taskRoot: spec.CodeDir, runtimeDir: m.cfg.RuntimeDir, tmp: inst.tmpDir}
}

// inRuntimeDir maps a host path under the runtime directory to the instance's view.
func (m *Manager) inRuntimeDir(hostPath string, paths instancePaths) string {
	rel, err := filepath.Rel(m.cfg.RuntimeDir, hostPath)
	if err != nil || strings.HasPrefix(rel, "..") {
		return hostPath
	}
	return filepath.Join(paths.runtimeDir, rel)
}

// binds are the host directories an isolated instance sees, read-only.
func (m *Manager) binds(spec *Spec) []sandbox.Bind {
	b := make([]sandbox.Bind, 0, 6+len(m.interpreterDirs))
	b = append(b, sandbox.Bind{Src: spec.CodeDir, Dst: sandbox.TaskRoot}, sandbox.Bind{Src: m.cfg.RuntimeDir, Dst: sandbox.RuntimeDir})
	if m.cfg.SDKDir != "" {
		b = append(b, sandbox.Bind{Src: m.cfg.SDKDir, Dst: sandbox.SDKDir})
	}
	dirs := m.interpreterDirs
	if interp, err := m.Interpreter(spec.Runtime); err == nil {
		dirs = append(interpreterDirs(interp.Path), dirs...)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		if !seen[dir] {
			seen[dir] = true
			b = append(b, sandbox.Bind{Src: dir, Dst: dir})
		}
	}
	return b
}

// interpreterDirs are the install prefixes of interpreters that live outside
// the system directories every instance sees (a pyenv python, a virtual
// environment, a JDK under /opt): the prefix of the path as given and of the
// file it resolves to.
func interpreterDirs(paths ...string) []string {
	var dirs []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		for _, q := range []string{p, real} {
			if !systemPath(q) {
				// <prefix>/bin/python3: the whole prefix (its libraries too).
				dirs = append(dirs, filepath.Dir(filepath.Dir(q)))
			}
		}
	}
	return dirs
}

func systemPath(p string) bool {
	for _, d := range []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/"} {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

// ephemeralMB is the size of the instance's /tmp.
func (s *Spec) ephemeralMB() int {
	if s.EphemeralStorageMB <= 0 {
		return 512
	}
	return s.EphemeralStorageMB
}

// command is the argv that starts spec's runtime.
func (m *Manager) command(spec *Spec, paths instancePaths) ([]string, error) {
	family, ok := appspec.RuntimeFamily(spec.Runtime)
	if !ok {
		return nil, fmt.Errorf("unknown runtime %q", spec.Runtime)
	}
	switch family {
	case appspec.FamilyProvided:
		bootstrap := filepath.Join(paths.taskRoot, "bootstrap")
		if shell := scriptShell(filepath.Join(spec.CodeDir, "bootstrap")); shell != "" {
			return []string{shell, bootstrap}, nil
		}
		return []string{bootstrap}, nil
	case appspec.FamilyGo:
		h := filepath.Clean(spec.Handler)
		if filepath.IsAbs(h) || strings.HasPrefix(h, "..") {
			return nil, fmt.Errorf("handler %q must name an executable inside the package", spec.Handler)
		}
		binary := filepath.Join(paths.taskRoot, h)
		if m.oldGoProtocol(filepath.Join(spec.CodeDir, h)) {
			return goshim.Command(binary, nil), nil
		}
		return []string{binary}, nil
	}
	interp, err := m.Interpreter(spec.Runtime)
	if err != nil {
		return nil, err
	}
	switch family {
	case appspec.FamilyNode:
		// Node's global folders are $HOME/.node_modules and .node_libraries
		// (HOME is the instance's empty /tmp) and $PREFIX/lib/node, which
		// npm does not install into; NODE_PATH is set below.
		argv := append([]string{interp.Path}, nodeHeapFlags(spec.MemoryMB, spec.Environment["NODE_OPTIONS"])...)
		return append(argv, m.inRuntimeDir(m.cfg.NodeEntry, paths)), nil
	case appspec.FamilyPython:
		// -S: no site module, so no site-packages or dist-packages of the host;
		// PYTHONPATH (the SDK folder) still applies.
		m.compilePython(interp.Path)
		return []string{interp.Path, "-S", m.inRuntimeDir(m.cfg.PythonEntry, paths)}, nil
	case appspec.FamilyRuby:
		return []string{interp.Path, filepath.Join(paths.runtimeDir, filepath.FromSlash(runtimes.RubyEntry))}, nil
	case appspec.FamilyJava:
		classes, err := m.java.classes(m.cfg.RuntimeDir, interp.Path)
		if err != nil {
			return nil, err
		}
		// As Lambda starts its JVMs: C1 only and the serial collector start
		// fastest for short invocations.
		argv := []string{interp.Path, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"}
		argv = append(argv, javaCPUFlags(spec, instanceCPUs(spec.MemoryMB, m.hostCPUs))...)
		return append(argv, "-cp", filepath.Join(paths.runtimeDir, classes), "NimbusRuntime"), nil
	}
	return nil, fmt.Errorf("runtime %q has no launcher", spec.Runtime)
}

// nodeHeapFlags size V8's heap from the function's memory, as Lambda's
// Node.js bootstrap does: without them V8 sizes it from the host's memory, lets
// garbage build up past the instance's limit and is killed for it instead of
// collecting. A flag the function's NODE_OPTIONS sets is left to it (the
// command line would win over NODE_OPTIONS).
func nodeHeapFlags(memoryMB int, nodeOptions string) []string {
	if memoryMB <= 0 {
		return nil
	}
	var flags []string
	if !strings.Contains(nodeOptions, "max-semi-space-size") {
		// Young generation: 1/16 of the memory per semi-space, 1 to 16 MB
		// (V8's default maximum). At 128 MB, 8 MB: 4 MB cost 10-15% more CPU
		// per invoke in scavenges, 8 MB about 5%, for 17 MiB less RSS than 16.
		flags = append(flags, "--max-semi-space-size="+strconv.Itoa(min(max(memoryMB/16, 1), 16)))
	}
	if !strings.Contains(nodeOptions, "max-old-space-size") {
		flags = append(flags, "--max-old-space-size="+strconv.Itoa(memoryMB*3/4))
	}
	return flags
}

// oldGoProtocol reports (once per executable: code directories are
// content-addressed) whether a go1.x binary speaks only the RPC protocol.
func (m *Manager) oldGoProtocol(hostPath string) bool {
	if v, ok := m.goProtocol.Load(hostPath); ok {
		return v.(bool)
	}
	old, err := goshim.NeedsShim(hostPath)
	if err != nil {
		return false // the start reports the missing file
	}
	m.goProtocol.Store(hostPath, old)
	return old
}

// scriptShell is the shell that runs a provided bootstrap which is a shell
// script: Amazon Linux runs those with bash (its /bin/sh), whatever the exec
// bit or the carriage returns of the first line say. "" means exec it as it is
// (a binary, or a script for another interpreter).
func scriptShell(hostPath string) string {
	f, err := os.Open(hostPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if n == 0 || bytes.HasPrefix(head, []byte("\x7fELF")) {
		return ""
	}
	if rest, ok := bytes.CutPrefix(head, []byte("#!")); ok {
		line, _, _ := bytes.Cut(rest, []byte("\n"))
		fields := strings.Fields(strings.TrimRight(string(line), "\r"))
		shell := len(fields) > 0 && (fields[0] == "/bin/sh" || fields[0] == "/bin/bash" || fields[0] == "/usr/bin/bash" ||
			(fields[0] == "/usr/bin/env" && len(fields) > 1 && (fields[1] == "sh" || fields[1] == "bash")))
		if !shell {
			return ""
		}
	}
	for _, sh := range []string{"/bin/bash", "/bin/sh"} {
		if _, err := os.Stat(sh); err == nil {
			return sh
		}
	}
	return ""
}

// environment is what Lambda sets, plus the function's own variables (which
// cannot override the reserved ones: the manifest validation refuses them).
func (m *Manager) environment(spec *Spec, inst *instance, paths instancePaths) []string {
	env := make([]string, 0, len(spec.Environment)+28)
	// Before the function's own variables: a user's AWS_ENDPOINT_URL wins, as
	// Lambda does not reserve it. Placeholder keys for a platform that checks
	// no signatures; issued credentials come later and win.
	if m.cfg.EndpointURL != "" {
		env = append(env, "AWS_ENDPOINT_URL="+m.cfg.EndpointURL)
	}
	env = append(env, "AWS_ACCESS_KEY_ID=nimbus", "AWS_SECRET_ACCESS_KEY=nimbus")
	for k, v := range spec.Environment {
		env = append(env, k+"="+v)
	}
	region := spec.Region
	env = append(env,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"HOME="+paths.tmp,
		"TMPDIR="+paths.tmp,
		"AWS_LAMBDA_RUNTIME_API="+inst.ln.Addr().String(),
		"_HANDLER="+spec.Handler,
		"LAMBDA_TASK_ROOT="+paths.taskRoot,
		"LAMBDA_RUNTIME_DIR="+paths.runtimeDir,
		"AWS_EXECUTION_ENV=AWS_Lambda_"+spec.Runtime,
		"AWS_LAMBDA_FUNCTION_NAME="+spec.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION="+spec.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(spec.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+spec.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME="+inst.stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION="+region,
		"AWS_DEFAULT_REGION="+region,
		"PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1",
	)
	// After the function's own variables and the placeholders: these win.
	env = append(env, inst.credentialEnv...)
	env = append(env, cpuEnv(spec, instanceCPUs(spec.MemoryMB, m.hostCPUs))...)
	sdkNode, sdkPython := m.sdkPaths()
	switch family, _ := appspec.RuntimeFamily(spec.Runtime); family {
	case appspec.FamilyNode:
		env = append(env, "NODE_PATH="+joinPath(spec.Environment["NODE_PATH"], paths.taskRoot+"/node_modules", sdkNode))
	case appspec.FamilyPython:
		// The task root comes first (the client puts it there), then these.
		if p := joinPath(spec.Environment["PYTHONPATH"], sdkPython); p != "" {
			env = append(env, "PYTHONPATH="+p)
		}
	case appspec.FamilyRuby:
		// Gems come from the package (bundle install --path vendor/bundle, as
		// Lambda's GEM_PATH has it), not from the host's gem folders.
		if interp, err := m.Interpreter(spec.Runtime); err == nil {
			major, rest, _ := strings.Cut(interp.Version, ".")
			minor, _, _ := strings.Cut(rest, ".")
			gems := filepath.Join(paths.taskRoot, "vendor", "bundle", "ruby", major+"."+minor+".0")
			env = append(env, "GEM_HOME="+gems, "GEM_PATH="+joinPath(spec.Environment["GEM_PATH"], gems))
		}
	}
	return lastWins(env)
}

// lastWins drops all but the last entry of each variable: exec'ing through
// the sandbox's init step passes duplicates on, and a process's getenv would
// see the first one, where the later entries (a function's own values,
// per-instance credentials) are the ones meant.
func lastWins(env []string) []string {
	seen := make(map[string]bool, len(env))
	out := make([]string, len(env))
	n := len(out)
	for i := len(env) - 1; i >= 0; i-- {
		key, _, _ := strings.Cut(env[i], "=")
		if seen[key] {
			continue
		}
		seen[key] = true
		n--
		out[n] = env[i]
	}
	return out[n:]
}

// sdkPaths are the SDK folders as function processes see them ("" when no
// SDK is installed): isolated instances have it mounted at sandbox.SDKDir.
func (m *Manager) sdkPaths() (nodeModules, python string) {
	if m.cfg.SDKDir == "" {
		return "", ""
	}
	dir := m.cfg.SDKDir
	if m.sandbox.Isolated() {
		dir = sandbox.SDKDir
	}
	return filepath.Join(dir, "nodejs", "node_modules"), filepath.Join(dir, "python")
}

// joinPath joins the non-empty entries with the list separator.
func joinPath(entries ...string) string {
	var b strings.Builder
	for _, e := range entries {
		if e == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(os.PathListSeparator)
		}
		b.WriteString(e)
	}
	return b.String()
}

// wait reaps the process and fails whatever it was running.
func (inst *instance) wait() {
	err := inst.cmd.Wait()
	if err == nil {
		err = errors.New("exit status 0")
	}
	if cg := inst.cgroup.Load(); cg != nil {
		// Keep the peak for the report: the cgroup goes with the process.
		if mb, ok := cg.PeakMB(); ok {
			inst.peakMB.Store(int64(mb))
			inst.memReadAt.Store(time.Now().UnixNano())
		}
		inst.oomKilled = cg.OOMKilled()
	}
	inst.exitErr = err
	close(inst.exited)
	sandbox.Kill(inst.cmd.Process.Pid) // leftovers of its process group
	inst.pool.instanceExited(inst)
	inst.cleanup()
	if cg := inst.cgroup.Load(); cg != nil {
		cg.Remove()
	}
}

// stop kills the process; wait does the rest.
func (inst *instance) stop() {
	inst.stopOnce.Do(func() {
		if inst.cmd != nil && inst.cmd.Process != nil {
			sandbox.Kill(inst.cmd.Process.Pid)
		}
	})
}

func (inst *instance) closeListener() {
	if inst.api != nil {
		inst.api.close()
	} else if inst.ln != nil {
		_ = inst.ln.Close()
	}
	if inst.unguard != nil {
		inst.unguard()
	}
}

func (inst *instance) cleanup() {
	inst.closeListener()
	if inst.tmpDir != "" {
		_ = os.RemoveAll(inst.tmpDir)
	}
}

// invoke runs one invocation on the instance and waits for its end.
// dispatched is false when the runtime never received the call.
// retry is non-nil when the init is retried within the invocation.
func (inst *instance) invoke(ctx context.Context, inv *Invocation, cold bool, retry *initRetry) (res *Result, dispatched bool) {
	spec := inst.pool.spec
	c := &call{inv: inv, done: make(chan outcome, 1)}
	if inv.TailLog {
		c.tail = &tailBuffer{}
	}
	res = &Result{ColdStart: cold}
	if cold {
		if retry != nil {
			c.started = retry.start
			c.deadline = retry.start.Add(spec.Timeout)
			if retry.tail != nil {
				c.tail = retry.tail
			}
			c.startLogged = true
			inst.emit(c, "START RequestId: "+inv.RequestID+" Version: "+spec.Version)
		}
		inst.initCall.Store(c)
		defer inst.initCall.Store(nil)
	}

	// Phase 1: hand the call to the runtime. A warm runtime already waits in
	// next and takes it at once, without a timer; a cold instance first
	// initialises, bounded like Lambda's init phase.
	select {
	case inst.work <- c:
		c.started = time.Now()
	default:
		if !inst.handOver(ctx, c, res) {
			return res, false
		}
	}
	if cold && c.deadline.IsZero() {
		res.InitDuration = inst.initDur // a retried init is in Duration instead
	}

	// Phase 2: the runtime works on it until it answers, dies or times out.
	// A caller that goes away does not stop the function, as in Lambda.
	timeout := spec.Timeout
	if !c.deadline.IsZero() {
		timeout = time.Until(c.deadline)
	}
	timer := inst.resetTimer(timeout)
	defer timer.Stop()
	var out outcome
	select {
	case out = <-c.done:
	case <-inst.exited:
		select {
		case out = <-c.done: // answered just before exiting
		default:
			return inst.failed(res, c, true), true
		}
	case <-timer.C:
		inst.stop()
		inst.timedOut(c, res)
		return res, true
	}
	res.Duration = time.Since(c.started)
	res.Payload = out.payload
	if out.isError {
		res.FunctionError = "Unhandled"
		res.ErrorType = out.errorType
	}
	inst.pool.m.report(inst, c, res)
	return res, true
}

// timedOut ends c with Lambda's timeout error.
func (inst *instance) timedOut(c *call, res *Result) {
	timeout := inst.pool.spec.Timeout
	res.Duration = time.Since(c.started)
	res.FunctionError = "Unhandled"
	res.ErrorType = "Sandbox.Timedout"
	res.Payload = errorPayload(res.ErrorType, "RequestId: %s Error: Task timed out after %.2f seconds", c.inv.RequestID, timeout.Seconds())
	inst.logSystem(c, "%s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), timeout.Seconds())
	inst.pool.m.report(inst, c, res)
}

// resetTimer starts the instance's timer for d. One timer serves every wait
// of every invocation (an instance runs one at a time); since Go 1.23 a
// stopped or reset timer delivers no stale value.
func (inst *instance) resetTimer(d time.Duration) *time.Timer {
	if inst.timer == nil {
		inst.timer = time.NewTimer(d)
	} else {
		inst.timer.Reset(d)
	}
	return inst.timer
}

// failed builds the result of an invocation whose process died or never
// initialised.
func (inst *instance) failed(res *Result, c *call, dispatched bool) *Result {
	res.FunctionError = "Unhandled"
	if !dispatched {
		if ie := inst.initErr.Load(); ie != nil {
			res.ErrorType = ie.errorType
			res.Payload = ie.payload
		} else {
			res.ErrorType = "Runtime.ExitError"
			res.Payload = errorPayload(res.ErrorType, "RequestId: %s Error: Runtime exited without providing a reason (%v)", c.inv.RequestID, inst.exitErr)
		}
		inst.logSystem(c, "INIT_REPORT Init Duration: %s Phase: init Status: error Error Type: %s", fmtMS(inst.sinceSpawn()), res.ErrorType)
		inst.finishTail(c, res)
		return res
	}
	res.Duration = time.Since(c.started)
	res.ErrorType = "Runtime.ExitError"
	if inst.oomKilled {
		res.ErrorType = "Runtime.OutOfMemory"
	}
	res.Payload = errorPayload(res.ErrorType, "RequestId: %s Error: Runtime exited with error: %v", c.inv.RequestID, inst.exitErr)
	inst.logSystem(c, "RequestId: %s Error: Runtime exited with error: %v\n%s", c.inv.RequestID, inst.exitErr, res.ErrorType)
	inst.pool.m.report(inst, c, res)
	return res
}

// handOver waits until the runtime takes the call, bounded by the init
// limit, or by the call's deadline when the init is a retry. When it returns
// false the call ended here and res says how.
func (inst *instance) handOver(ctx context.Context, c *call, res *Result) bool {
	inv := c.inv
	limit := inst.pool.m.cfg.InitTimeout
	if !c.deadline.IsZero() {
		limit = time.Until(c.deadline)
	}
	initTimer := inst.resetTimer(limit)
	defer initTimer.Stop()
	select {
	case inst.work <- c:
		if c.deadline.IsZero() {
			c.started = time.Now()
		}
		return true
	case <-inst.exited:
		inst.failed(res, c, false)
		return false
	case <-initTimer.C:
		inst.stop()
		if !c.deadline.IsZero() {
			// The retried init used up the invocation's time.
			inst.logSystem(c, "INIT_REPORT Init Duration: %s Phase: invoke Status: timeout", fmtMS(inst.sinceSpawn()))
			inst.timedOut(c, res)
			return false
		}
		res.FunctionError = "Unhandled"
		res.ErrorType = "Runtime.InitTimeout"
		res.Payload = errorPayload(res.ErrorType, "RequestId: %s Error: the runtime did not initialise within %s", inv.RequestID, inst.pool.m.cfg.InitTimeout)
		inst.logSystem(c, "INIT_REPORT Init Duration: %s Phase: init Status: timeout", fmtMS(inst.sinceSpawn()))
		inst.finishTail(c, res)
		return false
	case <-ctx.Done():
		res.FunctionError = "Unhandled"
		res.ErrorType = "Runtime.Cancelled"
		res.Payload = errorPayload(res.ErrorType, "RequestId: %s Error: the caller went away before the function started", inv.RequestID)
		return false
	}
}

// errorTypeOf reads the error type from the body, or from the
// Lambda-Runtime-Function-Error-Type header (header) when the body has none.
func errorTypeOf(body []byte, header string) string {
	if t := jsonStringField(body, "errorType"); t != "" {
		return t
	}
	return header
}

// logLineLimit bounds one log record; longer lines are split.
const logLineLimit = 16 * 1024

// readLog turns the process's output into log records tagged with the
// invocation in progress.
func (inst *instance) readLog(f *os.File) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, logLineLimit)
	var partial []byte
	done := false
	for !done {
		// Each read and the lines it completes are handled under logMu, so
		// drainLogs can tell that everything in the pipe has been stored.
		err := rc.Read(func(fd uintptr) bool {
			inst.logMu.Lock()
			defer inst.logMu.Unlock()
			n, err := unix.Read(int(fd), buf)
			if err == unix.EAGAIN {
				return false // wait until readable
			}
			if n <= 0 {
				done = true
				if len(partial) > 0 {
					inst.emitLine(partial)
					partial = nil
				}
				return true
			}
			partial = inst.emitLines(append(partial, buf[:n]...))
			return true
		})
		if err != nil {
			return
		}
	}
}

// emitLines stores every complete line of data and returns the rest. Lines
// longer than logLineLimit are split.
func (inst *instance) emitLines(data []byte) []byte {
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(data) >= logLineLimit {
				inst.emitLine(data[:logLineLimit])
				data = data[logLineLimit:]
				continue
			}
			return append(data[:0:0], data...)
		}
		inst.emitLine(data[:i])
		data = data[i+1:]
	}
}

func (inst *instance) emitLine(line []byte) {
	c := inst.current.Load()
	if c == nil {
		c = inst.initCall.Load()
	}
	inst.emit(c, strings.TrimRight(string(line), "\r"))
}

// emit stores one line; c is the invocation it belongs to, if any.
func (inst *instance) emit(c *call, msg string) {
	rec := logs.Record{Time: time.Now(), Function: inst.pool.spec.FunctionName, Stream: inst.stream, Message: msg}
	if c != nil {
		rec.RequestID = c.inv.RequestID
		if c.tail != nil {
			c.tail.add(msg)
		}
	}
	inst.pool.m.cfg.Logs.Append(rec)
}

func (inst *instance) logSystem(c *call, format string, args ...any) {
	inst.emit(c, fmt.Sprintf(format, args...))
}

// finishTail completes the log tail of a call that ends without a report.
func (inst *instance) finishTail(c *call, res *Result) {
	if c.tail != nil {
		inst.drainLogs()
		res.LogTail = c.tail.last()
	}
}

// drainLogs waits until the process's output written so far has been read,
// so a log tail includes every line printed before the answer.
func (inst *instance) drainLogs() {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
		inst.logMu.Lock()
		empty := pending(inst.output) == 0
		inst.logMu.Unlock()
		if empty {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// pending is how many bytes wait unread in the pipe.
func pending(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ)
	})
	return n
}

// tailBuffer keeps an invocation's log for X-Amz-Log-Type: Tail.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailLimit = 4096

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	t.buf = append(t.buf, line...)
	t.buf = append(t.buf, '\n')
	if len(t.buf) > 4*tailLimit {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailLimit:]...)
	}
	t.mu.Unlock()
}

func (t *tailBuffer) last() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailLimit {
		b = b[len(b)-tailLimit:]
	}
	return append([]byte(nil), b...)
}

func fmtMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}
