package s3

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// Browser uploads (S3's POST object): a multipart/form-data POST to the
// bucket whose fields (key, policy, x-amz-* signature fields, Content-Type,
// x-amz-meta-*, success_action_*) come before the file. The policy is a
// base64 JSON document with an expiration and conditions that every field
// must meet; its signature names the signer, whose permissions (and the
// bucket's policy) decide the PutObject. Without a policy the upload is
// anonymous and needs a bucket policy that allows it.

// isForm reports whether a POST is a browser form upload.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// maxFormFields bounds the fields before the file (S3 allows 20 KB of them).
const maxFormFields = 20 << 10

func policyFailed(format string, args ...any) error {
	return &apiError{http.StatusForbidden, "AccessDenied", "Invalid according to Policy: " + fmt.Sprintf(format, args...)}
}

func (a *API) postObject(w http.ResponseWriter, r *http.Request, bucket string) error {
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if params["boundary"] == "" {
		return &apiError{http.StatusBadRequest, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."}
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	fields := map[string]string{}
	size := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return &apiError{http.StatusBadRequest, "InvalidArgument", "POST requires exactly one file upload per request."}
		} else if err != nil {
			return &apiError{http.StatusBadRequest, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."}
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			return a.postFile(w, r, bucket, fields, part)
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(maxFormFields-size+1)))
		if err != nil {
			return &apiError{http.StatusBadRequest, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."}
		}
		if size += len(name) + len(v); size > maxFormFields {
			return &apiError{http.StatusBadRequest, "MaxPostPreDataLengthExceeded", "Your POST request fields preceeding the upload file was too large."}
		}
		fields[name] = string(v)
	}
}

func (a *API) postFile(w http.ResponseWriter, r *http.Request, bucket string, fields map[string]string, file *multipart.Part) error {
	key, ok := fields["key"]
	if !ok || key == "" {
		return &apiError{http.StatusBadRequest, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."}
	}
	if fn := path.Base(strings.ReplaceAll(file.FileName(), `\`, "/")); fn != "." && fn != "/" {
		key = strings.ReplaceAll(key, "${filename}", fn)
	}
	ctx := r.Context()
	limit := lengthRange{min: 0, max: objects.MaxObjectSize}
	if policy, ok := fields["policy"]; ok {
		if a.VerifyForm != nil {
			signed, err := a.VerifyForm(ctx, auth.PolicyForm{Algorithm: fields["x-amz-algorithm"], Credential: fields["x-amz-credential"],
				Date: fields["x-amz-date"], SecurityToken: fields["x-amz-security-token"], Policy: policy, Signature: fields["x-amz-signature"],
				AccessKeyID: fields["awsaccesskeyid"], SignatureV2: fields["signature"]})
			if err != nil {
				if e, ok := auth.AsError(err); ok && e.Reason == auth.ErrSignatureMismatch {
					return &apiError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
				}
				if e, ok := auth.AsError(err); ok && (e.Reason == auth.ErrUnknownKey || e.Reason == auth.ErrExpiredToken) {
					return &apiError{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
				}
				return &apiError{http.StatusBadRequest, "InvalidArgument", err.Error()}
			}
			ctx = signed
		}
		var err error
		if limit, err = checkPostPolicy(policy, bucket, key, fields, time.Now()); err != nil {
			return err
		}
	}
	if err := a.authorize(ctx, "s3:PutObject", ObjectARN(bucket, key)); err != nil {
		return err
	}
	attrs := objects.Attributes{ContentType: fields["content-type"], ContentEncoding: fields["content-encoding"],
		ContentDisposition: fields["content-disposition"], CacheControl: fields["cache-control"], Expires: fields["expires"]}
	for name, v := range fields {
		if k, ok := strings.CutPrefix(name, "x-amz-meta-"); ok {
			if attrs.Metadata == nil {
				attrs.Metadata = map[string]string{}
			}
			attrs.Metadata[k] = v
		}
	}
	if attrs.ContentType == "" {
		attrs.ContentType = "binary/octet-stream"
	}
	o, err := a.Objects.PutObject(ctx, bucket, key, &rangeReader{r: file, lim: limit}, -1, attrs, nil)
	if err != nil {
		return err
	}
	location := "http://" + r.Host + "/" + bucket + "/" + escapePath(key)
	if strings.HasPrefix(r.Host, bucket+".") { // virtual-host style
		location = "http://" + r.Host + "/" + escapePath(key)
	}
	h := w.Header()
	h.Set("ETag", o.ETag)
	h.Set("Location", location)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		q := u.Query()
		q.Set("bucket", bucket)
		q.Set("key", key)
		q.Set("etag", o.ETag)
		u.RawQuery = q.Encode()
		h.Set("Location", u.String())
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		writeXML(w, http.StatusCreated, struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Location string
			Bucket   string
			Key      string
			ETag     string
		}{Location: location, Bucket: bucket, Key: key, ETag: o.ETag})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

type lengthRange struct{ min, max int64 }

// rangeReader fails a body outside content-length-range, so nothing is
// stored.
type rangeReader struct {
	r   io.Reader
	lim lengthRange
	n   int64
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	if rr.n > rr.lim.max {
		return n, &apiError{http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"}
	}
	if errors.Is(err, io.EOF) && rr.n < rr.lim.min {
		return n, &apiError{http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"}
	}
	return n, err
}

// ignoredFields need no condition in the policy.
func ignoredField(name string) bool {
	return name == "policy" || name == "x-amz-signature" || name == "file" || strings.HasPrefix(name, "x-ignore-") ||
		name == "awsaccesskeyid" || name == "signature" // Signature Version 2
}

// checkPostPolicy decodes a POST policy and checks its expiration and
// conditions against the form; it returns the allowed content length.
func checkPostPolicy(b64, bucket, key string, fields map[string]string, now time.Time) (lengthRange, error) {
	lim := lengthRange{min: 0, max: objects.MaxObjectSize}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Policy: could not decode the policy as base64."}
	}
	var doc struct {
		Expiration string
		Conditions []json.RawMessage
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON."}
	}
	exp, err := time.Parse(time.RFC3339, doc.Expiration)
	if err != nil {
		return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value: '" + doc.Expiration + "'"}
	}
	if !now.Before(exp) {
		return lim, policyFailed("Policy expired.")
	}
	// The values conditions are checked against: the form's fields, the
	// bucket of the URL and the key after ${filename}.
	value := func(name string) string {
		switch name {
		case "bucket":
			return bucket
		case "key":
			return key
		}
		return fields[name]
	}
	covered := map[string]bool{}
	for _, c := range doc.Conditions {
		var obj map[string]string
		if json.Unmarshal(c, &obj) == nil {
			for k, v := range obj {
				k = strings.ToLower(strings.TrimPrefix(k, "$"))
				covered[k] = true
				if value(k) != v {
					return lim, policyFailed("Policy Condition failed: [\"eq\", \"$%s\", %q]", k, v)
				}
			}
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(c, &arr); err != nil || len(arr) != 3 {
			return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Policy: condition " + string(c) + " is not a 3-element array or an object."}
		}
		var op string
		_ = json.Unmarshal(arr[0], &op)
		switch strings.ToLower(op) {
		case "content-length-range":
			lo, err1 := jsonInt(arr[1])
			hi, err2 := jsonInt(arr[2])
			if err1 != nil || err2 != nil || lo < 0 || hi < lo {
				return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range " + string(c)}
			}
			lim = lengthRange{min: lo, max: min(hi, objects.MaxObjectSize)}
		case "eq", "starts-with":
			var field, want string
			if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &want) != nil || !strings.HasPrefix(field, "$") {
				return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Policy: condition " + string(c)}
			}
			name := strings.ToLower(field[1:])
			covered[name] = true
			got := value(name)
			ok := got == want
			if strings.EqualFold(op, "starts-with") {
				ok = strings.HasPrefix(got, want)
				if name == "content-type" && !ok { // a list of types, each must start with want
					ok = got != ""
					for _, t := range strings.Split(got, ",") {
						ok = ok && strings.HasPrefix(strings.TrimSpace(t), want)
					}
				}
			}
			if !ok {
				return lim, policyFailed("Policy Condition failed: [%q, %q, %q]", op, field, want)
			}
		default:
			return lim, &apiError{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Policy: unknown condition operator " + strconv.Quote(op)}
		}
	}
	var extra []string
	for name := range fields {
		if !ignoredField(name) && !covered[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return lim, policyFailed("Extra input fields: %s", strings.Join(extra, ", "))
	}
	return lim, nil
}

// jsonInt reads a number given as a JSON number or a string.
func jsonInt(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		n = json.Number(s)
	}
	return n.Int64()
}
