// Package kinesis serves the Kinesis Data Streams API (JSON 1.1,
// X-Amz-Target Kinesis_20131202.*) over internal/datastreams.
package kinesis

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/datastreams"
)

// TargetPrefix is the X-Amz-Target prefix of Kinesis operations.
const TargetPrefix = "Kinesis_20131202."

// IteratorLifetime is how long a shard iterator stays usable (5 minutes).
const IteratorLifetime = 5 * time.Minute

// API is the Kinesis endpoint.
type API struct {
	Streams *datastreams.Service
	Logger  *slog.Logger
	// Region is the region of streams created through the API.
	Region string
	// Authorize, when set, decides whether the caller may perform action
	// ("kinesis:PutRecord") on resource (a stream ARN).
	Authorize func(ctx context.Context, action, resource string) error
}

type apiError struct {
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalid(msg string) error { return &apiError{"InvalidArgumentException", msg} }

// ServeHTTP answers one JSON 1.1 request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := jsonproto.Operation(r, TargetPrefix)
	body, err := jsonproto.Body(w, r, 10<<20)
	if err != nil {
		a.writeErr(w, op, invalid("Request too large"))
		return
	}
	var out any
	ctx := r.Context()
	switch op {
	case "CreateStream":
		out, err = a.createStream(ctx, body)
	case "DeleteStream":
		out, err = a.deleteStream(ctx, body)
	case "DescribeStream":
		out, err = a.describeStream(ctx, body, false)
	case "DescribeStreamSummary":
		out, err = a.describeStream(ctx, body, true)
	case "ListStreams":
		out, err = a.listStreams(ctx, body)
	case "ListShards":
		out, err = a.listShards(ctx, body)
	case "PutRecord":
		out, err = a.putRecord(ctx, body)
	case "PutRecords":
		out, err = a.putRecords(ctx, body)
	case "GetShardIterator":
		out, err = a.getShardIterator(ctx, body)
	case "GetRecords":
		out, err = a.getRecords(ctx, body)
	default:
		err = &apiError{"UnknownOperationException", "Unknown operation " + op}
	}
	if err != nil {
		a.writeErr(w, op, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		a.writeErr(w, op, err)
		return
	}
	answer().Write(w, http.StatusOK, data)
}

func answer() jsonproto.Answer { return jsonproto.Answer{ContentType: jsonproto.JSON11} }

func (a *API) writeErr(w http.ResponseWriter, op string, err error) {
	var ae *apiError
	var de *datastreams.Error
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	status := http.StatusBadRequest
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &de):
		code := map[datastreams.ErrorKind]string{
			datastreams.KindInvalidArgument: "InvalidArgumentException",
			datastreams.KindNotFound:        "ResourceNotFoundException",
			datastreams.KindInUse:           "ResourceInUseException",
			datastreams.KindLimitExceeded:   "LimitExceededException",
		}[de.Kind]
		ae = &apiError{code, de.Message}
	case errors.As(err, &se), errors.As(err, &ue):
		ae = &apiError{"SerializationException", err.Error()}
	default:
		if errors.Is(err, context.Canceled) {
			return
		}
		if a.Logger != nil {
			a.Logger.Error("kinesis request failed", "op", op, "err", err)
		}
		ae, status = &apiError{"InternalFailure", "Internal service failure"}, http.StatusInternalServerError
	}
	answer().Error(w, status, ae.code, ae.message)
}

func (a *API) authorize(ctx context.Context, action, resource string) error {
	if a.Authorize == nil {
		return nil
	}
	if err := a.Authorize(ctx, "kinesis:"+action, resource); err != nil {
		return &apiError{"AccessDeniedException", err.Error()}
	}
	return nil
}

func decode[T any](body []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// target names a stream by StreamName or StreamARN.
type target struct {
	StreamName string
	StreamARN  string
}

func (t target) name() (string, error) {
	if t.StreamName != "" {
		return t.StreamName, nil
	}
	if n, ok := datastreams.NameFromARN(t.StreamARN); ok {
		return n, nil
	}
	return "", invalid("Either StreamName or StreamARN should be provided.")
}

// stream finds the stream a request names and authorizes action on it.
func (a *API) stream(ctx context.Context, t target, action string) (*datastreams.Stream, error) {
	name, err := t.name()
	if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, action, datastreams.StreamARN(a.region(), name)); err != nil {
		return nil, err
	}
	return a.Streams.Get(ctx, name)
}

func (a *API) region() string {
	if a.Region == "" {
		return "us-east-1"
	}
	return a.Region
}

func (a *API) createStream(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		StreamName        string
		ShardCount        int
		StreamModeDetails *struct{ StreamMode string }
	}](body)
	if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "CreateStream", datastreams.StreamARN(a.region(), in.StreamName)); err != nil {
		return nil, err
	}
	mode := ""
	if in.StreamModeDetails != nil {
		mode = in.StreamModeDetails.StreamMode
	}
	_, err = a.Streams.Create(ctx, in.StreamName, in.ShardCount, mode, a.region(), "")
	return struct{}{}, err
}

