package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// asyncYML is a service with one function whose async settings are extra.
func asyncYML(extra string) string {
	return `service: shop
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
` + extra + `
  other:
    handler: handler.hello
resources:
  Resources:
    Dlq:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: dlq
    Alerts:
      Type: AWS::SNS::Topic
      Properties:
        TopicName: alerts
`
}

func TestAsyncSettings(t *testing.T) {
	cases := []struct {
		name                string
		extra               string
		retries, age        string // "" when unset
		onError, ok, failed string
	}{
		{name: "defaults"},
		{name: "bounds low", extra: "    maximumRetryAttempts: 0\n    maximumEventAge: 60", retries: "0", age: "60"},
		{name: "bounds high", extra: "    maximumRetryAttempts: 2\n    maximumEventAge: 21600", retries: "2", age: "21600"},
		{name: "arns", extra: "    onError: arn:aws:sqs:us-east-1:000000000000:dlq\n    destinations:\n      onSuccess: arn:aws:sns:us-east-1:000000000000:alerts\n      onFailure: arn:aws:events:us-east-1:000000000000:event-bus/default",
			onError: "arn:aws:sqs:us-east-1:000000000000:dlq", ok: "arn:aws:sns:us-east-1:000000000000:alerts", failed: "arn:aws:events:us-east-1:000000000000:event-bus/default"},
		{name: "Ref and GetAtt", extra: "    onError:\n      Ref: Alerts\n    destinations:\n      onFailure:\n        Fn::GetAtt: [Dlq, Arn]\n      onSuccess: other",
			onError: "arn:aws:sns:us-east-1:000000000000:alerts", failed: "arn:aws:sqs:us-east-1:000000000000:dlq", ok: "other"},
		{name: "object form", extra: "    destinations:\n      onFailure:\n        type: sqs\n        arn:\n          Fn::GetAtt: [Dlq, Arn]",
			failed: "arn:aws:sqs:us-east-1:000000000000:dlq"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoad(t, map[string]string{"serverless.yml": asyncYML(tc.extra), "handler.js": handlerJS}, Options{})
			var fn = p.App.Functions[0]
			for _, f := range p.App.Functions {
				if f.Key == "hello" {
					fn = f
				}
			}
			str := func(p *int) string {
				if p == nil {
					return ""
				}
				return fmt.Sprint(*p)
			}
			if got := str(fn.MaximumRetryAttempts); got != tc.retries {
				t.Errorf("maximumRetryAttempts = %q, want %q", got, tc.retries)
			}
			if got := str(fn.MaximumEventAge); got != tc.age {
				t.Errorf("maximumEventAge = %q, want %q", got, tc.age)
			}
			if fn.OnError != tc.onError || fn.Destinations.OnSuccess != tc.ok || fn.Destinations.OnFailure != tc.failed {
				t.Errorf("onError %q onSuccess %q onFailure %q, want %q %q %q", fn.OnError, fn.Destinations.OnSuccess, fn.Destinations.OnFailure, tc.onError, tc.ok, tc.failed)
			}
		})
	}
}

func TestAsyncSettingsErrors(t *testing.T) {
	cases := []struct {
		name  string
		extra string
		pos   string // line:column of the error
		msg   string // part of the message
	}{
		{"retries over 2", "    maximumRetryAttempts: 3", "8:27", "maximumRetryAttempts 3 must be between 0 and 2"},
		{"retries negative", "    maximumRetryAttempts: -1", "8:27", "maximumRetryAttempts -1 must be between 0 and 2"},
		{"retries not a number", "    maximumRetryAttempts: two", "8:27", "maximumRetryAttempts"},
		{"age under 60", "    maximumEventAge: 59", "8:22", "maximumEventAge 59 must be between 60 and 21600 seconds"},
		{"age over 6 h", "    maximumEventAge: 21601", "8:22", "maximumEventAge 21601 must be between 60 and 21600 seconds"},
		{"onError not a dlq", "    onError: arn:aws:lambda:us-east-1:000000000000:function:x", "8:14", "is not an SQS queue or SNS topic ARN"},
		{"onError unknown Ref", "    onError:\n      Ref: Nope", "9:7", "onError"},
		{"destination not valid", "    destinations:\n      onFailure: arn:aws:s3:::bucket", "9:18", "is not a valid destination"},
		{"object form without arn", "    destinations:\n      onFailure:\n        type: sqs", "9:7", "has no arn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list := loadErrors(t, map[string]string{"serverless.yml": asyncYML(tc.extra), "handler.js": handlerJS}, Options{})
			for _, e := range list {
				if fmt.Sprintf("%d:%d", e.Line, e.Column) == tc.pos && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("no error at %s containing %q; got %v", tc.pos, tc.msg, list)
		})
	}
}
