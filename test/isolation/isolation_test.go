package isolation

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const probePy = `import os, json, errno, socket, time

def _status():
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(('Groups:', 'Uid:', 'Gid:')):
                k, v = line.split(':', 1)
                out[k] = v.strip()
    return out

def _try(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))

def _read(path):
    with open(path, 'rb') as f:
        f.read(1)

def _write(path):
    with open(path, 'w') as f:
        f.write('x')

def probe(event, context):
    out = _status()
    if event.get('plant'):
        with open('/tmp/app-cache.json', 'w') as f:
            f.write('{"secret": 1}')
        with open('/dev/shm/blob', 'wb') as f:
            f.write(b'x' * (8 << 20))
    out['shadow'] = _try(lambda: _read('/etc/shadow'))
    out['secret'] = _try(lambda: _read('/var/task/secret.txt'))
    out['exists'] = [p for p in event.get('paths', []) if os.path.exists(p)]
    out['tmp'] = sorted(os.listdir('/tmp'))
    out['varTmp'] = sorted(os.listdir('/var/tmp'))
    out['shm'] = sorted(os.listdir('/dev/shm'))
    out['procs'] = len([d for d in os.listdir('/proc') if d.isdigit()])
    out['env'] = {k: os.environ.get(k) for k in ['LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR', 'HOME', 'TMPDIR']}
    out['cwd'] = os.getcwd()
    pipes = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink('/proc/self/fd/' + fd).startswith('pipe:') and fd not in ('1', '2'):
                pipes.append(fd)
        except OSError:
            pass
    out['strayPipes'] = pipes
    out['writeTask'] = _try(lambda: _write('/var/task/planted'))
    out['writeRoot'] = _try(lambda: _write('/planted'))
    out['writeUsr'] = _try(lambda: _write('/usr/planted'))
    return out

def fill(event, context):
    n, err = 0, None
    chunk = b'\0' * (1 << 20)
    try:
        with open('/tmp/fill', 'wb', buffering=0) as f:
            for _ in range(event['mb']):
                f.write(chunk)
                n += 1
    except OSError as e:
        err = errno.errorcode.get(e.errno)
    os.remove('/tmp/fill')
    return {'mb': n, 'err': err}

def bomb(event, context):
    n = 0
    while n < 5000:
        try:
            pid = os.fork()
        except OSError as e:
            return {'forked': n, 'err': errno.errorcode.get(e.errno)}
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        n += 1
    return {'forked': n}

def daemon(event, context):
    # Double fork and a session of its own: the classic escape.
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp('sleep', ['sleep', event['marker']])
        os._exit(0)
    os.wait()
    return {'ok': True}

def api(event, context):
    if event.get('sleep'):
        time.sleep(event['sleep'])
    out = {'addr': os.environ['AWS_LAMBDA_RUNTIME_API']}
    target = event.get('target')
    if target:
        host, port = target.rsplit(':', 1)
        s = socket.create_connection((host, int(port)))
        s.settimeout(2)
        s.sendall(b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n')
        try:
            out['got'] = s.recv(100).decode(errors='replace')
        except socket.timeout:
            out['got'] = 'timeout'
        except OSError as e:
            out['got'] = 'error ' + str(e)
    return out
`

