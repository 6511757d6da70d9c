package manifest

import (
	"fmt"
	"strings"
	"testing"
)

func eventsYML(events string) string {
	return `service: shop
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
    events:
` + events
}

func TestScheduleAndPatternErrorsHavePositions(t *testing.T) {
	cases := []struct {
		name   string
		events string
		pos    string // line:column of the error
		msg    string
	}{
		{"bad rate unit", "      - schedule: rate(5 minute)", "9:19", `"rate(5 minute)" is not a valid schedule`},
		{"cron with both days", "      - schedule: cron(0 18 * * MON-FRI *)", "9:19", "day-of-month"},
		{"cron never fires", "      - schedule: cron(0 0 30 2 ? *)", "9:19", "never"},
		{"at is not a rule schedule", "      - schedule: at(2099-01-01T00:00:00)", "9:19", "EventBridge Scheduler"},
		{"map rate", "      - schedule:\n          rate: rate(0 minutes)\n          enabled: true", "10:17", "rate(0 minutes)"},
		{"rate list item", "      - schedule:\n          rate:\n            - rate(1 hour)\n            - cron(61 * * * ? *)", "12:15", "cron(61 * * * ? *)"},
		{"map without rate", "      - schedule:\n          enabled: false", "10:11", "needs rate"},
		{"schedule not a string", "      - schedule: 5", "9:19", "not an integer"},
		{"pattern field", "      - eventBridge:\n          pattern:\n            source: [shop]\n            detail:\n              total: [{numeric: [\">\"]}]",
			"13:22", "detail.total"},
		{"pattern not a list", "      - eventBridge:\n          pattern:\n            source: shop", "11:21", "source"},
		{"pattern in $or", "      - eventBridge:\n          pattern:\n            $or:\n              - a: [1]\n              - b: [{prefix: 5}]", "13:20", "b"},
		{"retry attempts over 185", "      - eventBridge:\n          pattern: {source: [a]}\n          retryPolicy:\n            maximumRetryAttempts: 186", "12:35", "maximumRetryAttempts 186 must be between 0 and 185"},
		{"event age under 60", "      - eventBridge:\n          pattern: {source: [a]}\n          retryPolicy:\n            maximumEventAge: 59", "12:30", "maximumEventAge 59 must be between 60 and 86400"},
		{"event age not a number", "      - eventBridge:\n          pattern: {source: [a]}\n          retryPolicy:\n            maximumEventAge: soon", "12:30", "maximumEventAge"},
		{"eventBridge schedule", "      - eventBridge:\n          schedule: rate(2 minute)", "10:21", "rate(2 minute)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list := loadErrors(t, map[string]string{"serverless.yml": eventsYML(tc.events), "handler.js": handlerJS}, Options{})
			for _, e := range list {
				if fmt.Sprintf("%d:%d", e.Line, e.Column) == tc.pos && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("no error at %s containing %q; got %v", tc.pos, tc.msg, list)
		})
	}
}

func TestValidSchedulesAndPatternsLoad(t *testing.T) {
	events := `      - schedule: rate(1 minute)
      - schedule: cron(0 18 ? * MON-FRI *)
      - schedule:
          rate:
            - rate(5 minutes)
            - cron(0 12 L * ? *)
          enabled: false
          input: {a: 1}
      - eventBridge:
          eventBus: shop
          pattern:
            source: [shop.orders]
            detail:
              total: [{numeric: [">", 100]}]
              tags: [{anything-but: {prefix: "x"}}]
          retryPolicy:
            maximumRetryAttempts: 0
            maximumEventAge: 86400
`
	p := mustLoad(t, map[string]string{"serverless.yml": eventsYML(events), "handler.js": handlerJS}, Options{})
	if n := len(p.App.Functions[0].Events); n != 4 {
		t.Fatalf("%d events, want 4", n)
	}
}
