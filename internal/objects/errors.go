package objects

import (
	"errors"
	"fmt"
)

// ErrorKind classifies core errors; the S3 edge maps each to S3's code.
type ErrorKind int

// Error kinds.
const (
	KindNoSuchBucket      ErrorKind = iota + 1 // NoSuchBucket
	KindNoSuchKey                              // NoSuchKey
	KindBucketExists                           // BucketAlreadyOwnedByYou
	KindBucketNotEmpty                         // BucketNotEmpty
	KindInvalidBucketName                      // InvalidBucketName
	KindKeyTooLong                             // KeyTooLongError
	KindEntityTooLarge                         // EntityTooLarge
	KindIncompleteBody                         // IncompleteBody
	KindInvalidArgument                        // InvalidArgument
	KindBadDigest                              // BadDigest
	KindNoSuchUpload                           // NoSuchUpload
	KindInvalidPart                            // InvalidPart
	KindInvalidPartOrder                       // InvalidPartOrder
	KindEntityTooSmall                         // EntityTooSmall
	KindMalformedXML                           // MalformedXML
	KindNoSuchVersion                          // NoSuchVersion
	KindDeleteMarker                           // MethodNotAllowed: a GET/HEAD of a delete marker version
	KindInvalidTag                             // InvalidTag
)

// Error is a typed error of the objects core.
type Error struct {
	Kind    ErrorKind
	Message string
	// DeleteMarker is the version id of the delete marker a read found
	// (S3 answers x-amz-delete-marker with it), or "".
	DeleteMarker string
}

func (e *Error) Error() string { return e.Message }

func errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// IsKind reports whether err is a core error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
