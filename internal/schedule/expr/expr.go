package expr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schedule is a parsed schedule expression.
type Schedule interface {
	// Next returns the first fire time strictly after after, in the
	// schedule's time zone. It returns false when the schedule never fires
	// again.
	Next(after time.Time) (time.Time, bool)
	// String returns the expression as written (without surrounding space).
	String() string
}

// ErrNeverFires is wrapped by the errors of expressions that are valid but
// can never fire after the parse time.
var ErrNeverFires = errors.New("schedule never fires")

// Error is a schedule expression that is not valid.
type Error struct {
	Expr   string // the expression as given
	Reason string // what is wrong, in words a person can act on
	never  bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid schedule expression %q: %s", e.Expr, e.Reason)
}

// Unwrap returns ErrNeverFires for expressions that never fire.
func (e *Error) Unwrap() error {
	if e.never {
		return ErrNeverFires
	}
	return nil
}

// Parse parses a rate(...), cron(...) or at(...) expression evaluated in loc
// (nil means UTC), as of the current time. See ParseAt.
func Parse(expr string, loc *time.Location) (Schedule, error) {
	return ParseAt(expr, loc, time.Now())
}

// ParseAt parses a rate(...), cron(...) or at(...) expression evaluated in
// loc (nil means UTC). now is the creation time: it anchors rate schedules,
// and a cron or at expression that has no fire time after now is an error
// wrapping ErrNeverFires.
func ParseAt(expr string, loc *time.Location, now time.Time) (Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := strings.TrimSpace(expr)
	name, body, ok := splitCall(s)
	if !ok {
		return nil, &Error{Expr: expr, Reason: "a schedule expression is rate(value unit), cron(minutes hours day-of-month month day-of-week year) or at(yyyy-mm-ddThh:mm:ss)"}
	}
	var (
		sched  Schedule
		reason string
		never  bool
	)
	switch name {
	case "rate":
		sched, reason = parseRate(s, body, loc, now)
	case "cron":
		sched, reason, never = parseCron(s, body, loc, now)
	case "at":
		sched, reason, never = parseAt(s, body, loc, now)
	default:
		reason = fmt.Sprintf("unknown schedule type %q: use rate(...), cron(...) or at(...)", name)
	}
	if reason != "" {
		return nil, &Error{Expr: expr, Reason: reason, never: never}
	}
	return sched, nil
}

// splitCall splits "name(body)" into name and body.
func splitCall(s string) (name, body string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	return s[:open], s[open+1 : len(s)-1], true
}

// ValidateRule checks a scheduled rule's expression as EventBridge's PutRule does: rate(...) or
// cron(...) in UTC that fires at least once after now. at(...) belongs to EventBridge Scheduler,
// not to rules, and is refused with that reason.
func ValidateRule(expr string, now time.Time) error {
	if name, _, ok := splitCall(strings.TrimSpace(expr)); ok && name == "at" {
		return &Error{Expr: expr, Reason: "at(...) is a one-time schedule of EventBridge Scheduler; a rule takes rate(value unit) or cron(minutes hours day-of-month month day-of-week year)"}
	}
	_, err := ParseAt(expr, time.UTC, now)
	return err
}
