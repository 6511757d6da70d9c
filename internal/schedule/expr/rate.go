package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is a rate(value unit) schedule: it fires at Anchor() + k*Every() for
// every k >= 0.
type Rate struct {
	expr   string
	every  time.Duration
	anchor time.Time
	loc    *time.Location
}

var rateUnits = [...]struct {
	singular, plural string
	d                time.Duration
}{
	{"minute", "minutes", time.Minute},
	{"hour", "hours", time.Hour},
	{"day", "days", 24 * time.Hour},
}

// maxRateValue keeps value*24h inside time.Duration (about 292 years);
// 100000 days is past the last year a cron expression may name.
const maxRateValue = 100_000

func parseRate(expr, body string, loc *time.Location, now time.Time) (*Rate, string) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, "rate takes a value and a unit, e.g. rate(5 minutes)"
	}
	v, unit := f[0], f[1]
	for _, c := range v {
		if c < '0' || c > '9' {
			return nil, fmt.Sprintf("rate value %q must be a positive whole number", v)
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > maxRateValue {
		return nil, fmt.Sprintf("rate value %s is too large (at most %d)", v, maxRateValue)
	}
	if n == 0 {
		return nil, "rate value must be a positive whole number, not 0"
	}
	for _, u := range rateUnits {
		switch unit {
		case u.singular:
			if n != 1 {
				return nil, fmt.Sprintf("use the plural unit with a value other than 1: rate(%d %s)", n, u.plural)
			}
		case u.plural:
			if n == 1 {
				return nil, fmt.Sprintf("use the singular unit with the value 1: rate(1 %s)", u.singular)
			}
		default:
			continue
		}
		return &Rate{expr: expr, every: time.Duration(n) * u.d, anchor: now, loc: loc}, ""
	}
	return nil, fmt.Sprintf("rate unit %q must be one of minute, minutes, hour, hours, day, days", unit)
}

// Every returns the period.
func (r *Rate) Every() time.Duration { return r.every }

// Anchor returns the time the schedule counts periods from.
func (r *Rate) Anchor() time.Time { return r.anchor }

// WithAnchor returns a copy of r that fires at t + k*Every() for k >= 0.
// Use the rule's creation time for EventBridge rules (the default from
// ParseAt) and StartDate for EventBridge Scheduler.
func (r *Rate) WithAnchor(t time.Time) *Rate {
	c := *r
	c.anchor = t
	return &c
}

// Next returns the first anchor + k*Every() (k >= 0) strictly after after.
func (r *Rate) Next(after time.Time) (time.Time, bool) {
	if after.Before(r.anchor) {
		return r.anchor.In(r.loc), true
	}
	// Whole seconds are enough: the period is a whole number of minutes,
	// and anchor + k*period > after iff k > floor((after-anchor)/period).
	secs := after.Unix() - r.anchor.Unix()
	if after.Nanosecond() < r.anchor.Nanosecond() {
		secs--
	}
	per := int64(r.every / time.Second)
	k := secs/per + 1
	if k > (math.MaxInt64-r.anchor.Unix())/per {
		return time.Time{}, false
	}
	return time.Unix(r.anchor.Unix()+k*per, int64(r.anchor.Nanosecond())).In(r.loc), true
}

func (r *Rate) String() string { return r.expr }
