package netguard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
)

// The test binary plays a function process: re-run as another uid with
// NETGUARD_DIAL set, it dials each address and prints one result a line.
func TestMain(m *testing.M) {
	if os.Getenv("NETGUARD_SERVE") != "" {
		// Serve one connection on loopback: answer "ok" and exit.
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr())
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		_, _ = c.Write([]byte("ok"))
		c.Close()
		os.Exit(0)
	}
	if addrs := os.Getenv("NETGUARD_DIAL"); addrs != "" {
		for _, a := range strings.Split(addrs, ",") {
			c, err := net.DialTimeout("tcp", a, 10*time.Second)
			if err != nil {
				fmt.Println("refused", a, err)
				continue
			}
			c.Close()
			fmt.Println("connected", a)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testUID is a function uid for this test process. Rules of every table
// apply to every packet: two test processes (worktrees, CI) sharing uids
// would refuse each other's connections, so the uids depend on the pid.
func testUID(i int) int { return 300000 + os.Getpid()%4000*8 + i } // past the platform's default uid range

// newGuard installs a guard or skips where the kernel refuses nf_tables.
func newGuard(t *testing.T) *Guard {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("nf_tables needs root")
	}
	g, err := New(fmt.Sprintf("t%d", time.Now().UnixNano()%1e9))
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Skipf("the kernel refuses nf_tables: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// listener counts the connections it accepts.
type listener struct {
	net.Listener
	accepted atomic.Int32
}

func listen(t *testing.T, network, addr string) *listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	return count(t, ln)
}

// count accepts and counts ln's connections until the test ends.
func count(t *testing.T, ln net.Listener) *listener {
	l := &listener{Listener: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return l
}

// dialAs dials each address as uid and returns the result per address.
func dialAs(t *testing.T, bin string, uid int, addrs ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"NETGUARD_DIAL=" + strings.Join(addrs, ",")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dialler: %v\n%s", err, out)
	}
	res := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			res[f[1]] = f[0]
		}
	}
	return res
}

// dialler is a copy of the test binary that other uids can execute (the
// build directory is the platform user's alone).
func dialler(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netguard")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dialler")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// hostAddr6 is a global IPv6 address of the host, or "".
func hostAddr6() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// hostAddr is a non-loopback address of the host, or "".
func hostAddr() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

