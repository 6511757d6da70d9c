package events

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/events/pattern"
	"github.com/nimbus-platform/nimbus/internal/schedule/expr"
)

var (
	ruleNameRE = regexp.MustCompile(`^[\.\-_A-Za-z0-9]{1,64}$`)
	busNameRE  = regexp.MustCompile(`^[/\.\-_A-Za-z0-9]{1,256}$`)
)

// validateRule checks a rule as PutRule does (the bus is checked by the caller).
func validateRule(r *Rule) error {
	if !ruleNameRE.MatchString(r.Name) {
		return errorf(CodeValidation, "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ and have length between 1 and 64", r.Name)
	}
	if len(r.EventPattern) == 0 && r.ScheduleExpression == "" {
		return errorf(CodeValidation, "Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if len(r.EventPattern) > 0 {
		if err := pattern.Validate(r.EventPattern); err != nil {
			return errorf(CodeInvalidEventPattern, "Event pattern is not valid. Reason: %v", err)
		}
	}
	if r.ScheduleExpression != "" {
		if r.Bus != DefaultBus {
			return errorf(CodeValidation, "ScheduleExpression is supported only on the default event bus.")
		}
		if err := expr.ValidateRule(r.ScheduleExpression, time.Now()); err != nil {
			return errorf(CodeValidation, "Parameter ScheduleExpression is not valid: %v", err)
		}
	}
	switch r.State {
	case "":
		r.State = StateEnabled
	case StateEnabled, StateDisabled:
	case StateEnabledCloudTrail:
		r.State = StateEnabled
	default:
		return errorf(CodeValidation, "1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]", r.State)
	}
	if len(r.Description) > 512 {
		return errorf(CodeValidation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 512")
	}
	return nil
}

func validateBusName(name string) error {
	if !busNameRE.MatchString(name) {
		return errorf(CodeValidation, "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+ and have length between 1 and 256", name)
	}
	if strings.HasPrefix(name, "aws.") || strings.Contains(name, "/") {
		return errorf(CodeValidation, "Event bus name %q is reserved for partner event sources.", name)
	}
	return nil
}

// Entry is one PutEvents entry.
type Entry struct {
	Source       string
	DetailType   string
	Detail       string
	Resources    []string
	EventBusName string
	Time         *time.Time
	TraceHeader  string
	// AWSService marks an event a nimbus service sends itself (S3's
	// notifications): only these may carry an aws.* source.
	AWSService bool
}

// EntryResult is PutEvents's answer for one entry: an event id or an error.
type EntryResult struct {
	EventID      string
	ErrorCode    string
	ErrorMessage string
}

// entrySize is EventBridge's size of an entry.
func entrySize(e *Entry) int {
	n := len(e.Source) + len(e.DetailType) + len(e.Detail)
	if e.Time != nil {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// checkEntry returns an entry's error code and message, or "".
func checkEntry(e *Entry) (string, string) {
	switch {
	case e.Source == "":
		return "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
	case e.DetailType == "":
		return "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case e.Detail == "":
		return "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."
	case !utf8.ValidString(e.Source) || !utf8.ValidString(e.DetailType):
		return "InvalidArgument", "Parameter Source or DetailType is not valid UTF-8."
	case strings.HasPrefix(e.Source, "aws.") && !e.AWSService:
		return "NotAuthorizedForSourceException", "Not authorized for the source."
	}
	d := bytes.TrimSpace([]byte(e.Detail))
	if len(d) == 0 || d[0] != '{' || !json.Valid(d) {
		return "MalformedDetail", "Detail is malformed."
	}
	for _, r := range e.Resources {
		if r == "" {
			return "InvalidArgument", "Parameter Resources is not valid. Reason: a resource is empty."
		}
	}
	return "", ""
}

// buildEvent writes the event envelope EventBridge delivers.
func buildEvent(id, account, region string, e *Entry, at time.Time) []byte {
	var b bytes.Buffer
	b.Grow(len(e.Detail) + 256)
	b.WriteString(`{"version":"0","id":`)
	b.Write(jsonString(id))
	b.WriteString(`,"detail-type":`)
	b.Write(jsonString(e.DetailType))
	b.WriteString(`,"source":`)
	b.Write(jsonString(e.Source))
	b.WriteString(`,"account":`)
	b.Write(jsonString(account))
	b.WriteString(`,"time":"`)
	b.WriteString(at.UTC().Format("2006-01-02T15:04:05Z"))
	b.WriteString(`","region":`)
	b.Write(jsonString(region))
	b.WriteString(`,"resources":[`)
	for i, r := range e.Resources {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(r))
	}
	b.WriteString(`],"detail":`)
	if err := json.Compact(&b, []byte(e.Detail)); err != nil {
		b.WriteString("{}")
	}
	b.WriteByte('}')
	return b.Bytes()
}
