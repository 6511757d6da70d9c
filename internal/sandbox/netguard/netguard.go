// Package netguard keeps function processes off the host's own network
// services. It installs nftables rules (through netlink, no nft binary) that
// reject every packet a function's socket sends to a local address of the
// host (loopback or any other address the host owns, IPv4 and IPv6), except
// to the ports the function needs: the platform's listeners, the Runtime API
// of its instances, DNS when the resolver is local, and the ports the
// operator opened (Allowance). Packets to other hosts pass, so functions
// keep the internet (ADR 0028).
//
// Each platform has a table of its own, named after its process (pid and
// start time) and a random tag, so that platforms sharing a host, or a
// process (tests), never touch each other's; tables of processes that are
// gone are removed.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TablePrefix starts the name of every table a platform installs.
const TablePrefix = "nimbus_"

// Guard is one platform's rules. Its methods are safe for concurrent use.
type Guard struct {
	mu    sync.Mutex // one batch at a time on conn
	conn  *nftables.Conn
	table *nftables.Table
	uids  *nftables.Set
	tcp   *nftables.Set
	udp   *nftables.Set
	// own holds uid . port pairs: ports one function may reach (its
	// instances' Runtime API, the local endpoints its environment names).
	own      *nftables.Set
	known    map[uint32]bool // uids in the set
	ports    map[uint16]int  // TCP ports in the set, with how many holders
	ownPorts map[uidPort]int // pairs in own, with how many holders
	// allow is what the operator opened to every function.
	allow []Allowance
	// Stale is the names of dead platforms' tables New removed.
	Stale  []string
	closed bool
}

// New installs this platform's table with no function uids yet (so it
// rejects nothing), after removing the tables of platforms that are gone.
// allow are the local ports the operator opens to every function. It fails
// when the kernel or the privileges refuse nf_tables.
func New(tag string, allow ...Allowance) (*Guard, error) {
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	g := &Guard{conn: conn, known: map[uint32]bool{}, ports: map[uint16]int{}, ownPorts: map[uidPort]int{},
		allow: slices.Clone(allow)}
	stale, err := removeStale(conn)
	if err != nil {
		_ = conn.CloseLasting()
		return nil, err
	}
	g.Stale = stale
	name, err := tableName(tag)
	if err != nil {
		_ = conn.CloseLasting()
		return nil, err
	}
	if err := g.install(name); err != nil {
		_ = conn.CloseLasting()
		return nil, fmt.Errorf("install the network rules: %w", err)
	}
	return g, nil
}

// Table is the name of the platform's table (family inet).
func (g *Guard) Table() string { return g.table.Name }

