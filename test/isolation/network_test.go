package isolation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/sandbox/netguard"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// netPy tries what a function after the host's local services would, and
// what it still needs: its platform's API (signed, through boto3) and its
// HTTP gateway.
const netPy = `import json, os, socket, urllib.request, urllib.error

def _connect(addr):
    host, port = addr.rsplit(':', 1)
    try:
        socket.create_connection((host.strip('[]'), int(port)), timeout=20).close()
        return 'connected'
    except ConnectionRefusedError:
        return 'refused'
    except OSError as e:
        return 'error: ' + str(e)

def probe(event, context):
    out = {'dial': {a: _connect(a) for a in event.get('dial', [])}}
    try:
        import boto3
        boto3.client('sqs').list_queues()
        out['api'] = 'ok'
    except Exception as e:
        out['api'] = 'error: %r' % e
    if event.get('gateway'):
        try:
            urllib.request.urlopen(event['gateway'] + '/no-such-route', timeout=20)
            out['gateway'] = 'ok'
        except urllib.error.HTTPError as e:
            out['gateway'] = 'http %d' % e.code
        except Exception as e:
            out['gateway'] = 'error: %r' % e
    return out
`

const netService = `service: net
provider:
  name: aws
  runtime: python3.11
  iam:
    role:
      statements:
        - Effect: Allow
          Action: sqs:ListQueues
          Resource: "*"
functions:
  probe:
    handler: net.probe
    environment:
      SERVICE_URL: %s
`

// deployNet deploys the probe with SERVICE_URL set to serviceURL and
// returns the deploy's warnings.
func deployNet(t *testing.T, p *testkit.Platform, serviceURL string) []string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": fmt.Sprintf(netService, serviceURL), "net.py": netPy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p.Deploy(dir).Response.Warnings
}

// portOf is the port of a listener, as a string.
func portOf(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }

// dialFrom has the probe dial addrs and returns what each gave.
func dialFrom(t *testing.T, p *testkit.Platform, addrs ...string) map[string]any {
	t.Helper()
	r := invoke(t, p, "net-dev-probe", map[string]any{"dial": addrs})
	if r.errType != "" {
		t.Fatalf("probe failed: %s %v\n%s", r.errType, r.payload, r.log)
	}
	got, _ := r.payload["dial"].(map[string]any)
	return got
}

// counting is a listener that counts the connections it accepts.
type counting struct {
	net.Listener
	accepted atomic.Int32
}

