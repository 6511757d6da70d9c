package sampleevents

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nimbus-platform/nimbus/internal/conformance"
)

// Every event decodes strictly into aws-lambda-go's type for it: no field a
// Go handler would not know, and the values land where handlers read them.
func TestEventsDecodeIntoLambdaTypes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	o := Options{Body: `{"a":1}`, Now: now, Region: "eu-west-1", Key: "in/Happy Face.jpg"}
	cases := []struct {
		service, event string
		into           any
		check          func(t *testing.T, v any)
	}{
		{"apigateway", "aws-proxy", &events.APIGatewayProxyRequest{}, func(t *testing.T, v any) {
			r := v.(*events.APIGatewayProxyRequest)
			if r.HTTPMethod != "GET" || r.Path != "/hello" || r.Body != `{"a":1}` || r.RequestContext.Stage != "dev" {
				t.Errorf("rest request: %+v", r)
			}
		}},
		{"apigateway", "http-api-proxy", &events.APIGatewayV2HTTPRequest{}, func(t *testing.T, v any) {
			r := v.(*events.APIGatewayV2HTTPRequest)
			if r.Version != "2.0" || r.RequestContext.HTTP.Method != "GET" || r.RawPath != "/hello" {
				t.Errorf("http api request: %+v", r)
			}
		}},
		{"sqs", "receive-message", &events.SQSEvent{}, func(t *testing.T, v any) {
			r := v.(*events.SQSEvent).Records[0]
			if r.Body != `{"a":1}` || r.Md5OfBody != "bb6cb5c68df4652941caf652a366f2d8" || r.EventSourceARN != "arn:aws:sqs:eu-west-1:000000000000:my-queue" {
				t.Errorf("sqs record: %+v", r)
			}
		}},
		{"sns", "notification", &events.SNSEvent{}, func(t *testing.T, v any) {
			r := v.(*events.SNSEvent).Records[0]
			if r.SNS.Message != `{"a":1}` || r.SNS.TopicArn != "arn:aws:sns:eu-west-1:000000000000:my-topic" {
				t.Errorf("sns record: %+v", r)
			}
		}},
		{"s3", "put", &events.S3Event{}, func(t *testing.T, v any) {
			r := v.(*events.S3Event).Records[0]
			if r.EventName != "ObjectCreated:Put" || r.S3.Object.Key != "in/Happy+Face.jpg" || r.S3.Object.Size != 7 {
				t.Errorf("s3 record: %+v", r)
			}
		}},
		{"s3", "delete", &events.S3Event{}, nil},
		{"dynamodb", "update", &events.DynamoDBEvent{}, func(t *testing.T, v any) {
			rs := v.(*events.DynamoDBEvent).Records
			if len(rs) != 3 || rs[1].EventName != "MODIFY" || rs[1].Change.NewImage["Message"].String() != "This item has changed" {
				t.Errorf("dynamodb records: %+v", rs)
			}
		}},
		{"kinesis", "get-records", &events.KinesisEvent{}, func(t *testing.T, v any) {
			r := v.(*events.KinesisEvent).Records[0]
			if string(r.Kinesis.Data) != `{"a":1}` || r.Kinesis.PartitionKey != "partition-1" {
				t.Errorf("kinesis record: %+v", r)
			}
		}},
		{"eventbridge", "event", &events.EventBridgeEvent{}, func(t *testing.T, v any) {
			r := v.(*events.EventBridgeEvent)
			var compact bytes.Buffer
			_ = json.Compact(&compact, r.Detail)
			if compact.String() != `{"a":1}` || r.DetailType != "Order Placed" {
				t.Errorf("bus event: %+v", r)
			}
		}},
		{"schedule", "scheduled-event", &events.EventBridgeEvent{}, func(t *testing.T, v any) {
			if r := v.(*events.EventBridgeEvent); r.DetailType != "Scheduled Event" || r.Source != "aws.events" {
				t.Errorf("scheduled event: %+v", r)
			}
		}},
	}
	if len(cases) != len(Kinds()) {
		t.Fatalf("%d cases for %d kinds", len(cases), len(Kinds()))
	}
	for _, c := range cases {
		t.Run(c.service+"/"+c.event, func(t *testing.T) {
			data, err := Generate(c.service, c.event, o)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(c.into); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if c.check != nil {
				c.check(t, c.into)
			}
		})
	}
}

func TestUnknownServiceAndEvent(t *testing.T) {
	if _, err := Generate("sqs", "nope", Options{}); err == nil || !strings.Contains(err.Error(), "receive-message") {
		t.Errorf("unknown event: %v", err)
	}
	if _, err := Generate("nope", "x", Options{}); err == nil || !strings.Contains(err.Error(), "apigateway") {
		t.Errorf("unknown service: %v", err)
	}
}

// Each record carries only fields that AWS's own sample of the same event has.
func TestRecordFieldsMatchAWSSamples(t *testing.T) {
	dir := filepath.Join(conformance.Dir(t), "lambda", "events", "sam-cli")
	samples := map[string]string{
		"sqs/receive-message": "sqs-receive-message.json", "sns/notification": "sns-notification.json",
		"s3/put": "s3-put.json", "dynamodb/update": "dynamodb-update.json", "kinesis/get-records": "kinesis-get-records.json",
		"schedule/scheduled-event": "cloudwatch-scheduled-event.json", "apigateway/http-api-proxy": "apigateway-http-api-proxy.json",
		"apigateway/aws-proxy": "apigateway-aws-proxy.json",
	}
	for kind, file := range samples {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		service, event, _ := strings.Cut(kind, "/")
		ours, err := Generate(service, event, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, got := firstRecordKeys(t, raw), firstRecordKeys(t, ours)
		for _, k := range got {
			// Events delivered by EventBridge carry "version": "0"; AWS's
			// scheduled-event sample leaves it out.
			if !contains(want, k) && !(kind == "schedule/scheduled-event" && k == "version") {
				t.Errorf("%s: field %q is not in AWS's sample (its fields: %v)", kind, k, want)
			}
		}
	}
}

func firstRecordKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	obj := top
	if recs, ok := top["Records"]; ok {
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(recs, &list); err != nil {
			t.Fatal(err)
		}
		obj = list[0]
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
