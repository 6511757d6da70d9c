package stepfunctions

import (
	"encoding/json"
	"errors"

	"github.com/nimbus-platform/nimbus/internal/workflows"
)

// StartAnswer is StartExecution's answer for ex, as the HTTP gateway's Step
// Functions integration returns it.
func StartAnswer(ex *workflows.Execution) []byte {
	data, _ := json.Marshal(map[string]any{"executionArn": ex.ARN, "startDate": ts(ex.Start)})
	return data
}

// SyncAnswer is StartSyncExecution's answer for a finished ex.
func SyncAnswer(ex *workflows.Execution) []byte {
	data, _ := json.Marshal(execution(ex, true))
	return data
}

// ErrorCode is the AWS error code of a service error, and false for errors
// that are not the caller's (store failures).
func ErrorCode(err error) (code, message string, ok bool) {
	var we *workflows.Error
	if errors.As(err, &we) {
		return codes[we.Kind], we.Message, true
	}
	return "", "", false
}