func TestGuardRejectsLocalPortsForFunctionUIDs(t *testing.T) {
	g := newGuard(t)
	fn, fn2, other := testUID(1), testUID(4), testUID(2)
	for _, uid := range []int{fn, fn2} {
		if err := g.AddUID(uid); err != nil {
			t.Fatal(err)
		}
	}
	lo := listen(t, "tcp4", "127.0.0.1:0")
	lo6 := listen(t, "tcp6", "[::1]:0")
	allowed := listen(t, "tcp4", "127.0.0.1:0")
	release, err := g.AllowPort(allowed.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	// A port of fn's own (its Runtime API): fn2 may not reach it.
	own := listen(t, "tcp4", "127.0.0.1:0")
	releaseOwn, err := g.AllowUIDPorts(fn, []int{own.Addr().(*net.TCPAddr).Port, own.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{lo.Addr().String(), lo6.Addr().String(), allowed.Addr().String(), own.Addr().String()}
	var host, host6 *listener
	if a := hostAddr(); a != "" {
		host = listen(t, "tcp4", net.JoinHostPort(a, "0"))
		addrs = append(addrs, host.Addr().String())
	}
	if a := hostAddr6(); a != "" {
		host6 = listen(t, "tcp6", net.JoinHostPort(a, "0"))
		addrs = append(addrs, host6.Addr().String())
	}

	bin := dialler(t)
	res := dialAs(t, bin, fn, addrs...)
	for _, l := range []*listener{lo, lo6, host, host6} {
		if l == nil {
			continue
		}
		if res[l.Addr().String()] != "refused" {
			t.Errorf("function uid reached %s: %v", l.Addr(), res)
		}
	}
	if res[allowed.Addr().String()] != "connected" {
		t.Errorf("function uid could not reach the allowed port %s: %v", allowed.Addr(), res)
	}
	if res[own.Addr().String()] != "connected" {
		t.Errorf("function uid could not reach its own port %s: %v", own.Addr(), res)
	}
	res = dialAs(t, bin, fn2, own.Addr().String(), allowed.Addr().String())
	if res[own.Addr().String()] != "refused" || res[allowed.Addr().String()] != "connected" {
		t.Errorf("another function uid: %v, want %s refused and %s connected", res, own.Addr(), allowed.Addr())
	}
	// A uid outside the set is untouched.
	res = dialAs(t, bin, other, addrs...)
	for _, a := range addrs {
		if res[a] != "connected" {
			t.Errorf("uid %d, not a function's, was refused %s: %v", other, a, res)
		}
	}
	// The allowed ports close again.
	release()
	releaseOwn()
	res = dialAs(t, bin, fn, allowed.Addr().String(), own.Addr().String())
	if res[allowed.Addr().String()] != "refused" || res[own.Addr().String()] != "refused" {
		t.Errorf("a released port is still reachable: %v", res)
	}
	for _, l := range []*listener{lo, lo6, host, host6} {
		if l != nil && l.accepted.Load() != 1 { // the other uid's connection only
			t.Errorf("%s accepted %d connections, want 1 (the other uid's)", l.Addr(), l.accepted.Load())
		}
	}
}

// A function's own listener answers connections from the platform (the
// go1.x shim's RPC server, a function serving on loopback): its answers are
// its uid's packets to a local port, and they must pass.
func TestFunctionListenerAnswersOthers(t *testing.T) {
	g := newGuard(t)
	fn := testUID(3)
	if err := g.AddUID(fn); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dialler(t))
	cmd.Env = []string{"NETGUARD_SERVE=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(fn), Gid: uint32(fn)}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", strings.TrimSpace(addr), 10*time.Second)
	if err != nil {
		t.Fatalf("the platform could not reach a function's listener: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "ok" {
		t.Fatalf("answer %q, %v; want ok", b, err)
	}
}

func TestGuardTableGoesAtClose(t *testing.T) {
	g := newGuard(t)
	name := g.Table()
	if ok, err := TableExists(name); err != nil || !ok {
		t.Fatalf("table %s installed: %v, %v", name, ok, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := TableExists(name); err != nil || ok {
		t.Fatalf("table %s after Close: %v, %v", name, ok, err)
	}
}

func TestDeadPlatformsTablesAreRemoved(t *testing.T) {
	g := newGuard(t)
	// A table named after a process that has exited.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := TablePrefix + strconv.Itoa(cmd.Process.Pid) + "_1_dead"
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: dead})
	// And one of this live process with another start time: a reused pid.
	reused := TablePrefix + strconv.Itoa(os.Getpid()) + "_1_reused"
	conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: reused})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	// Adding a new uid sweeps them (as New does).
	if err := g.AddUID(testUID(3)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dead, reused} {
		if ok, err := TableExists(name); err != nil || ok {
			t.Errorf("stale table %s still there: %v, %v", name, ok, err)
		}
	}
	if ok, err := TableExists(g.Table()); err != nil || !ok {
		t.Errorf("the live table %s went too: %v, %v", g.Table(), ok, err)
	}
}

func TestLocalPorts(t *testing.T) {
	host := hostAddr()
	values := []string{
		"http://127.0.0.1:8080/callback",
		"postgres://user:pw@[::1]:5432/db",
		"localhost:6379",
		"https://api.example.com:8443/x", // not local
		"10.1.2.3:9999",                  // not local (no such address here)
		"http://127.0.0.1/no-port",
		"plain text 1.2.3",
		"a=127.0.0.2:7000,b=0.0.0.0:7001",
		"http://127.0.0.1:8080/again",
	}
	want := []int{8080, 5432, 6379, 7000, 7001}
	if host != "" {
		values = append(values, "http://"+host+":7100")
		want = append(want, 7100)
	}
	env := make(map[string]string, len(values))
	for i, v := range values {
		env[fmt.Sprintf("%08d", i)] = v
	}
	got := LocalPorts(env)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LocalPorts = %v, want %v", got, want)
	}
}

// The cost a cold start pays: one netlink transaction to open its ports and
// one to close them.
func BenchmarkAllowUIDPorts(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("nf_tables needs root")
	}
	g, err := New("bench")
	if err != nil {
		b.Skip(err)
	}
	defer g.Close()
	if err := g.AddUID(testUID(5)); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		release, err := g.AllowUIDPorts(testUID(5), []int{40000 + i%20000})
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

