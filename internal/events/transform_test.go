package events

import (
	"strings"
	"testing"
)

const testEvent = `{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2015-11-11T21:29:54Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],"detail":{"instance-id":"i-0123456789","state":"RUNNING","count":3,"tags":{"env":"prod"},"list":[1,"two",{"x":true}],"quote":"say \"hi\"","empty":null}}`

var testRC = RenderContext{RuleARN: "arn:aws:events:us-east-1:123456789012:rule/r1", RuleName: "r1", IngestionTime: "2015-11-11T21:29:55Z"}

func TestRender(t *testing.T) {
	paths := map[string]string{
		"instance": "$.detail.instance-id",
		"state":    "$.detail.state",
		"count":    "$.detail.count",
		"tags":     "$.detail.tags",
		"second":   "$.detail.list[1]",
		"list":     "$.detail.list",
		"quote":    "$.detail.quote",
		"missing":  "$.detail.nope",
		"null":     "$.detail.empty",
		"all":      "$.detail.tags.*",
	}
	tr := func(tmpl string) *Target {
		return &Target{InputTransformer: &InputTransformer{InputPathsMap: paths, InputTemplate: tmpl}}
	}
	cases := []struct {
		name   string
		target *Target
		want   string
	}{
		{"whole event", &Target{}, testEvent},
		{"constant input", &Target{Input: `{"a": 1}`}, `{"a": 1}`},
		{"input path object", &Target{InputPath: "$.detail.tags"}, `{"env":"prod"}`},
		{"input path string keeps quotes", &Target{InputPath: "$.detail.state"}, `"RUNNING"`},
		{"input path number", &Target{InputPath: "$.detail.count"}, `3`},
		{"input path index", &Target{InputPath: "$.detail.list[2]"}, `{"x":true}`},
		{"input path missing", &Target{InputPath: "$.detail.none"}, `null`},
		{"input path root", &Target{InputPath: "$"}, testEvent},
		// AWS documentation examples.
		{"json: unquoted values are JSON", tr(`{"instance" : <instance>, "state": [9, <state>, true], "Transformed" : "Yes"}`),
			`{"instance" : "i-0123456789", "state": [9, "RUNNING", true], "Transformed" : "Yes"}`},
		{"json: quoted placeholders are text", tr(`{"myInstance" : "instance <instance> is in state <state>"}`),
			`{"myInstance" : "instance i-0123456789 is in state RUNNING"}`},
		{"string template keeps its quotes", tr(`"instance <instance> is in <state>"`),
			`"instance i-0123456789 is in RUNNING"`},
		{"text template", tr(`<instance> is in state <state>`), `i-0123456789 is in state RUNNING`},
		{"escaped quotes in a string", tr(`{"msg": "<instance> is in state \"<state>\"", "n": <count>}`),
			`{"msg": "i-0123456789 is in state \"RUNNING\"", "n": 3}`},
		{"objects and arrays", tr(`{"tags": <tags>, "list": <list>, "second": <second>}`),
			`{"tags": {"env":"prod"}, "list": [1,"two",{"x":true}], "second": "two"}`},
		{"object inside a string is its JSON", tr(`{"t": "tags=<tags>"}`), `{"t": "tags={"env":"prod"}"}`},
		{"values are not escaped in strings", tr(`{"q": "<quote>"}`), `{"q": "say "hi""}`},
		{"value is escaped as JSON outside strings", tr(`{"q": <quote>}`), `{"q": "say \"hi\""}`},
		{"missing in a string is empty", tr(`"detail <missing>!"`), `"detail !"`},
		{"missing outside a string is null", tr(`{"m": <missing>}`), `{"m": null}`},
		{"null value", tr(`{"n": <null>, "s": "<null>"}`), `{"n": null, "s": "null"}`},
		{"wildcard collects an array", tr(`{"all": <all>}`), `{"all": ["prod"]}`},
		{"predefined string variables", tr(`"<aws.events.rule-name> <aws.events.rule-arn> <aws.events.event.ingestion-time>"`),
			`"r1 arn:aws:events:us-east-1:123456789012:rule/r1 2015-11-11T21:29:55Z"`},
		{"predefined variables as JSON values", tr(`{"rule": <aws.events.rule-name>}`), `{"rule": "r1"}`},
		{"aws.events.event has no detail", tr(`{"e": <aws.events.event>}`),
			`{"e": {"id":"7bf73129-1428-4cd3-a780-95db273d1602","account":"123456789012","detailType":"EC2 Instance State-change Notification","time":"2015-11-11T21:29:55Z","source":"aws.ec2","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],"version":"0"}}`},
		{"aws.events.event.json is the event", tr(`{"e": <aws.events.event.json>}`), `{"e": ` + testEvent + `}`},
		{"angle brackets that are not placeholders stay", tr(`"a < b > c <not a placeholder>"`), `"a < b > c <not a placeholder>"`},
		{"html characters are not escaped", &Target{InputTransformer: &InputTransformer{InputPathsMap: map[string]string{"x": "$.detail.x"}, InputTemplate: `{"x": <x>}`}}, `{"x": null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Render(c.target, []byte(testEvent), testRC)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestRenderKeepsHTMLCharacters(t *testing.T) {
	ev := `{"detail":{"s":"<b>&"}}`
	got, err := Render(&Target{InputTransformer: &InputTransformer{InputPathsMap: map[string]string{"s": "$.detail.s"}, InputTemplate: `{"s": <s>}`}}, []byte(ev), testRC)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"s": "<b>&"}` {
		t.Errorf("got %s", got)
	}
}

func TestValidateTarget(t *testing.T) {
	fn := "arn:aws:lambda:us-east-1:000000000000:function:f"
	one := 1
	big := 200
	cases := []struct {
		name   string
		target Target
		want   string // substring of the error; "" for valid
	}{
		{"plain", Target{ID: "t1", Arn: fn}, ""},
		{"two inputs", Target{ID: "t1", Arn: fn, Input: `{}`, InputPath: "$.detail"}, "Only one of Input, InputPath, or InputTransformer"},
		{"bad id", Target{ID: "t 1", Arn: fn}, "targets.id"},
		{"bad arn", Target{ID: "t1", Arn: "function-f"}, "Provided Arn is not in correct format"},
		{"input not json", Target{ID: "t1", Arn: fn, Input: `{nope`}, "not valid JSON"},
		{"bad input path", Target{ID: "t1", Arn: fn, InputPath: "detail.x"}, "not a valid JSON path"},
		{"bracket name path", Target{ID: "t1", Arn: fn, InputPath: "$['detail']"}, "not a valid JSON path"},
		{"undeclared placeholder", Target{ID: "t1", Arn: fn, InputTransformer: &InputTransformer{InputTemplate: `"<nope>"`}}, "contains invalid placeholder nope"},
		{"predefined placeholder", Target{ID: "t1", Arn: fn, InputTransformer: &InputTransformer{InputTemplate: `"<aws.events.rule-arn>"`}}, ""},
		{"reserved key", Target{ID: "t1", Arn: fn, InputTransformer: &InputTransformer{InputPathsMap: map[string]string{"aws.x": "$.id"}, InputTemplate: `"<aws.x>"`}}, "reserved"},
		{"empty template", Target{ID: "t1", Arn: fn, InputTransformer: &InputTransformer{}}, "must not be empty"},
		{"retry attempts", Target{ID: "t1", Arn: fn, RetryPolicy: &RetryPolicy{MaximumRetryAttempts: &big}}, "between 0 and 185"},
		{"event age", Target{ID: "t1", Arn: fn, RetryPolicy: &RetryPolicy{MaximumEventAgeInSeconds: &one}}, "between 60 and 86400"},
		{"dlq kind", Target{ID: "t1", Arn: fn, DeadLetterConfig: &DeadLetterConfig{Arn: "arn:aws:sns:us-east-1:000000000000:t"}}, "SQS queue ARN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateTarget(&c.target)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestCheckEntry(t *testing.T) {
	cases := []struct {
		entry Entry
		code  string
	}{
		{Entry{Source: "a", DetailType: "b", Detail: `{"x":1}`}, ""},
		{Entry{DetailType: "b", Detail: `{}`}, "InvalidArgument"},
		{Entry{Source: "a", Detail: `{}`}, "InvalidArgument"},
		{Entry{Source: "a", DetailType: "b"}, "InvalidArgument"},
		{Entry{Source: "a", DetailType: "b", Detail: `[1]`}, "MalformedDetail"},
		{Entry{Source: "a", DetailType: "b", Detail: `{"x":`}, "MalformedDetail"},
		{Entry{Source: "aws.ec2", DetailType: "b", Detail: `{}`}, "NotAuthorizedForSourceException"},
	}
	for i, c := range cases {
		if code, _ := checkEntry(&c.entry); code != c.code {
			t.Errorf("#%d: code %q, want %q", i, code, c.code)
		}
	}
}
