package expr

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Cron is a cron(minutes hours day-of-month month day-of-week year)
// schedule evaluated on the wall clock of a time zone.
type Cron struct {
	expr    string
	loc     *time.Location
	minutes bitset // 0-59
	hours   bitset // 0-23
	months  bitset // 1-12
	years   bitset // year - minYear
	dom     domSpec
	dow     dowSpec
}

const (
	minYear = 1970
	maxYear = 2199
)

// bitset is a set of small non-negative integers (< 256).
type bitset [4]uint64

func (b *bitset) add(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b *bitset) has(i int) bool { return i >= 0 && i < 256 && b[i>>6]&(1<<(uint(i)&63)) != 0 }

// next returns the smallest member >= i, or -1.
func (b *bitset) next(i int) int {
	if i < 0 {
		i = 0
	}
	for w := i >> 6; w < len(b); w++ {
		word := b[w]
		if w == i>>6 {
			word &^= (1 << (uint(i) & 63)) - 1
		}
		if word != 0 {
			return w<<6 + bits.TrailingZeros64(word)
		}
	}
	return -1
}

// last returns the largest member, or -1.
func (b *bitset) last() int {
	for w := len(b) - 1; w >= 0; w-- {
		if b[w] != 0 {
			return w<<6 + 63 - bits.LeadingZeros64(b[w])
		}
	}
	return -1
}

type domKind uint8

const (
	domAny     domKind = iota // '?': day-of-week decides
	domSet                    // days in set
	domLast                   // L
	domWeekday                // nW
)

type domSpec struct {
	kind domKind
	set  bitset // domSet
	n    int    // domWeekday: the day
}

type dowKind uint8

const (
	dowAny  dowKind = iota // '?': day-of-month decides
	dowSet                 // weekdays in mask
	dowLast                // nL
	dowNth                 // n#k
)

type dowSpec struct {
	kind dowKind
	mask uint8        // dowSet: bit w for time.Weekday w
	wd   time.Weekday // dowLast, dowNth
	k    int          // dowNth
}

// field describes one cron field.
type field struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i; nil if none
	hint     string   // appended to range errors
}

var monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

var dayNames = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

var fields = [6]field{
	{name: "minutes", min: 0, max: 59},
	{name: "hours", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: monthNames, hint: " (JAN-DEC)"},
	{name: "day-of-week", min: 1, max: 7, names: dayNames, hint: " (SUN-SAT)"},
	{name: "year", min: minYear, max: maxYear},
}

const (
	fMinutes = iota
	fHours
	fDOM
	fMonth
	fDOW
	fYear
)

func parseCron(expr, body string, loc *time.Location, now time.Time) (*Cron, string, bool) {
	f := strings.Fields(body)
	switch {
	case len(f) == 5:
		return nil, "cron needs 6 fields (minutes hours day-of-month month day-of-week year), got 5: add a year field, e.g. * for every year", false
	case len(f) == 7:
		return nil, "cron needs 6 fields (minutes hours day-of-month month day-of-week year), got 7: AWS cron has no seconds field", false
	case len(f) != 6:
		return nil, fmt.Sprintf("cron needs 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(f)), false
	}
	for i := range f {
		f[i] = strings.ToUpper(f[i])
	}
	c := &Cron{expr: expr, loc: loc}
	var reason string
	if c.minutes, reason = parseField(fMinutes, f[fMinutes], 0); reason != "" {
		return nil, reason, false
	}
	if c.hours, reason = parseField(fHours, f[fHours], 0); reason != "" {
		return nil, reason, false
	}
	if c.months, reason = parseField(fMonth, f[fMonth], 0); reason != "" {
		return nil, reason, false
	}
	if c.years, reason = parseField(fYear, f[fYear], minYear); reason != "" {
		return nil, reason, false
	}
	if c.dom, reason = parseDOM(f[fDOM]); reason != "" {
		return nil, reason, false
	}
	if c.dow, reason = parseDOW(f[fDOW]); reason != "" {
		return nil, reason, false
	}
	switch {
	case c.dom.kind == domAny && c.dow.kind == dowAny:
		return nil, "day-of-month and day-of-week can't both be '?': set one of them (* for every day) and leave the other '?'", false
	case c.dom.kind != domAny && c.dow.kind != dowAny:
		return nil, fmt.Sprintf("one of day-of-month or day-of-week must be '?' (got %q and %q): AWS does not combine them", f[fDOM], f[fDOW]), false
	}
	if _, ok := c.Next(now); !ok {
		return nil, c.neverReason(f, now), true
	}
	return c, "", false
}

// parseField parses a plain field (numbers, names, , - * /) into a set of
// value-offset.
func parseField(fi int, s string, offset int) (bitset, string) {
	fd := &fields[fi]
	var set bitset
	if reason := checkSpecials(fi, s); reason != "" {
		return set, reason
	}
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			return set, fmt.Sprintf("%s %q has an empty list item", fd.name, s)
		}
		lo, hi, step, reason := parseItem(fi, item)
		if reason != "" {
			return set, reason
		}
		for v := lo; v <= hi; v += step {
			set.add(v - offset)
		}
	}
	return set, ""
}

