package httpguard

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// hostPolicy decides which Host headers name this listener. Requests for
// any other name are DNS rebinding (a page whose name now resolves to us)
// or a misrouted proxy, and are refused.
type hostPolicy struct {
	port        string // the listener's port
	boundIP     net.IP // nil when bound to every address
	configured  []allowedHost
	description string // for error messages: what the listener answers to
}

type allowedHost struct {
	name string // lower case, without a trailing dot
	port string // "" matches any port
}

func newHostPolicy(addr net.Addr, allowed []string) (*hostPolicy, error) {
	p := &hostPolicy{port: "80"}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		p.port = fmt.Sprint(tcp.Port)
		if !tcp.IP.IsUnspecified() && tcp.IP != nil {
			p.boundIP = tcp.IP
		}
	}
	names := []string{"localhost:" + p.port, "127.0.0.1:" + p.port, "[::1]:" + p.port}
	if p.boundIP != nil && !p.boundIP.IsLoopback() {
		names = append(names, net.JoinHostPort(p.boundIP.String(), p.port))
	}
	if p.boundIP == nil {
		names = append(names, "any address of this machine on port "+p.port)
	}
	for _, a := range allowed {
		h, err := parseAllowedHost(a)
		if err != nil {
			return nil, err
		}
		p.configured = append(p.configured, h)
		names = append(names, a)
	}
	p.description = strings.Join(names, ", ")
	return p, nil
}

// parseAllowedHost reads "name", "name:port" or "*.name" (the same as
// "name": subdomains are always included).
func parseAllowedHost(s string) (allowedHost, error) {
	orig := s
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "*.")
	if s == "" || strings.ContainsAny(s, "/@?# ") {
		return allowedHost{}, fmt.Errorf("allowed host %q must be a host name or IP address, optionally with :port", orig)
	}
	name, port := splitHostPort(s)
	if port != "" {
		for _, c := range port {
			if c < '0' || c > '9' {
				return allowedHost{}, fmt.Errorf("allowed host %q has an invalid port", orig)
			}
		}
	}
	if name == "" {
		return allowedHost{}, fmt.Errorf("allowed host %q has no name", orig)
	}
	return allowedHost{name: name, port: port}, nil
}

// splitHostPort splits "host[:port]" (IPv6 in brackets), lower-casing the
// host and dropping a trailing dot.
func splitHostPort(hostport string) (host, port string) {
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), "."), port
}

// allows reports whether a request's Host names this listener.
func (p *hostPolicy) allows(hostHeader string) bool {
	if hostHeader == "" {
		return false
	}
	host, port := splitHostPort(hostHeader)
	if host == "" {
		return false
	}
	for _, a := range p.configured {
		if (a.port == "" || a.port == port) && isNameOrSubdomain(host, a.name) {
			return true
		}
	}
	// The built-in names only on the port the listener serves (a client
	// leaves the port out only for 80).
	if port != p.port && !(port == "" && p.port == "80") {
		return false
	}
	if isNameOrSubdomain(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	// IP literals cannot be rebound; names can.
	return ip.IsLoopback() || p.boundIP == nil || ip.Equal(p.boundIP)
}

// isNameOrSubdomain reports whether host is name or a name under it
// (virtual-host style requests such as bucket.localhost).
func isNameOrSubdomain(host, name string) bool {
	if host == name {
		return true
	}
	return len(host) > len(name)+1 && strings.HasSuffix(host, name) && host[len(host)-len(name)-1] == '.'
}

// sameOrigin reports whether an Origin header names the listener itself at
// the Host the request was sent to (a page served by this listener).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path != "" {
		return false
	}
	oh, op := splitHostPort(u.Host)
	hh, hp := splitHostPort(host)
	// A missing port is the scheme's default (a TLS proxy in front keeps
	// Host without one).
	def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	if op == def {
		op = ""
	}
	if hp == def {
		hp = ""
	}
	return oh == hh && op == hp
}
