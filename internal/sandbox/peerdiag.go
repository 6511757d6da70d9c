package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag interface (linux/inet_diag.h) finds one socket by
// its exact four-tuple through the same hash lookup that delivers packets:
// constant time, however many sockets the host has, where reading
// /proc/net/tcp costs a line per socket. golang.org/x/sys/unix has the
// constants but not the structures, which are laid out here by hand.
const (
	diagSockIDLen = 48                     // struct inet_diag_sockid
	diagReqLen    = 8 + diagSockIDLen      // struct inet_diag_req_v2
	diagMsgLen    = 4 + diagSockIDLen + 20 // struct inet_diag_msg
	// diagNoCookie asks the kernel not to check the socket's cookie.
	diagNoCookie = ^uint32(0)

	tcpSynRecv    = 3  // TCP_SYN_RECV
	tcpListen     = 10 // TCP_LISTEN
	tcpNewSynRecv = 12 // TCP_NEW_SYN_RECV: a request socket, before the handshake ends
)

// errDiagUnavailable means the kernel refused the sock_diag request itself
// (no netlink, a filter, no tcp_diag): the caller reads /proc/net instead.
var errDiagUnavailable = errors.New("sock_diag unavailable")

// diagSocket asks the kernel for the TCP socket whose local address is
// local and remote address is remote and returns its uid and inode. It
// returns ErrPeerUnknown when there is none and errDiagUnavailable when the
// kernel cannot answer such questions.
func diagSocket(local, remote *net.TCPAddr) (uid int, inode string, state uint8, err error) {
	family := uint8(unix.AF_INET)
	if local.IP.To4() == nil || remote.IP.To4() == nil {
		family = unix.AF_INET6
	}
	req := make([]byte, unix.NLMSG_HDRLEN+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // every state
	putSockID(r[8:], family, local, remote)

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, "", 0, fmt.Errorf("%w: %w", errDiagUnavailable, err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return -1, "", 0, fmt.Errorf("%w: %w", errDiagUnavailable, err)
	}
	buf := make([]byte, 1024)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return -1, "", 0, fmt.Errorf("%w: %w", errDiagUnavailable, err)
	}
	buf = buf[:n]
	if len(buf) < unix.NLMSG_HDRLEN {
		return -1, "", 0, fmt.Errorf("%w: short answer", errDiagUnavailable)
	}
	switch ne.Uint16(buf[4:]) {
	case unix.NLMSG_ERROR:
		if len(buf) < unix.NLMSG_HDRLEN+4 {
			return -1, "", 0, fmt.Errorf("%w: short error", errDiagUnavailable)
		}
		errno := unix.Errno(-int32(ne.Uint32(buf[unix.NLMSG_HDRLEN:])))
		if errno == unix.ENOENT {
			// No such socket, or no handler for TCP: the caller tells
			// them apart.
			return -1, "", 0, ErrPeerUnknown
		}
		return -1, "", 0, fmt.Errorf("%w: %w", errDiagUnavailable, errno)
	case unix.SOCK_DIAG_BY_FAMILY:
	default:
		return -1, "", 0, fmt.Errorf("%w: answer of type %d", errDiagUnavailable, ne.Uint16(buf[4:]))
	}
	m := buf[unix.NLMSG_HDRLEN:]
	if len(m) < diagMsgLen {
		return -1, "", 0, fmt.Errorf("%w: short message", errDiagUnavailable)
	}
	state = m[1]
	// The lookup falls back to a listening socket on the local address
	// when no connection matches: only the exact four-tuple counts.
	if state == tcpListen || !sameSockID(m[0], m[4:], local, remote) {
		return -1, "", state, ErrPeerUnknown
	}
	uid = int(ne.Uint32(m[64:]))
	inode = strconv.FormatUint(uint64(ne.Uint32(m[68:])), 10)
	return uid, inode, state, nil
}

// putSockID writes a struct inet_diag_sockid naming a socket by its local
// (src) and remote (dst) address.
func putSockID(b []byte, family uint8, local, remote *net.TCPAddr) {
	binary.BigEndian.PutUint16(b[0:], uint16(local.Port))
	binary.BigEndian.PutUint16(b[2:], uint16(remote.Port))
	if family == unix.AF_INET {
		copy(b[4:8], local.IP.To4())
		copy(b[20:24], remote.IP.To4())
	} else {
		copy(b[4:20], local.IP.To16())
		copy(b[20:36], remote.IP.To16())
	}
	// idiag_if (b[36:40]) 0: any interface.
	binary.NativeEndian.PutUint32(b[40:], diagNoCookie)
	binary.NativeEndian.PutUint32(b[44:], diagNoCookie)
}

// sameSockID reports whether the kernel's answer names the socket asked for.
// A dual-stack IPv6 socket found for an IPv4 question has IPv4-mapped
// addresses.
func sameSockID(family uint8, b []byte, local, remote *net.TCPAddr) bool {
	if int(binary.BigEndian.Uint16(b[0:])) != local.Port || int(binary.BigEndian.Uint16(b[2:])) != remote.Port {
		return false
	}
	var src, dst net.IP
	if family == unix.AF_INET {
		src, dst = net.IP(b[4:8]), net.IP(b[20:24])
	} else {
		src, dst = net.IP(b[4:20]), net.IP(b[20:36])
	}
	return src.Equal(local.IP) && dst.Equal(remote.IP)
}

// diagPeer finds the other end of a connection through sock_diag. Where the
// kernel answers "no such socket" for the peer, it asks for the connection's
// own end too: a kernel without a TCP handler answers the same for both, and
// the caller then scans /proc/net instead.
func diagPeer(local, remote *net.TCPAddr) (int, string, error) {
	uid, inode, state, err := diagSocket(remote, local)
	switch {
	case err == nil && state == tcpNewSynRecv || err == nil && state == tcpSynRecv && inode == "0":
		// A request socket: /proc/net lists it under its listener's uid,
		// sock_diag under none.
		return -1, "", fmt.Errorf("%w: a request socket", errDiagUnavailable)
	case err == nil:
		return uid, inode, nil
	case errors.Is(err, ErrPeerUnknown):
		if _, _, _, own := diagSocket(local, remote); own != nil && !errors.Is(own, ErrPeerUnknown) {
			return -1, "", own
		} else if own != nil {
			return -1, "", fmt.Errorf("%w: the kernel does not find this connection's own socket either", errDiagUnavailable)
		}
		return -1, "", ErrPeerUnknown
	}
	return -1, "", err
}