// checkSpecials rejects wildcards that the field does not allow.
func checkSpecials(fi int, s string) string {
	fd := &fields[fi]
	for _, sp := range []struct {
		ch      string
		allowed bool
		where   string
	}{
		{"?", fi == fDOM || fi == fDOW, "only in day-of-month or day-of-week"},
		{"L", fi == fDOM || fi == fDOW, "only in day-of-month or day-of-week"},
		{"W", fi == fDOM, "only in day-of-month"},
		{"#", fi == fDOW, "only in day-of-week"},
		{"/", fi != fDOW, "in minutes, hours, day-of-month, month and year, not in day-of-week"},
	} {
		if sp.allowed || !strings.Contains(s, sp.ch) {
			continue
		}
		// Month and day names contain L and W (JUL, APR... WED).
		if (sp.ch == "L" || sp.ch == "W") && fd.names != nil && !hasBareLetter(s, sp.ch[0]) {
			continue
		}
		return fmt.Sprintf("%s %q: '%s' is allowed %s", fd.name, s, sp.ch, sp.where)
	}
	return ""
}

// hasBareLetter reports whether s has the letter c outside a run of three
// letters (a name).
func hasBareLetter(s string, c byte) bool {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= 'A' && s[j] <= 'Z' {
			j++
		}
		if j == i {
			i++
			continue
		}
		if j-i != 3 && strings.IndexByte(s[i:j], c) >= 0 {
			return true
		}
		i = j
	}
	return false
}

// parseItem parses one list item: *, v, v-w, with an optional /step.
func parseItem(fi int, item string) (lo, hi, step int, reason string) {
	fd := &fields[fi]
	rng, stepText, hasStep := strings.Cut(item, "/")
	step = 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || stepText == "" || stepText[0] == '+' || stepText[0] == '-' {
			return 0, 0, 0, fmt.Sprintf("%s %q: the increment after '/' must be a whole number", fd.name, item)
		}
		if n < 1 {
			return 0, 0, 0, fmt.Sprintf("%s %q: the increment must be at least 1", fd.name, item)
		}
		if n > fd.max-fd.min {
			return 0, 0, 0, fmt.Sprintf("%s %q: the increment %d is too large (at most %d for %s %d-%d)", fd.name, item, n, fd.max-fd.min, fd.name, fd.min, fd.max)
		}
		step = n
	}
	if rng == "*" {
		return fd.min, fd.max, step, ""
	}
	a, b, isRange := strings.Cut(rng, "-")
	lo, reason = parseValue(fi, a, item)
	if reason != "" {
		return 0, 0, 0, reason
	}
	switch {
	case isRange:
		hi, reason = parseValue(fi, b, item)
		if reason != "" {
			return 0, 0, 0, reason
		}
		if hi < lo {
			return 0, 0, 0, fmt.Sprintf("%s range %q runs backwards: ranges do not wrap around, write %s,%s", fd.name, rng,
				fd.rangeText(a, lo, fd.max), fd.rangeText(b, fd.min, hi))
		}
	case hasStep:
		hi = fd.max // a/n runs to the end of the range
	default:
		hi = lo
	}
	return lo, hi, step, ""
}

// rangeText writes lo-hi in the style of like (a name or a number).
func (fd *field) rangeText(like string, lo, hi int) string {
	text := func(v int) string {
		if fd.names != nil && like[0] >= 'A' {
			return fd.names[v-fd.min]
		}
		return strconv.Itoa(v)
	}
	if lo == hi {
		return text(lo)
	}
	return text(lo) + "-" + text(hi)
}

