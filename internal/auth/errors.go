package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Reason is why a request was refused; each protocol names it its own way.
type Reason int

// The refusals of AWS's common errors.
const (
	ErrMissingToken Reason = iota + 1
	ErrIncompleteSignature
	ErrSignatureMismatch
	ErrUnknownKey
	ErrExpiredToken
	ErrRequestExpired
	ErrRequestNotYetValid
	ErrAccessDenied
	ErrBodyTooLarge
)

// Protocol is how an edge writes errors.
type Protocol int

// The wire protocols of the edges.
const (
	// ProtocolJSON is AWS's JSON 1.0/1.1 protocol (SQS JSON, EventBridge).
	ProtocolJSON Protocol = iota
	// ProtocolRESTJSON is Lambda's REST-JSON protocol.
	ProtocolRESTJSON
	// ProtocolQuery is the query protocol with XML answers (SQS query, SNS).
	ProtocolQuery
	// ProtocolNimbus is the deploy API's own JSON errors.
	ProtocolNimbus
	// ProtocolS3 is S3's REST-XML: a bare <Error>, the query protocol's codes.
	ProtocolS3
)

// Error is a refused request.
type Error struct {
	Reason  Reason
	Message string
	// ExplicitDeny: a Deny statement refused it (not a missing Allow).
	// Nothing grants such a request: no resource policy, no ACL.
	ExplicitDeny bool
	// Presigned: the refused request was a presigned URL, whose time S3
	// refuses with AccessDenied rather than RequestExpired.
	Presigned bool
}

// IsExplicitDeny says err is a refusal by a Deny statement.
func IsExplicitDeny(err error) bool {
	e, ok := AsError(err)
	return ok && e.ExplicitDeny
}

func newError(reason Reason, msg string) *Error {
	if msg == "" {
		msg = defaultMessage(reason)
	}
	return &Error{Reason: reason, Message: msg}
}

func (e *Error) Error() string { return e.Code(ProtocolJSON) + ": " + e.Message }

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func defaultMessage(r Reason) string {
	switch r {
	case ErrMissingToken:
		return "Request is missing Authentication Token"
	case ErrSignatureMismatch:
		return "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	case ErrUnknownKey:
		return "The security token included in the request is invalid."
	case ErrExpiredToken:
		return "The security token included in the request is expired"
	case ErrBodyTooLarge:
		return "The request body is too large."
	}
	return "Access denied"
}

// Code is AWS's error code for the refusal in protocol p.
func (e *Error) Code(p Protocol) string {
	query := p == ProtocolQuery || p == ProtocolS3
	if p == ProtocolS3 && e.Reason == ErrUnknownKey {
		return "InvalidAccessKeyId"
	}
	switch e.Reason {
	case ErrMissingToken:
		return pick(query, "MissingAuthenticationToken", "MissingAuthenticationTokenException")
	case ErrIncompleteSignature:
		if p == ProtocolS3 && e.Presigned {
			return "AuthorizationQueryParametersError"
		}
		return pick(query, "IncompleteSignature", "IncompleteSignatureException")
	case ErrSignatureMismatch:
		return pick(query, "SignatureDoesNotMatch", "InvalidSignatureException")
	case ErrUnknownKey:
		return pick(query, "InvalidClientTokenId", "UnrecognizedClientException")
	case ErrExpiredToken:
		return pick(query, "ExpiredToken", "ExpiredTokenException")
	case ErrRequestExpired, ErrRequestNotYetValid:
		switch {
		case p == ProtocolS3 && e.Presigned:
			return "AccessDenied" // "Request has expired", as S3 answers
		case p == ProtocolS3:
			return "RequestTimeTooSkewed"
		case p == ProtocolQuery && !e.Presigned:
			// AWS's query services answer a stale signature so; the SDKs
			// correct their clock on it (not on RequestExpired).
			return "SignatureDoesNotMatch"
		}
		return pick(query, "RequestExpired", "InvalidSignatureException")
	case ErrBodyTooLarge:
		return pick(query, "RequestEntityTooLarge", "RequestEntityTooLargeException")
	}
	return pick(query, "AccessDenied", "AccessDeniedException")
}

func pick(query bool, q, j string) string {
	if query {
		return q
	}
	return j
}

// Status is the HTTP status AWS answers the refusal with in protocol p.
func (e *Error) Status(p Protocol) int {
	switch e.Reason {
	case ErrIncompleteSignature:
		return http.StatusBadRequest
	case ErrRequestExpired, ErrRequestNotYetValid:
		if p == ProtocolQuery && e.Presigned {
			return http.StatusBadRequest
		}
	case ErrBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusForbidden
}

// WriteError answers a refused request in protocol p.
func WriteError(w http.ResponseWriter, p Protocol, err *Error) {
	code, status := err.Code(p), err.Status(p)
	h := w.Header()
	switch p {
	case ProtocolQuery:
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>`)
		xmlEscape(&b, code)
		b.WriteString("</Code><Message>")
		xmlEscape(&b, err.Message)
		b.WriteString("</Message></Error><RequestId>" + uuid.NewString() + "</RequestId></ErrorResponse>")
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b.String()))
		return
	case ProtocolS3:
		msg := err.Message
		if code == "RequestTimeTooSkewed" {
			msg = "The difference between the request time and the current time is too large."
		}
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>")
		xmlEscape(&b, code)
		b.WriteString("</Code><Message>")
		xmlEscape(&b, msg)
		b.WriteString("</Message><RequestId>" + uuid.NewString() + "</RequestId></Error>")
		h.Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b.String()))
		return
	case ProtocolNimbus:
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		body, _ := json.Marshal(map[string]string{"code": code, "message": err.Message})
		_, _ = w.Write(body)
		return
	case ProtocolRESTJSON:
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-ErrorType", code)
		h.Set("X-Amzn-Requestid", uuid.NewString())
		w.WriteHeader(status)
		body, _ := json.Marshal(map[string]string{"Type": "User", "message": err.Message})
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-ErrorType", code)
	h.Set("X-Amzn-Requestid", uuid.NewString())
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"__type": code, "message": err.Message})
	_, _ = w.Write(body)
}

func xmlEscape(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
}