func (g *Guard) install(name string) error {
	c := g.conn
	g.table = c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: name})
	g.uids = &nftables.Set{Table: g.table, Name: "function_uids", KeyType: nftables.TypeUID, KeyByteOrder: binaryutil.NativeEndian}
	g.tcp = &nftables.Set{Table: g.table, Name: "tcp_ports", KeyType: nftables.TypeInetService, KeyByteOrder: binaryutil.BigEndian}
	g.udp = &nftables.Set{Table: g.table, Name: "udp_ports", KeyType: nftables.TypeInetService, KeyByteOrder: binaryutil.BigEndian}
	g.own = &nftables.Set{Table: g.table, Name: "function_ports", Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeUID, nftables.TypeInetService)}
	for _, s := range []*nftables.Set{g.uids, g.tcp, g.udp, g.own} {
		if err := c.AddSet(s, nil); err != nil {
			return err // nothing was sent: the batch goes at Flush
		}
	}
	var udpPorts []nftables.SetElement
	if localResolver() {
		// The host's resolver listens on a local address: functions need it.
		g.ports[53]++
		if err := c.SetAddElements(g.tcp, []nftables.SetElement{{Key: port(53)}}); err != nil {
			return err
		}
		udpPorts = append(udpPorts, nftables.SetElement{Key: port(53)})
	}
	if len(udpPorts) > 0 {
		if err := c.SetAddElements(g.udp, udpPorts); err != nil {
			return err
		}
	}
	guard := c.AddChain(&nftables.Chain{Table: g.table, Name: "guard"})
	output := c.AddChain(&nftables.Chain{
		Table: g.table, Name: "output", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter,
	})
	// TCP is judged on the connection's first packet (SYN without ACK) only:
	// the answers of a function's own listener (a go1.x function's RPC
	// server answering its shim) are its uid's packets to a local port too.
	// Without a handshake no data flows, and a function cannot craft packets
	// (no CAP_NET_RAW).
	//   meta skuid @function_uids meta l4proto tcp tcp flags & (syn|ack) == syn fib daddr type local jump guard
	//   meta skuid @function_uids meta l4proto != tcp fib daddr type local jump guard
	isLocal := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: guard.Name},
	}
	fromFunction := []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: g.uids.Name, SetID: g.uids.ID},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
	}
	c.AddRule(&nftables.Rule{Table: g.table, Chain: output, Exprs: slices.Concat(fromFunction, []expr.Any{
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}},
	}, isLocal)})
	c.AddRule(&nftables.Rule{Table: g.table, Chain: output, Exprs: slices.Concat(fromFunction, []expr.Any{
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}, isLocal)})
	// meta l4proto tcp th dport @tcp_ports accept; the same for UDP.
	for _, p := range []struct {
		proto byte
		set   *nftables.Set
	}{{unix.IPPROTO_TCP, g.tcp}, {unix.IPPROTO_UDP, g.udp}} {
		c.AddRule(&nftables.Rule{Table: g.table, Chain: guard, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p.proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 1, SetName: p.set.Name, SetID: p.set.ID},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
	}
	// meta l4proto tcp meta skuid . th dport @function_ports accept
	c.AddRule(&nftables.Rule{Table: g.table, Chain: guard, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Meta{Key: expr.MetaKeySKUID, Register: unix.NFT_REG32_00},
		&expr.Payload{DestRegister: unix.NFT_REG32_01, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: unix.NFT_REG32_00, SetName: g.own.Name, SetID: g.own.ID},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	// What the operator opened (--allow-local-port), one rule each: a
	// handful, judged on a connection's first packet only.
	for _, a := range g.allow {
		c.AddRule(allowanceRule(g.table, guard, a))
	}
	// A reset for TCP and an unreachable for the rest: the function's
	// connect fails at once instead of timing out.
	c.AddRule(&nftables.Rule{Table: g.table, Chain: guard, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
	}})
	c.AddRule(&nftables.Rule{Table: g.table, Chain: guard, Exprs: []expr.Any{
		&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH},
	}})
	return c.Flush()
}

// AddUID puts a function's uid under the rules. Uids are never taken out:
// the platform holds its uids' host-wide claims until it stops.
func (g *Guard) AddUID(uid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known[uint32(uid)] {
		return nil
	}
	if g.closed {
		return errors.New("the network rules are removed")
	}
	// A uid new to this platform may have been freed by a platform killed
	// since this one started, whose table would still hold it.
	if _, err := removeStale(g.conn); err != nil {
		return err
	}
	if err := g.conn.SetAddElements(g.uids, []nftables.SetElement{{Key: binaryutil.NativeEndian.PutUint32(uint32(uid))}}); err != nil {
		return fmt.Errorf("add uid %d to the network rules: %w", uid, err)
	}
	if err := g.conn.Flush(); err != nil {
		return fmt.Errorf("add uid %d to the network rules: %w", uid, err)
	}
	g.known[uint32(uid)] = true
	return nil
}

// AllowPort lets functions reach a local TCP port until release is called.
// Several holders of one port keep it open until the last releases it.
func (g *Guard) AllowPort(p int) (release func(), err error) {
	if p <= 0 || p > 65535 {
		return nil, fmt.Errorf("port %d out of range", p)
	}
	key := uint16(p)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("the network rules are removed")
	}
	if g.ports[key] == 0 {
		if err := g.conn.SetAddElements(g.tcp, []nftables.SetElement{{Key: port(key)}}); err != nil {
			return nil, fmt.Errorf("allow port %d: %w", p, err)
		}
		if err := g.conn.Flush(); err != nil {
			return nil, fmt.Errorf("allow port %d: %w", p, err)
		}
	}
	g.ports[key]++
	var once sync.Once
	return func() { once.Do(func() { g.release(key) }) }, nil
}

// uidPort is one function uid's allowance of one port.
type uidPort struct {
	uid  uint32
	port uint16
}

// key is the set element: the uid in host order, the port in network order
// padded to the register's 4 bytes.
func (k uidPort) key() []byte {
	b := make([]byte, 8)
	copy(b, binaryutil.NativeEndian.PutUint32(k.uid))
	copy(b[4:], binaryutil.BigEndian.PutUint16(k.port))
	return b
}

