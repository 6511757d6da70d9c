package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// LogSink receives function log lines. Append must not block.
type LogSink interface {
	Append(logs.Record)
}

// Observer is told about every invocation, for metrics and metering.
type Observer interface {
	Invoked(spec *Spec, res *Result, maxMemoryMB int)
	Throttled(spec *Spec, reason string)
	InstanceStarted(spec *Spec)
	InstanceStopped(spec *Spec)
}

// Config sets up a Manager.
type Config struct {
	// MaxConcurrency bounds concurrent executions across all functions.
	MaxConcurrency int
	// IdleTimeout stops an instance that has had no work for this long.
	IdleTimeout time.Duration
	// InitTimeout bounds a runtime's initialisation (Lambda: 10 s).
	InitTimeout time.Duration
	// InitFailureCooldown: after an init failure, cold starts of the same
	// version fail at once with the same error for this long, so a broken
	// function is not restarted in a hot loop.
	InitFailureCooldown time.Duration
	// RunDir holds per-instance temporary directories.
	RunDir string
	// RuntimeDir holds the managed runtime clients (LAMBDA_RUNTIME_DIR).
	RuntimeDir  string
	NodePath    string
	NodeEntry   string
	PythonPath  string
	PythonEntry string
	// Runtimes name the interpreter of a runtime identifier (nodejs22.x →
	// /usr/local/bin/node22), over the one found by its declared version.
	Runtimes map[string]string
	// EndpointURL is the platform's AWS API as functions reach it; instances
	// get it as AWS_ENDPOINT_URL unless the function sets its own.
	EndpointURL string
	// SDKDir is a host folder with the AWS SDKs functions find without
	// packaging them (nodejs/node_modules, python); isolated instances see it
	// read-only at /var/runtime/sdk. Empty when none is installed.
	SDKDir string
	// MaxMemoryMB bounds the sum of memorySize of the node's instances: a
	// cold start beyond it is throttled (after stopping idle instances to make
	// room). 0: no bound.
	MaxMemoryMB int
	// Sandbox wraps instance processes; the Manager closes it.
	Sandbox  *sandbox.Sandbox
	Logs     LogSink
	Observer Observer
	Logger   *slog.Logger
	// Credentials issues each instance's AWS credentials; nil gives none.
	Credentials func(*Spec) (Credentials, error)
}

// Manager owns the instance pools of this node.
type Manager struct {
	cfg Config
	// pyCompiled holds a *sync.Once per Python interpreter path: the
	// runtime client's bytecode is compiled once for each (python.go).
	pyCompiled sync.Map
	log        *slog.Logger
	sandbox    *sandbox.Sandbox
	executing  atomic.Int64
	// memoryMB is the sum of memorySize of the live instances (admission).
	memoryMB atomic.Int64
	// interpreterDirs are bound into isolated instances (interpreters that
	// live outside the system directories).
	interpreterDirs []string
	// interps finds each managed runtime's interpreter by declared version.
	interps *interpreters
	// java compiles the Java runtime client per JDK.
	java javaClient
	// goProtocol: host path of a go1.x executable → it needs the RPC shim.
	goProtocol sync.Map
	closed     atomic.Bool
	inflight   sync.WaitGroup
	// hostCPUs bounds the CPU count an instance is told (instanceCPUs).
	hostCPUs int

	mu    sync.RWMutex
	pools map[string]*Pool // by Spec.Key

	// codeUsers counts live instances per code directory, retired pools'
	// included, so code is not collected under a running invocation.
	codeMu    sync.Mutex
	codeUsers map[string]int

	reports chan report
	stop    chan struct{}
	done    sync.WaitGroup
}

