// Package runtime runs function instances: one process per instance, one
// invocation at a time per instance, talking to the platform through the Lambda
// Runtime API. Pools of warm instances per function version start instances on
// demand, reuse the most recently used first, bound concurrency, and stop
// instances that stay idle.
package runtime

import (
	"errors"
	"fmt"
	"time"
)

// Spec is one function version as the runtime needs it. It is immutable once
// handed to the Manager; a changed function gets a new Spec with a new Key.
type Spec struct {
	// Key identifies the version's configuration and code; pools are per Key.
	Key          string
	FunctionName string
	Version      string // "$LATEST" or a number
	ARN          string
	Runtime      string
	Handler      string
	MemoryMB     int
	Timeout      time.Duration
	Environment  map[string]string
	CodeDir      string
	Region       string
	// EphemeralStorageMB sizes the instance's /tmp (Lambda's default: 512).
	EphemeralStorageMB int
	// ReservedConcurrency bounds the function's concurrent executions; negative
	// means unreserved (only the platform-wide limit applies).
	ReservedConcurrency int
}

// Invocation is one request for a function.
type Invocation struct {
	RequestID     string
	Payload       []byte
	ClientContext string // JSON, passed to the runtime as Lambda-Runtime-Client-Context
	TraceID       string
	// TailLog asks for the invocation's log in Result.LogTail.
	TailLog bool
	// InvokedARN is the ARN the caller named (an alias's, fn:live) when it
	// differs from the version's own, Spec.ARN.
	InvokedARN string
}

// Result is what an invocation produced. A function that failed (an error it
// returned, a crash, a timeout) is a Result with FunctionError set, not a Go
// error: the invoke itself worked.
type Result struct {
	Payload []byte
	// FunctionError is "" on success and "Unhandled" on a function error, as in
	// the X-Amz-Function-Error header.
	FunctionError string
	// ErrorType is the function error's type (e.g. Sandbox.Timedout).
	ErrorType string
	// LogTail holds the last lines of the invocation's log when asked for.
	LogTail      []byte
	ColdStart    bool
	Duration     time.Duration
	InitDuration time.Duration
}

// ThrottleError means no instance could take the invocation right now.
type ThrottleError struct {
	// Reason is AWS's reason code.
	Reason string
	// Message, when set, says which limit was hit.
	Message string
}

func (e *ThrottleError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Reason == ReasonReserved {
		return "Rate Exceeded. The function's reserved concurrency is in use."
	}
	return "Rate Exceeded. The platform's concurrency limit is in use."
}

// Reasons for throttles, as in Lambda's TooManyRequestsException.
const (
	ReasonReserved = "ReservedFunctionConcurrentInvocationLimitExceeded"
	ReasonAccount  = "ConcurrentInvocationLimitExceeded"
)

// ErrClosed means the manager is shutting down.
var ErrClosed = errors.New("the platform is shutting down")

// MaxResponseBytes is Lambda's synchronous response limit.
const MaxResponseBytes = 6 * 1024 * 1024

func errorPayload(errorType, format string, args ...any) []byte {
	msg := fmt.Sprintf(format, args...)
	return appendJSONError(nil, errorType, msg)
}

// appendJSONError encodes {"errorType":..,"errorMessage":..} without reflection.
func appendJSONError(b []byte, errorType, msg string) []byte {
	b = append(b, `{"errorType":`...)
	b = appendJSONString(b, errorType)
	b = append(b, `,"errorMessage":`...)
	b = appendJSONString(b, msg)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
