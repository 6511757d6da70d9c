package dynamodbstreams

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
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// TargetPrefix is the X-Amz-Target prefix of DynamoDB Streams operations.
const TargetPrefix = "DynamoDBStreams_20120810."

// IteratorLifetime is how long a shard iterator stays usable (AWS: 15 min).
const IteratorLifetime = 15 * time.Minute

// API is the DynamoDB Streams endpoint.
type API struct {
	Tables *tables.Service
	Logger *slog.Logger
	// Authorize, when set, decides whether the caller may perform action
	// ("dynamodb:GetRecords") on resource (a stream ARN).
	Authorize func(ctx context.Context, action, resource string) error
}

// apiError is an error answered with an AWS code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func validation(msg string) error {
	return &apiError{http.StatusBadRequest, "ValidationException", msg}
}

// ServeHTTP answers one JSON 1.0 request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := jsonproto.Operation(r, TargetPrefix)
	body, err := jsonproto.Body(w, r, 1<<20)
	if err != nil {
		a.writeErr(w, op, validation("Request too large"))
		return
	}
	var out any
	switch op {
	case "ListStreams":
		out, err = a.listStreams(r.Context(), body)
	case "DescribeStream":
		out, err = a.describeStream(r.Context(), body)
	case "GetShardIterator":
		out, err = a.getShardIterator(r.Context(), body)
	case "GetRecords":
		out, err = a.getRecords(r.Context(), body)
	default:
		err = &apiError{http.StatusBadRequest, "UnknownOperationException", ""}
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
	writeJSON(w, http.StatusOK, data)
}

// answer frames answers as DynamoDB does: JSON 1.0 with X-Amz-Crc32, errors
// without an empty message.
func answer() jsonproto.Answer {
	return jsonproto.Answer{ContentType: jsonproto.JSON10, CRC32: true, OmitEmptyMessage: true}
}

func writeJSON(w http.ResponseWriter, status int, data []byte) {
	answer().Write(w, status, data)
}

func (a *API) writeErr(w http.ResponseWriter, op string, err error) {
	var ae *apiError
	var te *tables.Error
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &te) && te.Kind == tables.KindNotFound:
		ae = &apiError{http.StatusBadRequest, "ResourceNotFoundException", te.Message}
	case errors.As(err, &te) && te.Kind == tables.KindValidation:
		ae = &apiError{http.StatusBadRequest, "ValidationException", te.Message}
	case errors.As(err, &se), errors.As(err, &ue):
		ae = &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
	default:
		if errors.Is(err, context.Canceled) {
			return
		}
		if a.Logger != nil {
			a.Logger.Error("dynamodb streams request failed", "op", op, "err", err)
		}
		ae = &apiError{http.StatusInternalServerError, "InternalServerError", "Internal server error"}
	}
	answer().Error(w, ae.status, "com.amazonaws.dynamodb.v20120810#"+ae.code, ae.message)
}