// NewManager starts the manager's reaper; Close stops everything.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.InitFailureCooldown == 0 {
		cfg.InitFailureCooldown = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for rt, path := range cfg.Runtimes {
		switch family, _ := appspec.RuntimeFamily(rt); family {
		case appspec.FamilyNode, appspec.FamilyPython, appspec.FamilyRuby, appspec.FamilyJava:
		case "":
			return nil, fmt.Errorf("runtime %q (given as %s) is not a runtime identifier nimbus knows", rt, path)
		default:
			return nil, fmt.Errorf("runtime %s runs the function's own executable: it takes no interpreter (%s)", rt, path)
		}
		if !filepath.IsAbs(path) {
			return nil, fmt.Errorf("runtime %s: the interpreter %q must be an absolute path", rt, path)
		}
	}
	if cfg.Sandbox == nil {
		cfg.Sandbox = sandbox.New(sandbox.Config{})
	}
	if cfg.Logs == nil {
		return nil, errors.New("runtime: a log sink is required")
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if err := os.MkdirAll(cfg.RunDir+"/tmp", 0o711); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if cfg.SDKDir != "" && cfg.Sandbox.Isolated() {
		// The mount point of the SDKs inside the read-only runtime directory.
		if err := os.MkdirAll(filepath.Join(cfg.RuntimeDir, "sdk"), 0o755); err != nil {
			return nil, fmt.Errorf("create the SDK mount point: %w", err)
		}
	}
	m := &Manager{
		interpreterDirs: interpreterDirs(cfg.NodePath, cfg.PythonPath),
		interps: newInterpreters(cfg.Runtimes, map[string]string{
			appspec.FamilyNode: cfg.NodePath, appspec.FamilyPython: cfg.PythonPath}),
		cfg:      cfg,
		log:      cfg.Logger,
		sandbox:  cfg.Sandbox,
		pools:    map[string]*Pool{},
		hostCPUs: goruntime.NumCPU(),
		reports:  make(chan report, 4096),
		stop:     make(chan struct{}),
	}
	m.done.Add(2)
	go m.reap()
	go m.writeReports()
	return m, nil
}

// Invoke runs inv on an instance of spec: a warm one if there is one, a new
// one otherwise. It returns a *ThrottleError when concurrency limits are hit.
func (m *Manager) Invoke(ctx context.Context, spec *Spec, inv *Invocation) (*Result, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	m.inflight.Add(1)
	defer m.inflight.Done()
	if n := m.executing.Add(1); m.cfg.MaxConcurrency > 0 && n > int64(m.cfg.MaxConcurrency) {
		m.executing.Add(-1)
		m.cfg.Observer.Throttled(spec, ReasonAccount)
		return nil, &ThrottleError{Reason: ReasonAccount}
	}
	defer m.executing.Add(-1)

	p := m.pool(spec)
	var retry *initRetry
	for attempt := 0; ; attempt++ {
		if res := p.cachedInitFailure(); res != nil {
			return res, nil
		}
		inst, cold, err := p.acquire(ctx)
		if err != nil {
			var te *ThrottleError
			if errors.As(err, &te) {
				m.cfg.Observer.Throttled(spec, te.Reason)
				return nil, err
			}
			var se *startError
			if errors.As(err, &se) {
				// The function's entry point cannot run: the caller's problem, as in Lambda.
				res := &Result{FunctionError: "Unhandled", ErrorType: "Runtime.InvalidEntrypoint", ColdStart: true,
					Payload: errorPayload("Runtime.InvalidEntrypoint", "RequestId: %s Error: %v", inv.RequestID, se.err)}
				p.rememberInitFailure(res)
				return res, nil
			}
			return nil, err
		}
		res, dispatched := inst.invoke(ctx, inv, cold, retry)
		healthy := dispatched && res.ErrorType != "Sandbox.Timedout" && res.ErrorType != "Runtime.ExitError" &&
			res.ErrorType != "Runtime.OutOfMemory" && res.ErrorType != "Function.ResponseSizeTooLarge"
		if !dispatched && res.ErrorType == "Runtime.Cancelled" {
			healthy = true
		}
		p.release(inst, healthy)
		if !dispatched && !cold && attempt < 3 && res.ErrorType != "Runtime.Cancelled" {
			continue // a warm instance that died while idle: take another
		}
		if cold && !dispatched && res.ErrorType == "Runtime.InitTimeout" && retry == nil {
			// Lambda: an init past the limit is retried as part of the
			// first invocation, within the function's timeout.
			retry = &initRetry{start: time.Now()}
			if res.LogTail != nil {
				retry.tail = &tailBuffer{buf: res.LogTail}
			}
			continue
		}
		if cold && !dispatched && res.ErrorType != "Runtime.Cancelled" && res.ErrorType != "Sandbox.Timedout" {
			p.rememberInitFailure(res)
		}
		return res, nil
	}
}

