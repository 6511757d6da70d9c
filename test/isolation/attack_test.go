package isolation

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const attackPy = `import os, socket, errno, time

def _err(e):
    return errno.errorcode.get(e.errno, str(e)) if isinstance(e, OSError) else str(e)

def abstract(event, context):
    # Connects to an abstract unix socket (a leading NUL: no file, no
    # permission check, one name space per network namespace).
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect('\0' + event['name'])
        return {'got': s.recv(100).decode(errors='replace')}
    except OSError as e:
        return {'got': 'error ' + _err(e)}
    finally:
        s.close()

def kernel(event, context):
    # System calls that open kernel surface a function does not need, by
    # number (the test passes this architecture's), and a thread (a C
    # library's clone3, refused, falls back to clone).
    import ctypes, threading
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    for name, nr, args in event['calls']:
        r = libc.syscall(nr, *args)
        out[name] = 'ok' if r >= 0 else errno.errorcode.get(ctypes.get_errno())
    t = threading.Thread(target=lambda: out.__setitem__('thread', 'ok'))
    t.start()
    t.join()
    if os.fork() == 0:
        os._exit(7)
    out['fork'] = os.WEXITSTATUS(os.wait()[1])
    return out

def serve(event, context):
    # Listens on an abstract socket of its own and answers a client of its
    # own instance: what a function may keep doing.
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind('\0' + event['name'])
    srv.listen(1)
    if os.fork() == 0:
        c, _ = srv.accept()
        c.sendall(b'own')
        c.close()
        time.sleep(event.get('hold', 0))
        os._exit(0)
    out = abstract(event, context)
    srv.close()
    return out
`

// TestAbstractSocketsStayInTheirInstance: functions share the host's network
// namespace (ADR 0028), and abstract unix sockets belong to it, not to the
// file system: the private root hides no host daemon listening on one, and
// connecting needs no permission. A function must reach neither a host
// service's abstract socket nor another instance's, and may still use its
// own.
func TestAbstractSocketsStayInTheirInstance(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "abstract", "  thief:\n    handler: attack.abstract\n  owner:\n    handler: attack.serve\n",
		map[string]string{"attack.py": attackPy})

	// A host daemon (the test, as root) on an abstract socket.
	name := "nimbus-attack-" + strconv.Itoa(os.Getpid())
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("host secret"))
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_ = c.Close()
		}
	}()
	got := invoke(t, p, "abstract-dev-thief", map[string]any{"name": name}).payload["got"]
	if got == "host secret" {
		t.Error("a function reached a host daemon's abstract unix socket")
	} else if got != "error EPERM" {
		t.Errorf("connect to the host's abstract socket: %v, want error EPERM", got)
	}

	// A function's own abstract socket works within its instance...
	own := "nimbus-attack-own-" + strconv.Itoa(os.Getpid())
	if got := invoke(t, p, "abstract-dev-owner", map[string]any{"name": own, "hold": 60}).payload["got"]; got != "own" {
		t.Errorf("a function's own abstract socket: %v, want own", got)
	}
	// ... and not from another function (its child keeps it bound).
	if got := invoke(t, p, "abstract-dev-thief", map[string]any{"name": own}).payload["got"]; got != "error EPERM" {
		t.Errorf("connect to another function's abstract socket: %v, want error EPERM", got)
	}
}

// TestKernelSurfaceIsRefused: a function cannot make a user namespace of its
// own (where it would hold every capability and mount) nor use io_uring, and
// threads and fork keep working.
func TestKernelSurfaceIsRefused(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "kernel", "  probe:\n    handler: attack.kernel\n", map[string]string{"attack.py": attackPy})
	buf := 0 // a NULL pointer: the calls are refused before they read it
	calls := [][]any{
		{"unshareUser", unix.SYS_UNSHARE, []any{unix.CLONE_NEWUSER}},
		{"unshareUserMount", unix.SYS_UNSHARE, []any{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}},
		{"ioUring", unix.SYS_IO_URING_SETUP, []any{8, buf}},
	}
	got := invoke(t, p, "kernel-dev-probe", map[string]any{"calls": calls}).payload
	for _, c := range calls {
		if got[c[0].(string)] != "EPERM" {
			t.Errorf("%s: %v, want EPERM", c[0], got[c[0].(string)])
		}
	}
	if got["thread"] != "ok" || got["fork"] != float64(7) {
		t.Errorf("threads and fork: %v", got)
	}
}