func (a *API) authorize(ctx context.Context, action, resource string) error {
	if a.Authorize == nil {
		return nil
	}
	if err := a.Authorize(ctx, "dynamodb:"+action, resource); err != nil {
		return &apiError{http.StatusBadRequest, "AccessDeniedException", err.Error()}
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

func requireARN(arn string) error {
	if arn == "" {
		return validation("1 validation error detected: Value null at 'streamArn' failed to satisfy constraint: Member must not be null")
	}
	if len(arn) < 37 || len(arn) > 1024 {
		return validation("1 validation error detected: Value '" + arn + "' at 'streamArn' failed to satisfy constraint: Member must have length greater than or equal to 37")
	}
	return nil
}

func (a *API) listStreams(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		TableName               string
		Limit                   int
		ExclusiveStartStreamArn string
	}](body)
	if err != nil {
		return nil, err
	}
	if in.Limit < 0 || in.Limit > 100 {
		return nil, validation("1 validation error detected: Value '" + strconv.Itoa(in.Limit) + "' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100")
	}
	limit := in.Limit
	if limit == 0 {
		limit = 100
	}
	table := in.TableName
	if table == "" {
		table = "*"
	}
	resource := a.Tables.ARN(table) + "/stream/*"
	if err := a.authorize(ctx, "ListStreams", resource); err != nil {
		return nil, err
	}
	if in.TableName != "" {
		if _, err := a.Tables.DescribeTable(ctx, in.TableName); err != nil {
			return nil, err
		}
	}
	list, err := a.Tables.ListStreams(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	type entry struct{ StreamArn, TableName, StreamLabel string }
	out := struct {
		Streams                []entry
		LastEvaluatedStreamArn string `json:",omitempty"`
	}{Streams: []entry{}}
	for _, st := range list {
		if in.ExclusiveStartStreamArn != "" && st.ARN <= in.ExclusiveStartStreamArn {
			continue
		}
		if len(out.Streams) == limit {
			out.LastEvaluatedStreamArn = out.Streams[limit-1].StreamArn
			break
		}
		out.Streams = append(out.Streams, entry{st.ARN, st.Table, st.Label})
	}
	return out, nil
}

func (a *API) describeStream(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		StreamArn             string
		Limit                 int
		ExclusiveStartShardId string
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireARN(in.StreamArn); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "DescribeStream", in.StreamArn); err != nil {
		return nil, err
	}
	st, err := a.Tables.DescribeStream(ctx, in.StreamArn)
	if err != nil {
		return nil, err
	}
	t, err := a.Tables.DescribeTable(ctx, st.Table)
	if err != nil {
		return nil, err
	}
	status := "ENABLED"
	rng := map[string]string{"StartingSequenceNumber": Seq(max(st.FirstSeq, st.Start))}
	if !st.Enabled {
		status = "DISABLED"
		if st.LastSeq > 0 {
			rng["EndingSequenceNumber"] = Seq(st.LastSeq)
		}
	}
	shards := []map[string]any{}
	if in.ExclusiveStartShardId != st.ShardID {
		shards = append(shards, map[string]any{"ShardId": st.ShardID, "SequenceNumberRange": rng})
	}
	return map[string]any{"StreamDescription": map[string]any{
		"StreamArn":               st.ARN,
		"StreamLabel":             st.Label,
		"StreamStatus":            status,
		"StreamViewType":          st.ViewType,
		"CreationRequestDateTime": float64(st.Created.UnixMilli()) / 1000,
		"TableName":               st.Table,
		"KeySchema":               t.KeySchema,
		"Shards":                  shards,
	}}, nil
}

// iterator is a shard iterator's content: a position in one stream.
type iterator struct {
	ARN   string `json:"a"`
	Shard string `json:"s"`
	After uint64 `json:"p"`
	// Horizon: started at TRIM_HORIZON, so trimmed records are no error.
	Horizon bool  `json:"h,omitempty"`
	Issued  int64 `json:"t"`
}