// pool returns the pool of spec's version, retiring pools of older versions of
// the same function.
func (m *Manager) pool(spec *Spec) *Pool {
	m.mu.RLock()
	p := m.pools[spec.Key]
	m.mu.RUnlock()
	if p != nil {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p = m.pools[spec.Key]; p != nil {
		return p
	}
	for key, old := range m.pools {
		if old.spec.FunctionName == spec.FunctionName && old.spec.Version == spec.Version {
			old.retire()
			delete(m.pools, key)
		}
	}
	p = &Pool{m: m, spec: spec}
	m.pools[spec.Key] = p
	return p
}

// Retire stops the idle instances of every version of function; running
// invocations finish first.
func (m *Manager) Retire(function string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, p := range m.pools {
		if p.spec.FunctionName == function {
			p.retire()
			delete(m.pools, key)
		}
	}
}

// RetireVersion stops the instances of one version of a function
// ("$LATEST" or a number), leaving its other versions warm.
func (m *Manager) RetireVersion(function, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, p := range m.pools {
		if p.spec.FunctionName == function && p.spec.Version == version {
			p.retire()
			delete(m.pools, key)
		}
	}
}

// CodeInUse reports whether a live instance runs from the code directory.
func (m *Manager) CodeInUse(dir string) bool {
	m.codeMu.Lock()
	defer m.codeMu.Unlock()
	return m.codeUsers[dir] > 0
}

func (m *Manager) useCode(dir string, delta int) {
	m.codeMu.Lock()
	defer m.codeMu.Unlock()
	if m.codeUsers == nil {
		m.codeUsers = map[string]int{}
	}
	if m.codeUsers[dir] += delta; m.codeUsers[dir] <= 0 {
		delete(m.codeUsers, dir)
	}
}

// Stats describes the instances of one function version.
type Stats struct {
	Key       string
	Function  string
	Instances int
	Idle      int
	Busy      int
}

// Stats lists the pools' instance counts.
func (m *Manager) Stats() []Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Stats, 0, len(m.pools))
	for key, p := range m.pools {
		p.mu.Lock()
		out = append(out, Stats{Key: key, Function: p.spec.FunctionName, Instances: p.live, Idle: len(p.idle), Busy: p.busy})
		p.mu.Unlock()
	}
	return out
}

// Close lets running invocations finish until ctx ends, then kills every
// instance.
func (m *Manager) Close(ctx context.Context) error {
	if m.closed.Swap(true) {
		return nil
	}
	finished := make(chan struct{})
	go func() { m.inflight.Wait(); close(finished) }()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = fmt.Errorf("invocations still running at shutdown were cut: %w", ctx.Err())
	}
	m.mu.Lock()
	pools := m.pools
	m.pools = map[string]*Pool{}
	m.mu.Unlock()
	for _, p := range pools {
		p.killAll()
	}
	close(m.stop)
	m.done.Wait()
	m.sandbox.Close()
	return err
}

// reap stops instances idle past the idle timeout.
func (m *Manager) reap() {
	defer m.done.Done()
	interval := m.cfg.IdleTimeout / 4
	if interval > 5*time.Second {
		interval = 5 * time.Second
	}
	if interval < 10*time.Millisecond {
		interval = 10 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.mu.RLock()
			pools := make([]*Pool, 0, len(m.pools))
			for _, p := range m.pools {
				pools = append(pools, p)
			}
			m.mu.RUnlock()
			for _, p := range pools {
				p.reapIdle(now.Add(-m.cfg.IdleTimeout))
			}
		}
	}
}

// report is the END and REPORT lines of one invocation, written off the
// invoke path.
type report struct {
	inst *instance
	c    *call
	res  *Result
}

func (m *Manager) report(inst *instance, c *call, res *Result) {
	if c.tail != nil {
		// The caller wants the log: it must be complete before answering.
		inst.drainLogs()
		m.writeReport(report{inst, c, res})
		res.LogTail = c.tail.last()
		return
	}
	select {
	case m.reports <- report{inst, c, res}:
	default:
		m.writeReport(report{inst, c, res})
	}
}

func (m *Manager) writeReports() {
	defer m.done.Done()
	for {
		select {
		case r := <-m.reports:
			m.writeReport(r)
		case <-m.stop:
			for {
				select {
				case r := <-m.reports:
					m.writeReport(r)
				default:
					return
				}
			}
		}
	}
}

func (m *Manager) writeReport(r report) {
	spec := r.inst.pool.spec
	mem := r.inst.maxMemoryMB()
	id := r.c.inv.RequestID
	r.inst.emit(r.c, "END RequestId: "+id)
	var b strings.Builder
	b.Grow(200)
	b.WriteString("REPORT RequestId: ")
	b.WriteString(id)
	b.WriteString("\tDuration: ")
	b.WriteString(fmtMS(r.res.Duration))
	b.WriteString("\tBilled Duration: ")
	b.WriteString(strconv.FormatInt(BilledMS(r.res.Duration), 10))
	b.WriteString(" ms\tMemory Size: ")
	b.WriteString(strconv.Itoa(spec.MemoryMB))
	b.WriteString(" MB\tMax Memory Used: ")
	b.WriteString(strconv.Itoa(mem))
	b.WriteString(" MB")
	if r.res.ColdStart && r.res.InitDuration > 0 {
		b.WriteString("\tInit Duration: ")
		b.WriteString(fmtMS(r.res.InitDuration))
	}
	if r.res.ErrorType == "Sandbox.Timedout" {
		b.WriteString("\tStatus: timeout")
	}
	r.inst.emit(r.c, b.String())
	m.cfg.Observer.Invoked(spec, r.res, mem)
}

