package manifest

import (
	"fmt"
	"strings"
	"testing"
)

func s3YML(event string) string {
	return `service: svc
configValidationMode: error
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
    events:
      - s3: ` + event + "\n"
}

// TestS3EventErrors checks s3 events with positions before anything is packaged.
func TestS3EventErrors(t *testing.T) {
	cases := []struct{ name, event, pos, msg string }{
		{"list", "[a]", "10:13", "an s3 event is a bucket name or a map"},
		{"no bucket", "{event: s3:ObjectCreated:*}", "10:13", "bucket is required"},
		{"unknown event", "{bucket: b, event: s3:ObjectCreated:Upload}", "10:32", `"s3:ObjectCreated:Upload" is not an S3 event type`},
		{"bad rule", "{bucket: b, rules: [{contains: x}]}", "10:33", "each rule is {prefix: ...} or {suffix: ...}"},
		{"two prefixes", "{bucket: b, rules: [{prefix: a}, {prefix: b}]}", "10:46", "more than one prefix rule"},
		{"existing not a bool", "{bucket: b, existing: maybe}", "10:35", "must be true or false"},
		{"unknown key", "{bucket: b, prefix: x}", "10:25", `unknown key "prefix"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list := loadErrors(t, map[string]string{"serverless.yml": s3YML(tc.event), "handler.js": handlerJS}, Options{})
			for _, e := range list {
				if fmt.Sprintf("%d:%d", e.Line, e.Column) == tc.pos && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("no error at %s containing %q; got %v", tc.pos, tc.msg, list)
		})
	}
	p := mustLoad(t, map[string]string{"serverless.yml": s3YML("{bucket: b, event: s3:ObjectRemoved:*, rules: [{prefix: a/}, {suffix: .x}], existing: true}"), "handler.js": handlerJS}, Options{})
	for _, w := range p.Warnings {
		t.Errorf("warning for a supported s3 event: %v", w)
	}
}
