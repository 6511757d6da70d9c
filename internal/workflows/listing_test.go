package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// TestListExecutionsPages: executions page newest first at the store, with
// a status filter; tokens work only for the machine and filter they were
// given for; a refused start (its name in use) lists nothing twice.
func TestListExecutionsPages(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	create := func(name, def string) string {
		m, err := s.CreateStateMachine(ctx, StateMachine{Name: name, RoleARN: "arn:aws:iam::000000000000:role/r", Definition: def})
		if err != nil {
			t.Fatal(err)
		}
		return m.ARN
	}
	arn := create("lst", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.wait","BooleanEquals":true,"Next":"W"}],"Default":"P"},
		"W":{"Type":"Wait","Seconds":600,"End":true},"P":{"Type":"Pass","End":true}}}`)
	other := create("other", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)
	var all, running []string
	for i := range 25 {
		name := fmt.Sprintf("e%02d", i)
		in := `{"wait":false}`
		if i%3 == 0 {
			in = `{"wait":true}`
			running = append(running, name)
		}
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: arn, Name: name, Input: in})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, name)
		if i%3 != 0 {
			waitEnded(t, s, ex.ARN)
		}
	}
	// A name in use: refused, and listed once.
	if _, err := s.StartExecution(ctx, Start{StateMachineARN: arn, Name: "e01", Input: `{"wait":true}`}); kindOf(err) != KindExecutionExists {
		t.Fatalf("name in use: %v", err)
	}
	slices.Reverse(all)
	slices.Reverse(running)
	pages := func(status string, size int) ([]string, []int) {
		t.Helper()
		var names []string
		var sizes []int
		tok := ""
		for {
			page, next, err := s.ListExecutionsPage(ctx, arn, status, size, tok)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page))
			for _, ex := range page {
				names = append(names, ex.Name)
				if status != "" && ex.Status != status {
					t.Fatalf("%s is %s, listed under %s", ex.Name, ex.Status, status)
				}
			}
			if next == "" {
				return names, sizes
			}
			tok = next
		}
	}
	if got, sizes := pages("", 10); !slices.Equal(got, all) || sizes[0] != 10 {
		t.Fatalf("all, newest first: %v (pages %v)\nwant %v", got, sizes, all)
	}
	if got, _ := pages(StatusRunning, 4); !slices.Equal(got, running) {
		t.Fatalf("running: %v\nwant %v", got, running)
	}
	_, tok, err := s.ListExecutionsPage(ctx, arn, "", 5, "")
	if err != nil || tok == "" {
		t.Fatalf("first page: %q %v", tok, err)
	}
	if _, _, err := s.ListExecutionsPage(ctx, other, "", 5, tok); kindOf(err) != KindInvalidToken {
		t.Fatalf("token on another machine: %v", err)
	}
	if _, _, err := s.ListExecutionsPage(ctx, arn, StatusRunning, 5, tok); kindOf(err) != KindInvalidToken {
		t.Fatalf("token with another filter: %v", err)
	}
	if _, _, err := s.ListExecutionsPage(ctx, arn, "", 5, "bm90IGEgdG9rZW4"); kindOf(err) != KindInvalidToken {
		t.Fatalf("forged token: %v", err)
	}
}

// TestListExecutionsBeforeNumbering: executions stored before machines
// had a counter are listed, and numbered with the next start.
func TestListExecutionsBeforeNumbering(t *testing.T) {
	s := openService(t, Config{})
	ctx := context.Background()
	m, err := s.CreateStateMachine(ctx, StateMachine{Name: "old", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		waitEnded(t, s, ex.ARN)
	}
	// As an earlier version stored them: no counter, no entries, no ordinal.
	for _, k := range []string{counterKey("old"), entryKey("old", 1), entryKey("old", 2)} {
		if err := s.listing.Purge(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		e, err := s.execs.Get(ctx, "old."+name)
		if err != nil {
			t.Fatal(err)
		}
		var ex Execution
		if err := json.Unmarshal(e.Value(), &ex); err != nil {
			t.Fatal(err)
		}
		ex.Ordinal = 0
		data, _ := json.Marshal(ex)
		if _, err := s.execs.Put(ctx, "old."+name, data); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		page, _, err := s.ListExecutionsPage(ctx, m.ARN, "", 100, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ex := range page {
			out = append(out, ex.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("before numbering: %v", got)
	}
	ex, err := s.StartExecution(ctx, Start{StateMachineARN: m.ARN, Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, s, ex.ARN)
	if got := names(); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("after numbering: %v", got)
	}
}
