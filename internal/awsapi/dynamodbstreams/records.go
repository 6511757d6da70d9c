// Package dynamodbstreams serves the DynamoDB Streams API (JSON 1.0,
// X-Amz-Target DynamoDBStreams_20120810.*) over the tables core's streams,
// and builds stream records in the shape AWS gives them, for the API and
// for the Lambda events of stream event sources.
package dynamodbstreams

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodb"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// Record is a stream record as GetRecords answers it and as Lambda
// delivers it (with EventSourceARN).
type Record struct {
	EventID        string        `json:"eventID"`
	EventName      string        `json:"eventName"`
	EventVersion   string        `json:"eventVersion"`
	EventSource    string        `json:"eventSource"`
	AWSRegion      string        `json:"awsRegion"`
	DynamoDB       StreamRecord  `json:"dynamodb"`
	UserIdentity   *UserIdentity `json:"userIdentity,omitempty"`
	EventSourceARN string        `json:"eventSourceARN,omitempty"`
}

// StreamRecord is a record's "dynamodb" part.
type StreamRecord struct {
	ApproximateCreationDateTime int64           `json:"ApproximateCreationDateTime"`
	Keys                        json.RawMessage `json:"Keys"`
	NewImage                    json.RawMessage `json:"NewImage,omitempty"`
	OldImage                    json.RawMessage `json:"OldImage,omitempty"`
	SequenceNumber              string          `json:"SequenceNumber"`
	SizeBytes                   int             `json:"SizeBytes"`
	StreamViewType              string          `json:"StreamViewType"`
}

// UserIdentity names who made a change: DynamoDB itself for TTL deletions.
type UserIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
}

// RegionOf is the region of an ARN.
func RegionOf(arn string) string {
	if parts := strings.SplitN(arn, ":", 5); len(parts) == 5 {
		return parts[3]
	}
	return ""
}

// Seq formats a sequence number.
func Seq(n uint64) string { return strconv.FormatUint(n, 10) }

// NewRecord builds the record of rec in the stream arn; withARN adds
// eventSourceARN (Lambda's events carry it, GetRecords does not).
func NewRecord(arn string, rec tables.StreamRecord, withARN bool) (Record, error) {
	keys, newImage, oldImage, err := rec.Items()
	if err != nil {
		return Record{}, fmt.Errorf("stream record %d: %w", rec.Seq, err)
	}
	r := Record{
		// 32 hex digits like DynamoDB's, stable for a record.
		EventID:   fmt.Sprintf("%016x%016x", streamHash(arn), rec.Seq),
		EventName: rec.EventName, EventVersion: "1.1", EventSource: "aws:dynamodb", AWSRegion: RegionOf(arn),
		DynamoDB: StreamRecord{
			ApproximateCreationDateTime: rec.Created.Unix(),
			Keys:                        dynamodb.MarshalItem(keys),
			SequenceNumber:              Seq(rec.Seq),
			SizeBytes:                   rec.SizeBytes,
			StreamViewType:              rec.ViewType,
		},
	}
	if newImage != nil {
		r.DynamoDB.NewImage = dynamodb.MarshalItem(newImage)
	}
	if oldImage != nil {
		r.DynamoDB.OldImage = dynamodb.MarshalItem(oldImage)
	}
	if rec.TTL {
		r.UserIdentity = &UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	}
	if withARN {
		r.EventSourceARN = arn
	}
	return r, nil
}

// streamHash is FNV-1a of the stream's ARN.
func streamHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
