package expr

import (
	"testing"
	"time"
)

func TestRateNext(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 7, 30, 0, time.UTC)
	tests := []struct {
		expr  string
		every time.Duration
		after time.Time
		want  time.Time
	}{
		{"rate(1 minute)", time.Minute, created, created.Add(time.Minute)},
		{"rate(5 minutes)", 5 * time.Minute, created, created.Add(5 * time.Minute)},
		{"rate(5 minutes)", 5 * time.Minute, created.Add(4*time.Minute + 59*time.Second), created.Add(5 * time.Minute)},
		{"rate(5 minutes)", 5 * time.Minute, created.Add(5 * time.Minute), created.Add(10 * time.Minute)},
		{"rate(5 minutes)", 5 * time.Minute, created.Add(5*time.Minute + time.Nanosecond), created.Add(10 * time.Minute)},
		{"rate(1 hour)", time.Hour, created.Add(-time.Hour), created}, // before the anchor: the anchor itself
		{"rate(2 hours)", 2 * time.Hour, created.Add(-time.Nanosecond), created},
		{"rate(1 day)", 24 * time.Hour, created.Add(100 * 24 * time.Hour), created.Add(101 * 24 * time.Hour)},
		{"rate(7 days)", 7 * 24 * time.Hour, created.Add(365 * 24 * time.Hour), created.Add(371 * 24 * time.Hour)},
		{"rate(100000 days)", 100000 * 24 * time.Hour, created, created.Add(100000 * 24 * time.Hour)},
	}
	for _, tc := range tests {
		s, err := ParseAt(tc.expr, nil, created)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		r := s.(*Rate)
		if r.Every() != tc.every {
			t.Errorf("%s: Every() = %s, want %s", tc.expr, r.Every(), tc.every)
		}
		got, ok := r.Next(tc.after)
		if !ok || !got.Equal(tc.want) {
			t.Errorf("%s: Next(%s) = %s, %v; want %s", tc.expr, tc.after, got, ok, tc.want)
		}
	}
}

func TestRateNextFarFuture(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 7, 30, 0, time.UTC)
	s, _ := ParseAt("rate(1 minute)", nil, created)
	// Beyond time.Duration's ~292 years the arithmetic must still be exact.
	after := created.AddDate(500, 0, 0).Add(30 * time.Second)
	got, ok := s.Next(after)
	if !ok || got.Sub(after) != 30*time.Second {
		t.Errorf("Next(%s) = %s, %v", after, got, ok)
	}
}

func TestRateWithAnchor(t *testing.T) {
	s, err := ParseAt("rate(15 minutes)", nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	r := s.(*Rate)
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC) // Scheduler StartDate
	a := r.WithAnchor(start)
	if got, _ := a.Next(start.Add(-time.Second)); !got.Equal(start) {
		t.Errorf("StartDate is the first occurrence: got %s", got)
	}
	if got, _ := a.Next(start); !got.Equal(start.Add(15 * time.Minute)) {
		t.Errorf("after StartDate: got %s", got)
	}
	if !r.Anchor().Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("WithAnchor changed the original")
	}
	if a.String() != "rate(15 minutes)" {
		t.Errorf("String() = %q", a.String())
	}
}

// Rate days are 24 hours, so across a DST change the local time moves,
// as EventBridge Scheduler documents.
func TestRateIgnoresDST(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	created := time.Date(2026, 3, 7, 9, 0, 0, 0, ny) // EST
	s, err := ParseAt("rate(1 day)", ny, created)
	if err != nil {
		t.Fatal(err)
	}
	got := fires(s, created, 2, ny)
	want := []string{"2026-03-08 10:00 EDT", "2026-03-09 10:00 EDT"}
	if got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAt(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		expr string
		loc  *time.Location
		want time.Time
	}{
		{"at(2026-07-04T12:30:15)", nil, time.Date(2026, 7, 4, 12, 30, 15, 0, time.UTC)},
		{"at(2026-07-04T12:30:15)", ny, time.Date(2026, 7, 4, 16, 30, 15, 0, time.UTC)},
		// Repeated hour: the first occurrence (EDT).
		{"at(2026-11-01T01:30:00)", ny, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"at(2026-11-01T01:59:59)", ny, time.Date(2026, 11, 1, 5, 59, 59, 0, time.UTC)},
		{"at(2026-03-08T03:00:00)", ny, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		s, err := ParseAt(tc.expr, tc.loc, now)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		a := s.(*At)
		if !a.Time().Equal(tc.want) {
			t.Errorf("%s in %s: Time() = %s, want %s", tc.expr, tc.loc, a.Time().UTC(), tc.want)
		}
		if got, ok := a.Next(now); !ok || !got.Equal(tc.want) {
			t.Errorf("%s: Next(now) = %s, %v", tc.expr, got, ok)
		}
		if got, ok := a.Next(tc.want.Add(-time.Nanosecond)); !ok || !got.Equal(tc.want) {
			t.Errorf("%s: Next(just before) = %s, %v", tc.expr, got, ok)
		}
		if _, ok := a.Next(tc.want); ok {
			t.Errorf("%s: fires again after its time", tc.expr)
		}
	}
	// A local time in the spring-forward gap never happens.
	_, err := ParseAt("at(2026-03-08T02:30:00)", ny, now)
	if err == nil || err.Error() != `invalid schedule expression "at(2026-03-08T02:30:00)": 2026-03-08T02:30:00 does not exist in America/New_York: the clocks skip it for daylight saving time` {
		t.Errorf("gap: %v", err)
	}
}

func TestValidateRule(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, ok := range []string{"rate(1 minute)", " rate(2 hours) ", "cron(0 18 ? * MON-FRI *)", "cron(15 10 ? * 6L 2026-2030)"} {
		if err := ValidateRule(ok, now); err != nil {
			t.Errorf("ValidateRule(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"at(2027-01-01T00:00:00)", " at(2027-01-01T00:00:00)", "rate(1 minutes)", "cron(0 0 30 2 ? *)", "cron(0 0 1 1 ? 2025)"} {
		if err := ValidateRule(bad, now); err == nil {
			t.Errorf("ValidateRule(%q) accepted", bad)
		}
	}
}
