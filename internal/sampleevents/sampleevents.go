// Package sampleevents builds realistic events in the shapes AWS services
// deliver to Lambda functions, so a function can be tried with
// `nimbus generate-event SERVICE EVENT | nimbus invoke NAME`. Field names,
// order and value formats follow the services' documented event records.
package sampleevents

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Options fill in the parts of an event users most often change; zero values
// take defaults.
type Options struct {
	Region    string // default us-east-1
	Body      string // message body, request body, record data, or detail JSON
	Method    string // HTTP method (apigateway)
	Path      string // HTTP path (apigateway)
	Queue     string // queue name (sqs)
	Topic     string // topic name (sns)
	Bucket    string // bucket name (s3)
	Key       string // object key (s3)
	Table     string // table name (dynamodb)
	Stream    string // stream name (kinesis)
	Partition string // partition key (kinesis)
	Source    string // event source (eventbridge)
	Detail    string // detail-type (eventbridge)
	Now       time.Time
}

// Kind is one event a service sends.
type Kind struct {
	Service, Event, Description string
	build                       func(o Options) any
}

var kinds = []Kind{
	{"apigateway", "aws-proxy", "REST API proxy request (payload 1.0)", restRequest},
	{"apigateway", "http-api-proxy", "HTTP API request (payload 2.0)", httpAPIRequest},
	{"sqs", "receive-message", "a batch of one SQS message", sqsEvent},
	{"sns", "notification", "an SNS notification", snsEvent},
	{"s3", "put", "an object created with PUT", func(o Options) any { return s3Event(o, "ObjectCreated:Put") }},
	{"s3", "delete", "an object deleted", func(o Options) any { return s3Event(o, "ObjectRemoved:Delete") }},
	{"dynamodb", "update", "a table stream batch: INSERT, MODIFY, REMOVE", dynamoEvent},
	{"kinesis", "get-records", "a data stream record", kinesisEvent},
	{"eventbridge", "event", "an event from a bus rule", busEvent},
	{"schedule", "scheduled-event", "a schedule's tick", scheduledEvent},
}

// Kinds lists every event that can be generated, by service then event.
func Kinds() []Kind { return kinds }

// Services lists the service names, sorted.
func Services() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range kinds {
		if !seen[k.Service] {
			seen[k.Service] = true
			out = append(out, k.Service)
		}
	}
	sort.Strings(out)
	return out
}

// Events lists the events of service.
func Events(service string) []string {
	var out []string
	for _, k := range kinds {
		if k.Service == service {
			out = append(out, k.Event)
		}
	}
	return out
}

// Generate returns the event as indented JSON.
func Generate(service, event string, o Options) ([]byte, error) {
	for _, k := range kinds {
		if k.Service == service && k.Event == event {
			o.defaults()
			return json.MarshalIndent(k.build(o), "", "  ")
		}
	}
	if ev := Events(service); len(ev) > 0 {
		return nil, fmt.Errorf("service %s has no event %q; its events: %s", service, event, strings.Join(ev, ", "))
	}
	return nil, fmt.Errorf("unknown service %q; services: %s", service, strings.Join(Services(), ", "))
}

func (o *Options) defaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&o.Region, "us-east-1")
	set(&o.Method, "GET")
	set(&o.Path, "/hello")
	set(&o.Queue, "my-queue")
	set(&o.Topic, "my-topic")
	set(&o.Bucket, "my-bucket")
	set(&o.Key, "uploads/Happy Face.jpg")
	set(&o.Table, "my-table")
	set(&o.Stream, "my-stream")
	set(&o.Partition, "partition-1")
	set(&o.Source, "com.example.orders")
	set(&o.Detail, "Order Placed")
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
}

