package sandbox

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// pair returns both ends of a TCP connection made on network to addr.
func pair(t testing.TB, network, addr string) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("%s unavailable: %v", network, err)
	}
	defer ln.Close()
	client, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func tcpAddrs(c net.Conn) (local, remote *net.TCPAddr) {
	return c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
}

// TestDiagAgreesWithScan: the lookup by four-tuple names the same uid and
// inode as the /proc/net scan, from both ends, for IPv4 and IPv6.
func TestDiagAgreesWithScan(t *testing.T) {
	if err := probePeerDiag(); err != nil {
		t.Skipf("sock_diag refused here: %v", err)
	}
	for _, tc := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			client, server := pair(t, tc.network, tc.addr)
			for _, c := range []net.Conn{client, server} {
				local, remote := tcpAddrs(c)
				uid, inode, err := diagPeer(local, remote)
				suid, sinode, serr := scanPeer(local, remote)
				if err != nil || serr != nil || uid != suid || inode != sinode {
					t.Errorf("%v→%v: sock_diag %d %s %v; /proc/net %d %s %v", local, remote, uid, inode, err, suid, sinode, serr)
				}
				if uid != os.Getuid() || inode == "0" {
					t.Errorf("%v→%v: uid %d inode %s, want %d and an inode", local, remote, uid, inode, os.Getuid())
				}
			}
		})
	}
}

// TestDiagDualStackPeer: a dual-stack IPv6 socket connected to an IPv4
// listener is found by its IPv4 four-tuple, as in tcp6's IPv4-mapped lines.
func TestDiagDualStackPeer(t *testing.T) {
	if err := probePeerDiag(); err != nil {
		t.Skipf("sock_diag refused here: %v", err)
	}
	ln := mustListen(t)
	defer ln.Close()
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6 sockets: %v", err)
	}
	f := os.NewFile(uintptr(fd), "dual-stack")
	defer f.Close()
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet6{Port: ln.Addr().(*net.TCPAddr).Port}
	copy(sa.Addr[:], net.ParseIP("::ffff:127.0.0.1").To16())
	if err := syscall.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	local, remote := tcpAddrs(server)
	uid, inode, err := diagPeer(local, remote)
	suid, sinode, serr := scanPeer(local, remote)
	want := strconv.FormatUint(st.Ino, 10)
	if err != nil || uid != os.Getuid() || inode != want {
		t.Errorf("sock_diag: %d %s %v; want %d %s", uid, inode, err, os.Getuid(), want)
	}
	if serr != nil || suid != uid || sinode != inode {
		t.Errorf("/proc/net: %d %s %v; sock_diag %d %s", suid, sinode, serr, uid, inode)
	}
}

// TestDiagPeerGoneAndNotAccepted: a dialler sees inode 0 while its
// connection waits in the listener's queue, and no socket once the listener
// closed it, never the listening socket on the same port.
func TestDiagPeerGoneAndNotAccepted(t *testing.T) {
	if err := probePeerDiag(); err != nil {
		t.Skipf("sock_diag refused here: %v", err)
	}
	ln := mustListen(t)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local, remote := tcpAddrs(c)
	uid, inode, err := diagPeer(local, remote)
	if err != nil || uid != os.Getuid() || inode != "0" {
		t.Errorf("queued: %d %s %v; want %d 0", uid, inode, err, os.Getuid())
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := diagPeer(local, remote); !errors.Is(err, ErrPeerUnknown) {
		// The closed socket may linger in FIN_WAIT2 under no file.
		if _, inode, _ := diagPeer(local, remote); inode != "0" {
			t.Errorf("closed peer: %v, inode %s; want not found or no inode", err, inode)
		}
	}
	if _, err := PeerUID(&net.TCPConn{}); err == nil {
		t.Error("PeerUID of no connection succeeded")
	}
}

// BenchmarkPeerLookup compares the two lookups on this host's sockets.
func BenchmarkPeerLookup(b *testing.B) {
	_, server := pair(b, "tcp4", "127.0.0.1:0")
	local, remote := tcpAddrs(server)
	b.Run("sock_diag", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := diagPeer(local, remote); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proc", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := scanPeer(local, remote); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkClientOfBusyHost: what naming a client at its cap adds to an
// accept on a host with 5,000 more sockets (2,500 idle loopback
// connections), by four-tuple and by the scan it replaces.
func BenchmarkClientOfBusyHost(b *testing.B) {
	ln := mustListenB(b)
	defer ln.Close()
	for range 2500 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
	}
	_, server := pair(b, "tcp4", "127.0.0.1:0")
	local, remote := tcpAddrs(server)
	s := &Sandbox{cfg: Config{DropPrivileges: true}}
	want := "127.0.0.1 uid " + strconv.Itoa(os.Getuid())
	b.Run("sock_diag", func(b *testing.B) {
		for b.Loop() {
			if got := s.ClientOf(server, "127.0.0.1"); got != want {
				b.Fatalf("ClientOf: %q, want %q", got, want)
			}
		}
	})
	b.Run("proc", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := scanPeer(local, remote); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func mustListenB(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}