// TestFunctionsSeeOnlyTheirOwnFiles: no supplementary groups, no
// descriptor but stdin, stdout and stderr from the platform, a private
// root (code read-only at /var/task, nothing of the host's /tmp, the
// platform's data or run directories), private /tmp and /dev/shm that go
// with the instance, and only the instance's own processes.
func TestFunctionsSeeOnlyTheirOwnFiles(t *testing.T) {
	needIsolation(t)
	// The platform runs with supplementary groups (as under sudo): root and shadow.
	if err := syscall.Setgroups([]int{0, 42}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Setgroups([]int{0}) }()
	// ... and a descriptor inherited without close-on-exec (from its own parent).
	var leak [2]int
	if err := syscall.Pipe(leak[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(leak[0])
	defer syscall.Close(leak[1])
	p := start(t, nil)
	deploy(t, p, "iso", "  a:\n    handler: probe.probe\n  b:\n    handler: probe.probe\n",
		map[string]string{"probe.py": probePy, "secret.txt": "root only\n"})
	// A 0640 root:root file in the function's own code: readable only through group root.
	secrets, _ := filepath.Glob(filepath.Join(p.Config.RunDir, "code", "*", "secret.txt"))
	if len(secrets) != 1 {
		t.Fatalf("unpacked code not found: %v", secrets)
	}
	if err := os.Chown(secrets[0], 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secrets[0], 0o640); err != nil {
		t.Fatal(err)
	}
	hostFile, err := os.CreateTemp("", "host-secret-*")
	if err != nil {
		t.Fatal(err)
	}
	hostFile.Close()
	defer os.Remove(hostFile.Name())
	paths := []string{hostFile.Name(), p.Config.DataDir, p.Config.RunDir, filepath.Join(p.Config.RunDir, "code"), "/root", "/home", "/run", "/var/lib"}

	a := invoke(t, p, "iso-dev-a", map[string]any{"plant": true, "paths": paths}).payload
	b := invoke(t, p, "iso-dev-b", map[string]any{"paths": paths}).payload
	for name, r := range map[string]map[string]any{"a": a, "b": b} {
		if r["Groups"] != "" {
			t.Errorf("%s: supplementary groups %q, want none", name, r["Groups"])
		}
		if r["shadow"] != "EACCES" {
			t.Errorf("%s: reading /etc/shadow (0640 root:shadow) gave %v, want EACCES", name, r["shadow"])
		}
		if r["secret"] != "EACCES" {
			t.Errorf("%s: reading a 0640 root:root file gave %v, want EACCES", name, r["secret"])
		}
		if uid := strings.Fields(fmt.Sprint(r["Uid"])); len(uid) == 0 || uid[0] == "0" {
			t.Errorf("%s: runs as uid %v", name, r["Uid"])
		}
		if ex, _ := r["exists"].([]any); len(ex) > 0 {
			t.Errorf("%s sees host paths %v", name, ex)
		}
		env, _ := r["env"].(map[string]any)
		if env["LAMBDA_TASK_ROOT"] != "/var/task" || env["LAMBDA_RUNTIME_DIR"] != "/var/runtime" || env["TMPDIR"] != "/tmp" || r["cwd"] != "/var/task" {
			t.Errorf("%s: paths %v, cwd %v", name, env, r["cwd"])
		}
		for _, w := range []string{"writeTask", "writeRoot", "writeUsr"} {
			if r[w] != "EROFS" && r[w] != "EACCES" {
				t.Errorf("%s: %s gave %v, want a refusal", name, w, r[w])
			}
		}
		if pipes, _ := r["strayPipes"].([]any); len(pipes) > 0 {
			t.Errorf("%s inherited pipes of the init step or the platform: fds %v", name, pipes)
		}
		if n, _ := r["procs"].(float64); n < 1 || n > 3 {
			t.Errorf("%s sees %v processes in /proc, want only its own", name, r["procs"])
		}
	}
	if a["Uid"] == b["Uid"] {
		t.Errorf("two functions share uid %v", a["Uid"])
	}
	if fmt.Sprint(a["tmp"]) != "[app-cache.json]" || fmt.Sprint(a["shm"]) != "[blob]" || fmt.Sprint(a["varTmp"]) != "[app-cache.json]" {
		t.Errorf("a's own files: /tmp %v, /var/tmp %v, /dev/shm %v", a["tmp"], a["varTmp"], a["shm"])
	}
	if fmt.Sprint(b["tmp"]) != "[]" || fmt.Sprint(b["shm"]) != "[]" {
		t.Errorf("b sees /tmp %v and /dev/shm %v of another function", b["tmp"], b["shm"])
	}
	if _, err := os.Stat("/dev/shm/blob"); err == nil {
		t.Error("a's /dev/shm file is on the host")
	}

	// A's files go with its instance: a new one starts empty, and nothing
	// is left on the host.
	p.Runtime().Retire("iso-dev-a")
	waitNoInstances(t, p, "iso-dev-a")
	again := invoke(t, p, "iso-dev-a", map[string]any{}).payload
	if fmt.Sprint(again["tmp"]) != "[]" || fmt.Sprint(again["shm"]) != "[]" {
		t.Errorf("a new instance inherits /tmp %v, /dev/shm %v", again["tmp"], again["shm"])
	}
}

// TestEphemeralStorageIsEnforced: writing past ephemeralStorageSize gives ENOSPC.
func TestEphemeralStorageIsEnforced(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "disk", "  fill:\n    handler: probe.fill\n    memorySize: 1024\n    ephemeralStorageSize: 512\n", map[string]string{"probe.py": probePy})
	r := invoke(t, p, "disk-dev-fill", map[string]any{"mb": 600}).payload
	mb, _ := r["mb"].(float64)
	if r["err"] != "ENOSPC" || mb < 500 || mb > 512 {
		t.Fatalf("writing 600 MB into a 512 MB /tmp: %v", r)
	}
}

// TestForkBombStopsAtTheLimit: an instance cannot start more than 1,024
// processes and threads; the host and the platform carry on.
func TestForkBombStopsAtTheLimit(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "bomb", "  bomb:\n    handler: probe.bomb\n    memorySize: 2048\n    timeout: 60\n  probe:\n    handler: probe.probe\n",
		map[string]string{"probe.py": probePy})
	r := invoke(t, p, "bomb-dev-bomb", map[string]any{}).payload
	forked, _ := r["forked"].(float64)
	if r["err"] != "EAGAIN" || forked >= sandbox.MaxProcesses || forked < 100 {
		t.Fatalf("fork bomb: %v, want EAGAIN below %d processes", r, sandbox.MaxProcesses)
	}
	if err := exec.Command("true").Run(); err != nil {
		t.Fatalf("the host cannot start a process: %v", err)
	}
	invoke(t, p, "bomb-dev-probe", map[string]any{})
	p.Runtime().Retire("bomb-dev-bomb")
	waitNoInstances(t, p, "bomb-dev-bomb")
}

