package manifest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/events/pattern"
	"github.com/nimbus-platform/nimbus/internal/schedule/expr"
)

// checkEventSource validates, with positions, the parts of an event that the platform would
// otherwise only refuse at deploy: schedule expressions and EventBridge event patterns.
// The event is still kept as written; internal/events interprets it.
func (d *decoder) checkEventSource(e *entry, where string) {
	switch e.key {
	case "s3":
		d.checkS3Event(e.val, where)
	case "schedule":
		d.checkSchedule(e.val, where)
	case "eventBridge":
		if e.val.kind != kindMap {
			return
		}
		if s := e.val.get("schedule"); s != nil {
			d.checkScheduleExpression(s, where+" schedule")
		}
		if p := e.val.get("pattern"); p != nil {
			d.checkPattern(p, where+" pattern")
		}
		if rp := e.val.get("retryPolicy"); rp != nil && rp.kind == kindMap {
			d.checkRetryPolicy(rp, where+" retryPolicy")
		}
	}
}

// EventBridge's bounds for a rule target's RetryPolicy.
const (
	maxRuleRetryAttempts = 185
	minRuleEventAge      = 60
	maxRuleEventAge      = 86400
)

func (d *decoder) checkRetryPolicy(n *node, where string) {
	if v := n.get("maximumRetryAttempts"); v != nil && !v.failed && v.kind != kindNull {
		if r := d.placedInt(v, where+".maximumRetryAttempts"); r.set && (r.value < 0 || r.value > maxRuleRetryAttempts) {
			d.errorf(r.pos, "", "%s.maximumRetryAttempts %d must be between 0 and %d", where, r.value, maxRuleRetryAttempts)
		}
	}
	if v := n.get("maximumEventAge"); v != nil && !v.failed && v.kind != kindNull {
		if r := d.placedInt(v, where+".maximumEventAge"); r.set && (r.value < minRuleEventAge || r.value > maxRuleEventAge) {
			d.errorf(r.pos, "", "%s.maximumEventAge %d must be between %d and %d seconds", where, r.value, minRuleEventAge, maxRuleEventAge)
		}
	}
}

func (d *decoder) checkSchedule(n *node, where string) {
	switch n.kind {
	case kindString:
		d.checkScheduleExpression(n, where)
	case kindMap:
		rate := n.get("rate")
		switch {
		case rate == nil:
			d.errorf(n.pos, "e.g. `- schedule: {rate: rate(5 minutes), enabled: true}`", "%s: a schedule map needs rate", where)
		case rate.kind == kindSeq:
			if len(rate.items) == 0 {
				d.errorf(rate.pos, "", "%s rate: the list is empty", where)
			}
			for _, it := range rate.items {
				d.checkScheduleExpression(it, where+" rate")
			}
		default:
			d.checkScheduleExpression(rate, where+" rate")
		}
	default:
		if !n.failed {
			d.errorf(n.pos, "e.g. `- schedule: rate(5 minutes)` or `- schedule: cron(0 18 ? * MON-FRI *)`",
				"%s: a schedule is an expression or a map with rate, not %s", where, n.describe())
		}
	}
}

func (d *decoder) checkScheduleExpression(n *node, where string) {
	if n.failed {
		return
	}
	if n.kind != kindString {
		d.errorf(n.pos, "", "%s: a schedule expression is a string, not %s", where, n.describe())
		return
	}
	if err := expr.ValidateRule(n.str, time.Now()); err != nil {
		var e *expr.Error
		reason := err.Error()
		if errors.As(err, &e) {
			reason = e.Reason
		}
		d.errorf(n.pos, "", "%s: %q is not a valid schedule: %s", where, n.str, reason)
	}
}

// checkPattern validates an event pattern and places its error on the field it names.
func (d *decoder) checkPattern(n *node, where string) {
	if n.failed {
		return
	}
	err := pattern.Validate(n.toJSON())
	if err == nil {
		return
	}
	pos, reason := n.pos, err.Error()
	var pe *pattern.PatternError
	if errors.As(err, &pe) {
		reason = pe.Reason
		if pe.Path != "" {
			reason = fmt.Sprintf("%s: %s", pe.Path, pe.Reason)
			pos = patternFieldPos(n, pe.Path)
		}
	}
	d.errorf(pos, "see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html", "%s is not a valid event pattern: %s", where, reason)
}

// patternFieldPos finds the value at a dotted pattern path, as deep as it exists (a key may
// itself contain dots, and $or lists hold objects), and returns its position.
func patternFieldPos(n *node, path string) position {
	pos := n.pos
	cur := n
	segs := strings.Split(path, ".")
	for i := 0; i < len(segs) && cur != nil; {
		var next *node
		taken := 0
		// The longest key that matches the next segments wins ({"a.b": ...} before {"a": {"b": ...}}).
		for j := len(segs); j > i && next == nil; j-- {
			next = findPatternKey(cur, strings.Join(segs[i:j], "."))
			taken = j - i
		}
		if next == nil {
			break
		}
		cur, i = next, i+taken
		pos = cur.pos
	}
	return pos
}

// findPatternKey looks key up in an object, or in the objects of a $or list under it.
func findPatternKey(n *node, key string) *node {
	if n.kind != kindMap {
		return nil
	}
	if v := n.get(key); v != nil {
		return v
	}
	if or := n.get("$or"); or != nil && or.kind == kindSeq {
		for _, it := range or.items {
			if v := findPatternKey(it, key); v != nil {
				return v
			}
		}
	}
	return nil
}
