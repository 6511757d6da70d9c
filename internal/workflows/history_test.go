package workflows

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestHistoryPagesNewestFirst: reverseOrder pages give the same events as
// the whole history, newest first, without gaps or repeats, for histories
// interleaved with another execution's in the stream; a token of another
// shape is refused.
func TestHistoryPagesNewestFirst(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "hist", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":1,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, name := range []string{"a", "b", "c"} {
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: name, Input: `{"items":[` + strings.Repeat("1,", 12) + `1]}`})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, ex.ARN)
	}
	for _, arn := range arns {
		waitEnded(t, s, arn)
		all, err := s.GetExecutionHistory(ctx, arn)
		if err != nil || len(all) < 30 {
			t.Fatalf("history: %d events, %v", len(all), err)
		}
		slices.Reverse(all)
		for _, size := range []int{1, 7, 100} {
			var got []Event
			tok := ""
			for {
				page, next, err := s.HistoryPageReverse(ctx, arn, size, tok)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("page of %d events for size %d", len(page), size)
				}
				got = append(got, page...)
				if next == "" {
					break
				}
				tok = next
			}
			if len(got) != len(all) {
				t.Fatalf("size %d: %d events, want %d", size, len(got), len(all))
			}
			for i := range got {
				if got[i].ID != all[i].ID || got[i].Type != all[i].Type {
					t.Fatalf("size %d: event %d is %d %s, want %d %s", size, i, got[i].ID, got[i].Type, all[i].ID, all[i].Type)
				}
			}
		}
	}
	if _, _, err := s.HistoryPageReverse(ctx, arns[0], 5, "12.3"); kindOf(err) != KindInvalid {
		t.Fatalf("forward token used in reverse: %v", err)
	}
}