func listenCounting(t *testing.T, network, addr string) *counting {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	c := &counting{Listener: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

// needNFTables skips only where the kernel refuses nf_tables.
func needNFTables(t *testing.T) {
	t.Helper()
	needIsolation(t)
	g, err := netguard.New("probe")
	if err != nil {
		if errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EOPNOTSUPP) {
			t.Skipf("the kernel refuses nf_tables: %v", err)
		}
		t.Fatalf("nf_tables: %v", err)
	}
	_ = g.Close()
}

// hostAddress is a non-loopback IPv4 address of the host, or "".
func hostAddress() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

func withGateway(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" }

// Functions cannot reach services on the host's own addresses, loopback or
// not, IPv4 or IPv6, nor another platform's API, not even a service their
// own environment names (the deploy warns about it, naming the flag that
// would open it); they still reach their platform's API and gateway. A
// second platform's functions are unaffected by the first's rules, and a
// stopped platform leaves no table behind.
func TestFunctionsAreKeptOffTheHostsServices(t *testing.T) {
	needNFTables(t)
	testkit.RequireSDK(t, false, true)
	platformLog := &lockedBuffer{}
	p := start(t, func(c *server.Config) {
		withGateway(c)
		c.Logger = slog.New(slog.NewTextHandler(platformLog, nil))
	})
	iso := p.Runtime().Isolation()
	if !iso.NetworkGuarded || iso.NetworkTable == "" {
		t.Fatalf("network rules not installed: %+v", iso)
	}

	db := listenCounting(t, "tcp4", "127.0.0.1:0")    // a database on loopback
	db6 := listenCounting(t, "tcp6", "[::1]:0")       // the same on IPv6
	named := listenCounting(t, "tcp4", "127.0.0.1:0") // a service the function is configured for
	targets := []*counting{db, db6, named}
	if a := hostAddress(); a != "" {
		targets = append(targets, listenCounting(t, "tcp4", net.JoinHostPort(a, "0")))
	}
	other := start(t, withGateway) // another platform on the host
	otherAPI := other.Addr()

	// Whoever deploys names a service of the host to open it to their code.
	warnings := deployNet(t, p, "postgres://u:secret@"+named.Addr().String()+"/v1")
	if len(warnings) != 1 || !strings.Contains(warnings[0], "function probe: SERVICE_URL names "+named.Addr().String()) ||
		!strings.Contains(warnings[0], "--allow-local-port "+portOf(named)) || strings.Contains(warnings[0], "secret") {
		t.Errorf("deploy warnings %q, want one naming the function, the variable, the endpoint and the flag (not the value)", warnings)
	}
	// The same warning on the platform's log and in the function's log
	// group, without the value either.
	if l := platformLog.String(); !strings.Contains(l, "variable=SERVICE_URL endpoint="+named.Addr().String()) || strings.Contains(l, "secret") {
		t.Errorf("platform log lacks the warning (or holds the value):\n%s", l)
	}
	// Logs are written in batches: wait for the line.
	group := ""
	for deadline := time.Now().Add(30 * time.Second); ; {
		var lines []string
		if err := p.Client.Logs(context.Background(), "net-dev-probe", "", "", false, func(r logs.Record) error {
			lines = append(lines, r.Message)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		group = strings.Join(lines, "\n")
		if strings.Contains(group, "environment variable SERVICE_URL") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(group, "environment variable SERVICE_URL names "+named.Addr().String()) ||
		!strings.Contains(group, "--allow-local-port "+portOf(named)) || strings.Contains(group, "secret") {
		t.Errorf("the function's log group lacks the warning (or holds the value):\n%s", group)
	}
	dial := []string{named.Addr().String(), otherAPI}
	for _, l := range targets {
		dial = append(dial, l.Addr().String())
	}
	r := invoke(t, p, "net-dev-probe", map[string]any{"dial": dial, "gateway": p.Gateway.URL()})
	if r.errType != "" {
		t.Fatalf("probe failed: %s %v\n%s", r.errType, r.payload, r.log)
	}
	got, _ := r.payload["dial"].(map[string]any)
	for _, l := range targets {
		if got[l.Addr().String()] != "refused" {
			t.Errorf("the function reached %s: %v", l.Addr(), got[l.Addr().String()])
		}
		if n := l.accepted.Load(); n != 0 {
			t.Errorf("%s accepted %d connections from the function", l.Addr(), n)
		}
	}
	if got[otherAPI] != "refused" {
		t.Errorf("the function reached another platform's API %s: %v", otherAPI, got[otherAPI])
	}
	if r.payload["api"] != "ok" {
		t.Errorf("the function could not call its platform's API: %v", r.payload["api"])
	}
	if g, _ := r.payload["gateway"].(string); !strings.HasPrefix(g, "http ") && g != "ok" {
		t.Errorf("the function could not reach its platform's gateway: %v", g)
	}

	// The other platform's functions keep their own API and gateway.
	if w := deployNet(t, other, "none"); len(w) != 0 {
		t.Errorf("deploy warnings %q for an environment that names no local endpoint", w)
	}
	r = invoke(t, other, "net-dev-probe", map[string]any{"dial": []string{db.Addr().String()}, "gateway": other.Gateway.URL()})
	if r.errType != "" || r.payload["api"] != "ok" {
		t.Fatalf("the second platform's function: %s %v\n%s", r.errType, r.payload, r.log)
	}
	if g, _ := r.payload["gateway"].(string); !strings.HasPrefix(g, "http ") && g != "ok" {
		t.Errorf("the second platform's function could not reach its gateway: %v", g)
	}
	if got, _ := r.payload["dial"].(map[string]any); got[db.Addr().String()] != "refused" {
		t.Errorf("the second platform's function reached %s: %v", db.Addr(), got)
	}

	table := iso.NetworkTable
	p.Stop()
	if ok, err := netguard.TableExists(table); err != nil || ok {
		t.Errorf("table %s after the platform stopped: exists %v, %v", table, ok, err)
	}
	if ok, err := netguard.TableExists(other.Runtime().Isolation().NetworkTable); err != nil || !ok {
		t.Errorf("the running platform's table went with the other: exists %v, %v", ok, err)
	}
}

// --no-sandbox keeps today's behaviour and says so.
func TestNoSandboxLeavesTheNetworkOpen(t *testing.T) {
	needNFTables(t)
	p := start(t, func(c *server.Config) { c.NoSandbox = true })
	iso := p.Runtime().Isolation()
	if iso.NetworkGuarded || iso.NetworkTable != "" || iso.NetworkReason == "" {
		t.Errorf("--no-sandbox: %+v, want no rules and a reason", iso)
	}
}

// The operator opens a local port with --allow-local-port: every function
// reaches it, on the addresses it was opened on, and the deploy does not
// warn; the ports it did not open stay refused, and the status shows them.
func TestOperatorOpensALocalPort(t *testing.T) {
	needNFTables(t)
	testkit.RequireSDK(t, false, true)
	opened := listenCounting(t, "tcp4", "127.0.0.1:0")
	onlyV4 := listenCounting(t, "tcp4", "127.0.0.1:0")
	onlyV4on6, err := net.Listen("tcp6", "[::1]:"+portOf(onlyV4))
	if err != nil {
		t.Skipf("cannot listen on [::1]:%s: %v", portOf(onlyV4), err)
	}
	t.Cleanup(func() { onlyV4on6.Close() })
	closed := listenCounting(t, "tcp4", "127.0.0.1:0")
	p := start(t, func(c *server.Config) {
		c.AllowLocalPorts = []string{portOf(opened), "127.0.0.1:" + portOf(onlyV4)}
	})
	iso := p.Runtime().Isolation()
	if want := []string{portOf(opened), "127.0.0.1:" + portOf(onlyV4)}; fmt.Sprint(iso.AllowedLocalPorts) != fmt.Sprint(want) || iso.LocalPortsFromEnvironment {
		t.Errorf("status: allowed %v (from env %v), want %v", iso.AllowedLocalPorts, iso.LocalPortsFromEnvironment, want)
	}
	if w := deployNet(t, p, "http://localhost:"+portOf(opened)+"/cb"); len(w) != 0 {
		t.Errorf("deploy warnings %q for a port the operator opened", w)
	}
	got := dialFrom(t, p, opened.Addr().String(), onlyV4.Addr().String(), onlyV4on6.Addr().String(), closed.Addr().String())
	if got[opened.Addr().String()] != "connected" || got[onlyV4.Addr().String()] != "connected" {
		t.Errorf("the function could not reach the ports the operator opened: %v", got)
	}
	if got[onlyV4on6.Addr().String()] != "refused" || got[closed.Addr().String()] != "refused" || closed.accepted.Load() != 0 {
		t.Errorf("the function reached a port the operator did not open: %v", got)
	}
	// A port named in the environment but opened only on 127.0.0.1 is
	// refused on ::1: the deploy says so.
	w := deployNet(t, p, "http://[::1]:"+portOf(onlyV4)+"/")
	if len(w) != 1 || !strings.Contains(w[0], "[::1]:"+portOf(onlyV4)) {
		t.Errorf("deploy warnings %q, want one about [::1]:%s", w, portOf(onlyV4))
	}
}

// --allow-local-ports-from-env restores the behaviour before the operator
// decided: each function reaches the local ports its environment names, and
// only those.
func TestLocalPortsFromEnvironment(t *testing.T) {
	needNFTables(t)
	testkit.RequireSDK(t, false, true)
	named := listenCounting(t, "tcp4", "127.0.0.1:0")
	unnamed := listenCounting(t, "tcp4", "127.0.0.1:0")
	p := start(t, func(c *server.Config) { c.AllowLocalPortsFromEnv = true })
	if iso := p.Runtime().Isolation(); !iso.LocalPortsFromEnvironment || !iso.NetworkGuarded {
		t.Errorf("status %+v, want the rules and ports from the environment", iso)
	}
	if w := deployNet(t, p, "http://"+named.Addr().String()+"/v1"); len(w) != 0 {
		t.Errorf("deploy warnings %q with --allow-local-ports-from-env", w)
	}
	got := dialFrom(t, p, named.Addr().String(), unnamed.Addr().String())
	if got[named.Addr().String()] != "connected" || named.accepted.Load() != 1 {
		t.Errorf("the function could not reach the service its environment names: %v", got)
	}
	if got[unnamed.Addr().String()] != "refused" || unnamed.accepted.Load() != 0 {
		t.Errorf("the function reached a service its environment does not name: %v", got)
	}
}

// lockedBuffer collects a platform's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
