package workflows

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkExecution runs a small realistic machine: a Pass with Parameters
// and an intrinsic, a Choice, and a Map over 20 items with an ItemSelector.
func BenchmarkExecution(b *testing.B) {
	def, err := Parse([]byte(`{"StartAt":"Prep","States":{
		"Prep":{"Type":"Pass","Parameters":{"items.$":"States.ArrayRange(1, 20, 1)","name.$":"$.name"},"Next":"Check"},
		"Check":{"Type":"Choice","Choices":[{"Variable":"$.name","StringEquals":"ana","Next":"Each"}],"Default":"Fail"},
		"Each":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":4,"ItemSelector":{"n.$":"$$.Map.Item.Value","who.$":"$.name"},
			"ItemProcessor":{"StartAt":"Double","States":{"Double":{"Type":"Pass","Parameters":{"v.$":"States.MathAdd($.n, $.n)"},"End":true}}},
			"ResultPath":"$.out","End":true},
		"Fail":{"Type":"Fail","Error":"NotAna"}}}`))
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{Clock: newFakeClock(true)}
	in := json.RawMessage(`{"name":"ana"}`)
	b.ReportAllocs()
	for b.Loop() {
		if res := e.Start(context.Background(), def, testInfo(), in, Hooks{}); res.Status != StatusSucceeded {
			b.Fatal(res)
		}
	}
}

// BenchmarkParse parses and validates the same machine.
func BenchmarkParse(b *testing.B) {
	def := []byte(`{"StartAt":"Prep","States":{
		"Prep":{"Type":"Pass","Parameters":{"items.$":"States.ArrayRange(1, 20, 1)","name.$":"$.name"},"Next":"Check"},
		"Check":{"Type":"Choice","Choices":[{"Variable":"$.name","StringEquals":"ana","Next":"Each"}],"Default":"Fail"},
		"Each":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":4,"ItemSelector":{"n.$":"$$.Map.Item.Value","who.$":"$.name"},
			"ItemProcessor":{"StartAt":"Double","States":{"Double":{"Type":"Pass","Parameters":{"v.$":"States.MathAdd($.n, $.n)"},"End":true}}},
			"ResultPath":"$.out","End":true},
		"Fail":{"Type":"Fail","Error":"NotAna"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(def); err != nil {
			b.Fatal(err)
		}
	}
}
