package expr

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// civil is a wall-clock minute. Fields may run past their range (minute
// 60, day 32...) while searching; the search carries them over.
type civil struct {
	y, mo, d, h, mi int
}

// resolve returns the first instant at which the wall clock of loc shows
// c, or false if it never does (the minute lies in a gap where the clocks
// move forward).
func resolve(c civil, loc *time.Location) (time.Time, bool) {
	t := time.Date(c.y, time.Month(c.mo), c.d, c.h, c.mi, 0, 0, time.UTC)
	if loc == time.UTC {
		return t, true
	}
	u := t.Unix()
	// The instant is u - offset for one of the offsets in force within a
	// day of u; try each and keep the earliest that round-trips.
	var best int64
	found := false
	var tried [5]int
	for i, probe := range [5]int64{u - 86400, u - 43200, u, u + 43200, u + 86400} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		tried[i] = off
		dup := false
		for _, o := range tried[:i] {
			dup = dup || o == off
		}
		if dup {
			continue
		}
		inst := u - int64(off)
		if _, o := time.Unix(inst, 0).In(loc).Zone(); o != off {
			continue
		}
		if !found || inst < best {
			best, found = inst, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(best, 0).In(loc), true
}

func daysIn(y, mo int) int {
	return time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func weekdayOf(y, mo, d int) time.Weekday {
	return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Weekday()
}

// dayMask returns the days of month mo of year y that match, as bit d for
// day d.
func (c *Cron) dayMask(y, mo int) uint32 {
	n := daysIn(y, mo)
	all := uint32(1)<<(n+1) - 2
	switch c.dom.kind {
	case domSet:
		return uint32(c.dom.set[0]) & all
	case domLast:
		return 1 << n
	case domWeekday:
		d := c.dom.n
		if d > n {
			return 0
		}
		switch weekdayOf(y, mo, d) {
		case time.Saturday:
			if d == 1 {
				d = 3 // Monday; don't cross into the previous month
			} else {
				d--
			}
		case time.Sunday:
			if d == n {
				d -= 2 // Friday; don't cross into the next month
			} else {
				d++
			}
		}
		return 1 << d
	}
	first := weekdayOf(y, mo, 1)
	switch c.dow.kind {
	case dowSet:
		// Weekday of day d is (first + d - 1) % 7; build one week and
		// repeat it.
		var week uint32
		for i := range 7 {
			if c.dow.mask&(1<<((int(first)+i)%7)) != 0 {
				week |= 1 << (i + 1)
			}
		}
		m := week | week<<7 | week<<14 | week<<21 | week<<28
		return m & all
	case dowLast:
		last := weekdayOf(y, mo, n)
		return 1 << (n - (int(last)-int(c.dow.wd)+7)%7)
	case dowNth:
		d := 1 + (int(c.dow.wd)-int(first)+7)%7 + 7*(c.dow.k-1)
		if d > n {
			return 0
		}
		return 1 << d
	}
	return 0
}

// Next returns the first fire time strictly after after, in the schedule's
// time zone, or false if there is none before the end of 2199.
func (c *Cron) Next(after time.Time) (time.Time, bool) {
	la := after.In(c.loc)
	y, mo, d := la.Date()
	h, mi, _ := la.Clock()
	from := civil{y, int(mo), d, h, mi + 1}
	for {
		m, ok := c.nextCivil(from)
		if !ok {
			return time.Time{}, false
		}
		// Minutes in a spring-forward gap are skipped; a repeated minute
		// fires at its first occurrence, which may already be behind us.
		if t, ok := resolve(m, c.loc); ok && t.After(after) {
			return t, true
		}
		m.mi++
		from = m
	}
}

// nextCivil returns the first matching wall-clock minute at or after c.
func (c *Cron) nextCivil(v civil) (civil, bool) {
	if v.y < minYear {
		v = civil{minYear, 1, 1, 0, 0}
	}
	for {
		if v.y > maxYear {
			return civil{}, false
		}
		if !c.years.has(v.y - minYear) {
			ny := c.years.next(v.y - minYear)
			if ny < 0 {
				return civil{}, false
			}
			v = civil{ny + minYear, 1, 1, 0, 0}
			continue
		}
		nm := c.months.next(v.mo)
		if nm < 0 || nm > 12 {
			v = civil{v.y + 1, 1, 1, 0, 0}
			continue
		}
		if nm != v.mo {
			v = civil{v.y, nm, 1, 0, 0}
		}
		days := uint64(c.dayMask(v.y, v.mo)) >> v.d
		if days == 0 {
			v = civil{v.y, v.mo + 1, 1, 0, 0}
			continue
		}
		if nd := v.d + bits.TrailingZeros64(days); nd != v.d {
			v = civil{v.y, v.mo, nd, 0, 0}
		}
		nh := c.hours.next(v.h)
		if nh < 0 || nh > 23 {
			v = civil{v.y, v.mo, v.d + 1, 0, 0}
			continue
		}
		if nh != v.h {
			v = civil{v.y, v.mo, v.d, nh, 0}
		}
		nmi := c.minutes.next(v.mi)
		if nmi < 0 || nmi > 59 {
			v = civil{v.y, v.mo, v.d, v.h + 1, 0}
			continue
		}
		v.mi = nmi
		return v, true
	}
}

// neverReason explains why the expression has no fire time after now.
func (c *Cron) neverReason(f []string, now time.Time) string {
	// A fixed day that no selected month has (30 in FEB, 31 in APR).
	var day int
	switch c.dom.kind {
	case domSet:
		day = c.dom.set.next(1)
	case domWeekday:
		day = c.dom.n
	}
	if day > 0 {
		var short []string
		fits := false
		for mo := 1; mo <= 12; mo++ {
			if !c.months.has(mo) {
				continue
			}
			if day <= daysIn(2000, mo) { // 2000 is a leap year
				fits = true
				break
			}
			short = append(short, monthNames[mo-1])
		}
		if !fits {
			return fmt.Sprintf("never fires: day-of-month %q is past the end of %s", f[fDOM], strings.Join(short, ", "))
		}
	}
	nowYear := now.In(c.loc).Year()
	if last := c.years.last() + minYear; last < nowYear {
		return fmt.Sprintf("never fires: year %q is in the past (the last year it allows is %d, and it is now %d)", f[fYear], last, nowYear)
	}
	if c.dom.kind == domSet && c.dom.set.next(1) == 29 && c.dom.set.next(30) < 0 && c.months.next(1) == 2 && c.months.next(3) < 0 {
		return fmt.Sprintf("never fires: February 29 occurs only in leap years, and year %q has none after %d", f[fYear], nowYear)
	}
	return fmt.Sprintf("never fires: no date in year %q after %s matches day-of-month %q, month %q and day-of-week %q", f[fYear], now.In(c.loc).Format("2006-01-02 15:04 MST"), f[fDOM], f[fMonth], f[fDOW])
}