func (it iterator) encode() string {
	data, _ := json.Marshal(it)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeIterator(s string) (iterator, error) {
	var it iterator
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(data, &it) != nil || it.ARN == "" {
		return it, validation("Invalid ShardIterator")
	}
	return it, nil
}

func (a *API) getShardIterator(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		StreamArn         string
		ShardId           string
		ShardIteratorType string
		SequenceNumber    string
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireARN(in.StreamArn); err != nil {
		return nil, err
	}
	if in.ShardId == "" {
		return nil, validation("1 validation error detected: Value null at 'shardId' failed to satisfy constraint: Member must not be null")
	}
	if err := a.authorize(ctx, "GetShardIterator", in.StreamArn); err != nil {
		return nil, err
	}
	st, err := a.Tables.DescribeStream(ctx, in.StreamArn)
	if err != nil {
		return nil, err
	}
	if in.ShardId != st.ShardID {
		return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Shard does not exist"}
	}
	it := iterator{ARN: st.ARN, Shard: st.ShardID, Issued: time.Now().UnixMilli()}
	seq := func() (uint64, error) {
		if in.SequenceNumber == "" {
			return 0, validation("SequenceNumber is required for ShardIteratorType " + in.ShardIteratorType)
		}
		n, err := strconv.ParseUint(in.SequenceNumber, 10, 64)
		if err != nil || n == 0 {
			return 0, validation("Invalid SequenceNumber: " + in.SequenceNumber)
		}
		return n, nil
	}
	switch in.ShardIteratorType {
	case "TRIM_HORIZON":
		it.Horizon = true
	case "LATEST":
		if it.After, err = a.Tables.StreamPosition(ctx, st.ARN); err != nil {
			return nil, err
		}
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		n, err := seq()
		if err != nil {
			return nil, err
		}
		it.After = n
		if in.ShardIteratorType == "AT_SEQUENCE_NUMBER" {
			it.After = n - 1
		}
		// A position already trimmed is an error now rather than at the read.
		if _, _, err := a.Tables.ReadStream(ctx, st.ARN, it.After, 0, false); errors.Is(err, tables.ErrTrimmed) {
			return nil, trimmed()
		}
	case "":
		return nil, validation("1 validation error detected: Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null")
	default:
		return nil, validation("1 validation error detected: Value '" + in.ShardIteratorType + "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]")
	}
	return map[string]string{"ShardIterator": it.encode()}, nil
}

func trimmed() error {
	return &apiError{http.StatusBadRequest, "TrimmedDataAccessException", "The operation attempted to read past the oldest stream record in a shard."}
}

func (a *API) getRecords(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		ShardIterator string
		Limit         int
	}](body)
	if err != nil {
		return nil, err
	}
	if in.ShardIterator == "" {
		return nil, validation("1 validation error detected: Value null at 'shardIterator' failed to satisfy constraint: Member must not be null")
	}
	if in.Limit < 0 || in.Limit > 1000 {
		return nil, validation("1 validation error detected: Value '" + strconv.Itoa(in.Limit) + "' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000")
	}
	limit := in.Limit
	if limit == 0 {
		limit = 1000
	}
	it, err := decodeIterator(in.ShardIterator)
	if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "GetRecords", it.ARN); err != nil {
		return nil, err
	}
	if time.Since(time.UnixMilli(it.Issued)) > IteratorLifetime {
		return nil, &apiError{http.StatusBadRequest, "ExpiredIteratorException", "Iterator expired. The iterator was created at time " +
			time.UnixMilli(it.Issued).UTC().Format(time.RFC1123) + " while right now it is " + time.Now().UTC().Format(time.RFC1123) + " which is further in the future than the tolerated delay of 900000 milliseconds."}
	}
	st, err := a.Tables.DescribeStream(ctx, it.ARN)
	if err != nil {
		return nil, err
	}
	if st.ShardID != it.Shard {
		return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Shard does not exist"}
	}
	recs, after, err := a.Tables.ReadStream(ctx, it.ARN, it.After, limit, it.Horizon)
	if errors.Is(err, tables.ErrTrimmed) {
		return nil, trimmed()
	}
	if err != nil {
		return nil, err
	}
	out := struct {
		Records           []Record
		NextShardIterator string `json:",omitempty"`
	}{Records: make([]Record, 0, len(recs))}
	for _, rec := range recs {
		r, err := NewRecord(it.ARN, rec, false)
		if err != nil {
			return nil, err
		}
		out.Records = append(out.Records, r)
	}
	// A disabled stream's shard is closed: once read to its end, no next iterator.
	if st.Enabled || after < st.LastSeq {
		next := iterator{ARN: it.ARN, Shard: it.Shard, After: after, Horizon: it.Horizon && len(recs) == 0, Issued: time.Now().UnixMilli()}
		out.NextShardIterator = next.encode()
	}
	return out, nil
}
