// Package streamsource runs the `stream` events of functions (Lambda's
// event source mappings for DynamoDB table streams, and, through the same
// Source interface, data streams): a poller per mapping and shard reads
// records in order, invokes the function synchronously with a batch, and
// checkpoints its position durably once the batch is done. A failing batch
// blocks its shard until it succeeds, is bisected, runs out of retries or
// of record age (then it goes to the on-failure destination).
package streamsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodbstreams"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// Record is one stream record as the function receives it.
type Record struct {
	Seq     uint64
	Arrival time.Time
	// Key groups records that must stay in order: the partition key
	// (Kinesis), the item's key (DynamoDB).
	Key   string
	Event json.RawMessage // the record in Lambda's shape
}

// Source reads the shards of one kind of stream.
type Source interface {
	// Shards lists the stream's shards.
	Shards(ctx context.Context, arn string) ([]string, error)
	// Latest is the position after the shard's last record.
	Latest(ctx context.Context, arn, shard string) (uint64, error)
	// Read returns up to limit records after position `after`, in order,
	// and the position after them. ErrTrimmed: records after `after` are
	// gone (horizon says the position is the trim horizon, never an error).
	// role is the function's execution role ARN, which some records name.
	Read(ctx context.Context, arn, shard string, after uint64, limit int, horizon bool, role string) ([]Record, uint64, error)
	// Changed is closed when the stream may have new records.
	Changed(arn string) (<-chan struct{}, error)
	// BatchInfo is the key of a failure record's batch description
	// ("DDBStreamBatchInfo", "KinesisBatchInfo").
	BatchInfo() string
}

// ErrTrimmed says a position is older than the stream keeps.
var ErrTrimmed = errors.New("position trimmed")

// Tables is the Source of DynamoDB table streams.
type Tables struct{ Service *tables.Service }

// Shards implements Source: a table stream has one shard.
func (s Tables) Shards(ctx context.Context, arn string) ([]string, error) {
	st, err := s.Service.DescribeStream(ctx, arn)
	if err != nil {
		return nil, err
	}
	return []string{st.ShardID}, nil
}

// Latest implements Source.
func (s Tables) Latest(ctx context.Context, arn, shard string) (uint64, error) {
	return s.Service.StreamPosition(ctx, arn)
}

// Read implements Source.
func (s Tables) Read(ctx context.Context, arn, shard string, after uint64, limit int, horizon bool, role string) ([]Record, uint64, error) {
	recs, next, err := s.Service.ReadStream(ctx, arn, after, limit, horizon)
	if errors.Is(err, tables.ErrTrimmed) {
		return nil, after, ErrTrimmed
	}
	if err != nil {
		return nil, after, err
	}
	out := make([]Record, 0, len(recs))
	for _, rec := range recs {
		r, err := dynamodbstreams.NewRecord(arn, rec, true)
		if err != nil {
			return nil, after, err
		}
		ev, err := json.Marshal(r)
		if err != nil {
			return nil, after, err
		}
		// encoding/json sorts map keys: one item's key is one string.
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(r.DynamoDB.Keys, &keys); err != nil {
			return nil, after, fmt.Errorf("stream record %d keys: %w", rec.Seq, err)
		}
		key, _ := json.Marshal(keys)
		out = append(out, Record{Seq: rec.Seq, Arrival: rec.Created, Key: string(key), Event: ev})
	}
	return out, next, nil
}

// Changed implements Source.
func (s Tables) Changed(arn string) (<-chan struct{}, error) { return s.Service.StreamChanged(arn) }

// BatchInfo implements Source.
func (Tables) BatchInfo() string { return "DDBStreamBatchInfo" }
