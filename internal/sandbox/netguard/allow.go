package netguard

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Allowance is a range of local ports the operator opens to every function
// (`nimbus up --allow-local-port`), on every address of the host or on one.
type Allowance struct {
	Addr   netip.Addr // the zero Addr: every local address
	Lo, Hi uint16
	UDP    bool
}

// String is the allowance as the flag takes it: 5432, 8000-8010,
// 127.0.0.1:5432, [::1]:6379, 8125/udp.
func (a Allowance) String() string {
	p := strconv.Itoa(int(a.Lo))
	if a.Hi != a.Lo {
		p += "-" + strconv.Itoa(int(a.Hi))
	}
	if a.Addr.IsValid() {
		p = net.JoinHostPort(a.Addr.String(), p)
	}
	if a.UDP {
		p += "/udp"
	}
	return p
}

// covers reports whether the allowance opens addr:port (addr invalid: the
// port on every local address).
func (a Allowance) covers(addr netip.Addr, port uint16, udp bool) bool {
	if a.UDP != udp || port < a.Lo || port > a.Hi {
		return false
	}
	return !a.Addr.IsValid() || a.Addr == addr.Unmap()
}

// ParseAllowance reads one --allow-local-port value: PORT or LO-HI, with
// HOST: before it to open it on one address only (an IP literal, [v6] in
// brackets, or localhost for 127.0.0.1 and ::1), and /udp after it for UDP
// (TCP otherwise). Host names other than localhost are refused: what they
// resolve to may change after the rules are installed.
func ParseAllowance(s string) ([]Allowance, error) {
	spec := strings.TrimSpace(s)
	udp := false
	if rest, ok := strings.CutSuffix(spec, "/udp"); ok {
		spec, udp = rest, true
	} else {
		spec = strings.TrimSuffix(spec, "/tcp")
	}
	host, ports := "", spec
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		host, ports = spec[:i], spec[i+1:]
		bracketed := strings.HasPrefix(host, "[") || strings.HasSuffix(host, "]")
		if bracketed {
			inner, opened := strings.CutPrefix(host, "[")
			inner, closed := strings.CutSuffix(inner, "]")
			if !opened || !closed || !strings.Contains(inner, ":") {
				return nil, fmt.Errorf("%q: brackets hold an IPv6 address, as [::1]:5432", s)
			}
			host = inner
		} else if strings.Contains(host, ":") {
			return nil, fmt.Errorf("%q: put an IPv6 address in brackets, as [::1]:5432", s)
		}
	}
	lo, hi, err := parseRange(ports)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	a := Allowance{Lo: lo, Hi: hi, UDP: udp}
	switch {
	case host == "":
		return []Allowance{a}, nil
	case strings.EqualFold(host, "localhost"):
		v4, v6 := a, a
		v4.Addr, v6.Addr = netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()
		return []Allowance{v4, v6}, nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("%q: the host must be an IP address or localhost", s)
	}
	if addr.Zone() != "" {
		return nil, fmt.Errorf("%q: an address with a zone is not supported", s)
	}
	a.Addr = addr.Unmap()
	if a.Addr.IsUnspecified() {
		// No packet is ever addressed to 0.0.0.0 or ::: such a rule would
		// match nothing while the status listed the port as open.
		return nil, fmt.Errorf("%q: %s is no address a connection goes to; leave the host out to open the port on every address of this host", s, a.Addr)
	}
	if !isLocal(a.Addr) {
		return nil, fmt.Errorf("%q: %s is not an address of this host", s, a.Addr)
	}
	return []Allowance{a}, nil
}

func parseRange(s string) (lo, hi uint16, err error) {
	from, to, isRange := strings.Cut(s, "-")
	l, err := strconv.Atoi(from)
	if err != nil || l < 1 || l > 65535 || !digits(from) {
		return 0, 0, fmt.Errorf("%s is not a port (1-65535)", from)
	}
	h := l
	if isRange {
		if h, err = strconv.Atoi(to); err != nil || h < 1 || h > 65535 || !digits(to) {
			return 0, 0, fmt.Errorf("%s is not a port (1-65535)", to)
		}
		if h < l {
			return 0, 0, fmt.Errorf("the range %d-%d is empty", l, h)
		}
	}
	return uint16(l), uint16(h), nil
}

