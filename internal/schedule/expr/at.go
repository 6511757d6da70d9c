package expr

import (
	"fmt"
	"time"
)

// At is an at(yyyy-mm-ddThh:mm:ss) one-time schedule (EventBridge Scheduler).
type At struct {
	expr string
	t    time.Time
}

const atLayout = "2006-01-02T15:04:05"

func parseAt(expr, body string, loc *time.Location, now time.Time) (*At, string, bool) {
	c, err := time.Parse(atLayout, body)
	if err != nil || len(body) != len(atLayout) { // Parse would accept fractional seconds
		return nil, fmt.Sprintf("at takes a local date and time as yyyy-mm-ddThh:mm:ss, e.g. at(2030-01-31T15:04:00); %q is not one", body), false
	}
	y, mo, d := c.Date()
	h, mi, s := c.Clock()
	t, ok := resolve(civil{y, int(mo), d, h, mi}, loc)
	if !ok {
		return nil, fmt.Sprintf("%s does not exist in %s: the clocks skip it for daylight saving time", body, loc), true
	}
	t = t.Add(time.Duration(s) * time.Second)
	if !t.After(now) {
		return nil, fmt.Sprintf("%s %s is not after now (%s)", body, loc, now.In(loc).Format(atLayout)), true
	}
	return &At{expr: expr, t: t}, "", false
}

// Time returns the time the schedule fires.
func (a *At) Time() time.Time { return a.t }

// Next returns Time() if it is after after.
func (a *At) Next(after time.Time) (time.Time, bool) {
	if a.t.After(after) {
		return a.t, true
	}
	return time.Time{}, false
}

func (a *At) String() string { return a.expr }
