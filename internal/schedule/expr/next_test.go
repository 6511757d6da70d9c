package expr

import (
	"testing"
	"time"
	_ "time/tzdata" // the DST tests need zones whatever the host has
)

const layout = "2006-01-02 15:04 MST"

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustTime(t testing.TB, s string, loc *time.Location) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// fires returns the first n fire times after from, formatted in the
// schedule's zone.
func fires(s Schedule, from time.Time, n int, loc *time.Location) []string {
	var out []string
	for range n {
		next, ok := s.Next(from)
		if !ok {
			out = append(out, "never")
			break
		}
		if !next.After(from) {
			out = append(out, "NOT AFTER "+next.Format(layout))
			break
		}
		out = append(out, next.In(loc).Format(layout))
		from = next
	}
	return out
}

func TestCronNext(t *testing.T) {
	tests := []struct {
		name, expr string
		zone       string // "" = UTC
		from       string // local time in zone
		want       []string
	}{
		{"daily noon", "cron(0 12 * * ? *)", "", "2025-01-01 12:00",
			[]string{"2025-01-02 12:00 UTC", "2025-01-03 12:00 UTC"}},
		{"every 15 from 0", "cron(0/15 * * * ? *)", "", "2025-01-01 23:31",
			[]string{"2025-01-01 23:45 UTC", "2025-01-02 00:00 UTC", "2025-01-02 00:15 UTC"}},
		{"star step", "cron(*/20 9 * * ? *)", "", "2025-01-01 09:40",
			[]string{"2025-01-02 09:00 UTC", "2025-01-02 09:20 UTC"}},
		{"range step", "cron(5-40/5 0 * * ? *)", "", "2025-01-01 00:36",
			[]string{"2025-01-01 00:40 UTC", "2025-01-02 00:05 UTC"}},
		{"step from 1", "cron(1/10 0 * * ? *)", "", "2025-01-01 00:00",
			[]string{"2025-01-01 00:01 UTC", "2025-01-01 00:11 UTC", "2025-01-01 00:21 UTC"}},
		{"lists", "cron(0,30 8,17 * * ? *)", "", "2025-01-01 08:30",
			[]string{"2025-01-01 17:00 UTC", "2025-01-01 17:30 UTC", "2025-01-02 08:00 UTC"}},
		{"weekdays by name", "cron(0 9 ? * MON-FRI *)", "", "2025-01-03 09:00", // Fri
			[]string{"2025-01-06 09:00 UTC", "2025-01-07 09:00 UTC"}},
		{"weekend by number", "cron(0 9 ? * 1,7 *)", "", "2025-01-01 00:00",
			[]string{"2025-01-04 09:00 UTC", "2025-01-05 09:00 UTC", "2025-01-11 09:00 UTC"}},
		{"lower-case names", "cron(0 0 1 jan,jul ? *)", "", "2025-01-01 00:00",
			[]string{"2025-07-01 00:00 UTC", "2026-01-01 00:00 UTC"}},
		{"month step", "cron(0 0 1 */3 ? *)", "", "2025-01-01 00:00",
			[]string{"2025-04-01 00:00 UTC", "2025-07-01 00:00 UTC", "2025-10-01 00:00 UTC", "2026-01-01 00:00 UTC"}},
		{"seconds truncate", "cron(* * * * ? *)", "", "2025-01-01 00:00",
			[]string{"2025-01-01 00:01 UTC", "2025-01-01 00:02 UTC"}},

		// L
		{"last day of month", "cron(0 0 L * ? *)", "", "2024-01-01 00:00",
			[]string{"2024-01-31 00:00 UTC", "2024-02-29 00:00 UTC", "2024-03-31 00:00 UTC", "2024-04-30 00:00 UTC"}},
		{"last day of Feb, common year", "cron(0 0 L 2 ? *)", "", "2025-01-01 00:00",
			[]string{"2025-02-28 00:00 UTC", "2026-02-28 00:00 UTC", "2027-02-28 00:00 UTC", "2028-02-29 00:00 UTC"}},
		{"L in day-of-week is Saturday", "cron(0 0 ? * L *)", "", "2025-01-01 00:00",
			[]string{"2025-01-04 00:00 UTC", "2025-01-11 00:00 UTC"}},
		{"6L last Friday", "cron(15 10 ? * 6L 2025)", "", "2025-01-01 00:00",
			[]string{"2025-01-31 10:15 UTC", "2025-02-28 10:15 UTC", "2025-03-28 10:15 UTC", "2025-04-25 10:15 UTC", "2025-05-30 10:15 UTC", "2025-06-27 10:15 UTC"}},
		{"FRIL last Friday", "cron(15 10 ? * FRIL 2025)", "", "2025-01-01 00:00",
			[]string{"2025-01-31 10:15 UTC", "2025-02-28 10:15 UTC"}},
		{"last Friday ends", "cron(0 0 ? * 6L 2025)", "", "2025-12-26 00:00",
			[]string{"never"}},

		// W
		{"15W on a weekday", "cron(0 0 15W 1 ? *)", "", "2025-01-01 00:00", // Wed
			[]string{"2025-01-15 00:00 UTC"}},
		{"15W on Saturday is Friday", "cron(0 0 15W 3 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-03-14 00:00 UTC"}},
		{"15W on Sunday is Monday", "cron(0 0 15W 6 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-06-16 00:00 UTC"}},
		{"1W on Saturday stays in month", "cron(0 0 1W 2 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-02-03 00:00 UTC"}},
		{"1W on Sunday", "cron(0 0 1W 6 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-06-02 00:00 UTC"}},
		{"31W on Sunday stays in month", "cron(0 0 31W 8 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-08-29 00:00 UTC"}},
		{"31W on Saturday", "cron(0 0 31W 5 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-05-30 00:00 UTC"}},
		{"30W on last day Sunday", "cron(0 0 30W 11 ? 2025)", "", "2025-01-01 00:00",
			[]string{"2025-11-28 00:00 UTC"}},
		{"31W skips 30-day months", "cron(0 0 31W * ? 2025)", "", "2025-03-31 00:00",
			[]string{"2025-05-30 00:00 UTC", "2025-07-31 00:00 UTC", "2025-08-29 00:00 UTC", "2025-10-31 00:00 UTC"}},
		{"29W in February only in leap years", "cron(0 0 29W 2 ? *)", "", "2025-01-01 00:00",
			[]string{"2028-02-29 00:00 UTC", "2032-02-27 00:00 UTC"}}, // 2032-02-29 is a Sunday, the last day

		// #
		{"second Tuesday", "cron(0 8 ? * 3#2 *)", "", "2025-01-01 00:00",
			[]string{"2025-01-14 08:00 UTC", "2025-02-11 08:00 UTC", "2025-03-11 08:00 UTC", "2025-04-08 08:00 UTC"}},
		{"TUE#2 by name", "cron(0 8 ? * TUE#2 *)", "", "2025-01-01 00:00",
			[]string{"2025-01-14 08:00 UTC"}},
		{"first Sunday", "cron(0 0 ? * 1#1 *)", "", "2025-01-01 00:00",
			[]string{"2025-01-05 00:00 UTC", "2025-02-02 00:00 UTC", "2025-03-02 00:00 UTC"}},
		{"fifth Monday skips months", "cron(0 0 ? * 2#5 2025)", "", "2025-01-01 00:00",
			[]string{"2025-03-31 00:00 UTC", "2025-06-30 00:00 UTC", "2025-09-29 00:00 UTC", "2025-12-29 00:00 UTC", "never"}},
		{"fifth Sunday of February", "cron(0 0 ? 2 1#5 *)", "", "2026-01-01 00:00",
			[]string{"2032-02-29 00:00 UTC", "2060-02-29 00:00 UTC", "2088-02-29 00:00 UTC"}},

		// year, leap years, month ends
		{"year list and range", "cron(0 0 1 1 ? 2026,2030-2031)", "", "2025-06-01 00:00",
			[]string{"2026-01-01 00:00 UTC", "2030-01-01 00:00 UTC", "2031-01-01 00:00 UTC", "never"}},
		{"year step", "cron(0 0 1 1 ? 2026/5)", "", "2025-06-01 00:00",
			[]string{"2026-01-01 00:00 UTC", "2031-01-01 00:00 UTC", "2036-01-01 00:00 UTC"}},
		{"Feb 29 every 4 years", "cron(0 0 29 2 ? *)", "", "2025-01-01 00:00",
			[]string{"2028-02-29 00:00 UTC", "2032-02-29 00:00 UTC", "2036-02-29 00:00 UTC"}},
		{"Feb 29 skips 2100", "cron(0 0 29 2 ? *)", "", "2096-03-01 00:00",
			[]string{"2104-02-29 00:00 UTC"}},
		{"31st skips short months", "cron(0 0 31 * ? *)", "", "2025-01-31 00:00",
			[]string{"2025-03-31 00:00 UTC", "2025-05-31 00:00 UTC", "2025-07-31 00:00 UTC", "2025-08-31 00:00 UTC", "2025-10-31 00:00 UTC", "2025-12-31 00:00 UTC"}},
		{"30th skips February", "cron(0 0 30 * ? *)", "", "2024-01-30 00:00",
			[]string{"2024-03-30 00:00 UTC"}},
		{"last possible fire", "cron(59 23 31 12 ? *)", "", "2198-12-31 23:59",
			[]string{"2199-12-31 23:59 UTC", "never"}},

		// Time zones and daylight saving time (America/New_York 2026:
		// clocks go 02:00 EST -> 03:00 EDT on Mar 8 and 02:00 EDT -> 01:00
		// EST on Nov 1).
		{"zone offset", "cron(0 9 * * ? *)", "Asia/Kolkata", "2025-01-01 09:00",
			[]string{"2025-01-02 09:00 IST"}},
		{"spring-forward gap is skipped", "cron(30 2 * * ? *)", "America/New_York", "2026-03-06 12:00",
			[]string{"2026-03-07 02:30 EST", "2026-03-09 02:30 EDT"}},
		{"hourly across the gap", "cron(0 * * * ? *)", "America/New_York", "2026-03-08 00:30",
			[]string{"2026-03-08 01:00 EST", "2026-03-08 03:00 EDT", "2026-03-08 04:00 EDT"}},
		{"repeated hour fires once", "cron(30 1 * * ? *)", "America/New_York", "2026-10-30 12:00",
			[]string{"2026-10-31 01:30 EDT", "2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"}},
		{"half-hourly across fall back", "cron(0/30 * * * ? *)", "America/New_York", "2026-11-01 00:00",
			[]string{"2026-11-01 00:30 EDT", "2026-11-01 01:00 EDT", "2026-11-01 01:30 EDT", "2026-11-01 02:00 EST", "2026-11-01 02:30 EST"}},
		{"Lord Howe 30-minute gap", "cron(15 2 * * ? *)", "Australia/Lord_Howe", "2025-10-04 12:00",
			[]string{"2025-10-06 02:15 +11"}}, // Oct 5 02:00 -> 02:30
		{"Lord Howe 30-minute repeat", "cron(45 1 * * ? *)", "Australia/Lord_Howe", "2026-04-04 12:00",
			[]string{"2026-04-05 01:45 +11", "2026-04-06 01:45 +1030"}}, // Apr 5 02:00 -> 01:30
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := time.UTC
			if tc.zone != "" {
				loc = mustLoc(t, tc.zone)
			}
			from := mustTime(t, tc.from, loc)
			s, err := ParseAt(tc.expr, loc, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			got := fires(s, from, len(tc.want), loc)
			if len(got) != len(tc.want) {
				t.Fatalf("%s from %s:\n got %q\nwant %q", tc.expr, tc.from, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%s from %s:\n got %q\nwant %q", tc.expr, tc.from, got, tc.want)
				}
			}
		})
	}
}