// isLocal reports whether addr is loopback, unspecified or an address of
// one of the host's interfaces.
func isLocal(addr netip.Addr) bool {
	if addr.IsLoopback() || addr.IsUnspecified() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr.Unmap() {
				return true
			}
		}
	}
	return false
}

// allowanceRule is the guard chain's rule for one allowance:
//
//	[ip daddr A | ip6 daddr A] meta l4proto tcp th dport LO-HI accept
func allowanceRule(table *nftables.Table, chain *nftables.Chain, a Allowance) *nftables.Rule {
	var exprs []expr.Any
	if a.Addr.IsValid() {
		proto, off, n := byte(unix.NFPROTO_IPV6), uint32(24), uint32(16)
		if a.Addr.Is4() {
			proto, off, n = unix.NFPROTO_IPV4, 16, 4
		}
		exprs = append(exprs,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.Addr.AsSlice()},
		)
	}
	proto := byte(unix.IPPROTO_TCP)
	if a.UDP {
		proto = unix.IPPROTO_UDP
	}
	exprs = append(exprs,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	)
	if a.Lo == a.Hi {
		exprs = append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(a.Lo)})
	} else {
		exprs = append(exprs, &expr.Range{Op: expr.CmpOpEq, Register: 1,
			FromData: binaryutil.BigEndian.PutUint16(a.Lo), ToData: binaryutil.BigEndian.PutUint16(a.Hi)})
	}
	exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictAccept})
	return &nftables.Rule{Table: table, Chain: chain, Exprs: exprs}
}

// Endpoint is a local service a function's environment names.
type Endpoint struct {
	Var  string     // the variable
	Host string     // as written: localhost, 127.0.0.1, ::1 ...
	Addr netip.Addr // the address it stands for (localhost: 127.0.0.1)
	Port uint16
}

// String is host:port.
func (e Endpoint) String() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

// endpoint finds host:port in a value: a URL's authority or a bare address.
var endpoint = regexp.MustCompile(`(?i)(?:^|[/@=,;\s])(localhost|\[[0-9a-f:.]+\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}):([0-9]{1,5})\b`)

// LocalEndpoints returns the endpoints on the host's own addresses
// (loopback, localhost or an address of its interfaces) that an environment
// names with an explicit port: "http://127.0.0.1:8080/x", "localhost:6379",
// "postgres://u:p@[::1]:5432/db"; ordered by variable.
func LocalEndpoints(env map[string]string) []Endpoint {
	var out []Endpoint
	for _, name := range slices.Sorted(maps.Keys(env)) {
		for _, m := range endpoint.FindAllStringSubmatch(env[name], -1) {
			host := strings.Trim(m[1], "[]")
			port, err := strconv.Atoi(m[2])
			if err != nil || port <= 0 || port > 65535 {
				continue
			}
			var addr netip.Addr
			if strings.EqualFold(host, "localhost") {
				addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			} else if addr, err = netip.ParseAddr(host); err != nil || !isLocal(addr) {
				continue
			}
			e := Endpoint{Var: name, Host: host, Addr: addr.Unmap(), Port: uint16(port)}
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

// LocalPorts returns the ports of the local endpoints that a function's
// environment names (see LocalEndpoints), each once, in LocalEndpoints'
// order.
func LocalPorts(env map[string]string) []int {
	var ports []int
	for _, e := range LocalEndpoints(env) {
		if !slices.Contains(ports, int(e.Port)) {
			ports = append(ports, int(e.Port))
		}
	}
	return ports
}

// digits reports whether s is all decimal digits (strconv.Atoi takes a sign).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
