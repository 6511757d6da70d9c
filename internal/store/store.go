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
	Logger   *slog.Logger
}

// maxPayload bounds one NATS message.
const maxPayload = 8 << 20

// Store is an open connection to JetStream.
type Store struct {
	srv      *server.Server
	NC       *nats.Conn
	JS       jetstream.JetStream
	replicas int
}

// Open starts the embedded server (or connects to the cluster) and returns a
// ready store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{replicas: cfg.Replicas}
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
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS: %w", err)
		}
		srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			srv.Shutdown()
			return nil, errors.New("embedded NATS did not become ready in 30s")
		}
		s.srv = srv
		nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("nimbus"), nats.MaxReconnects(-1))
		if err != nil {
			srv.Shutdown()
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
	return s, nil
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
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}
