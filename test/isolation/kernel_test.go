package isolation

import (
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// hostKey is a secret the platform's session keyring holds, as a service
// manager gives one to every service (systemd's KeyringMode=private) and
// tools keep credentials in it (Kerberos KEYRING caches, ecryptfs).
const (
	hostKeyName   = "nimbus-isolation-host-secret"
	hostKeyValue  = "s3cr3t-of-the-host"
	keyringMarker = "NIMBUS_ISOLATION_SESSION_KEYRING"
)

// TestMain runs the package's tests, as root, in a session keyring of their
// own holding hostKey: a session keyring belongs to a thread's credentials,
// so the process joins it on one thread and execs itself, and every thread
// of the new image (and so the platform the tests start) has it.
func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv(keyringMarker) == "" {
		runtime.LockOSThread()
		if _, err := unix.KeyctlJoinSessionKeyring("nimbus-isolation-tests"); err == nil {
			if _, err := unix.AddKey("user", hostKeyName, []byte(hostKeyValue), unix.KEY_SPEC_SESSION_KEYRING); err == nil {
				if exe, err := os.Executable(); err == nil {
					_ = os.Setenv(keyringMarker, "1")
					err := syscall.Exec(exe, os.Args, os.Environ())
					panic("re-exec the tests in a session keyring: " + err.Error())
				}
			}
		}
		_ = os.Setenv(keyringMarker, "unavailable")
		runtime.UnlockOSThread()
	}
	os.Exit(m.Run())
}

const kernelPy = `import ctypes, errno, os, socket

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def _errno():
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

def caps(event, context):
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('Cap'):
                k, v = line.split(':', 1)
                out[k] = v.strip()
    return out

def keys(event, context):
    # Looks for the host's key through the session keyring the instance
    # was started with, and reads it.
    nr = event['nr']
    KEYCTL_SEARCH, KEYCTL_READ, SESSION = 10, 11, -3
    key = libc.syscall(nr, KEYCTL_SEARCH, ctypes.c_long(SESSION), b'user', event['name'].encode(), 0)
    if key < 0:
        return {'got': 'error ' + _errno()}
    buf = ctypes.create_string_buffer(256)
    n = libc.syscall(nr, KEYCTL_READ, ctypes.c_long(key), buf, 256)
    if n < 0:
        return {'got': 'found, read error ' + _errno()}
    return {'got': buf.raw[:n].decode(errors='replace')}

def netlink(event, context):
    # Opens a netlink socket of each family asked for; interface names
    # (NETLINK_ROUTE, through the C library) keep working.
    out = {}
    for name, proto in event['families']:
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
            s.close()
            out[name] = 'ok'
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno, str(e))
    out['ifnames'] = [n for _, n in socket.if_nameindex()]
    return out
`

// TestCapabilityBoundingSetIsEmpty: a function holds no capability, and its
// bounding set is empty too, so nothing it execs can ever gain one (defence
// in depth behind the uid change and no_new_privs).
func TestCapabilityBoundingSetIsEmpty(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "caps", "  probe:\n    handler: kernel.caps\n", map[string]string{"kernel.py": kernelPy})
	got := invoke(t, p, "caps-dev-probe", map[string]any{}).payload
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if got[k] != "0000000000000000" {
			t.Errorf("%s = %v, want 0000000000000000", k, got[k])
		}
	}
}

// TestSessionKeyringIsTheInstancesOwn: the platform's session keyring, and
// the keys in it, stay out of a function's reach: the instance starts with
// a fresh, empty session keyring of its own.
func TestSessionKeyringIsTheInstancesOwn(t *testing.T) {
	if os.Getenv(keyringMarker) != "1" {
		t.Skip("the tests do not run in a session keyring of their own here")
	}
	p := start(t, nil)
	// The test process (the platform) does hold the key.
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", hostKeyName, 0)
	if err != nil {
		t.Fatalf("the test's own session keyring lacks its key: %v", err)
	}
	buf := make([]byte, 64)
	if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); err != nil || string(buf[:n]) != hostKeyValue {
		t.Fatalf("read the test's own key: %q, %v", buf[:max(n, 0)], err)
	}
	deploy(t, p, "keys", "  thief:\n    handler: kernel.keys\n", map[string]string{"kernel.py": kernelPy})
	got := invoke(t, p, "keys-dev-thief", map[string]any{"nr": unix.SYS_KEYCTL, "name": hostKeyName}).payload["got"]
	if got == hostKeyValue {
		t.Fatal("a function read a key of the platform's session keyring")
	}
	if got != "error ENOKEY" {
		t.Errorf("search the session keyring: %v, want error ENOKEY", got)
	}
}

// TestNetlinkIsRouteOnly: of the netlink families only NETLINK_ROUTE, which
// C libraries use to list interfaces (getifaddrs, if_nameindex), is open;
// socket diagnostics, uevents, audit, netfilter, xfrm and the generic
// families (kernel surface no function needs) are refused.
func TestNetlinkIsRouteOnly(t *testing.T) {
	p := start(t, nil)
	deploy(t, p, "netlink", "  probe:\n    handler: kernel.netlink\n", map[string]string{"kernel.py": kernelPy})
	families := [][]any{
		{"route", unix.NETLINK_ROUTE},
		{"sockDiag", unix.NETLINK_SOCK_DIAG},
		{"audit", unix.NETLINK_AUDIT},
		{"netfilter", unix.NETLINK_NETFILTER},
		{"xfrm", unix.NETLINK_XFRM},
		{"uevent", unix.NETLINK_KOBJECT_UEVENT},
		{"generic", unix.NETLINK_GENERIC},
	}
	got := invoke(t, p, "netlink-dev-probe", map[string]any{"families": families}).payload
	if got["route"] != "ok" {
		t.Errorf("NETLINK_ROUTE: %v, want ok", got["route"])
	}
	for _, f := range families[1:] {
		if got[f[0].(string)] != "EPERM" {
			t.Errorf("netlink family %s: %v, want EPERM", f[0], got[f[0].(string)])
		}
	}
	names, _ := got["ifnames"].([]any)
	var list []string
	for _, n := range names {
		s, _ := n.(string)
		list = append(list, s)
	}
	if !strings.Contains(","+strings.Join(list, ",")+",", ",lo,") {
		t.Errorf("interface names %v lack lo: NETLINK_ROUTE reads must keep working", list)
	}
}
