package sandbox

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ErrPeerUnknown means the kernel knows no socket at the peer's end.
var ErrPeerUnknown = errors.New("peer socket not found")

// PeerUID returns the uid owning the other end of a loopback TCP connection,
// from the kernel's socket table. It lets a per-instance Runtime API refuse
// connections from processes other than its function's.
func PeerUID(conn net.Conn) (int, error) {
	uid, _, err := PeerSocket(conn)
	return uid, err
}

// PeerSocket returns the uid owning the other end of a loopback TCP
// connection and its socket's inode ("0" while the peer has not accepted it
// yet). It works from either end: the listener's, to learn who dialled, and
// the dialler's, to learn who listened. It asks the kernel by the exact
// four-tuple (sock_diag) and scans /proc/net/tcp only where that is refused.
func PeerSocket(conn net.Conn) (uid int, inode string, err error) {
	local, ok1 := conn.LocalAddr().(*net.TCPAddr)
	remote, ok2 := conn.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return -1, "", fmt.Errorf("%w: not a TCP connection", ErrPeerUnknown)
	}
	uid, inode, err = diagPeer(local, remote)
	if errors.Is(err, errDiagUnavailable) {
		return scanPeer(local, remote)
	}
	return uid, inode, err
}

// scanPeer finds the peer's socket by reading the kernel's socket tables,
// where sock_diag is refused. It costs a line per socket on the host.
func scanPeer(local, remote *net.TCPAddr) (uid int, inode string, err error) {
	// The peer's socket has our remote address as its local one. An IPv4
	// peer may still be an IPv6 socket (a dual-stack one, as a JVM's):
	// tcp6 then lists it with IPv4-mapped addresses (::ffff:127.0.0.1).
	for _, table := range []struct {
		path string
		v6   bool
	}{{"/proc/net/tcp", false}, {"/proc/net/tcp6", true}} {
		if !table.v6 && (remote.IP.To4() == nil || local.IP.To4() == nil) {
			continue
		}
		want := procAddr(remote, table.v6) + " " + procAddr(local, table.v6)
		if uid, inode, err := findSocket(table.path, want); err == nil {
			return uid, inode, nil
		}
	}
	return -1, "", ErrPeerUnknown
}

// probePeerDiag reports whether the kernel answers sock_diag lookups, by
// looking up both ends of a loopback connection of its own.
func probePeerDiag() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	_, _, err = diagPeer(c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr))
	if errors.Is(err, ErrPeerUnknown) {
		return nil // not accepted yet, but the kernel answered
	}
	return err
}

func findSocket(table, want string) (int, string, error) {
	f, err := os.Open(table)
	if err != nil {
		return -1, "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		if len(fields) < 10 || fields[1]+" "+fields[2] != want {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		return uid, fields[9], err
	}
	return -1, "", ErrPeerUnknown
}

// procAddr renders an address as /proc/net/tcp (v6 false) or tcp6 does: the
// address in host byte order per 32-bit word, hex, then the port. In tcp6 an
// IPv4 address is IPv4-mapped.
func procAddr(a *net.TCPAddr, v6 bool) string {
	ip := a.IP.To4()
	var b []byte
	if ip != nil && !v6 {
		b = make([]byte, 4)
		binary.NativeEndian.PutUint32(b, binary.BigEndian.Uint32(ip))
	} else {
		ip = a.IP.To16()
		b = make([]byte, 16)
		for i := 0; i < 16; i += 4 {
			binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(ip[i:i+4]))
		}
	}
	return strings.ToUpper(hex.EncodeToString(b)) + fmt.Sprintf(":%04X", a.Port)
}

// OwnerListener accepts only connections from one instance: the peer's
// socket must belong to the function's uid and be held by a process in the
// instance's cgroup (when it has one). Membership of the cgroup is the
// instance's secret: the kernel keeps it, nothing can forge it, and unlike a
// token it needs nothing from the runtime client, which only knows
// AWS_LAMBDA_RUNTIME_API's host:port. Others are closed at once.
type OwnerListener struct {
	net.Listener
	UID int

	ready  chan struct{} // closed by SetCgroup
	once   sync.Once
	cgroup *Cgroup
}

// NewOwnerListener wraps ln; Accept waits for SetCgroup.
func NewOwnerListener(ln net.Listener, uid int) *OwnerListener {
	return &OwnerListener{Listener: ln, UID: uid, ready: make(chan struct{})}
}

// SetCgroup names the instance's cgroup (nil: the uid check only) once the
// process has started.
func (l *OwnerListener) SetCgroup(cg *Cgroup) {
	l.once.Do(func() {
		l.cgroup = cg
		close(l.ready)
	})
}

// Accept returns the next connection from the owner.
func (l *OwnerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		<-l.ready
		if uid, inode, err := PeerSocket(c); err == nil && uid == l.UID && (l.cgroup == nil || l.cgroup.holdsSocket(inode)) {
			return c, nil
		}
		_ = c.Close()
	}
}

// holdsSocket reports whether a process of the cgroup has the socket open.
func (c *Cgroup) holdsSocket(inode string) bool { return HeldBy(inode, c.Pids()) }

// HeldBy reports whether one of the processes has the socket with this inode
// open.
func HeldBy(inode string, pids []int) bool {
	if inode == "" || inode == "0" {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && target == want {
				return true
			}
		}
	}
	return false
}

// ClientOf names the client of a connection the platform accepted, for caps
// on connections per client: every function reaches the platform from the
// host's own address, the operator's tools too, so where functions run
// under uids of their own, a connection from this host is the address and
// the uid owning the other end. One function holding connections then
// spends its own allowance, not the operator's or other functions'.
// Connections from elsewhere, and any the socket table does not show, are
// their address alone. The guard asks only for an address at its cap; the
// lookup by four-tuple does not grow with the host's sockets.
func (s *Sandbox) ClientOf(c net.Conn, ip string) string {
	if !s.cfg.DropPrivileges {
		return ip
	}
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || !(remote.IP.IsLoopback() || remote.IP.Equal(local.IP)) {
		return ip
	}
	uid, err := PeerUID(c)
	if err != nil {
		return ip
	}
	return ip + " uid " + strconv.Itoa(uid)
}
