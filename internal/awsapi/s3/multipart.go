package s3

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/objects"
)

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

func (a *API) createMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
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
	u, err := a.Objects.CreateMultipartUpload(r.Context(), bucket, key, attrs)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, initiateResult{Xmlns: xmlns, Bucket: bucket, Key: key, UploadID: u.ID})
	return nil
}

func (a *API) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string, q url.Values) error {
	if err := a.authorize(r.Context(), "s3:PutObject", ObjectARN(bucket, key)); err != nil {
		return err
	}
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil {
		return &apiError{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"}
	}
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		return a.uploadPartCopy(w, r, bucket, key, q.Get("uploadId"), n)
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
	p, err := a.Objects.UploadPart(r.Context(), bucket, key, q.Get("uploadId"), n, body, size, wantMD5)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", p.ETag)
	w.WriteHeader(http.StatusOK)
	return nil
}

type completeRequest struct {
	Parts []struct {
		PartNumber int
		ETag       string
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

func (a *API) completeMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key, id string) error {
	if err := a.authorize(r.Context(), "s3:PutObject", ObjectARN(bucket, key)); err != nil {
		return err
	}
	var req completeRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 2<<20)).Decode(&req); err != nil || len(req.Parts) > objects.MaxParts {
		return &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}
	}
	parts := make([]objects.CompletedPart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = objects.CompletedPart{Number: p.PartNumber, ETag: p.ETag}
	}
	o, err := a.Objects.CompleteMultipartUpload(r.Context(), bucket, key, id, parts)
	if err != nil {
		return err
	}
	setVersionHeader(w.Header(), &o)
	writeXML(w, http.StatusOK, completeResult{Xmlns: xmlns, Location: "http://" + r.Host + "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: o.ETag})
	return nil
}

func (a *API) abortMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key, id string) error {
	if err := a.authorize(r.Context(), "s3:AbortMultipartUpload", ObjectARN(bucket, key)); err != nil {
		return err
	}
	if err := a.Objects.AbortMultipartUpload(r.Context(), bucket, key, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type partEntry struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	Xmlns                string   `xml:"xmlns,attr"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	StorageClass         string
	Initiator            owner
	Owner                owner
	Parts                []partEntry `xml:"Part"`
}

func (a *API) listParts(w http.ResponseWriter, r *http.Request, bucket, key string, q url.Values) error {
	if err := a.authorize(r.Context(), "s3:ListMultipartUploadParts", ObjectARN(bucket, key)); err != nil {
		return err
	}
	maxParts, marker := 1000, 0
	if v := q.Get("max-parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &apiError{http.StatusBadRequest, "InvalidArgument", "Provided max-parts not an integer or within integer range"}
		}
		maxParts = min(n, 1000)
	}
	if v := q.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &apiError{http.StatusBadRequest, "InvalidArgument", "Provided part-number-marker not an integer or within integer range"}
		}
		marker = n
	}
	id := q.Get("uploadId")
	_, parts, truncated, err := a.Objects.ListParts(r.Context(), bucket, key, id, marker, maxParts)
	if err != nil {
		return err
	}
	res := listPartsResult{Xmlns: xmlns, Bucket: bucket, Key: key, UploadID: id, PartNumberMarker: marker, MaxParts: maxParts,
		IsTruncated: truncated, StorageClass: "STANDARD", Initiator: platformOwner, Owner: platformOwner}
	for _, p := range parts {
		res.Parts = append(res.Parts, partEntry{PartNumber: p.Number, LastModified: isoTime(p.Modified), ETag: p.ETag, Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

type uploadEntry struct {
	Key          string
	UploadID     string `xml:"UploadId"`
	Initiator    owner
	Owner        owner
	StorageClass string
	Initiated    string
}

type listUploadsResult struct {
	XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
	Xmlns              string   `xml:"xmlns,attr"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string `xml:",omitempty"`
	NextUploadIDMarker string `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string
	MaxUploads         int
	IsTruncated        bool
	Uploads            []uploadEntry `xml:"Upload"`
}

// listMultipartUploads lists up to max-uploads uploads under prefix; the
// key and upload-id markers and the delimiter are not supported yet.
func (a *API) listMultipartUploads(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	if err := a.authorize(r.Context(), "s3:ListBucketMultipartUploads", BucketARN(bucket)); err != nil {
		return err
	}
	if q.Get("key-marker") != "" || q.Get("delimiter") != "" {
		return &apiError{http.StatusNotImplemented, "NotImplemented", "key-marker and delimiter are not implemented for ListMultipartUploads."}
	}
	maxUploads := 1000
	if v := q.Get("max-uploads"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &apiError{http.StatusBadRequest, "InvalidArgument", "Provided max-uploads not an integer or within integer range"}
		}
		maxUploads = min(n, 1000)
	}
	uploads, truncated, err := a.Objects.ListUploads(r.Context(), bucket, q.Get("prefix"), maxUploads)
	if err != nil {
		return err
	}
	res := listUploadsResult{Xmlns: xmlns, Bucket: bucket, Prefix: q.Get("prefix"), MaxUploads: maxUploads, IsTruncated: truncated}
	for _, u := range uploads {
		res.Uploads = append(res.Uploads, uploadEntry{Key: u.Key, UploadID: u.ID, Initiator: platformOwner, Owner: platformOwner,
			StorageClass: "STANDARD", Initiated: isoTime(u.Initiated)})
		res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.ID
	}
	writeXML(w, http.StatusOK, res)
	return nil
}