func arn(service, region, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, appspec.AccountID, resource)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func millis(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

// --- API Gateway ---

type restContext struct {
	AccountID        string            `json:"accountId"`
	APIID            string            `json:"apiId"`
	DomainName       string            `json:"domainName"`
	DomainPrefix     string            `json:"domainPrefix"`
	ExtendedID       string            `json:"extendedRequestId"`
	HTTPMethod       string            `json:"httpMethod"`
	Identity         map[string]any    `json:"identity"`
	Path             string            `json:"path"`
	Protocol         string            `json:"protocol"`
	RequestID        string            `json:"requestId"`
	RequestTime      string            `json:"requestTime"`
	RequestTimeEpoch int64             `json:"requestTimeEpoch"`
	ResourceID       string            `json:"resourceId"`
	ResourcePath     string            `json:"resourcePath"`
	Stage            string            `json:"stage"`
	Authorizer       map[string]string `json:"authorizer,omitempty"`
}

type restEvent struct {
	Resource                        string              `json:"resource"`
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	PathParameters                  map[string]string   `json:"pathParameters"`
	StageVariables                  map[string]string   `json:"stageVariables"`
	RequestContext                  restContext         `json:"requestContext"`
	Body                            *string             `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
}

func requestHeaders(o Options) map[string]string {
	h := map[string]string{
		"Accept":            "*/*",
		"Host":              "localhost:8080",
		"User-Agent":        "curl/8.5.0",
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Port":  "8080",
		"X-Forwarded-Proto": "http",
	}
	if o.Body != "" {
		h["Content-Type"] = "application/json"
	}
	return h
}

func bodyPtr(o Options) *string {
	if o.Body == "" {
		return nil
	}
	return &o.Body
}

func restRequest(o Options) any {
	h := requestHeaders(o)
	mv := map[string][]string{}
	for k, v := range h {
		mv[k] = []string{v}
	}
	id := uuid.NewString()
	return restEvent{
		Resource: o.Path, Path: o.Path, HTTPMethod: o.Method,
		Headers: h, MultiValueHeaders: mv,
		RequestContext: restContext{
			AccountID: appspec.AccountID, APIID: "abcdef1234", DomainName: "localhost", DomainPrefix: "localhost",
			ExtendedID: id, HTTPMethod: o.Method,
			Identity: map[string]any{"sourceIp": "127.0.0.1", "userAgent": h["User-Agent"], "accessKey": nil,
				"accountId": nil, "caller": nil, "cognitoIdentityId": nil, "user": nil, "userArn": nil},
			Path: "/dev" + o.Path, Protocol: "HTTP/1.1", RequestID: id,
			RequestTime: o.Now.Format("02/Jan/2006:15:04:05 -0700"), RequestTimeEpoch: o.Now.UnixMilli(),
			ResourceID: "abc123", ResourcePath: o.Path, Stage: "dev",
		},
		Body: bodyPtr(o),
	}
}

type httpContext struct {
	AccountID    string `json:"accountId"`
	APIID        string `json:"apiId"`
	DomainName   string `json:"domainName"`
	DomainPrefix string `json:"domainPrefix"`
	HTTP         struct {
		Method    string `json:"method"`
		Path      string `json:"path"`
		Protocol  string `json:"protocol"`
		SourceIP  string `json:"sourceIp"`
		UserAgent string `json:"userAgent"`
	} `json:"http"`
	RequestID string `json:"requestId"`
	RouteKey  string `json:"routeKey"`
	Stage     string `json:"stage"`
	Time      string `json:"time"`
	TimeEpoch int64  `json:"timeEpoch"`
}

type httpEvent struct {
	Version         string            `json:"version"`
	RouteKey        string            `json:"routeKey"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Headers         map[string]string `json:"headers"`
	RequestContext  httpContext       `json:"requestContext"`
	Body            string            `json:"body,omitempty"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

func httpAPIRequest(o Options) any {
	h := map[string]string{}
	for k, v := range requestHeaders(o) {
		h[strings.ToLower(k)] = v
	}
	ev := httpEvent{Version: "2.0", RouteKey: o.Method + " " + o.Path, RawPath: o.Path, Headers: h, Body: o.Body}
	c := &ev.RequestContext
	c.AccountID, c.APIID, c.DomainName, c.DomainPrefix = appspec.AccountID, "abcdef1234", "localhost", "localhost"
	c.HTTP.Method, c.HTTP.Path, c.HTTP.Protocol, c.HTTP.SourceIP, c.HTTP.UserAgent = o.Method, o.Path, "HTTP/1.1", "127.0.0.1", h["user-agent"]
	c.RequestID, c.RouteKey, c.Stage = uuid.NewString(), ev.RouteKey, "$default"
	c.Time, c.TimeEpoch = o.Now.Format("02/Jan/2006:15:04:05 -0700"), o.Now.UnixMilli()
	return ev
}

// --- SQS, SNS ---

type sqsRecord struct {
	MessageID         string            `json:"messageId"`
	ReceiptHandle     string            `json:"receiptHandle"`
	Body              string            `json:"body"`
	Attributes        map[string]string `json:"attributes"`
	MessageAttributes map[string]any    `json:"messageAttributes"`
	MD5OfBody         string            `json:"md5OfBody"`
	EventSource       string            `json:"eventSource"`
	EventSourceARN    string            `json:"eventSourceARN"`
	AWSRegion         string            `json:"awsRegion"`
}

func sqsEvent(o Options) any {
	body := o.Body
	if body == "" {
		body = `{"orderId":"1234","amount":42}`
	}
	id := uuid.NewString()
	return map[string]any{"Records": []sqsRecord{{
		MessageID: id, ReceiptHandle: base64.StdEncoding.EncodeToString([]byte(id + "#1")), Body: body,
		Attributes: map[string]string{
			"ApproximateReceiveCount": "1", "SentTimestamp": millis(o.Now),
			"SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": millis(o.Now),
		},
		MessageAttributes: map[string]any{}, MD5OfBody: md5Hex(body),
		EventSource: "aws:sqs", EventSourceARN: arn("sqs", o.Region, o.Queue), AWSRegion: o.Region,
	}}}
}

type snsMessage struct {
	Type              string         `json:"Type"`
	MessageID         string         `json:"MessageId"`
	TopicArn          string         `json:"TopicArn"`
	Subject           *string        `json:"Subject"`
	Message           string         `json:"Message"`
	Timestamp         string         `json:"Timestamp"`
	SignatureVersion  string         `json:"SignatureVersion"`
	Signature         string         `json:"Signature"`
	SigningCertURL    string         `json:"SigningCertUrl"`
	UnsubscribeURL    string         `json:"UnsubscribeUrl"`
	MessageAttributes map[string]any `json:"MessageAttributes"`
}

type snsRecord struct {
	EventSource          string     `json:"EventSource"`
	EventVersion         string     `json:"EventVersion"`
	EventSubscriptionArn string     `json:"EventSubscriptionArn"`
	Sns                  snsMessage `json:"Sns"`
}

func snsEvent(o Options) any {
	msg := o.Body
	if msg == "" {
		msg = `{"orderId":"1234","status":"shipped"}`
	}
	topic := arn("sns", o.Region, o.Topic)
	return map[string]any{"Records": []snsRecord{{
		EventSource: "aws:sns", EventVersion: "1.0", EventSubscriptionArn: topic + ":" + uuid.NewString(),
		Sns: snsMessage{
			Type: "Notification", MessageID: uuid.NewString(), TopicArn: topic, Message: msg,
			Timestamp: o.Now.Format("2006-01-02T15:04:05.000Z"), SignatureVersion: "1", Signature: "EXAMPLE",
			SigningCertURL: "EXAMPLE", UnsubscribeURL: "EXAMPLE", MessageAttributes: map[string]any{},
		},
	}}}
}

// --- S3 ---

type s3Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	Sequencer string `json:"sequencer"`
}

type s3Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      map[string]string `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                struct {
		SchemaVersion   string `json:"s3SchemaVersion"`
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name          string            `json:"name"`
			OwnerIdentity map[string]string `json:"ownerIdentity"`
			ARN           string            `json:"arn"`
		} `json:"bucket"`
		Object s3Object `json:"object"`
	} `json:"s3"`
}

