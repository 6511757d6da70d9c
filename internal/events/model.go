package events

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultBus is the name of the bus every account has.
const DefaultBus = "default"

// Limits from EventBridge.
const (
	MaxEntriesPerPut      = 10
	MaxPutEventsBytes     = 256 * 1024
	MaxTargetsPerRule     = 5
	MaxRetryAttempts      = 185
	DefaultRetryAttempts  = 185
	MinEventAgeSeconds    = 60
	MaxEventAgeSeconds    = 86400
	DefaultEventAgeSecond = 86400
	MaxInputPathsMap      = 100
	MaxInputTemplateLen   = 8192
	MaxInputLen           = 8192
	MaxInputPathLen       = 256
)

// Rule states.
const (
	StateEnabled  = "ENABLED"
	StateDisabled = "DISABLED"
	// StateEnabledCloudTrail is accepted and treated as ENABLED.
	StateEnabledCloudTrail = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
)

// Error codes (AWS's), carried by *Error.
const (
	CodeValidation          = "ValidationException"
	CodeNotFound            = "ResourceNotFoundException"
	CodeAlreadyExists       = "ResourceAlreadyExistsException"
	CodeInvalidEventPattern = "InvalidEventPatternException"
	CodeLimitExceeded       = "LimitExceededException"
	CodeManagedRule         = "ManagedRuleException"
	CodeInternal            = "InternalException"
)

// Error is a request the bus refuses, with AWS's error code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Bus is an event bus.
type Bus struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ManagedBy names the service whose manifest declares the bus ("" for the
	// API and the default bus).
	ManagedBy string `json:"managedBy,omitempty"`
	CreatedAt int64  `json:"createdAt"` // unix seconds
	// Region is the region of the declaring service (its ARN carries it);
	// empty means the platform's.
	Region string `json:"region,omitempty"`
}

// Rule is a rule of a bus with its targets.
type Rule struct {
	Name               string          `json:"name"`
	Bus                string          `json:"bus"`
	EventPattern       json.RawMessage `json:"eventPattern,omitempty"`
	ScheduleExpression string          `json:"scheduleExpression,omitempty"`
	State              string          `json:"state"`
	Description        string          `json:"description,omitempty"`
	Targets            []Target        `json:"targets,omitempty"`
	// ManagedBy names the service whose manifest declares the rule.
	ManagedBy string `json:"managedBy,omitempty"`
	CreatedAt int64  `json:"createdAt"` // unix milliseconds; anchors rate schedules
	// Region is the region of the declaring service (its ARN and the events
	// it schedules carry it); empty means the platform's.
	Region string `json:"region,omitempty"`
}

// Enabled reports whether the rule is active.
func (r *Rule) Enabled() bool { return r.State != StateDisabled }

// Target is where a rule sends matching events.
type Target struct {
	ID               string            `json:"Id"`
	Arn              string            `json:"Arn"`
	Input            string            `json:"Input,omitempty"`
	InputPath        string            `json:"InputPath,omitempty"`
	InputTransformer *InputTransformer `json:"InputTransformer,omitempty"`
	RetryPolicy      *RetryPolicy      `json:"RetryPolicy,omitempty"`
	DeadLetterConfig *DeadLetterConfig `json:"DeadLetterConfig,omitempty"`
	RoleArn          string            `json:"RoleArn,omitempty"`
}

// InputTransformer builds a target's input from parts of the event.
type InputTransformer struct {
	InputPathsMap map[string]string `json:"InputPathsMap,omitempty"`
	InputTemplate string            `json:"InputTemplate"`
}

// RetryPolicy bounds the delivery attempts of a target.
type RetryPolicy struct {
	MaximumRetryAttempts     *int `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int `json:"MaximumEventAgeInSeconds,omitempty"`
}

// DeadLetterConfig names where undeliverable events go.
type DeadLetterConfig struct {
	Arn string `json:"Arn,omitempty"`
}

// Retries returns the policy's limits with EventBridge's defaults.
func (t *Target) Retries() (attempts int, maxAgeSeconds int) {
	attempts, maxAgeSeconds = DefaultRetryAttempts, DefaultEventAgeSecond
	if p := t.RetryPolicy; p != nil {
		if p.MaximumRetryAttempts != nil {
			attempts = *p.MaximumRetryAttempts
		}
		if p.MaximumEventAgeInSeconds != nil {
			maxAgeSeconds = *p.MaximumEventAgeInSeconds
		}
	}
	return attempts, maxAgeSeconds
}

// BusARN is the ARN of a bus.
func BusARN(region, account, bus string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", region, account, bus)
}

// RuleARN is the ARN of a rule: rule/name on the default bus, rule/bus/name elsewhere.
func RuleARN(region, account, bus, name string) string {
	if bus == DefaultBus {
		return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", region, account, name)
	}
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", region, account, bus, name)
}

// BusName accepts a bus name or ARN ("" is the default bus).
func BusName(nameOrARN string) string {
	if nameOrARN == "" {
		return DefaultBus
	}
	if strings.HasPrefix(nameOrARN, "arn:") {
		if i := strings.Index(nameOrARN, ":event-bus/"); i >= 0 {
			return nameOrARN[i+len(":event-bus/"):]
		}
	}
	return nameOrARN
}

// arnService returns the service part of an ARN ("lambda", "sqs" ...).
func arnService(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[2]
}