func (a *API) deleteStream(ctx context.Context, body []byte) (any, error) {
	in, err := decode[target](body)
	if err != nil {
		return nil, err
	}
	st, err := a.stream(ctx, *in, "DeleteStream")
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.Streams.Delete(ctx, st.Name)
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func shards(ctx context.Context, a *API, st *datastreams.Stream) ([]map[string]any, error) {
	first, err := a.Streams.FirstSeq(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, st.Shards)
	for i := range out {
		start, end := datastreams.HashRange(i, st.Shards)
		out[i] = map[string]any{
			"ShardId":             datastreams.ShardID(i),
			"HashKeyRange":        map[string]string{"StartingHashKey": start.String(), "EndingHashKey": end.String()},
			"SequenceNumberRange": map[string]string{"StartingSequenceNumber": strconv.FormatUint(max(first, 1), 10)},
		}
	}
	return out, nil
}

func (a *API) describeStream(ctx context.Context, body []byte, summary bool) (any, error) {
	in, err := decode[target](body)
	if err != nil {
		return nil, err
	}
	action := "DescribeStream"
	if summary {
		action = "DescribeStreamSummary"
	}
	st, err := a.stream(ctx, *in, action)
	if err != nil {
		return nil, err
	}
	d := map[string]any{
		"StreamName": st.Name, "StreamARN": st.ARN, "StreamStatus": "ACTIVE",
		"StreamModeDetails": map[string]string{"StreamMode": st.Mode}, "RetentionPeriodHours": 24,
		"StreamCreationTimestamp": epoch(st.Created), "EnhancedMonitoring": []any{map[string]any{"ShardLevelMetrics": []string{}}},
		"EncryptionType": "NONE",
	}
	if summary {
		d["OpenShardCount"], d["ConsumerCount"] = st.Shards, 0
		return map[string]any{"StreamDescriptionSummary": d}, nil
	}
	if d["Shards"], err = shards(ctx, a, st); err != nil {
		return nil, err
	}
	d["HasMoreShards"] = false
	return map[string]any{"StreamDescription": d}, nil
}

func (a *API) listStreams(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		Limit                    int
		ExclusiveStartStreamName string
	}](body)
	if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "ListStreams", datastreams.StreamARN(a.region(), "*")); err != nil {
		return nil, err
	}
	names, err := a.Streams.List(ctx)
	if err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	out := map[string]any{"StreamNames": []string{}, "HasMoreStreams": false}
	var list []string
	var summaries []map[string]any
	for _, n := range names {
		if n <= in.ExclusiveStartStreamName {
			continue
		}
		if len(list) == limit {
			out["HasMoreStreams"] = true
			break
		}
		list = append(list, n)
		if st, err := a.Streams.Get(ctx, n); err == nil {
			summaries = append(summaries, map[string]any{"StreamName": n, "StreamARN": st.ARN, "StreamStatus": "ACTIVE",
				"StreamModeDetails": map[string]string{"StreamMode": st.Mode}, "StreamCreationTimestamp": epoch(st.Created)})
		}
	}
	if list != nil {
		out["StreamNames"], out["StreamSummaries"] = list, summaries
	}
	return out, nil
}

func (a *API) listShards(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		target
		NextToken string
	}](body)
	if err != nil {
		return nil, err
	}
	if in.NextToken != "" && in.StreamName == "" && in.StreamARN == "" {
		in.StreamName = in.NextToken // every shard fits one page: the token only names the stream
	}
	st, err := a.stream(ctx, in.target, "ListShards")
	if err != nil {
		return nil, err
	}
	list, err := shards(ctx, a, st)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Shards": list}, nil
}

type putEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string
}

func (e putEntry) check() error {
	if e.Data == nil {
		return invalid("1 validation error detected: Value null at 'data' failed to satisfy constraint: Member must not be null")
	}
	if len(e.Data) > 1<<20 {
		return invalid("1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576")
	}
	if n := len([]rune(e.PartitionKey)); n < 1 || n > 256 {
		return invalid("1 validation error detected: Value '" + e.PartitionKey + "' at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and 256")
	}
	return nil
}

func (a *API) putRecord(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		target
		putEntry
	}](body)
	if err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	st, err := a.stream(ctx, in.target, "PutRecord")
	if err != nil {
		return nil, err
	}
	res, err := a.Streams.Put(ctx, st.Name, []datastreams.PutEntry{{PartitionKey: in.PartitionKey, Data: in.Data, ExplicitHashKey: in.ExplicitHashKey}})
	if err != nil {
		return nil, err
	}
	return map[string]any{"ShardId": datastreams.ShardID(res[0].Shard), "SequenceNumber": strconv.FormatUint(res[0].Seq, 10), "EncryptionType": "NONE"}, nil
}

