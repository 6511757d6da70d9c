package expr

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var parseNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestParseValid(t *testing.T) {
	for _, e := range []string{
		"rate(1 minute)", "rate(2 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
		"  rate(5 minutes)  ",
		"at(2030-01-31T15:04:05)",
		"cron(0 12 * * ? *)", "cron(0 12 ? * * *)", "cron(15 10 ? * 6L 2026-2030)",
		"cron(0/5 8-17 ? * MON-FRI *)", "cron(0 0 L * ? *)", "cron(0 0 15W * ? *)", "cron(0 0 ? * 3#2 *)",
		"cron(0 0 ? * L *)", "cron(0 0 1 JAN-MAR,DEC ? *)", "cron(0 0 ? JUL * 2026/2)", "cron(0 0 ? * SUN,WED,SAT *)",
		"cron(* * * * ? *)", "cron(0 0 29 2 ? *)", "cron(0 0 1 1 ? 2199)", "cron(0 0 1/7 * ? *)",
		"cron(0 0 ? * wed#1 *)", "cron(0 0 ? * satl *)", "cron(0 0 31 1-12 ? *)",
	} {
		s, err := ParseAt(e, nil, parseNow)
		if err != nil {
			t.Errorf("ParseAt(%q): %v", e, err)
			continue
		}
		if s.String() != strings.TrimSpace(e) {
			t.Errorf("String() = %q, want %q", s.String(), strings.TrimSpace(e))
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		expr string
		want string // substring of the reason
	}{
		// shape
		{"", "a schedule expression is rate(value unit), cron("},
		{"every 5 minutes", "a schedule expression is"},
		{"cron(0 12 * * ? *", "a schedule expression is"},
		{"every(5 minutes)", `unknown schedule type "every"`},
		{"RATE(5 minutes)", `unknown schedule type "RATE"`},

		// rate
		{"rate(1 minutes)", "use the singular unit with the value 1: rate(1 minute)"},
		{"rate(5 minute)", "use the plural unit with a value other than 1: rate(5 minutes)"},
		{"rate(1 hours)", "rate(1 hour)"},
		{"rate(2 day)", "rate(2 days)"},
		{"rate(0 minutes)", "positive whole number, not 0"},
		{"rate(-5 minutes)", `rate value "-5" must be a positive whole number`},
		{"rate(1.5 hours)", `rate value "1.5" must be a positive whole number`},
		{"rate(five minutes)", `rate value "five"`},
		{"rate(5 seconds)", `rate unit "seconds" must be one of minute, minutes, hour, hours, day, days`},
		{"rate(5 weeks)", `rate unit "weeks"`},
		{"rate(5 Minutes)", `rate unit "Minutes"`},
		{"rate(5)", "rate takes a value and a unit"},
		{"rate()", "rate takes a value and a unit"},
		{"rate(5 minutes now)", "rate takes a value and a unit"},
		{"rate(99999999999999999999 days)", "is too large"},
		{"rate(100001 days)", "rate value 100001 is too large (at most 100000)"},

		// at
		{"at(2030-01-31 15:04:05)", "yyyy-mm-ddThh:mm:ss"},
		{"at(2030-01-31T15:04)", "yyyy-mm-ddThh:mm:ss"},
		{"at(2030-02-30T00:00:00)", "yyyy-mm-ddThh:mm:ss"},
		{"at(2025-12-31T23:59:59)", "is not after now"},
		{"at()", "yyyy-mm-ddThh:mm:ss"},
		{"at(2030-01-31T15:04:05.5)", "yyyy-mm-ddThh:mm:ss"},
		{"at(2030-01-31T15:04:05Z)", "yyyy-mm-ddThh:mm:ss"},

		// cron shape
		{"cron(0 12 * * ?)", "got 5: add a year field"},
		{"cron(0 0 12 * * ? *)", "got 7: AWS cron has no seconds field"},
		{"cron()", "got 0"},
		{"cron(0 12 * * ? * *  *)", "got 8"},

		// ranges per field
		{"cron(60 * * * ? *)", "minutes 60 is out of range 0-59"},
		{"cron(0 24 * * ? *)", "hours 24 is out of range 0-23"},
		{"cron(0 0 0 * ? *)", "day-of-month 0 is out of range 1-31"},
		{"cron(0 0 32 * ? *)", "day-of-month 32 is out of range 1-31"},
		{"cron(0 0 1 13 ? *)", "month 13 is out of range 1-12 (JAN-DEC)"},
		{"cron(0 0 1 0 ? *)", "month 0 is out of range 1-12 (JAN-DEC)"},
		{"cron(0 0 ? * 8 *)", "day-of-week 8 is out of range 1-7 (SUN-SAT)"},
		{"cron(0 0 ? * 0 *)", "day-of-week 0 is out of range 1-7 (SUN-SAT)"},
		{"cron(0 0 1 1 ? 1969)", "year 1969 is out of range 1970-2199"},
		{"cron(0 0 1 1 ? 2200)", "year 2200 is out of range 1970-2199"},
		{"cron(0 0 1-40 * ? *)", "day-of-month 40 is out of range 1-31"},
		{"cron(99999999999999999999 * * * ? *)", "out of range 0-59"},

		// names and numbers
		{"cron(0 0 1 JANUARY ? *)", `month "JANUARY" is not a number or a name (JAN-DEC)`},
		{"cron(0 0 ? * MONDAY *)", `day-of-week "MONDAY" is not a number or a name (SUN-SAT)`},
		{"cron(0 0 ? * FOO *)", `day-of-week "FOO" is not a number or a name (SUN-SAT)`},
		{"cron(0 0 1 SUN ? *)", `month "SUN" is not a number or a name`},
		{"cron(0 0 ? * JAN *)", `day-of-week "JAN" is not a number or a name`},
		{"cron(x 0 * * ? *)", `minutes "X" is not a number`},
		{"cron(0 +1 * * ? *)", `hours "+1" is not a number`},

		// lists, ranges, increments
		{"cron(1,,2 0 * * ? *)", `minutes "1,,2" has an empty list item`},
		{"cron(1, 0 * * ? *)", `minutes "1," has an empty list item`},
		{"cron(1,2, 0 * * ? *)", "has an empty list item"},
		{"cron(- 0 * * ? *)", "is missing a value"},
		{"cron(5- 0 * * ? *)", "is missing a value"},
		{"cron(0 22-2 * * ? *)", `hours range "22-2" runs backwards: ranges do not wrap around, write 22-23,0-2`},
		{"cron(0 0 ? * FRI-MON *)", "write FRI-SAT,SUN-MON"},
		{"cron(0 0 1 DEC-JAN ? *)", "write DEC,JAN"}, {"cron(0 0 ? * 6-2 *)", "write 6-7,1-2"},
		{"cron(0/0 * * * ? *)", "the increment must be at least 1"},
		{"cron(0/60 * * * ? *)", "the increment 60 is too large (at most 59 for minutes 0-59)"},
		{"cron(0 0/24 * * ? *)", "the increment 24 is too large (at most 23"},
		{"cron(0 0 1 1/12 ? *)", "the increment 12 is too large (at most 11"},
		{"cron(0/x * * * ? *)", "the increment after '/' must be a whole number"},
		{"cron(0/ * * * ? *)", "the increment after '/' must be a whole number"},
		{"cron(/5 * * * ? *)", "is missing a value"},
		{"cron(0/-5 * * * ? *)", "the increment after '/' must be a whole number"},
		{"cron(0 0 ? * 2/2 *)", "'/' is allowed in minutes, hours, day-of-month, month and year, not in day-of-week"},

		// ? rules
		{"cron(0 12 * * * *)", "one of day-of-month or day-of-week must be '?'"},
		{"cron(0 12 1 * MON *)", "one of day-of-month or day-of-week must be '?'"},
		{"cron(0 12 L * 6L *)", "one of day-of-month or day-of-week must be '?'"},
		{"cron(0 12 ? * ? *)", "can't both be '?'"},
		{"cron(? 12 * * ? *)", "minutes \"?\": '?' is allowed only in day-of-month or day-of-week"},
		{"cron(0 12 1 ? ? *)", "month \"?\": '?' is allowed only in day-of-month or day-of-week"},
		{"cron(0 12 1,? * ? *)", "stand alone"},
		{"cron(0 12 ? * ?,MON *)", "stand alone"},

		// L, W, #
		{"cron(L 0 * * ? *)", "'L' is allowed only in day-of-month or day-of-week"},
		{"cron(0 0 1 L ? *)", "month \"L\": 'L' is allowed only in day-of-month or day-of-week"},
		{"cron(0 0 1 1 ? L)", "'L' is allowed only in day-of-month or day-of-week"},
		{"cron(0 0 ? * 2W *)", "'W' is allowed only in day-of-month"},
		{"cron(0 0 1#2 * ? *)", "'#' is allowed only in day-of-week"},
		{"cron(0 0 LW * ? *)", "'LW' (last weekday of the month) is not in AWS's documented cron syntax"},
		{"cron(0 0 L-2 * ? *)", `"L-2" (an offset from the last day) is not in AWS's documented cron syntax`},
		{"cron(0 0 1,L * ? *)", "cannot be combined with other values"},
		{"cron(0 0 15W,20 * ? *)", "cannot be combined with other values"},
		{"cron(0 0 1-5W * ? *)", "'W' follows a single day, e.g. 15W"},
		{"cron(0 0 *W * ? *)", "'W' follows a single day"},
		{"cron(0 0 0W * ? *)", "day-of-month 0 is out of range 1-31"},
		{"cron(0 0 32W * ? *)", "day-of-month 32 is out of range 1-31"},
		{"cron(0 0 W * ? *)", "is missing a value"},
		{"cron(0 0 5L * ? *)", "use 'L' alone for the last day of the month or 'nW'"},
		{"cron(0 0 ? * 3#1,6#3 *)", "with '#' the field takes only one expression"},
		{"cron(0 0 ? * 3#6 *)", "occurrence 6 is out of range 1-5"},
		{"cron(0 0 ? * 3#0 *)", "occurrence 0 is out of range 1-5"},
		{"cron(0 0 ? * 3# *)", "'#' must be followed by the occurrence in the month, 1-5"},
		{"cron(0 0 ? * #2 *)", "is missing a value"},
		{"cron(0 0 ? * 8#2 *)", "day-of-week 8 is out of range 1-7 (SUN-SAT)"},
		{"cron(0 0 ? * 2-3#2 *)", "'#' follows a single day"},
		{"cron(0 0 ? * 8L *)", "day-of-week 8 is out of range 1-7 (SUN-SAT)"},
		{"cron(0 0 ? * 2-6L *)", "'nL' after a single day"},
		{"cron(0 0 ? * 6L,2 *)", "'L' and '?' stand alone"},
		{"cron(0 0 ? * L2 *)", "use 'L' alone for Saturday"},

		// never fires
		{"cron(0 0 30 2 ? *)", `never fires: day-of-month "30" is past the end of FEB`},
		{"cron(0 0 31 4,6,9,11 ? *)", "is past the end of APR, JUN, SEP, NOV"},
		{"cron(0 0 31W 2 ? *)", `day-of-month "31W" is past the end of FEB`},
		{"cron(0 0 1 1 ? 2000-2010)", `never fires: year "2000-2010" is in the past (the last year it allows is 2010, and it is now 2026)`},
		{"cron(0 0 1 1 ? 2025)", "is in the past"},
		{"cron(0 0 29 2 ? 2100)", `February 29 occurs only in leap years, and year "2100" has none`},
		{"cron(0 0 29 2 ? 2026-2027)", "February 29 occurs only in leap years"},
		{"cron(0 0 ? 2 1#5 2026-2031)", `never fires: no date in year "2026-2031" after 2026-01-01 00:00 UTC matches day-of-month "?", month "2" and day-of-week "1#5"`},
	}
	for _, tc := range tests {
		_, err := ParseAt(tc.expr, nil, parseNow)
		if err == nil {
			t.Errorf("ParseAt(%q) succeeded, want error containing %q", tc.expr, tc.want)
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("ParseAt(%q) error %T is not *Error", tc.expr, err)
			continue
		}
		if pe.Expr != tc.expr {
			t.Errorf("Error.Expr = %q, want %q", pe.Expr, tc.expr)
		}
		if !strings.Contains(pe.Reason, tc.want) {
			t.Errorf("ParseAt(%q):\n got %q\nwant it to contain %q", tc.expr, pe.Reason, tc.want)
		}
		if never := strings.Contains(tc.want, "never fires") || strings.Contains(tc.want, "in the past") ||
			strings.Contains(tc.want, "past the end") || strings.Contains(tc.want, "leap years") || strings.Contains(tc.want, "not after now"); never != errors.Is(err, ErrNeverFires) {
			t.Errorf("ParseAt(%q): errors.Is(err, ErrNeverFires) = %v, want %v", tc.expr, !never, never)
		}
	}
}

func TestParseDefaultsToUTCAndNow(t *testing.T) {
	s, err := Parse("cron(0 12 * * ? *)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if loc := s.(*Cron).Location(); loc != time.UTC {
		t.Errorf("Location() = %s, want UTC", loc)
	}
	r, err := Parse("rate(1 hour)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := r.(*Rate).Anchor(); time.Since(a) > time.Minute || time.Since(a) < 0 {
		t.Errorf("Anchor() = %s, want about now", a)
	}
	if _, err := Parse("at(2000-01-01T00:00:00)", nil); !errors.Is(err, ErrNeverFires) {
		t.Errorf("at in the past: %v", err)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := ParseAt("cron(0 0 ? * 8 *)", nil, parseNow)
	want := `invalid schedule expression "cron(0 0 ? * 8 *)": day-of-week 8 is out of range 1-7 (SUN-SAT)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