// TestDaemonDiesWithItsFunction: a process that double-forks into a session
// of its own on its first line dies when the function is removed.
func TestDaemonDiesWithItsFunction(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "daemon", "  d:\n    handler: probe.daemon\n", map[string]string{"probe.py": probePy})
	marker := fmt.Sprintf("300.%d", time.Now().UnixNano()%1e9)
	invoke(t, p, "daemon-dev-d", map[string]any{"marker": marker})
	waitRunning(t, marker)
	if _, err := p.Client.Remove(context.Background(), "daemon"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, marker, "the function's removal")
}

// waitRunning waits until the daemon marked marker has exec'd.
func waitRunning(t *testing.T, marker string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(findProcesses("sleep\x00"+marker)) > 0 {
			return
		}
	}
	t.Fatal("the daemon is not running while its function is")
}

func waitGone(t *testing.T, marker, after string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(findProcesses("sleep\x00"+marker)) == 0 {
			return
		}
	}
	t.Fatalf("the daemon %v outlived %s", findProcesses("sleep\x00"+marker), after)
}

// waitNoInstances waits until every instance of function has been reaped.
func waitNoInstances(t *testing.T, p *testkit.Platform, function string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		live := 0
		for _, s := range p.Runtime().Stats() {
			if s.Function == function {
				live += s.Instances
			}
		}
		if live == 0 {
			return
		}
	}
	t.Fatalf("instances of %s remain", function)
}

// TestEntryPointErrorsComeFromTheInitStep: an entry point the init step
// cannot execute is the function's error, as in Lambda, not the platform's.
func TestEntryPointErrorsComeFromTheInitStep(t *testing.T) {
	p := start(t, nil)
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte("service: entry\nprovider:\n  name: aws\n  runtime: provided.al2023\nfunctions:\n  bad:\n    handler: bootstrap\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/nonexistent/interpreter\n"), 0o755)
	p.Deploy(dir)
	r := invoke(t, p, "entry-dev-bad", map[string]any{})
	if r.errType != "Runtime.InvalidEntrypoint" {
		t.Fatalf("a bootstrap that cannot run: %v", r.payload)
	}
}