func (a *API) putRecords(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		target
		Records []putEntry
	}](body)
	if err != nil {
		return nil, err
	}
	if len(in.Records) < 1 || len(in.Records) > 500 {
		return nil, invalid("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and 500")
	}
	entries := make([]datastreams.PutEntry, len(in.Records))
	for i, r := range in.Records {
		if err := r.check(); err != nil {
			return nil, err
		}
		entries[i] = datastreams.PutEntry{PartitionKey: r.PartitionKey, Data: r.Data, ExplicitHashKey: r.ExplicitHashKey}
	}
	st, err := a.stream(ctx, in.target, "PutRecords")
	if err != nil {
		return nil, err
	}
	res, err := a.Streams.Put(ctx, st.Name, entries)
	if err != nil {
		return nil, err
	}
	recs := make([]map[string]string, len(res))
	for i, r := range res {
		recs[i] = map[string]string{"ShardId": datastreams.ShardID(r.Shard), "SequenceNumber": strconv.FormatUint(r.Seq, 10)}
	}
	return map[string]any{"FailedRecordCount": 0, "Records": recs, "EncryptionType": "NONE"}, nil
}

// iterator is a shard iterator's content.
type iterator struct {
	Stream string `json:"n"`
	Shard  int    `json:"s"`
	After  uint64 `json:"p"`
	Issued int64  `json:"t"`
}

func (it iterator) encode() string {
	data, _ := json.Marshal(it)
	return base64.RawURLEncoding.EncodeToString(data)
}

func (a *API) getShardIterator(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		target
		ShardId                string
		ShardIteratorType      string
		StartingSequenceNumber string
		Timestamp              *float64
	}](body)
	if err != nil {
		return nil, err
	}
	st, err := a.stream(ctx, in.target, "GetShardIterator")
	if err != nil {
		return nil, err
	}
	shard := datastreams.ParseShardID(in.ShardId)
	if shard < 0 || shard >= st.Shards {
		return nil, &apiError{"ResourceNotFoundException", "Shard " + in.ShardId + " in stream " + st.Name + " does not exist"}
	}
	it := iterator{Stream: st.Name, Shard: shard, Issued: time.Now().UnixMilli()}
	switch in.ShardIteratorType {
	case "TRIM_HORIZON":
	case "LATEST":
		_, last, err := a.Streams.Read(ctx, st.Name, shard, 0, 0)
		if err != nil {
			return nil, err
		}
		it.After = last
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		n, err := strconv.ParseUint(in.StartingSequenceNumber, 10, 64)
		if err != nil || n == 0 {
			return nil, invalid("StartingSequenceNumber " + in.StartingSequenceNumber + " used in GetShardIterator on shard " + in.ShardId + " in stream " + st.Name + " is invalid.")
		}
		it.After = n
		if in.ShardIteratorType == "AT_SEQUENCE_NUMBER" {
			it.After = n - 1
		}
	case "AT_TIMESTAMP":
		if in.Timestamp == nil {
			return nil, invalid("Must specify timestamp for AT_TIMESTAMP ShardIteratorType")
		}
		if it.After, err = a.Streams.SeqAt(ctx, st.Name, time.UnixMilli(int64(*in.Timestamp*1000))); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("1 validation error detected: Value '" + in.ShardIteratorType + "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]")
	}
	return map[string]string{"ShardIterator": it.encode()}, nil
}

func (a *API) getRecords(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		ShardIterator string
		Limit         int
	}](body)
	if err != nil {
		return nil, err
	}
	var it iterator
	data, derr := base64.RawURLEncoding.DecodeString(in.ShardIterator)
	if derr != nil || json.Unmarshal(data, &it) != nil || it.Stream == "" {
		return nil, invalid("Invalid ShardIterator.")
	}
	if in.Limit < 0 || in.Limit > 10000 {
		return nil, invalid("1 validation error detected: Value '" + strconv.Itoa(in.Limit) + "' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000")
	}
	limit := in.Limit
	if limit == 0 {
		limit = 10000
	}
	if err := a.authorize(ctx, "GetRecords", datastreams.StreamARN(a.region(), it.Stream)); err != nil {
		return nil, err
	}
	if time.Since(time.UnixMilli(it.Issued)) > IteratorLifetime {
		return nil, &apiError{"ExpiredIteratorException", "Iterator expired. The iterator was created at time " + time.UnixMilli(it.Issued).UTC().Format(time.RFC1123)}
	}
	recs, last, err := a.Streams.Read(ctx, it.Stream, it.Shard, it.After, limit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(recs))
	behind := int64(0)
	for i, r := range recs {
		out[i] = map[string]any{"SequenceNumber": strconv.FormatUint(r.Seq, 10), "ApproximateArrivalTimestamp": epoch(r.Arrival),
			"Data": r.Data, "PartitionKey": r.PartitionKey}
		it.After = r.Seq
	}
	if len(recs) > 0 && it.After < last {
		behind = time.Since(recs[len(recs)-1].Arrival).Milliseconds()
	}
	it.Issued = time.Now().UnixMilli()
	return map[string]any{"Records": out, "NextShardIterator": it.encode(), "MillisBehindLatest": behind}, nil
}