// A repeated wall-clock minute fires at its first occurrence only, even
// when asked from inside the second occurrence.
func TestCronNextFromRepeatedHour(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	s, err := ParseAt("cron(0/30 * * * ? *)", ny, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC) // 01:10 EST, the second 01:10
	got, ok := s.Next(after)
	want := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC) // 02:00 EST
	if !ok || !got.Equal(want) {
		t.Fatalf("Next(%s) = %s, %v; want %s", after.In(ny).Format(layout), got.In(ny).Format(layout), ok, want.In(ny).Format(layout))
	}
	if got.Location() != ny {
		t.Errorf("Next returned location %s, want %s", got.Location(), ny)
	}
}

// Next must skip by field, not scan minutes: a rare schedule searched to
// the end of the year range has to be quick.
func TestCronNextIsFast(t *testing.T) {
	s, err := ParseAt("cron(0 0 ? 2 1#5 *)", nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for {
		next, ok := s.Next(from)
		if !ok {
			break
		}
		n++
		from = next
	}
	if n == 0 || time.Since(start) > 2*time.Second {
		t.Fatalf("%d fires in %s", n, time.Since(start))
	}
	if _, ok := s.Next(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("fires after 2199")
	}
	// Before 1970 the search starts at the first allowed year.
	if got, ok := s.Next(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)); !ok || got.Year() < 1970 {
		t.Errorf("Next(1900) = %s, %v", got, ok)
	}
}

func BenchmarkCronNext(b *testing.B) {
	ny := mustLoc(b, "America/New_York")
	for _, e := range []string{"cron(0/5 * * * ? *)", "cron(15 10 ? * 6L *)", "cron(0 0 29 2 ? *)"} {
		s, err := ParseAt(e, ny, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(e, func(b *testing.B) {
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				next, ok := s.Next(from)
				if !ok {
					b.Fatal("never")
				}
				from = next
				if from.Year() > 2190 {
					from = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				}
			}
		})
	}
}
