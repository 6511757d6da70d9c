// Package s3 serves the S3 REST-XML API over the objects core, so the AWS
// SDKs (path style) and the AWS CLI work against nimbus.
package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// API is the S3 endpoint.
type API struct {
	Objects *objects.Store
	Logger  *slog.Logger
	// Authorize, when set, decides whether the caller may perform action
	// ("s3:GetObject") on resource (a bucket or object ARN, or "*").
	Authorize func(ctx context.Context, action, resource string) error
	// VerifyForm, when set, checks a browser upload's signed policy and
	// returns ctx carrying its signer (postpolicy.go).
	VerifyForm func(ctx context.Context, f auth.PolicyForm) (context.Context, error)
}

// BucketARN and ObjectARN are the resources IAM names.
func BucketARN(bucket string) string      { return "arn:aws:s3:::" + bucket }
func ObjectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

// subresources are query parameters that select an operation this edge does
// not serve yet; a request naming one is refused rather than taken for a
// plain GET or PUT.
var subresources = []string{"analytics", "accelerate", "encryption", "intelligent-tiering", "inventory",
	"lifecycle", "logging", "metrics", "notification", "object-lock", "policyStatus",
	"replication", "requestPayment", "restore", "retention", "legal-hold", "select", "tagging",
	"torrent", "versioning", "versions", "attributes"}

// ServeHTTP answers one S3 request (path style: /bucket/key).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["X-Amz-Request-Id"] = []string{requestID()}
	bucket, key := splitPath(r.URL)
	q := r.URL.Query()
	if r = a.web(w, r, bucket, key); r == nil { // CORS (cors.go)
		return
	}
	r = withRequestInfo(w, r)
	if _, ok := q["notification"]; ok && key == "" { // notification.go
		if err := a.serveNotification(w, r, bucket); err != nil {
			a.writeError(w, r, err, bucket, key)
		}
		return
	}
	if a.serveVersionsAndTags(w, r, bucket, key, q) {
		return
	}
	if a.serveACL(w, r, bucket, key, q) { // acl.go
		return
	}
	for _, s := range subresources {
		if _, ok := q[s]; ok {
			a.writeError(w, r, &apiError{http.StatusNotImplemented, "NotImplemented", "A header or query you provided implies functionality that is not implemented: ?" + s}, bucket, key)
			return
		}
	}
	var err error
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		err = a.listBuckets(w, r)
	case bucket == "":
		err = errMethod
	case key == "":
		err = a.serveBucket(w, r, bucket, q)
	default:
		err = a.serveObject(w, r, bucket, key)
	}
	if err != nil {
		a.writeError(w, r, err, bucket, key)
	}
}

func (a *API) serveBucket(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	if sub := webSubresource(q); sub != "" { // webconfig.go
		return a.serveBucketWeb(w, r, bucket, sub)
	}
	switch r.Method {
	case http.MethodPut:
		return a.createBucket(w, r, bucket)
	case http.MethodDelete:
		return a.deleteBucket(w, r, bucket)
	case http.MethodHead:
		return a.headBucket(w, r, bucket)
	case http.MethodPost:
		if _, ok := q["delete"]; ok {
			return a.deleteObjects(w, r, bucket)
		}
		if isForm(r) { // browser uploads (postpolicy.go)
			return a.postObject(w, r, bucket)
		}
	case http.MethodGet:
		if _, ok := q["uploads"]; ok {
			return a.listMultipartUploads(w, r, bucket, q)
		}
		if _, ok := q["location"]; ok {
			return a.getBucketLocation(w, r, bucket)
		}
		if q.Get("list-type") == "2" {
			return a.listObjectsV2(w, r, bucket, q)
		}
		return a.listObjects(w, r, bucket, q)
	}
	return errMethod
}

func (a *API) serveObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	if _, ok := q["uploads"]; ok && r.Method == http.MethodPost {
		return a.createMultipartUpload(w, r, bucket, key)
	}
	if _, ok := q["uploadId"]; ok {
		id := q.Get("uploadId")
		switch r.Method {
		case http.MethodPut:
			return a.uploadPart(w, r, bucket, key, q)
		case http.MethodPost:
			return a.completeMultipartUpload(w, r, bucket, key, id)
		case http.MethodDelete:
			return a.abortMultipartUpload(w, r, bucket, key, id)
		case http.MethodGet:
			return a.listParts(w, r, bucket, key, q)
		}
		return errMethod
	}
	if _, ok := q["partNumber"]; ok && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errMethod
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return a.copyObject(w, r, bucket, key)
		}
		return a.putObject(w, r, bucket, key)
	case http.MethodGet, http.MethodHead:
		return a.getObject(w, r, bucket, key)
	case http.MethodDelete:
		return a.deleteObject(w, r, bucket, key)
	}
	return errMethod
}

