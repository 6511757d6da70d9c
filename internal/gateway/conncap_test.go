package gateway

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnectionsAreCapped: a client opening connections by the thousand
// cannot take every descriptor of the platform: past MaxConns the gateway
// answers 429 and closes, and a slot given back is taken again.
func TestConnectionsAreCapped(t *testing.T) {
	g := New(Config{MaxConns: 3})
	if err := g.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer g.Close(context.Background())
	var conns []net.Conn
	defer func() { // before the gateway's Close, which would wait for them
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", g.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		return c
	}
	// read returns what the gateway sends before it closes c.
	read := func(c net.Conn) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		data, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read: %v (a held connection is not closed)", err)
		}
		return string(data)
	}
	held := []net.Conn{dial(), dial(), dial()}
	// Connections are accepted in order: the fourth is over the cap.
	if got := read(dial()); !strings.HasPrefix(got, "HTTP/1.1 429") {
		t.Fatalf("a fourth connection got %q, want a 429", got)
	}
	held[0].Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := dial()
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 16)
		_, err := c.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			break // held open: accepted
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection accepted after one was closed")
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMaxConnsDefaultsToHalfTheFileLimit(t *testing.T) {
	if got := New(Config{}).maxConns(); got < 256 {
		t.Errorf("default cap %d, want at least 256", got)
	}
	if got := New(Config{MaxConns: -1}).maxConns(); got > 0 {
		t.Errorf("MaxConns -1: cap %d, want none", got)
	}
}
