package httpguard

import (
	"net"
	"testing"
)

func TestHostPolicy(t *testing.T) {
	loopback := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9000}
	lan := &net.TCPAddr{IP: net.ParseIP("192.168.1.20"), Port: 9000}
	everywhere := &net.TCPAddr{IP: net.IPv4zero, Port: 9000}
	port80 := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 80}
	tests := []struct {
		addr    net.Addr
		allowed []string
		host    string
		want    bool
	}{
		{loopback, nil, "127.0.0.1:9000", true},
		{loopback, nil, "localhost:9000", true},
		{loopback, nil, "LOCALHOST.:9000", true},
		{loopback, nil, "[::1]:9000", true},
		{loopback, nil, "bucket.localhost:9000", true}, // virtual-host style
		{loopback, nil, "a.b.localhost:9000", true},
		{loopback, nil, "127.0.0.2:9000", true},
		{loopback, nil, "localhost:9001", false}, // another port: another service
		{loopback, nil, "localhost", false},
		{loopback, nil, "evil.example:9000", false}, // DNS rebinding
		{loopback, nil, "localhost.evil.example:9000", false},
		{loopback, nil, "evillocalhost:9000", false},
		{loopback, nil, "192.168.1.20:9000", false},
		{loopback, nil, "", false},
		{loopback, []string{"nimbus.internal"}, "nimbus.internal:9000", true},
		{loopback, []string{"nimbus.internal"}, "nimbus.internal", true}, // behind a proxy
		{loopback, []string{"nimbus.internal"}, "bucket.nimbus.internal:443", true},
		{loopback, []string{"*.nimbus.internal"}, "x.nimbus.internal:9000", true},
		{loopback, []string{"nimbus.internal:8443"}, "nimbus.internal:9000", false},
		{loopback, []string{"nimbus.internal:8443"}, "nimbus.internal:8443", true},
		{loopback, []string{"nimbus.internal"}, "nimbus.internal.evil.example:9000", false},
		{lan, nil, "192.168.1.20:9000", true},
		{lan, nil, "192.168.1.21:9000", false},
		{lan, nil, "localhost:9000", true},
		{everywhere, nil, "10.0.0.5:9000", true}, // bound everywhere: any address literal
		{everywhere, nil, "[fe80::1]:9000", true},
		{everywhere, nil, "myhost:9000", false}, // but no name that is not configured
		{port80, nil, "localhost", true},
		{port80, nil, "localhost:80", true},
	}
	for _, tt := range tests {
		p, err := newHostPolicy(tt.addr, tt.allowed)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.allows(tt.host); got != tt.want {
			t.Errorf("listener %s, allowed %v: Host %q allowed = %v, want %v", tt.addr, tt.allowed, tt.host, got, tt.want)
		}
	}
}

func TestAllowedHostSyntax(t *testing.T) {
	for _, bad := range []string{"", "http://x", "a b", "x:port", "x/y"} {
		if _, err := parseAllowedHost(bad); err == nil {
			t.Errorf("allowed host %q accepted", bad)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:9000", "127.0.0.1:9000", true},
		{"http://LOCALHOST:9000", "localhost:9000", true},
		{"https://nimbus.internal", "nimbus.internal", true},
		{"https://nimbus.internal", "nimbus.internal:443", true},
		{"http://localhost:8080", "localhost:9000", false}, // the gateway's pages
		{"http://evil.example", "localhost:9000", false},
		{"null", "localhost:9000", false},
		{"http://localhost:9000/x", "localhost:9000", false},
		{"file://", "localhost:9000", false},
	}
	for _, tt := range tests {
		if got := sameOrigin(tt.origin, tt.host); got != tt.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tt.origin, tt.host, got, tt.want)
		}
	}
}
