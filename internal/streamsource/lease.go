package streamsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Several nimbus nodes on one NATS cluster all run every deployed mapping,
// and a shard's reading is stateless (the checkpoint is in a shared
// bucket): without an owner each node would deliver each record. So a
// mapping's shard is delivered only by the node that holds its lease, a key
// of the bucket nimbus_stream_leases whose entries expire after the lease
// time unless renewed. The holder renews it at a third of that; a node that
// stops deletes it, so another takes over at once; one that dies loses it
// by expiry. The next holder resumes from the checkpoint (ADR 0030).

// leaseBucket holds the owner of each mapping's shard.
const leaseBucket = "nimbus_stream_leases"

// DefaultLeaseTTL is how long a lease lasts without renewal.
const DefaultLeaseTTL = 10 * time.Second

func openLeases(ctx context.Context, cfg Config) (jetstream.KeyValue, error) {
	kv, err := cfg.Store.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: leaseBucket, Storage: jetstream.FileStorage, Replicas: max(cfg.Store.Replicas(), 1),
		TTL: cfg.LeaseTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", leaseBucket, err)
	}
	return kv, nil
}

// leased runs run for the mapping's shard whenever this node holds its
// lease, until ctx ends: run's context ends when the lease is lost.
func (p *Pollers) leased(ctx context.Context, m mapping, shard string, run func(ctx context.Context)) {
	key := checkpointKey(m, shard)
	log := p.log.With("function", m.function, "stream", m.trigger.ARN, "shard", shard)
	poll := min(p.cfg.LeaseTTL/4, time.Second)
	for ctx.Err() == nil {
		rev, err := p.leases.Create(ctx, key, []byte(p.node))
		if errors.Is(err, jetstream.ErrKeyExists) {
			// This node's own lease, left by a crash: take it back.
			if e, gerr := p.leases.Get(ctx, key); gerr == nil && string(e.Value()) == p.node {
				rev, err = p.leases.Update(ctx, key, []byte(p.node), e.Revision())
			}
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				log.Warn("stream event: take the shard's lease", "err", err)
			}
			sleep(ctx, poll)
			continue
		}
		lctx, lost := context.WithCancel(ctx)
		renewed := make(chan uint64, 1)
		go func() {
			defer close(renewed)
			renewed <- p.renew(lctx, key, rev, lost, log)
		}()
		run(lctx)
		lost()
		last := <-renewed
		// Let the next node take over at once; a lease lost meanwhile has
		// another holder (or none) and is not touched.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := p.leases.Delete(dctx, key, jetstream.LastRevision(last)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			log.Debug("stream event: give the shard's lease up", "err", err)
		}
		cancel()
	}
}

// renew keeps the lease at rev until ctx ends, and calls lost when it
// cannot (another node holds it, or the store did not answer within the
// lease); it returns the last revision it held.
func (p *Pollers) renew(ctx context.Context, key string, rev uint64, lost func(), log *slog.Logger) uint64 {
	every := p.cfg.LeaseTTL / 3
	held := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rev
		case <-t.C:
		}
		uctx, cancel := context.WithTimeout(ctx, every)
		r, err := p.leases.Update(uctx, key, []byte(p.node), rev)
		cancel()
		switch {
		case err == nil:
			rev, held = r, time.Now()
		case ctx.Err() != nil:
			return rev
		case errors.Is(err, jetstream.ErrKeyExists) || time.Since(held) > p.cfg.LeaseTTL*2/3:
			// Taken by another node, or not renewed in time: it may be.
			log.Warn("stream event: shard's lease lost", "err", err)
			lost()
			return rev
		}
	}
}