// s3Key encodes a key as S3 event records carry it: URL-encoded with spaces as '+'.
func s3Key(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

func s3Event(o Options, name string) any {
	r := s3Record{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: o.Region,
		EventTime: o.Now.Format("2006-01-02T15:04:05.000Z"), EventName: name,
		UserIdentity:      map[string]string{"principalId": "AWS:" + appspec.AccountID},
		RequestParameters: map[string]string{"sourceIPAddress": "127.0.0.1"},
		ResponseElements:  map[string]string{"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
	}
	r.S3.SchemaVersion, r.S3.ConfigurationID = "1.0", "nimbus-notification"
	r.S3.Bucket.Name, r.S3.Bucket.ARN = o.Bucket, "arn:aws:s3:::"+o.Bucket
	r.S3.Bucket.OwnerIdentity = map[string]string{"principalId": appspec.AccountID}
	r.S3.Object = s3Object{Key: s3Key(o.Key), Sequencer: fmt.Sprintf("%016X", o.Now.UnixNano())}
	if strings.HasPrefix(name, "ObjectCreated") {
		body := o.Body
		if body == "" {
			body = "hello"
		}
		r.S3.Object.Size, r.S3.Object.ETag = int64(len(body)), md5Hex(body)
	}
	return map[string]any{"Records": []s3Record{r}}
}

// --- DynamoDB, Kinesis ---

type dynamoRecord struct {
	EventID      string `json:"eventID"`
	EventName    string `json:"eventName"`
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	DynamoDB     struct {
		ApproximateCreationDateTime int64          `json:"ApproximateCreationDateTime"`
		Keys                        map[string]any `json:"Keys"`
		NewImage                    map[string]any `json:"NewImage,omitempty"`
		OldImage                    map[string]any `json:"OldImage,omitempty"`
		SequenceNumber              string         `json:"SequenceNumber"`
		SizeBytes                   int            `json:"SizeBytes"`
		StreamViewType              string         `json:"StreamViewType"`
	} `json:"dynamodb"`
	EventSourceARN string `json:"eventSourceARN"`
}

func dynamoEvent(o Options) any {
	stream := arn("dynamodb", o.Region, "table/"+o.Table+"/stream/"+o.Now.Format("2006-01-02T15:04:05.000"))
	key := map[string]any{"Id": map[string]string{"N": "101"}}
	v1 := map[string]any{"Id": map[string]string{"N": "101"}, "Message": map[string]string{"S": "New item!"}}
	v2 := map[string]any{"Id": map[string]string{"N": "101"}, "Message": map[string]string{"S": "This item has changed"}}
	var out []dynamoRecord
	for i, step := range []struct {
		name     string
		old, new map[string]any
	}{{"INSERT", nil, v1}, {"MODIFY", v1, v2}, {"REMOVE", v2, nil}} {
		r := dynamoRecord{EventID: uuid.NewString(), EventName: step.name, EventVersion: "1.1",
			EventSource: "aws:dynamodb", AWSRegion: o.Region, EventSourceARN: stream}
		d := &r.DynamoDB
		d.ApproximateCreationDateTime = o.Now.Unix()
		d.Keys, d.OldImage, d.NewImage = key, step.old, step.new
		d.SequenceNumber = fmt.Sprintf("%d", 111+i*111)
		d.SizeBytes = 26 + 12*i
		d.StreamViewType = "NEW_AND_OLD_IMAGES"
		out = append(out, r)
	}
	return map[string]any{"Records": out}
}

type kinesisRecord struct {
	Kinesis struct {
		KinesisSchemaVersion        string  `json:"kinesisSchemaVersion"`
		PartitionKey                string  `json:"partitionKey"`
		SequenceNumber              string  `json:"sequenceNumber"`
		Data                        string  `json:"data"`
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

func kinesisEvent(o Options) any {
	data := o.Body
	if data == "" {
		data = "Hello, this is a test."
	}
	seq := "49590338271490256608559692538361571095921575989136588898"
	r := kinesisRecord{EventSource: "aws:kinesis", EventVersion: "1.0", EventID: "shardId-000000000000:" + seq,
		EventName: "aws:kinesis:record", InvokeIdentityArn: fmt.Sprintf("arn:aws:iam::%s:role/lambda-role", appspec.AccountID),
		AWSRegion: o.Region, EventSourceARN: arn("kinesis", o.Region, "stream/"+o.Stream)}
	k := &r.Kinesis
	k.KinesisSchemaVersion, k.PartitionKey, k.SequenceNumber = "1.0", o.Partition, seq
	k.Data = base64.StdEncoding.EncodeToString([]byte(data))
	k.ApproximateArrivalTimestamp = float64(o.Now.UnixMilli()) / 1000
	return map[string]any{"Records": []kinesisRecord{r}}
}

// --- EventBridge ---

type busEventShape struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

func busEvent(o Options) any {
	detail := json.RawMessage(`{"orderId":"1234","amount":42}`)
	if o.Body != "" {
		if json.Valid([]byte(o.Body)) {
			detail = json.RawMessage(o.Body)
		} else {
			b, _ := json.Marshal(map[string]string{"message": o.Body})
			detail = b
		}
	}
	return busEventShape{Version: "0", ID: uuid.NewString(), DetailType: o.Detail, Source: o.Source,
		Account: appspec.AccountID, Time: o.Now.Format(time.RFC3339), Region: o.Region, Resources: []string{}, Detail: detail}
}

func scheduledEvent(o Options) any {
	return busEventShape{Version: "0", ID: uuid.NewString(), DetailType: "Scheduled Event", Source: "aws.events",
		Account: appspec.AccountID, Time: o.Now.Truncate(time.Minute).Format(time.RFC3339), Region: o.Region,
		Resources: []string{arn("events", o.Region, "rule/my-schedule")}, Detail: json.RawMessage(`{}`)}
}
