package store

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// guardedJS refuses writes with ErrNoSpace while the data disk is full,
// before they reach JetStream: a write that met the full disk would wait for
// an answer JetStream never gives.
type guardedJS struct {
	jetstream.JetStream
	g *spaceGuard
}

func (j guardedJS) Publish(ctx context.Context, subject string, payload []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := j.g.checkNow(); err != nil {
		return nil, err
	}
	return j.JetStream.Publish(ctx, subject, payload, opts...)
}

func (j guardedJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := j.g.checkNow(); err != nil {
		return nil, err
	}
	return j.JetStream.PublishMsg(ctx, msg, opts...)
}

func (j guardedJS) PublishAsync(subject string, payload []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if err := j.g.checkNow(); err != nil {
		return nil, err
	}
	return j.JetStream.PublishAsync(subject, payload, opts...)
}

func (j guardedJS) PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if err := j.g.checkNow(); err != nil {
		return nil, err
	}
	return j.JetStream.PublishMsgAsync(msg, opts...)
}

func (j guardedJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	return j.guardKV(j.JetStream.KeyValue(ctx, bucket))
}

func (j guardedJS) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return j.guardKV(j.JetStream.CreateKeyValue(ctx, cfg))
}

func (j guardedJS) UpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return j.guardKV(j.JetStream.UpdateKeyValue(ctx, cfg))
}

func (j guardedJS) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return j.guardKV(j.JetStream.CreateOrUpdateKeyValue(ctx, cfg))
}

func (j guardedJS) guardKV(kv jetstream.KeyValue, err error) (jetstream.KeyValue, error) {
	if err != nil {
		return nil, err
	}
	return guardedKV{KeyValue: kv, g: j.g}, nil
}

// guardedKV refuses a bucket's writes while the data disk is full; deletes
// go through (they make room).
type guardedKV struct {
	jetstream.KeyValue
	g *spaceGuard
}

func (kv guardedKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := kv.g.checkNow(); err != nil {
		return 0, err
	}
	return kv.KeyValue.Put(ctx, key, value)
}

func (kv guardedKV) PutString(ctx context.Context, key string, value string) (uint64, error) {
	if err := kv.g.checkNow(); err != nil {
		return 0, err
	}
	return kv.KeyValue.PutString(ctx, key, value)
}

func (kv guardedKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if err := kv.g.checkNow(); err != nil {
		return 0, err
	}
	return kv.KeyValue.Create(ctx, key, value, opts...)
}

func (kv guardedKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	if err := kv.g.checkNow(); err != nil {
		return 0, err
	}
	return kv.KeyValue.Update(ctx, key, value, revision)
}
