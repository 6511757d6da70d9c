package expr

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fuzzZones are zones with whole-minute offsets (so a minute scan in UTC
// visits every local minute) and with 1-hour and 30-minute DST changes.
var fuzzZones = [...]string{"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago"}

// byteSource turns fuzz bytes into choices; it yields zeros when empty.
type byteSource []byte

func (b *byteSource) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

func (b *byteSource) in(lo, hi int) int { return lo + b.next()%(hi-lo+1) }

// plainField builds a field of numbers, ranges, lists and increments.
func plainField(b *byteSource, lo, hi int, step bool) string {
	switch b.next() % 8 {
	case 0, 1:
		return "*"
	case 2:
		return fmt.Sprint(b.in(lo, hi))
	case 3:
		x, y := b.in(lo, hi), b.in(lo, hi)
		return fmt.Sprintf("%d-%d", min(x, y), max(x, y))
	case 4:
		return fmt.Sprintf("%d,%d,%d", b.in(lo, hi), b.in(lo, hi), b.in(lo, hi))
	case 5:
		if step {
			return fmt.Sprintf("%d/%d", b.in(lo, hi), b.in(1, max(1, hi-lo)))
		}
	case 6:
		if step {
			return fmt.Sprintf("*/%d", b.in(1, max(1, hi-lo)))
		}
	case 7:
		if step {
			x, y := b.in(lo, hi), b.in(lo, hi)
			return fmt.Sprintf("%d-%d/%d", min(x, y), max(x, y), b.in(1, max(1, hi-lo)))
		}
	}
	return "*"
}

func fuzzExpr(b *byteSource) string {
	minutes := plainField(b, 0, 59, true)
	hours := plainField(b, 0, 23, true)
	month := plainField(b, 1, 12, true)
	dom, dow := "?", "?"
	if b.next()%2 == 0 {
		switch b.next() % 6 {
		case 0:
			dom = "L"
		case 1:
			dom = fmt.Sprintf("%dW", b.in(1, 31))
		default:
			dom = plainField(b, 1, 31, true)
		}
	} else {
		switch b.next() % 6 {
		case 0:
			dow = "L"
		case 1:
			dow = fmt.Sprintf("%dL", b.in(1, 7))
		case 2:
			dow = fmt.Sprintf("%d#%d", b.in(1, 7), b.in(1, 5))
		default:
			dow = plainField(b, 1, 7, false)
		}
	}
	year := "*"
	switch b.next() % 4 {
	case 1:
		year = fmt.Sprint(b.in(2024, 2032))
	case 2:
		year = fmt.Sprintf("%d-%d", b.in(2024, 2027), b.in(2028, 2032))
	case 3:
		year = fmt.Sprintf("%d/%d", b.in(2020, 2030), b.in(1, 4))
	}
	return fmt.Sprintf("cron(%s %s %s %s %s %s)", minutes, hours, dom, month, dow, year)
}

// matchNaive decides whether a local wall-clock minute matches c, written
// from the definitions rather than from the day masks Next uses.
func matchNaive(c *Cron, lt time.Time) bool {
	y, mo, d := lt.Date()
	h, mi, _ := lt.Clock()
	if !c.years.has(y-minYear) || !c.months.has(int(mo)) || !c.hours.has(h) || !c.minutes.has(mi) {
		return false
	}
	dim := time.Date(y, mo+1, 0, 0, 0, 0, 0, time.UTC).Day()
	wd := lt.Weekday()
	switch c.dom.kind {
	case domSet:
		return c.dom.set.has(d)
	case domLast:
		return d == dim
	case domWeekday:
		// The weekday of the month nearest the given day.
		if c.dom.n > dim || wd == time.Saturday || wd == time.Sunday {
			return false
		}
		for dist := range abs(d - c.dom.n) {
			for _, o := range []int{c.dom.n - dist, c.dom.n + dist} {
				if o >= 1 && o <= dim {
					if w := time.Date(y, mo, o, 0, 0, 0, 0, time.UTC).Weekday(); w != time.Saturday && w != time.Sunday {
						return false // a nearer weekday exists
					}
				}
			}
		}
		return true
	}
	switch c.dow.kind {
	case dowSet:
		return c.dow.mask&(1<<wd) != 0
	case dowLast:
		return wd == c.dow.wd && d+7 > dim
	case dowNth:
		return wd == c.dow.wd && (d-1)/7+1 == c.dow.k
	}
	return false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// firstOccurrence reports whether no earlier instant (within the largest
// DST shift) shows the same local minute.
func firstOccurrence(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-d).In(loc)
		if e.Year() == lt.Year() && e.YearDay() == lt.YearDay() && e.Hour() == lt.Hour() && e.Minute() == lt.Minute() {
			return false
		}
	}
	return true
}

