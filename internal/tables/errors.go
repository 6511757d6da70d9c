package tables

import (
	"errors"
	"fmt"
)

// ErrorKind classifies core errors; the API edge maps each to an AWS code.
type ErrorKind int

// Error kinds.
const (
	KindValidation          ErrorKind = iota + 1 // ValidationException
	KindNotFound                                 // ResourceNotFoundException
	KindInUse                                    // ResourceInUseException
	KindConditionFailed                          // ConditionalCheckFailedException
	KindTransactionCanceled                      // TransactionCanceledException
	KindIdempotentMismatch                       // IdempotentParameterMismatchException
	KindInternal                                 // InternalServerError
	KindLimitExceeded                            // LimitExceededException
	KindDuplicateItem                            // DuplicateItemException (PartiQL INSERT)
)

// Error is a typed error of the tables core.
type Error struct {
	Kind    ErrorKind
	Message string
	// Item is the item as it was when a condition failed (for
	// ReturnValuesOnConditionCheckFailure).
	Item Item
	// Reasons holds one entry per transaction item when a transaction is
	// canceled.
	Reasons []CancellationReason
}

func (e *Error) Error() string { return e.Message }

// CancellationReason says why one item of a transaction failed ("None" when
// it did not).
type CancellationReason struct {
	Code    string // None, ConditionalCheckFailed, TransactionConflict, ValidationError
	Message string
	Item    Item
}

func validationf(format string, args ...any) error {
	return &Error{Kind: KindValidation, Message: fmt.Sprintf(format, args...)}
}

// errTableNotFound is DynamoDB's answer for a missing table in item operations.
var errTableNotFound = &Error{Kind: KindNotFound, Message: "Requested resource not found"}

func tableNotFound(name string) error {
	return &Error{Kind: KindNotFound, Message: "Requested resource not found: Table: " + name + " not found"}
}

var errConditionFailed = &Error{Kind: KindConditionFailed, Message: "The conditional request failed"}

// IsKind reports whether err is a core error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
