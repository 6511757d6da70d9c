package auth

import (
	"context"
	"net"
	"net/netip"
	"strings"
)

// ipMatch reports whether addr (aws:SourceIp: an address, no port) lies in
// the IAM condition value want: a CIDR block, v4 or v6, or a single address
// (IAM reads one as /32 or /128). An IPv4-mapped IPv6 address is its IPv4
// address on both sides. A value that is neither matches nothing.
func ipMatch(want, addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	want = strings.TrimSpace(want)
	var p netip.Prefix
	if strings.Contains(want, "/") {
		if p, err = netip.ParsePrefix(want); err != nil {
			return false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
	} else {
		w, err := netip.ParseAddr(want)
		if err != nil {
			return false
		}
		w = w.Unmap()
		p = netip.PrefixFrom(w, w.BitLen())
	}
	return p.Masked().Contains(a)
}

// SourceIP is aws:SourceIp for a request from remote (an http.Request's
// RemoteAddr, as the platform's listener saw the connection): its address
// without the port, "" when it has none.
func SourceIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return a.Unmap().WithZone("").String()
}

// withRemote records the connection's peer in a context WithPrincipal made,
// in the same allocation.
func withRemote(ctx context.Context, remote string) {
	if pc, ok := ctx.(*principalCtx); ok {
		pc.info.remote = remote
	}
}
