package testkit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/nimbus-platform/nimbus/internal/server"
)

// StartNATS runs a NATS server with JetStream until the test ends: the
// store that the nodes of a cluster share (server.Config.NATSURL).
func StartNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("NATS did not start")
	}
	return ns
}

// JoinNode starts another node of a's cluster, configured by mutate (which
// names the shared NATS server) on a data directory of its own. The nodes of
// a cluster share the parameters' key, as an operator copies it.
func JoinNode(t testing.TB, a *Platform, mutate func(*server.Config)) *Platform {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	key, err := os.ReadFile(filepath.Join(a.Config.DataDir, "params.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "params.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	return Start(t, func(c *server.Config) { mutate(c); c.DataDir = dir })
}
