// Package store is nimbus's substrate for metadata, queues and streams: NATS
// JetStream, either embedded in-process (the default, one machine) or an
// external NATS cluster (replicated, for more than one machine).
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where the store lives.
type Config struct {
	// DataDir holds the embedded server's JetStream files (DataDir/jetstream).
	DataDir string
	// URL of an external NATS cluster; empty runs the embedded server.
	URL string
	// Replicas for streams and buckets; 0 means 1 embedded and 3 in a cluster.
	Replicas int
	// MinFree is the space the embedded server leaves free on the data
	// directory's disk: writes beyond it are refused with ErrNoSpace.
	// 0 means 64 MiB, or 1/16 of a smaller disk.
	MinFree int64
	Logger  *slog.Logger
}

// maxPayload bounds one NATS message.
const maxPayload = 8 << 20

// Store is an open connection to JetStream.
type Store struct {
	srv      *server.Server
	NC       *nats.Conn
	JS       jetstream.JetStream
	replicas int
	guard    *spaceGuard // nil with an external cluster
	stop     context.CancelFunc
	done     chan struct{}
}

// Open starts the embedded server (or connects to the cluster) and returns a
// ready store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{replicas: cfg.Replicas}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.URL == "" {
		dir := filepath.Join(cfg.DataDir, "jetstream")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
		opts := &server.Options{
			ServerName: "nimbus",
			JetStream:  true,
			StoreDir:   dir,
			DontListen: true, // reached in-process only
			NoSigs:     true,
			NoLog:      true,
			// Durable before acknowledged: every write is fsync'd before JetStream acks it.
			SyncAlways: true,
			// Room for Lambda's largest payloads (6 MB sync, 1 MB async) plus their envelopes.
			MaxPayload: maxPayload,
			// The server's own limit is 75% of the disk free at start and
			// fixed from then on; the space guard sets the real limit on the
			// account instead, following the disk.
			JetStreamMaxStore: server.JetStreamMaxStoreDefault,
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS: %w", err)
		}
		guard, err := newSpaceGuard(srv, dir, cfg.MinFree, cfg.Logger)
		if err != nil {
			return nil, err
		}
		srv.SetLoggerV2(serverLog{log: cfg.Logger, guard: guard}, false, false, false)
		srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			srv.Shutdown()
			return nil, errors.New("embedded NATS did not become ready in 30s")
		}
		s.srv = srv
		guard.jsConfig = *srv.JetStreamConfig()
		// JetStreamConfig's StoreDir ends in the "jetstream" that
		// EnableJetStream appends again.
		guard.jsConfig.StoreDir = dir
		guard.refresh()
		gctx, stop := context.WithCancel(context.Background())
		s.guard, s.stop, s.done = guard, stop, make(chan struct{})
		go func() {
			defer close(s.done)
			guard.run(gctx)
		}()
		nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("nimbus"), nats.MaxReconnects(-1))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("connect to embedded NATS: %w", err)
		}
		s.NC = nc
		if s.replicas == 0 {
			s.replicas = 1
		}
	} else {
		nc, err := nats.Connect(cfg.URL, nats.Name("nimbus"), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
		}
		s.NC = nc
		if s.replicas == 0 {
			s.replicas = 3
		}
	}
	js, err := jetstream.New(s.NC)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	s.JS = js
	if s.guard != nil {
		s.JS = guardedJS{JetStream: js, g: s.guard}
	}
	return s, nil
}

// CheckSpace answers ErrNoSpace at once when the data directory's disk is
// full (the embedded server only; a cluster answers for itself).
func (s *Store) CheckSpace() error {
	if s.guard == nil {
		return nil
	}
	return s.guard.check()
}

// DiskSize is the size of the data directory's disk, 0 with an external
// cluster: budgets of what the platform keeps (logs) are sized to it.
func (s *Store) DiskSize() int64 {
	if s.guard == nil {
		return 0
	}
	_, total, err := diskSpace(s.guard.dir)
	if err != nil {
		return 0
	}
	return total
}

// NoSpace turns a write refused for lack of space into ErrNoSpace naming the
// disk and its free space; other errors are returned as they are.
func (s *Store) NoSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) || !IsNoSpace(err) {
		return err
	}
	if s.guard != nil {
		return fmt.Errorf("%w (%s has %s free): %w", ErrNoSpace, s.guard.dir, humanBytes(s.guard.free.Load()), err)
	}
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}

// Replicas is the replication factor new streams and buckets get.
func (s *Store) Replicas() int { return s.replicas }

// KeyValue opens (creating if needed) a file-backed KV bucket.
func (s *Store) KeyValue(ctx context.Context, bucket string, history uint8) (jetstream.KeyValue, error) {
	kv, err := s.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   bucket,
		History:  history,
		Storage:  jetstream.FileStorage,
		Replicas: s.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// Stream creates or updates a stream, forcing file storage and the store's replicas.
func (s *Store) Stream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	cfg.Storage = jetstream.FileStorage
	cfg.Replicas = s.replicas
	st, err := s.JS.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// Close drains the connection and stops the embedded server.
func (s *Store) Close() {
	if s.NC != nil {
		_ = s.NC.Drain()
		// Drain is asynchronous; wait for it so buffered publishes reach the server.
		deadline := time.Now().Add(5 * time.Second)
		for !s.NC.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		s.NC.Close()
	}
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}