// AllowUIDPorts lets one function uid reach local TCP ports until release
// is called: its instance's Runtime API, the endpoints its environment names.
func (g *Guard) AllowUIDPorts(uid int, ports []int) (release func(), err error) {
	keys := make([]uidPort, 0, len(ports))
	for _, p := range ports {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("port %d out of range", p)
		}
		if k := (uidPort{uint32(uid), uint16(p)}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("the network rules are removed")
	}
	var add []nftables.SetElement
	for _, k := range keys {
		if g.ownPorts[k] == 0 {
			add = append(add, nftables.SetElement{Key: k.key()})
		}
	}
	if len(add) > 0 {
		if err := g.conn.SetAddElements(g.own, add); err != nil {
			return nil, fmt.Errorf("allow uid %d ports %v: %w", uid, ports, err)
		}
		if err := g.conn.Flush(); err != nil {
			return nil, fmt.Errorf("allow uid %d ports %v: %w", uid, ports, err)
		}
	}
	for _, k := range keys {
		g.ownPorts[k]++
	}
	var once sync.Once
	return func() { once.Do(func() { g.releaseOwn(keys) }) }, nil
}

func (g *Guard) releaseOwn(keys []uidPort) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var del []nftables.SetElement
	for _, k := range keys {
		g.ownPorts[k]--
		if g.ownPorts[k] <= 0 {
			delete(g.ownPorts, k)
			del = append(del, nftables.SetElement{Key: k.key()})
		}
	}
	if len(del) == 0 || g.closed {
		return
	}
	// A failure leaves the ports open to the function, as they were.
	if err := g.conn.SetDeleteElements(g.own, del); err == nil {
		_ = g.conn.Flush()
	}
}

func (g *Guard) release(key uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ports[key]--
	if g.ports[key] > 0 || g.closed {
		return
	}
	delete(g.ports, key)
	// A failure leaves the port open to functions, which is what the holder
	// had; there is nobody to tell.
	if err := g.conn.SetDeleteElements(g.tcp, []nftables.SetElement{{Key: port(key)}}); err == nil {
		_ = g.conn.Flush()
	}
}

// Allowances are the local ports the operator opened to every function.
func (g *Guard) Allowances() []Allowance { return slices.Clone(g.allow) }

// Reachable reports whether every function may reach addr:port over TCP:
// a platform listener's port or one the operator opened.
func (g *Guard) Reachable(addr netip.Addr, port uint16) bool {
	for _, a := range g.allow {
		if a.covers(addr, port, false) {
			return true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ports[port] > 0
}

// Close removes the platform's table.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	g.conn.DelTable(g.table)
	err := g.conn.Flush()
	if cerr := g.conn.CloseLasting(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("remove the network rules: %w", err)
	}
	return nil
}

// TableExists reports whether an inet table of that name is installed.
func TableExists(name string) (bool, error) {
	conn, err := nftables.New()
	if err != nil {
		return false, err
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		if t.Name == name {
			return true, nil
		}
	}
	return false, nil
}

func port(p uint16) []byte { return binaryutil.BigEndian.PutUint16(p) }

// tableName is nimbus_<pid>_<start time>_<tag>: the start time tells a dead
// platform's table from a live one when the pid has been reused.
func tableName(tag string) (string, error) {
	pid := os.Getpid()
	start, err := startTime(pid)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d_%s_%s", TablePrefix, pid, start, tag), nil
}

// removeStale deletes the tables of platforms whose process is gone.
func removeStale(conn *nftables.Conn) ([]string, error) {
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	var stale []string
	for _, t := range tables {
		rest, ok := strings.CutPrefix(t.Name, TablePrefix)
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, "_", 3)
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[0])
		if err != nil || pid <= 0 {
			continue
		}
		if start, err := startTime(pid); err == nil && start == parts[1] {
			continue // alive
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			continue // cannot tell: leave it
		}
		conn.DelTable(t)
		stale = append(stale, t.Name)
	}
	if len(stale) == 0 {
		return nil, nil
	}
	if err := conn.Flush(); err != nil {
		return nil, fmt.Errorf("remove stale network rules %v: %w", stale, err)
	}
	return stale, nil
}

// startTime is field 22 of /proc/<pid>/stat (clock ticks since boot).
func startTime(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// The command name (field 2) may hold spaces and parentheses: count
	// from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return fields[19], nil // fields[0] is field 3 (state)
}

// localResolver reports whether /etc/resolv.conf names a nameserver on a
// local address of the host (systemd-resolved's 127.0.0.53, dnsmasq...).
func localResolver() bool {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return false
	}
	addrs, _ := net.InterfaceAddrs()
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		ip := net.ParseIP(strings.SplitN(f[1], "%", 2)[0])
		if ip == nil {
			continue
		}
		if ip.IsLoopback() || ip.IsUnspecified() {
			return true
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return true
			}
		}
	}
	return false
}