// BilledMS is the billed duration: rounded up to the next millisecond, at least 1.
func BilledMS(d time.Duration) int64 {
	ms := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
	if ms < 1 {
		ms = 1
	}
	return ms
}

// memoryReadInterval spaces reads of an instance's peak memory: the peak
// only grows, and reading /proc for every invocation costs more than the
// invocation itself on the fast path.
const memoryReadInterval = 100 * time.Millisecond

// maxMemoryMB is the process's peak resident memory so far.
func (inst *instance) maxMemoryMB() int {
	if inst.cmd == nil || inst.cmd.Process == nil {
		return 0
	}
	now := time.Now().UnixNano()
	if last := inst.memReadAt.Load(); last != 0 && now-last < int64(memoryReadInterval) {
		return int(inst.peakMB.Load())
	}
	inst.memReadAt.Store(now)
	if cg := inst.cgroup.Load(); cg != nil {
		// The cgroup's peak counts every process of the instance.
		if mb, ok := cg.PeakMB(); ok {
			inst.peakMB.Store(int64(mb))
			return mb
		}
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(inst.cmd.Process.Pid) + "/status")
	if err != nil {
		return int(inst.peakMB.Load())
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			mb := (kb + 1023) / 1024
			inst.peakMB.Store(int64(mb))
			return mb
		}
	}
	return int(inst.peakMB.Load())
}

type nopObserver struct{}

func (nopObserver) Invoked(*Spec, *Result, int) {}
func (nopObserver) Throttled(*Spec, string)     {}
func (nopObserver) InstanceStarted(*Spec)       {}
func (nopObserver) InstanceStopped(*Spec)       {}

// admit reserves memoryMB for a new instance against MaxMemoryMB. When the
// bound is reached it stops the least recently used idle instance of any
// function to make room, and throttles when none is idle.
func (m *Manager) admit(ctx context.Context, memoryMB int) error {
	limit := int64(m.cfg.MaxMemoryMB)
	if limit <= 0 {
		m.memoryMB.Add(int64(memoryMB))
		return nil
	}
	for {
		used := m.memoryMB.Load()
		if used+int64(memoryMB) <= limit {
			if m.memoryMB.CompareAndSwap(used, used+int64(memoryMB)) {
				return nil
			}
			continue
		}
		victim := m.oldestIdle()
		if victim == nil {
			return &ThrottleError{Reason: ReasonAccount, Message: fmt.Sprintf(
				"Rate Exceeded. The platform's memory for function instances is in use (%d of %d MB).", used, limit)}
		}
		victim.stop()
		select {
		case <-victim.exited: // its memory is released when it is reaped
			for victim.memoryHeld.Load() {
				time.Sleep(100 * time.Microsecond)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// releaseMemory returns an instance's reservation.
func (m *Manager) releaseMemory(memoryMB int) {
	m.memoryMB.Add(-int64(memoryMB))
}

// oldestIdle takes the least recently used idle instance out of its pool.
func (m *Manager) oldestIdle() *instance {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var oldest *instance
	var from *Pool
	for _, p := range m.pools {
		p.mu.Lock()
		if len(p.idle) > 0 && (oldest == nil || p.idle[0].lastUsed.Before(oldest.lastUsed)) {
			oldest, from = p.idle[0], p
		}
		p.mu.Unlock()
	}
	if from == nil {
		return nil
	}
	from.mu.Lock()
	defer from.mu.Unlock()
	for i, inst := range from.idle {
		if inst == oldest {
			from.idle = append(from.idle[:i], from.idle[i+1:]...)
			return inst
		}
	}
	return nil // taken meanwhile
}

// Isolation reports what the sandbox gives on this host.
func (m *Manager) Isolation() sandbox.Status { return m.sandbox.Status() }

// MemoryInUseMB is the sum of memorySize of the live instances.
func (m *Manager) MemoryInUseMB() int { return int(m.memoryMB.Load()) }
