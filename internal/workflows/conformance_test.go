package workflows

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/conformance"
)

type executionCase struct {
	ID         string          `json:"id"`
	Definition json.RawMessage `json:"definition"`
	Input      json.RawMessage `json:"input"`
	Expected   struct {
		Status       string          `json:"status"`
		Output       json.RawMessage `json:"output"`
		OutputParsed json.RawMessage `json:"output_parsed"`
		Error        *string         `json:"error"`
		Cause        *string         `json:"cause"`
	} `json:"expected"`
	Flags []string `json:"flags"`
}

const placeholderFlag = "snapshot-placeholders-in-input-or-output"

// knownExecutionDifferences lists unflagged cases we do not pass yet, with
// the reason; they are counted and reported, never silently skipped.
var knownExecutionDifferences = map[string]string{
	// test_timestamp_operators generated real timestamps at run time; the
	// recording replaced them with the placeholder "date" in both the
	// definition and the input, so identical recorded cases expect opposite
	// outcomes (ls-0822 true, ls-0823 false). Those expecting a match cannot
	// be replayed; the others pass because "date" is no timestamp.
	"ls-0807": timestampPlaceholder, "ls-0822": timestampPlaceholder, "ls-0825": timestampPlaceholder,
	"ls-0829": timestampPlaceholder, "ls-0831": timestampPlaceholder, "ls-0834": timestampPlaceholder,
	"ls-0837": timestampPlaceholder, "ls-0838": timestampPlaceholder,
}

// knownPlaceholderDifferences are cases flagged with placeholders whose
// hidden input decides the outcome.
var knownPlaceholderDifferences = map[string]string{
	"ls-0032": "the input timestamp was normalised to <timestamp>; the original lay more than a year ahead",
	"ls-0036": "the input timestamp was normalised to <timestamp>; the original was malformed",
	"ls-0037": "the input timestamp was normalised to <timestamp>; the original was malformed",
}

const timestampPlaceholder = "the recorded timestamps were replaced by the placeholder \"date\""