// What the operator opens (--allow-local-port) every function reaches, and
// nothing else: a port on every local address, a range, a port on one
// address only.
func TestOperatorAllowances(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("nf_tables needs root")
	}
	every := listen(t, "tcp4", "127.0.0.1:0")
	any6 := listen(t, "tcp6", "[::1]:0")
	portOf := func(l *listener) int { return l.Addr().(*net.TCPAddr).Port }
	// Two neighbouring ports, both held by the test: nothing else is in the range.
	var inRange, inRange2 *listener
	for i := 0; i < 50 && inRange2 == nil; i++ {
		inRange = listen(t, "tcp4", "127.0.0.1:0")
		if ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(portOf(inRange)+1)); err == nil {
			inRange2 = count(t, ln)
		}
	}
	if inRange2 == nil {
		t.Skip("found no two neighbouring free ports")
	}
	only4 := listen(t, "tcp4", "127.0.0.1:0")
	only4on6 := listen(t, "tcp6", "[::1]:"+strconv.Itoa(only4.Addr().(*net.TCPAddr).Port))
	closed := listen(t, "tcp4", "127.0.0.1:0")
	var allow []Allowance
	for _, spec := range []string{
		strconv.Itoa(portOf(every)) + "," + strconv.Itoa(portOf(any6)),
		fmt.Sprintf("%d-%d", portOf(inRange), portOf(inRange)+1),
		"127.0.0.1:" + strconv.Itoa(portOf(only4)),
	} {
		for _, s := range strings.Split(spec, ",") {
			a, err := ParseAllowance(s)
			if err != nil {
				t.Fatal(err)
			}
			allow = append(allow, a...)
		}
	}
	g, err := New(fmt.Sprintf("t%d", time.Now().UnixNano()%1e9), allow...)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Skipf("the kernel refuses nf_tables: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	fn := testUID(6)
	if err := g.AddUID(fn); err != nil {
		t.Fatal(err)
	}
	res := dialAs(t, dialler(t), fn, every.Addr().String(), any6.Addr().String(), inRange.Addr().String(),
		inRange2.Addr().String(), only4.Addr().String(), only4on6.Addr().String(), closed.Addr().String())
	for _, l := range []*listener{every, any6, inRange, inRange2, only4} {
		if res[l.Addr().String()] != "connected" {
			t.Errorf("%s, opened by the operator, was not reached: %v", l.Addr(), res)
		}
	}
	for _, l := range []*listener{only4on6, closed} {
		if res[l.Addr().String()] != "refused" || l.accepted.Load() != 0 {
			t.Errorf("%s, not opened, was reached (%d accepted): %v", l.Addr(), l.accepted.Load(), res)
		}
	}
	loop4, loop6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	for _, c := range []struct {
		addr netip.Addr
		port int
		want bool
	}{
		{loop4, portOf(every), true}, {loop6, portOf(every), true}, {loop4, portOf(inRange) + 1, true},
		{loop4, portOf(only4), true}, {loop6, portOf(only4), false}, {loop4, portOf(closed), false},
	} {
		if got := g.Reachable(c.addr, uint16(c.port)); got != c.want {
			t.Errorf("Reachable(%s, %d) = %v, want %v", c.addr, c.port, got, c.want)
		}
	}
}

func TestParseAllowance(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"5432", "5432"},
		{" 8000-8010 ", "8000-8010"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"[::1]:6379", "[::1]:6379"},
		{"localhost:5432", "127.0.0.1:5432 [::1]:5432"},
		{"8125/udp", "8125/udp"},
		{"5432/tcp", "5432"},
	} {
		got, err := ParseAllowance(c.in)
		if err != nil {
			t.Errorf("ParseAllowance(%q): %v", c.in, err)
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if strings.Join(s, " ") != c.want {
			t.Errorf("ParseAllowance(%q) = %v, want %s", c.in, s, c.want)
		}
	}
	for _, bad := range []string{"", "0", "65536", "http", "10-5", "::1:5432", "db.internal:5432", "192.0.2.1:5432", "5432/sctp",
		"0.0.0.0:80", "[::]:80", "[::1:5432", "::1]:5432", "[127.0.0.1]:5432", "+5432", "5432-+6000"} {
		if _, err := ParseAllowance(bad); err == nil {
			t.Errorf("ParseAllowance(%q) accepted", bad)
		}
	}
}

func TestLocalEndpoints(t *testing.T) {
	env := map[string]string{
		"DB":     "postgres://u:secret@[::1]:5432/db",
		"CB":     "http://localhost:8080/cb",
		"REMOTE": "https://api.example.com:8443/x",
		"NOPORT": "http://127.0.0.1/x",
		"BOTH":   "a=127.0.0.2:7000,b=0.0.0.0:7001",
	}
	var got []string
	for _, e := range LocalEndpoints(env) {
		got = append(got, e.Var+"="+e.String()+"@"+e.Addr.String())
	}
	want := []string{"BOTH=127.0.0.2:7000@127.0.0.2", "BOTH=0.0.0.0:7001@0.0.0.0", "CB=localhost:8080@127.0.0.1", "DB=[::1]:5432@::1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LocalEndpoints = %v, want %v", got, want)
	}
}
