package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"testing"
	"time"
)

// A function answering statusCode 101 made the gateway write "101 Switching
// Protocols" to a request carrying Upgrade: a proxy in front then tunnels the
// connection, and what the client sends next bypasses the proxy's rules.
// 100-199 wrote an interim answer with the function's headers before a 200.
func (p *platform) testInterimStatusRefused(t *testing.T) {
	u, err := neturl.Parse(p.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"100", "101", "103", "199"} {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		req := "GET /dev/echo/x?status=" + status + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
			"GET /dev/echo/y HTTP/1.1\r\nHost: x\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("status %s: %v", status, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("a function answering statusCode %s: the gateway answered %d, want 502", status, resp.StatusCode)
		}
		// The next request on the connection is answered as a request of its own.
		if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("status %s: the request after it: %v %v", status, resp, err)
		} else {
			resp.Body.Close()
		}
		c.Close()
	}
}
