package events

import (
	"strings"
	"testing"
)

func TestValidateRule(t *testing.T) {
	cases := []struct {
		name string
		rule Rule
		code string // "" when valid
		msg  string
	}{
		{"rate", Rule{Name: "r", Bus: DefaultBus, ScheduleExpression: "rate(5 minutes)"}, "", ""},
		{"cron", Rule{Name: "r", Bus: DefaultBus, ScheduleExpression: "cron(0 18 ? * MON-FRI *)"}, "", ""},
		{"at is Scheduler's", Rule{Name: "r", Bus: DefaultBus, ScheduleExpression: "at(2099-01-01T00:00:00)"}, CodeValidation, "EventBridge Scheduler"},
		{"never fires", Rule{Name: "r", Bus: DefaultBus, ScheduleExpression: "cron(0 0 30 2 ? *)"}, CodeValidation, "never"},
		{"schedule on a custom bus", Rule{Name: "r", Bus: "shop", ScheduleExpression: "rate(1 hour)"}, CodeValidation, "default event bus"},
		{"pattern", Rule{Name: "r", Bus: "shop", EventPattern: []byte(`{"source":["a"]}`)}, "", ""},
		{"bad pattern", Rule{Name: "r", Bus: "shop", EventPattern: []byte(`{"source":"a"}`)}, CodeInvalidEventPattern, "source"},
		{"neither", Rule{Name: "r", Bus: DefaultBus}, CodeValidation, "EventPattern or ScheduleExpression"},
		{"name too long", Rule{Name: strings.Repeat("a", 65), Bus: DefaultBus, ScheduleExpression: "rate(1 hour)"}, CodeValidation, "name"},
		{"name with a slash", Rule{Name: "a/b", Bus: DefaultBus, ScheduleExpression: "rate(1 hour)"}, CodeValidation, "name"},
		{"bad state", Rule{Name: "r", Bus: DefaultBus, ScheduleExpression: "rate(1 hour)", State: "ON"}, CodeValidation, "state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateRule(&c.rule)
			if c.code == "" {
				if err != nil {
					t.Fatalf("valid rule refused: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != c.code || !strings.Contains(e.Message, c.msg) {
				t.Fatalf("got %v, want %s containing %q", err, c.code, c.msg)
			}
		})
	}
}
