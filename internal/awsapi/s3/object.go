package s3

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

const metaPrefix = "X-Amz-Meta-"

// attributes reads an object's attributes from a request's headers.
func attributes(h http.Header) (objects.Attributes, error) {
	a := objects.Attributes{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	size := 0
	for name, values := range h {
		if !strings.HasPrefix(name, metaPrefix) {
			continue
		}
		if a.Metadata == nil {
			a.Metadata = map[string]string{}
		}
		k := strings.ToLower(name[len(metaPrefix):])
		v := strings.Join(values, ",")
		a.Metadata[k] = v
		size += len(k) + len(v)
	}
	if size > 2048 {
		return a, &apiError{http.StatusBadRequest, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size."}
	}
	if v := h.Get("X-Amz-Tagging"); v != "" {
		tags, err := parseTagHeader(v)
		if err != nil {
			return a, err
		}
		a.Tags = tags
	}
	return a, nil
}

// stripAWSChunked drops the transfer coding of streaming uploads, which is
// not the object's own encoding.
func stripAWSChunked(enc string) string {
	var keep []string
	for _, e := range strings.Split(enc, ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, ",")
}

// writeAttributes sets an object's headers on an answer.
func writeAttributes(h http.Header, o *objects.Object) {
	ct := o.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h.Set("Content-Type", ct)
	for _, a := range [...]struct{ name, v string }{{"Content-Encoding", o.ContentEncoding}, {"Content-Disposition", o.ContentDisposition},
		{"Content-Language", o.ContentLanguage}, {"Cache-Control", o.CacheControl}, {"Expires", o.Expires}} {
		if a.v != "" {
			h[a.name] = []string{a.v}
		}
	}
	for k, v := range o.Metadata {
		h[metaPrefix+k] = []string{v}
	}
	h.Set("ETag", o.ETag)
	h.Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
}

// requestBody is the object's bytes and their length (-1 if unknown),
// unwrapping aws-chunked streaming uploads.
func requestBody(r *http.Request) (io.Reader, int64, error) {
	sha := r.Header.Get("X-Amz-Content-Sha256")
	chunked := strings.HasPrefix(sha, "STREAMING-") || strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "aws-chunked")
	if !chunked {
		return withChecksums(r.Body, r.Header, nil), r.ContentLength, nil
	}
	decoded := r.Header.Get("X-Amz-Decoded-Content-Length")
	n, err := strconv.ParseInt(decoded, 10, 64)
	if err != nil || n < 0 {
		return nil, 0, &apiError{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header."}
	}
	cr := newChunkedReader(r.Body, auth.ChunkSignerFrom(r.Context()))
	return withChecksums(cr, r.Header, cr), n, nil
}

func (a *API) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if err := a.authorize(r.Context(), "s3:PutObject", ObjectARN(bucket, key)); err != nil {
		return err
	}
	attrs, err := attributes(r.Header)
	if err != nil {
		return err
	}
	if attrs.ACL, err = a.requestACL(r.Context(), r.Header, bucket); err != nil {
		return err
	}
	var wantMD5 []byte
	if v := r.Header.Get("Content-MD5"); v != "" {
		if wantMD5, err = base64.StdEncoding.DecodeString(v); err != nil || len(wantMD5) != 16 {
			return &apiError{http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid."}
		}
	}
	body, size, err := requestBody(r)
	if err != nil {
		return err
	}
	if size < 0 && r.Header.Get("X-Amz-Content-Sha256") != "" {
		return &apiError{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header."}
	}
	o, err := a.Objects.PutObject(r.Context(), bucket, key, body, size, attrs, wantMD5)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", o.ETag)
	setVersionHeader(w.Header(), &o)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	var q url.Values // parsed once, and not at all for a plain GET
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	versionID := q.Get("versionId")
	action := "s3:GetObject"
	if versionID != "" {
		action = "s3:GetObjectVersion"
	}
	if err := a.authorize(r.Context(), action, ObjectARN(bucket, key)); err != nil {
		return err
	}
	o, f, err := a.Objects.GetObjectVersion(r.Context(), bucket, key, versionID)
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	setVersionHeader(h, &o)
	if versionID == "null" {
		h.Set("x-amz-version-id", "null")
	}
	if status := preconditions(r.Header, &o); status != 0 {
		if status == http.StatusNotModified {
			h.Set("ETag", o.ETag)
			h.Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
			w.WriteHeader(status)
			return nil
		}
		return &apiError{status, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"}
	}
	start, length, partial, err := parseRange(r.Header.Get("Range"), o.Size)
	if err != nil {
		return err
	}
	if v := q.Get("partNumber"); v != "" {
		if start, length, err = partRange(h, r, &o, v); err != nil {
			return err
		}
		partial = true
	}
	writeAttributes(h, &o)
	if len(o.Tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(o.Tags)))
	}
	if q != nil {
		for _, o := range [...]struct{ param, header string }{{"response-content-type", "Content-Type"}, {"response-content-language", "Content-Language"},
			{"response-expires", "Expires"}, {"response-cache-control", "Cache-Control"}, {"response-content-disposition", "Content-Disposition"},
			{"response-content-encoding", "Content-Encoding"}} {
			if v := q.Get(o.param); v != "" {
				h.Set(o.header, v)
			}
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, o.Size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead || length == 0 {
		return nil
	}
	// Past this point the status is sent: a failed copy only cuts the body short.
	if err := writeBody(w, f, start, length); err != nil && r.Context().Err() == nil {
		a.log().Warn("s3 object body cut short", "bucket", bucket, "key", key, "err", err)
	}
	return nil
}

// sendSegment is how much of a file body goes to the connection per copy:
// each copy lets the listener move the write deadline on.
const sendSegment = 4 << 20

// writeBody writes length bytes of body from start: an inline object's
// bytes in one write, a file's through the connection's ReadFrom (sendfile),
// which a plain *os.File under an io.LimitedReader keeps reachable.
func writeBody(w http.ResponseWriter, body objects.Body, start, length int64) error {
	if data, ok := objects.InlineBytes(body); ok {
		_, err := w.Write(data[start : start+length])
		return err
	}
	if _, err := body.Seek(start, io.SeekStart); err != nil {
		return err
	}
	for length > 0 {
		n, err := io.Copy(w, &io.LimitedReader{R: body, N: min(length, sendSegment)})
		length -= n
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// preconditions applies If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since as S3 does: 0 to go on, else the answer's status.
func preconditions(h http.Header, o *objects.Object) int {
	modified := o.Modified.Truncate(time.Second)
	if v := h.Get("If-Match"); v != "" {
		if !etagMatches(v, o.ETag) {
			return http.StatusPreconditionFailed
		}
	} else if v := h.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && modified.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if v := h.Get("If-None-Match"); v != "" {
		if etagMatches(v, o.ETag) {
			return http.StatusNotModified
		}
	} else if v := h.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !modified.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

func etagMatches(list, etag string) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || v == etag || `"`+v+`"` == etag {
			return true
		}
	}
	return false
}

// parseRange reads a single byte range; a header it cannot parse is
// ignored (the whole object), an unsatisfiable one is InvalidRange.
func parseRange(v string, size int64) (start, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, size, false, nil
	}
	invalid := &apiError{http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable"}
	if first == "" { // the last n bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil {
			return 0, size, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, invalid
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	s, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || s < 0 {
		return 0, size, false, nil
	}
	e := size - 1
	if last != "" {
		if e, perr = strconv.ParseInt(last, 10, 64); perr != nil || e < s {
			return 0, size, false, nil
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, false, invalid
	}
	return s, e - s + 1, true, nil
}

func (a *API) deleteObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	versionID := r.URL.Query().Get("versionId")
	action := "s3:DeleteObject"
	if versionID != "" {
		action = "s3:DeleteObjectVersion"
	}
	if err := a.authorize(r.Context(), action, ObjectARN(bucket, key)); err != nil {
		return err
	}
	res, err := a.Objects.DeleteObjectVersion(r.Context(), bucket, key, versionID)
	if err != nil {
		return err
	}
	if res.VersionID != "" {
		w.Header().Set("x-amz-version-id", res.VersionID)
	}
	if res.DeleteMarker {
		w.Header().Set("x-amz-delete-marker", "true")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type deleteRequest struct {
	Quiet   bool
	Objects []struct {
		Key       string
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name      `xml:"DeleteResult"`
	Xmlns   string        `xml:"xmlns,attr"`
	Deleted []deletedKey  `xml:"Deleted"`
	Errors  []deleteError `xml:"Error"`
}

type deletedKey struct {
	Key                   string
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:",omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string
	VersionID string `xml:"VersionId,omitempty"`
	Code      string
	Message   string
}

func (a *API) deleteObjects(w http.ResponseWriter, r *http.Request, bucket string) error {
	var req deleteRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 2<<20)).Decode(&req); err != nil {
		return &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}
	}
	if len(req.Objects) == 0 || len(req.Objects) > 1000 {
		return &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}
	}
	if _, err := a.Objects.HeadBucket(r.Context(), bucket); err != nil {
		return err
	}
	res := deleteResult{Xmlns: xmlns}
	for _, o := range req.Objects {
		action := "s3:DeleteObject"
		if o.VersionID != "" {
			action = "s3:DeleteObjectVersion"
		}
		err := a.authorize(r.Context(), action, ObjectARN(bucket, o.Key))
		var del objects.DeleteResult
		if err == nil {
			del, err = a.Objects.DeleteObjectVersion(r.Context(), bucket, o.Key, o.VersionID)
		}
		if err != nil {
			ae := coreError(err)
			if ae == nil {
				a.log().Error("s3 delete failed", "bucket", bucket, "key", o.Key, "err", err)
				ae = &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
			}
			res.Errors = append(res.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: ae.code, Message: ae.message})
			continue
		}
		if !req.Quiet {
			d := deletedKey{Key: o.Key, VersionID: o.VersionID, DeleteMarker: del.DeleteMarker}
			if del.DeleteMarker && o.VersionID == "" {
				d.DeleteMarkerVersionID = del.VersionID
			}
			res.Deleted = append(res.Deleted, d)
		}
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string
	ETag         string
}

// copySource reads x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, with an optional "?versionId=".
func copySource(r *http.Request) (bucket, key, version string, err error) {
	src := r.Header.Get("X-Amz-Copy-Source")
	src, query, _ := strings.Cut(src, "?")
	bad := &apiError{http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"}
	src, uerr := url.PathUnescape(strings.TrimPrefix(src, "/"))
	if uerr != nil {
		return "", "", "", bad
	}
	bucket, key, ok := strings.Cut(src, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", bad
	}
	if query != "" {
		q, qerr := url.ParseQuery(query)
		if qerr != nil {
			return "", "", "", bad
		}
		version = q.Get("versionId")
	}
	return bucket, key, version, nil
}

func (a *API) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	srcBucket, srcKey, srcVersion, err := copySource(r)
	if err != nil {
		return err
	}
	readAction := "s3:GetObject"
	if srcVersion != "" {
		readAction = "s3:GetObjectVersion"
	}
	if err := a.authorize(r.Context(), readAction, ObjectARN(srcBucket, srcKey)); err != nil {
		return err
	}
	if err := a.authorize(r.Context(), "s3:PutObject", ObjectARN(bucket, key)); err != nil {
		return err
	}
	directive := r.Header.Get("X-Amz-Metadata-Directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return &apiError{http.StatusBadRequest, "InvalidArgument", "Unknown metadata directive."}
	}
	tagging := r.Header.Get("X-Amz-Tagging-Directive")
	if tagging != "" && tagging != "COPY" && tagging != "REPLACE" {
		return &apiError{http.StatusBadRequest, "InvalidArgument", "Unknown tagging directive."}
	}
	replace := directive == "REPLACE"
	if srcBucket == bucket && srcKey == key && srcVersion == "" && !replace {
		return &apiError{http.StatusBadRequest, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."}
	}
	attrs, err := attributes(r.Header)
	if err != nil {
		return err
	}
	if attrs.ACL, err = a.requestACL(r.Context(), r.Header, bucket); err != nil {
		return err
	}
	srcObj, err := a.Objects.HeadObjectVersion(r.Context(), srcBucket, srcKey, srcVersion)
	if err != nil {
		return sourceError(err)
	}
	if status := copyPreconditions(r.Header, &srcObj); status != 0 {
		return &apiError{status, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"}
	}
	o, src, err := a.Objects.CopyObjectVersion(r.Context(), objects.CopyInput{SrcBucket: srcBucket, SrcKey: srcKey, SrcVersion: srcVersion,
		Bucket: bucket, Key: key, ReplaceMetadata: replace, ReplaceTags: tagging == "REPLACE", Attrs: attrs})
	if err != nil {
		return sourceError(err)
	}
	if srcVersion != "" || !src.Null {
		w.Header().Set("x-amz-copy-source-version-id", src.Version())
	}
	setVersionHeader(w.Header(), &o)
	writeXML(w, http.StatusOK, copyObjectResult{Xmlns: xmlns, LastModified: isoTime(o.Modified), ETag: o.ETag})
	return nil
}

// sourceError keeps a delete marker's headers off a copy's answer: they
// would describe the source, not the object written.
func sourceError(err error) error {
	var e *objects.Error
	if errors.As(err, &e) && e.DeleteMarker != "" {
		c := *e
		c.DeleteMarker = ""
		if c.Kind == objects.KindDeleteMarker {
			return &apiError{http.StatusBadRequest, "InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id."}
		}
		return &c
	}
	return err
}

// setVersionHeader sends an object's version id, unless it is the null
// version (S3 sends none for objects written while unversioned).
func setVersionHeader(h http.Header, o *objects.Object) {
	if !o.Null && o.VersionID != "" {
		h.Set("x-amz-version-id", o.VersionID)
	}
}

// copyPreconditions are the x-amz-copy-source-if-* headers, which fail
// with 412 in every case.
func copyPreconditions(h http.Header, o *objects.Object) int {
	c := http.Header{}
	for _, name := range []string{"Match", "None-Match", "Modified-Since", "Unmodified-Since"} {
		if v := h.Get("X-Amz-Copy-Source-If-" + name); v != "" {
			c.Set("If-"+name, v)
		}
	}
	if preconditions(c, o) != 0 {
		return http.StatusPreconditionFailed
	}
	return 0
}