func TestConformanceExecutions(t *testing.T) {
	dir := conformance.Dir(t)
	data, err := os.ReadFile(filepath.Join(dir, "asl", "execution-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []executionCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	var total, passed, placeholderTotal, placeholderPassed int
	var known []string
	for _, c := range cases {
		placeholder := len(c.Flags) == 1 && strings.HasPrefix(c.Flags[0], placeholderFlag)
		if len(c.Flags) > 0 && !placeholder {
			continue
		}
		if placeholder {
			placeholderTotal++
		} else {
			total++
		}
		reason := runExecutionCase(c, placeholder)
		why, ok := knownExecutionDifferences[c.ID]
		if !ok {
			why, ok = knownPlaceholderDifferences[c.ID]
		}
		if ok {
			if reason == "" {
				t.Errorf("%s passes now: remove it from knownExecutionDifferences (%s)", c.ID, why)
			}
			known = append(known, c.ID)
			continue
		}
		if reason != "" {
			t.Errorf("%s: %s", c.ID, reason)
			continue
		}
		if placeholder {
			placeholderPassed++
		} else {
			passed++
		}
	}
	t.Logf("execution cases: %d/%d unflagged passed, %d known differences %v; %d/%d with placeholders passed",
		passed, total, len(known), known, placeholderPassed, placeholderTotal)
}

// runExecutionCase runs one case and returns why it failed, or "".
func runExecutionCase(c executionCase, placeholder bool) string {
	def, err := Parse(c.Definition)
	if err != nil {
		return "definition refused: " + err.Error()
	}
	clock := newFakeClock(true)
	e := &Engine{Clock: clock}
	in := c.Input
	// the upstream tests pass a string input as the raw input text
	var text string
	if json.Unmarshal(in, &text) == nil {
		in = json.RawMessage(text)
	}
	if placeholder {
		// the upstream tests generated timestamps near the start time, which
		// the recording replaced by "date": put one back
		ts := `"` + clock.Now().Add(time.Second).Format(time.RFC3339) + `"`
		in = json.RawMessage(strings.NewReplacer(`"date"`, ts, `"<timestamp>"`, ts).Replace(string(in)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := e.Start(ctx, def, ExecutionInfo{ARN: "arn:aws:states:us-east-1:111111111111:execution:sm:exec", Name: "exec",
		StateMachineARN: "arn:aws:states:us-east-1:111111111111:stateMachine:sm", StateMachineName: "sm",
		RoleARN: "arn:aws:iam::111111111111:role/sm"}, in, Hooks{})
	if res.Status != c.Expected.Status {
		return "status " + res.Status + " (" + res.Error + ": " + res.Cause + "), want " + c.Expected.Status
	}
	switch res.Status {
	case StatusSucceeded:
		want := c.Expected.OutputParsed
		if len(want) == 0 || string(want) == "null" && len(c.Expected.Output) > 0 {
			var s string
			if json.Unmarshal(c.Expected.Output, &s) == nil {
				want = json.RawMessage(s)
			} else {
				want = c.Expected.Output
			}
		}
		got := mustDecode(res.Output)
		w := mustDecode(want)
		if placeholder {
			if !placeholderEqual(w, got) {
				return "output " + string(res.Output) + ", want " + string(want)
			}
		} else if !jsonEqual(normaliseRandom(c, w, got), got) {
			return "output " + string(res.Output) + ", want " + string(want)
		}
	case StatusFailed:
		want := ""
		if c.Expected.Error != nil {
			want = *c.Expected.Error
		}
		if res.Error != want {
			return "error " + res.Error + " (" + res.Cause + "), want " + want
		}
	}
	return ""
}

func mustDecode(data []byte) any {
	v, err := decodeJSON(data)
	if err != nil {
		return err.Error()
	}
	return v
}

var (
	placeholderPart = regexp.MustCompile(`<[A-Za-z0-9_]+>`)
	uuidPattern     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// placeholderEqual compares like jsonEqual, but where the recording
// normalised a value: "<Name>" (whole or inside a string) matches anything,
// "date" (and the other time placeholders) a timestamp, "snf_role_arn" any
// string and "generated-uuid" a version 4 UUID.
func placeholderEqual(want, got any) bool {
	if ws, ok := want.(string); ok {
		gs, ok := got.(string)
		switch {
		case ws == "date" || ws == "<timestamp>" || ws == "entered-time" || ws == "start-time":
			_, err := parseTimestamp(gs)
			return ok && err == nil
		case ws == "snf_role_arn":
			return ok
		case ws == "generated-uuid":
			return ok && uuidPattern.MatchString(gs)
		case placeholderPart.MatchString(ws):
			if placeholderPart.ReplaceAllString(ws, "") == "" {
				return true
			}
			parts := placeholderPart.Split(ws, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			return ok && regexp.MustCompile("^"+strings.Join(parts, ".*")+"$").MatchString(gs)
		}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok || !placeholderEqual(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !placeholderEqual(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return jsonEqual(want, got)
}

type statelintCase struct {
	File       string   `json:"file"`
	Valid      bool     `json:"valid"`
	Substrings []string `json:"expected_problem_substrings"`
}

func TestConformanceStatelint(t *testing.T) {
	dir := filepath.Join(conformance.Dir(t), "asl", "statelint")
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []statelintCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, c := range cases {
		def, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		_, perr := Parse(def)
		switch {
		case c.Valid && perr != nil:
			t.Errorf("%s is valid but was refused: %v", c.File, perr)
		case !c.Valid && perr == nil:
			t.Errorf("%s is invalid (%q) but was accepted", c.File, c.Substrings)
		default:
			if perr != nil {
				// statelint's texts need not match, but ours carry the same words
				for _, sub := range c.Substrings {
					if !strings.Contains(perr.Error(), sub) {
						t.Errorf("%s: the refusal does not mention %q: %v", c.File, sub, perr)
					}
				}
			}
			passed++
		}
	}
	t.Logf("statelint: %d/%d passed", passed, len(cases))
}

// normaliseRandom: the upstream MathRandom tests replace the generated number
// with "RandomNumberGenerated"; check instead that ours is an integer in the
// requested range [fst, snd).
func normaliseRandom(c executionCase, want, got any) any {
	w, ok1 := want.(map[string]any)
	g, ok2 := got.(map[string]any)
	if !ok1 || !ok2 || w["FunctionResult"] != "RandomNumberGenerated" {
		return want
	}
	in, _ := mustDecode(c.Input).(map[string]any)
	fi, _ := in["FunctionInput"].(map[string]any)
	lo, _ := toFloat(fi["fst"])
	hi, _ := toFloat(fi["snd"])
	n, ok := toInt(g["FunctionResult"])
	if ok && float64(n) >= math.Floor(lo) && float64(n) < hi {
		return got
	}
	return want
}
