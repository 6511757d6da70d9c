package streamsource

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodbstreams"
	"github.com/nimbus-platform/nimbus/internal/datastreams"
)

// Kinesis is the Source of data streams.
type Kinesis struct{ Service *datastreams.Service }

// KinesisRecord is a data record as Lambda delivers it.
type KinesisRecord struct {
	Kinesis struct {
		KinesisSchemaVersion        string  `json:"kinesisSchemaVersion"`
		PartitionKey                string  `json:"partitionKey"`
		SequenceNumber              string  `json:"sequenceNumber"`
		Data                        []byte  `json:"data"`
		ApproximateArrivalTimestamp float64 `json:"approximateArrivalTimestamp"`
	} `json:"kinesis"`
	EventSource       string `json:"eventSource"`
	EventVersion      string `json:"eventVersion"`
	EventID           string `json:"eventID"`
	EventName         string `json:"eventName"`
	InvokeIdentityArn string `json:"invokeIdentityArn"`
	AWSRegion         string `json:"awsRegion"`
	EventSourceARN    string `json:"eventSourceARN"`
}

func (k Kinesis) name(arn string) (string, error) {
	name, ok := datastreams.NameFromARN(arn)
	if !ok {
		return "", fmt.Errorf("%q is not a Kinesis stream ARN", arn)
	}
	return name, nil
}

// Shards implements Source.
func (k Kinesis) Shards(ctx context.Context, arn string) ([]string, error) {
	name, err := k.name(arn)
	if err != nil {
		return nil, err
	}
	st, err := k.Service.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]string, st.Shards)
	for i := range out {
		out[i] = datastreams.ShardID(i)
	}
	return out, nil
}

// Latest implements Source.
func (k Kinesis) Latest(ctx context.Context, arn, shard string) (uint64, error) {
	name, err := k.name(arn)
	if err != nil {
		return 0, err
	}
	_, last, err := k.Service.Read(ctx, name, datastreams.ParseShardID(shard), 0, 0)
	return last, err
}

// Read implements Source. JetStream drops records past their age on its
// own; a position before them simply reads from the oldest one.
func (k Kinesis) Read(ctx context.Context, arn, shard string, after uint64, limit int, horizon bool, role string) ([]Record, uint64, error) {
	name, err := k.name(arn)
	if err != nil {
		return nil, after, err
	}
	recs, _, err := k.Service.Read(ctx, name, datastreams.ParseShardID(shard), after, limit)
	if err != nil {
		return nil, after, err
	}
	out := make([]Record, 0, len(recs))
	region := dynamodbstreams.RegionOf(arn)
	for _, r := range recs {
		var ev KinesisRecord
		seq := strconv.FormatUint(r.Seq, 10)
		ev.Kinesis.KinesisSchemaVersion, ev.Kinesis.PartitionKey, ev.Kinesis.SequenceNumber = "1.0", r.PartitionKey, seq
		ev.Kinesis.Data, ev.Kinesis.ApproximateArrivalTimestamp = r.Data, float64(r.Arrival.UnixMilli())/1000
		ev.EventSource, ev.EventVersion, ev.EventID, ev.EventName = "aws:kinesis", "1.0", shard+":"+seq, "aws:kinesis:record"
		ev.InvokeIdentityArn, ev.AWSRegion, ev.EventSourceARN = role, region, arn
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, after, err
		}
		out = append(out, Record{Seq: r.Seq, Arrival: r.Arrival, Key: r.PartitionKey, Event: data})
		after = r.Seq
	}
	return out, after, nil
}

// Changed implements Source.
func (k Kinesis) Changed(arn string) (<-chan struct{}, error) {
	name, err := k.name(arn)
	if err != nil {
		return nil, err
	}
	return k.Service.Changed(name), nil
}

// BatchInfo implements Source.
func (Kinesis) BatchInfo() string { return "KinesisBatchInfo" }
