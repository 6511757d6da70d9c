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
)

// ErrPeerUnknown means the peer's socket was not found in /proc/net.
var ErrPeerUnknown = errors.New("peer socket not found")

// PeerUID returns the uid owning the other end of a loopback TCP connection,
// from the kernel's socket table. It lets a per-instance Runtime API refuse
// connections from processes other than its function's.
func PeerUID(conn net.Conn) (int, error) {
	local, ok1 := conn.LocalAddr().(*net.TCPAddr)
	remote, ok2 := conn.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return -1, fmt.Errorf("%w: not a TCP connection", ErrPeerUnknown)
	}
	// The peer's socket has our remote address as its local one.
	want := procAddr(remote) + " " + procAddr(local)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if uid, err := findUID(table, want); err == nil {
			return uid, nil
		}
	}
	return -1, ErrPeerUnknown
}

func findUID(table, want string) (int, error) {
	f, err := os.Open(table)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
		if len(fields) < 8 || fields[1]+" "+fields[2] != want {
			continue
		}
		return strconv.Atoi(fields[7])
	}
	return -1, ErrPeerUnknown
}

// procAddr renders an address as /proc/net/tcp{,6} does: the address in
// host byte order per 32-bit word, hex, then the port.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	var b []byte
	if ip != nil {
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

// OwnerListener accepts only connections from processes running as uid;
// others are closed at once.
type OwnerListener struct {
	net.Listener
	UID int
}

// Accept returns the next connection from the owner.
func (l *OwnerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uid, err := PeerUID(c); err == nil && uid == l.UID {
			return c, nil
		}
		_ = c.Close()
	}
}
