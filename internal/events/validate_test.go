package events

import (
	"encoding/json"
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

func TestTestEventPatternNeedsTheMandatoryFields(t *testing.T) {
	full := `{"id":"1","account":"123456789012","source":"shop","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail-type":"t","detail":{"n":5}}`
	ok, err := TestEventPattern([]byte(`{"detail":{"n":[{"numeric":[">",1]}]}}`), []byte(full))
	if err != nil || !ok {
		t.Fatalf("full event: %v %v", ok, err)
	}
	for _, field := range []string{"id", "account", "source", "time", "region", "resources", "detail-type"} {
		var ev map[string]any
		if err := json.Unmarshal([]byte(full), &ev); err != nil {
			t.Fatal(err)
		}
		delete(ev, field)
		data, _ := json.Marshal(ev)
		_, err := TestEventPattern([]byte(`{"source":["shop"]}`), data)
		e, isErr := err.(*Error)
		if !isErr || e.Code != CodeValidation || !strings.Contains(e.Message, field) {
			t.Errorf("event without %s: %v, want a ValidationException naming it", field, err)
		}
	}
	if _, err := TestEventPattern([]byte(`{"source":"shop"}`), []byte(full)); err == nil || err.(*Error).Code != CodeInvalidEventPattern {
		t.Errorf("invalid pattern: %v", err)
	}
}