// parseValue parses a number or a name.
func parseValue(fi int, s, item string) (int, string) {
	fd := &fields[fi]
	if s == "" {
		return 0, fmt.Sprintf("%s %q is missing a value", fd.name, item)
	}
	if fd.names != nil {
		for i, n := range fd.names {
			if s == n {
				return fd.min + i, ""
			}
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			if fd.names != nil {
				return 0, fmt.Sprintf("%s %q is not a number or a name%s", fd.name, s, fd.hint)
			}
			return 0, fmt.Sprintf("%s %q is not a number", fd.name, s)
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < fd.min || v > fd.max {
		return 0, fmt.Sprintf("%s %s is out of range %d-%d%s", fd.name, s, fd.min, fd.max, fd.hint)
	}
	return v, ""
}

func parseDOM(s string) (domSpec, string) {
	switch {
	case s == "?":
		return domSpec{kind: domAny}, ""
	case s == "L":
		return domSpec{kind: domLast}, ""
	case s == "LW":
		return domSpec{}, "day-of-month 'LW' (last weekday of the month) is not in AWS's documented cron syntax; use 'L' for the last day"
	case strings.HasPrefix(s, "L-"):
		return domSpec{}, fmt.Sprintf("day-of-month %q (an offset from the last day) is not in AWS's documented cron syntax; use 'L' for the last day", s)
	}
	if strings.Contains(s, ",") && strings.ContainsAny(s, "LW?") {
		return domSpec{}, fmt.Sprintf("day-of-month %q: 'L', 'W' and '?' stand alone and cannot be combined with other values", s)
	}
	if strings.Contains(s, "?") {
		return domSpec{}, fmt.Sprintf("day-of-month %q: '?' stands alone", s)
	}
	if day, ok := strings.CutSuffix(s, "W"); ok {
		if strings.ContainsAny(day, "-/*L") {
			return domSpec{}, fmt.Sprintf("day-of-month %q: 'W' follows a single day, e.g. 15W", s)
		}
		n, reason := parseValue(fDOM, day, s)
		if reason != "" {
			return domSpec{}, reason
		}
		return domSpec{kind: domWeekday, n: n}, ""
	}
	if strings.ContainsAny(s, "LW") {
		return domSpec{}, fmt.Sprintf("day-of-month %q: use 'L' alone for the last day of the month or 'nW' (e.g. 15W) for the nearest weekday", s)
	}
	set, reason := parseField(fDOM, s, 0)
	if reason != "" {
		return domSpec{}, reason
	}
	return domSpec{kind: domSet, set: set}, ""
}

func parseDOW(s string) (dowSpec, string) {
	switch s {
	case "?":
		return dowSpec{kind: dowAny}, ""
	case "L": // the last day of the week: Saturday
		return dowSpec{kind: dowSet, mask: 1 << time.Saturday}, ""
	}
	if reason := checkSpecials(fDOW, s); reason != "" {
		return dowSpec{}, reason
	}
	// No day name contains L, # or ?, so any of them is a wildcard.
	if strings.Contains(s, ",") {
		switch {
		case strings.Contains(s, "#"):
			return dowSpec{}, fmt.Sprintf("day-of-week %q: with '#' the field takes only one expression (e.g. 3#2)", s)
		case strings.ContainsAny(s, "L?"):
			return dowSpec{}, fmt.Sprintf("day-of-week %q: 'L' and '?' stand alone and cannot be combined with other values", s)
		}
	}
	if strings.Contains(s, "?") {
		return dowSpec{}, fmt.Sprintf("day-of-week %q: '?' stands alone", s)
	}
	if day, nth, ok := strings.Cut(s, "#"); ok {
		if strings.ContainsAny(day, "-*L") {
			return dowSpec{}, fmt.Sprintf("day-of-week %q: '#' follows a single day, e.g. 3#2 or TUE#2", s)
		}
		d, reason := parseValue(fDOW, day, s)
		if reason != "" {
			return dowSpec{}, reason
		}
		k, err := strconv.Atoi(nth)
		if err != nil || nth[0] < '0' || nth[0] > '9' {
			return dowSpec{}, fmt.Sprintf("day-of-week %q: '#' must be followed by the occurrence in the month, 1-5", s)
		}
		if k < 1 || k > 5 {
			return dowSpec{}, fmt.Sprintf("day-of-week %q: occurrence %d is out of range 1-5", s, k)
		}
		return dowSpec{kind: dowNth, wd: time.Weekday(d - 1), k: k}, ""
	}
	if strings.Contains(s, "L") {
		day, ok := strings.CutSuffix(s, "L")
		if !ok || day == "" || strings.ContainsAny(day, "-*L") {
			return dowSpec{}, fmt.Sprintf("day-of-week %q: use 'L' alone for Saturday, or 'nL' after a single day (6L or FRIL) for the last such day of the month", s)
		}
		d, reason := parseValue(fDOW, day, s)
		if reason != "" {
			return dowSpec{}, reason
		}
		return dowSpec{kind: dowLast, wd: time.Weekday(d - 1)}, ""
	}
	set, reason := parseField(fDOW, s, 0)
	if reason != "" {
		return dowSpec{}, reason
	}
	var mask uint8
	for d := 1; d <= 7; d++ {
		if set.has(d) {
			mask |= 1 << (d - 1)
		}
	}
	return dowSpec{kind: dowSet, mask: mask}, ""
}

func (c *Cron) String() string { return c.expr }

// Location returns the time zone the expression is evaluated in.
func (c *Cron) Location() *time.Location { return c.loc }
