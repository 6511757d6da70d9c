package sandbox

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestPeerUIDAndOwnerListener(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Logf("%s unavailable: %v", network, err)
			continue
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		client, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server := <-accepted
		uid, err := PeerUID(server)
		if err != nil || uid != os.Getuid() {
			t.Errorf("%s: PeerUID = %d, %v; want %d", network, uid, err, os.Getuid())
		}
		client.Close()
		server.Close()
		ln.Close()
	}

	// A listener owned by another uid closes our connection unread.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	owned := NewOwnerListener(ln, os.Getuid()+1)
	owned.SetCgroup(nil)
	defer owned.Close()
	go func() {
		if c, err := owned.Accept(); err == nil {
			c.Close()
			t.Error("a connection from a foreign uid was accepted")
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("read from a refused connection: %d bytes, %v", n, err)
	}
	c.Close()

	mine := NewOwnerListener(mustListen(t), os.Getuid())
	mine.SetCgroup(nil)
	defer mine.Close()
	got := make(chan error, 1)
	go func() {
		c, err := mine.Accept()
		if err == nil {
			c.Close()
		}
		got <- err
	}()
	c2, err := net.Dial("tcp", mine.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := <-got; err != nil {
		t.Errorf("the owner's connection was refused: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestPeerSocketIPv4MappedPeer: a dual-stack IPv6 socket (as a JVM opens)
// that connects to an IPv4 listener is listed in /proc/net/tcp6 with
// IPv4-mapped addresses; the listener still finds it.
func TestPeerSocketIPv4MappedPeer(t *testing.T) {
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
		t.Fatalf("connect to %v through an IPv6 socket: %v", ln.Addr(), err)
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
	uid, inode, err := PeerSocket(server)
	if err != nil || uid != os.Getuid() || inode != strconv.FormatUint(st.Ino, 10) {
		t.Errorf("PeerSocket = %d, %q, %v; want %d, %d", uid, inode, err, os.Getuid(), st.Ino)
	}
	if !HeldBy(inode, []int{os.Getpid()}) {
		t.Errorf("socket %s not found among this process's files", inode)
	}
}

// BenchmarkClientOf measures what naming a local client costs the API's
// accept loop: one sock_diag lookup (a scan of the host's socket table where
// the kernel refuses it).
func BenchmarkClientOf(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	s := &Sandbox{cfg: Config{DropPrivileges: true}}
	want := "127.0.0.1 uid " + strconv.Itoa(os.Getuid())
	for b.Loop() {
		if got := s.ClientOf(server, "127.0.0.1"); got != want {
			b.Fatalf("ClientOf: %q, want %q", got, want)
		}
	}
}