// splitPath takes the bucket and key from a path-style URL. The key is
// the rest of the path as sent (S3 keys may hold "//" and "..").
func splitPath(u *url.URL) (bucket, key string) {
	p := strings.TrimPrefix(u.Path, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

func (a *API) authorize(ctx context.Context, action, resource string) error {
	if a.Authorize == nil {
		return nil
	}
	// The caller's own policy, then the bucket's (bucketpolicy.go).
	return a.decide(ctx, action, resource, a.Authorize(ctx, action, resource))
}

// apiError is an S3 error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

var errMethod = &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource."}

func coreError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if e, ok := auth.AsError(err); ok { // a streamed body that fails its signed hash
		return &apiError{http.StatusBadRequest, "XAmzContentSHA256Mismatch", e.Message}
	}
	var e *objects.Error
	if !errors.As(err, &e) {
		return nil
	}
	if ae := webError(e); ae != nil {
		return ae
	}
	switch e.Kind {
	case objects.KindNoSuchBucket:
		return &apiError{http.StatusNotFound, "NoSuchBucket", e.Message}
	case objects.KindNoSuchKey:
		return &apiError{http.StatusNotFound, "NoSuchKey", e.Message}
	case objects.KindBucketExists:
		return &apiError{http.StatusConflict, "BucketAlreadyOwnedByYou", e.Message}
	case objects.KindBucketNotEmpty:
		return &apiError{http.StatusConflict, "BucketNotEmpty", e.Message}
	case objects.KindInvalidBucketName:
		return &apiError{http.StatusBadRequest, "InvalidBucketName", e.Message}
	case objects.KindKeyTooLong:
		return &apiError{http.StatusBadRequest, "KeyTooLongError", e.Message}
	case objects.KindEntityTooLarge:
		return &apiError{http.StatusBadRequest, "EntityTooLarge", e.Message}
	case objects.KindBadDigest:
		return &apiError{http.StatusBadRequest, "BadDigest", e.Message}
	case objects.KindNoSuchUpload:
		return &apiError{http.StatusNotFound, "NoSuchUpload", e.Message}
	case objects.KindInvalidPart:
		return &apiError{http.StatusBadRequest, "InvalidPart", e.Message}
	case objects.KindInvalidPartOrder:
		return &apiError{http.StatusBadRequest, "InvalidPartOrder", e.Message}
	case objects.KindEntityTooSmall:
		return &apiError{http.StatusBadRequest, "EntityTooSmall", e.Message}
	case objects.KindMalformedXML:
		return &apiError{http.StatusBadRequest, "MalformedXML", e.Message}
	case objects.KindIncompleteBody:
		return &apiError{http.StatusBadRequest, "IncompleteBody", e.Message}
	case objects.KindNoSuchVersion:
		return &apiError{http.StatusNotFound, "NoSuchVersion", e.Message}
	case objects.KindDeleteMarker:
		return &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", e.Message}
	case objects.KindInvalidTag:
		return &apiError{http.StatusBadRequest, "InvalidTag", e.Message}
	}
	return &apiError{http.StatusBadRequest, "InvalidArgument", e.Message}
}

type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	BucketName string `xml:",omitempty"`
	Key        string `xml:",omitempty"`
	Resource   string
	RequestID  string `xml:"RequestId"`
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error, bucket, key string) {
	ae := a.hideMissing(r.Context(), coreError(err), bucket) // bucketpolicy.go
	if ae == nil {
		if r.Context().Err() == nil {
			a.log().Error("s3 request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		ae = &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
	}
	var ce *objects.Error
	if errors.As(err, &ce) && ce.DeleteMarker != "" { // a read that found a delete marker says so
		w.Header().Set("x-amz-delete-marker", "true")
		w.Header().Set("x-amz-version-id", ce.DeleteMarker)
	}
	if r.Method == http.MethodHead { // HEAD answers carry no body
		w.WriteHeader(ae.status)
		return
	}
	body := errorBody{Code: ae.code, Message: ae.message, Resource: r.URL.Path, RequestID: w.Header().Get("x-amz-request-id")}
	if ae.code == "NoSuchBucket" || ae.code == "BucketNotEmpty" || ae.code == "BucketAlreadyOwnedByYou" {
		body.BucketName = bucket
	}
	if ae.code == "NoSuchKey" {
		body.Key = key
	}
	writeXML(w, ae.status, body)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	data, err := xml.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, nil
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(data)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(data)
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

// isoTime is S3's timestamp form in XML bodies.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