const fuzzWindow = 45 * 24 * time.Hour

// FuzzCronNext checks Next against a minute-by-minute scan of a bounded
// window after a random instant, in zones with DST.
func FuzzCronNext(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0}, uint32(0), uint8(0), uint8(0))
	f.Add([]byte{2, 30, 2, 2, 0, 0, 1, 0, 0}, uint32(1_200_000), uint8(1), uint8(10))
	f.Add([]byte{5, 0, 15, 2, 1, 0, 0, 1, 0, 1, 14}, uint32(3_000_000), uint8(1), uint8(59))
	f.Add([]byte{2, 45, 2, 1, 0, 1, 0, 2, 1}, uint32(1_140_000), uint8(3), uint8(0))
	f.Add([]byte{0, 0, 0, 1, 0, 5, 2}, uint32(500_000), uint8(5), uint8(0))
	f.Add([]byte{3, 0, 59, 0, 0, 1, 0, 0, 0}, uint32(1_000), uint8(1), uint8(200))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var locs []*time.Location
	var shifts [][]time.Time // per zone, the offset changes in 2024-2029
	for _, name := range fuzzZones {
		loc := mustLoc(f, name)
		locs = append(locs, loc)
		var ts []time.Time
		_, prev := base.In(loc).Zone()
		for h := base; h.Year() < 2030; h = h.Add(time.Hour / 2) {
			if _, off := h.In(loc).Zone(); off != prev {
				ts, prev = append(ts, h), off
			}
		}
		shifts = append(shifts, ts)
	}
	f.Fuzz(func(t *testing.T, choices []byte, afterMin uint32, zone uint8, sec uint8) {
		b := byteSource(choices)
		expr := fuzzExpr(&b)
		zi := int(zone) % len(fuzzZones)
		loc := locs[zi]
		after := base.Add(time.Duration(afterMin%(6*366*24*60))*time.Minute + time.Duration(sec%60)*time.Second)
		if ts := shifts[zi]; sec >= 128 && len(ts) > 0 {
			// Start within two days before a DST change.
			after = ts[int(afterMin)%len(ts)].Add(-time.Duration(afterMin%(2*24*60))*time.Minute - time.Duration(sec%60)*time.Second)
		}
		s, err := ParseAt(expr, loc, base)
		if err != nil {
			if strings.Contains(err.Error(), "never fires") {
				return
			}
			t.Fatalf("generated expression %s did not parse: %v", expr, err)
		}
		c := s.(*Cron)
		var want time.Time
		found := false
		for m := after.Truncate(time.Minute); !m.After(after.Add(fuzzWindow)); m = m.Add(time.Minute) {
			if m.After(after) && matchNaive(c, m.In(loc)) && firstOccurrence(m, loc) {
				want, found = m, true
				break
			}
		}
		got, ok := c.Next(after)
		switch {
		case found && (!ok || !got.Equal(want)):
			t.Fatalf("%s in %s: Next(%s) = %s, %v; scan found %s", expr, loc, after.In(loc), got.In(loc), ok, want.In(loc))
		case !found && ok && !got.After(after.Add(fuzzWindow)):
			t.Fatalf("%s in %s: Next(%s) = %s, but the scan found nothing in the window", expr, loc, after.In(loc), got.In(loc))
		}
	})
}

// FuzzParse feeds arbitrary text to Parse: it must not panic, and what it
// accepts must round-trip and fire strictly later.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"cron(0 12 * * ? *)", "rate(5 minutes)", "at(2030-01-01T00:00:00)", "cron(0 0 ? * 6L 2020-2030)",
		"cron(0/5 1-3,7 15W * ? *)", "cron(0 0 ? JAN-MAR MON#2 *)", "cron(0 0 L * ? *)", "rate(1 day)"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ny := mustLoc(f, "America/New_York")
	f.Fuzz(func(t *testing.T, s string) {
		sched, err := ParseAt(s, ny, now)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if sched.String() != strings.TrimSpace(s) {
			t.Fatalf("String() = %q for %q", sched.String(), s)
		}
		next, ok := sched.Next(now)
		if !ok || !next.After(now) {
			t.Fatalf("%q: Next(now) = %s, %v", s, next, ok)
		}
		if again, err := ParseAt(sched.String(), ny, now); err != nil {
			t.Fatalf("%q does not re-parse: %v", sched.String(), err)
		} else if n2, _ := again.Next(now); !n2.Equal(next) {
			t.Fatalf("%q: re-parsed Next = %s, want %s", s, n2, next)
		}
	})
}
