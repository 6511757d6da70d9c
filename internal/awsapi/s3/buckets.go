package s3

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/objects"
)

type owner struct {
	ID          string
	DisplayName string
}

var platformOwner = owner{ID: "nimbus", DisplayName: "nimbus"}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"ListAllMyBucketsResult"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner
	Buckets []bucketEntry `xml:"Buckets>Bucket"`
}

type bucketEntry struct {
	Name         string
	CreationDate string
}

func (a *API) listBuckets(w http.ResponseWriter, r *http.Request) error {
	if err := a.authorize(r.Context(), "s3:ListAllMyBuckets", "*"); err != nil {
		return err
	}
	buckets, err := a.Objects.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Xmlns: xmlns, Owner: platformOwner, Buckets: []bucketEntry{}}
	for _, b := range buckets {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: isoTime(b.Created)})
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func (a *API) createBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:CreateBucket", BucketARN(bucket)); err != nil {
		return err
	}
	// The body, when there is one, names a location constraint: every
	// region is this platform, so it is read and not kept.
	var conf struct {
		LocationConstraint string
	}
	if r.ContentLength != 0 {
		if err := xml.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10)).Decode(&conf); err != nil && err.Error() != "EOF" {
			return &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}
		}
	}
	acl, ownership, err := createBucketACL(r.Header)
	if err != nil {
		return err
	}
	if _, err := a.Objects.CreateBucketWith(r.Context(), objects.Bucket{Name: bucket, ACL: acl, Ownership: ownership}); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deleteBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:DeleteBucket", BucketARN(bucket)); err != nil {
		return err
	}
	if err := a.Objects.DeleteBucket(r.Context(), bucket); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) headBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:ListBucket", BucketARN(bucket)); err != nil {
		return err
	}
	if _, err := a.Objects.HeadBucket(r.Context(), bucket); err != nil {
		return err
	}
	w.Header().Set("x-amz-bucket-region", "us-east-1")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) getBucketLocation(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:GetBucketLocation", BucketARN(bucket)); err != nil {
		return err
	}
	if _, err := a.Objects.HeadBucket(r.Context(), bucket); err != nil {
		return err
	}
	// us-east-1 is the empty constraint.
	writeXML(w, http.StatusOK, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
	}{Xmlns: xmlns})
	return nil
}

type objectEntry struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        *owner `xml:",omitempty"`
}

type commonPrefix struct {
	Prefix string
}

type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	Xmlns                 string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Marker                *string `xml:",omitempty"`
	NextMarker            string  `xml:",omitempty"`
	StartAfter            string  `xml:",omitempty"`
	ContinuationToken     string  `xml:",omitempty"`
	NextContinuationToken string  `xml:",omitempty"`
	KeyCount              *int    `xml:",omitempty"`
	MaxKeys               int
	Delimiter             string `xml:",omitempty"`
	EncodingType          string `xml:",omitempty"`
	IsTruncated           bool
	Contents              []objectEntry
	CommonPrefixes        []commonPrefix
}

// listParams reads the parameters both listing versions share.
func listParams(q url.Values) (objects.ListOptions, string, error) {
	opts := objects.ListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), MaxKeys: 1000}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return opts, "", &apiError{http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range"}
		}
		opts.MaxKeys = min(n, 1000)
	}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return opts, "", &apiError{http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request"}
	}
	return opts, enc, nil
}

// encodeKey applies encoding-type=url as S3 does (spaces as '+').
func encodeKey(s, enc string) string {
	if enc != "url" {
		return s
	}
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func (a *API) fillList(res *listBucketResult, page objects.ListResult, enc string, withOwner bool) {
	res.Contents = make([]objectEntry, 0, len(page.Objects))
	for _, o := range page.Objects {
		e := objectEntry{Key: encodeKey(o.Key, enc), LastModified: isoTime(o.Modified), ETag: o.ETag, Size: o.Size, StorageClass: "STANDARD"}
		if withOwner {
			e.Owner = &platformOwner
		}
		res.Contents = append(res.Contents, e)
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encodeKey(p, enc)})
	}
	res.IsTruncated = page.Truncated
	res.Prefix = encodeKey(res.Prefix, enc)
	res.Delimiter = encodeKey(res.Delimiter, enc)
	res.EncodingType = enc
}

func (a *API) listObjects(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	if err := a.authorize(r.Context(), "s3:ListBucket", BucketARN(bucket)); err != nil {
		return err
	}
	opts, enc, err := listParams(q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	opts.After = marker
	page, err := a.Objects.List(r.Context(), bucket, opts)
	if err != nil {
		return err
	}
	res := listBucketResult{Xmlns: xmlns, Name: bucket, Prefix: opts.Prefix, Delimiter: opts.Delimiter, MaxKeys: opts.MaxKeys}
	m := encodeKey(marker, enc)
	res.Marker = &m
	a.fillList(&res, page, enc, true)
	// NextMarker is sent only with a delimiter; without one clients use the last key.
	if page.Truncated && opts.Delimiter != "" {
		res.NextMarker = encodeKey(page.Last, enc)
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func (a *API) listObjectsV2(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	if err := a.authorize(r.Context(), "s3:ListBucket", BucketARN(bucket)); err != nil {
		return err
	}
	opts, enc, err := listParams(q)
	if err != nil {
		return err
	}
	startAfter, token := q.Get("start-after"), q.Get("continuation-token")
	opts.After = startAfter
	if _, ok := q["continuation-token"]; ok {
		after, ok := decodeToken(token)
		if !ok {
			return &apiError{http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect"}
		}
		opts.After = max(after, startAfter)
	}
	page, err := a.Objects.List(r.Context(), bucket, opts)
	if err != nil {
		return err
	}
	count := len(page.Objects) + len(page.CommonPrefixes)
	res := listBucketResult{Xmlns: xmlns, Name: bucket, Prefix: opts.Prefix, Delimiter: opts.Delimiter, MaxKeys: opts.MaxKeys,
		KeyCount: &count, StartAfter: encodeKey(startAfter, enc), ContinuationToken: token}
	a.fillList(&res, page, enc, q.Get("fetch-owner") == "true")
	if page.Truncated {
		res.NextContinuationToken = encodeToken(page.Last)
	}
	writeXML(w, http.StatusOK, res)
	return nil
}
