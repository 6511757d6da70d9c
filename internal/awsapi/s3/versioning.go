package s3

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"sort"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/objects"
)

// serveVersionsAndTags answers the versioning and tagging subresources
// (?versioning, ?versions, ?tagging) and reports whether r was one.
func (a *API) serveVersionsAndTags(w http.ResponseWriter, r *http.Request, bucket, key string, q url.Values) bool {
	has := func(name string) bool { _, ok := q[name]; return ok }
	var err error
	switch {
	case bucket == "":
		return false
	case key == "" && has("versioning"):
		switch r.Method {
		case http.MethodGet:
			err = a.getBucketVersioning(w, r, bucket)
		case http.MethodPut:
			err = a.putBucketVersioning(w, r, bucket)
		default:
			err = errMethod
		}
	case key == "" && has("versions") && r.Method == http.MethodGet:
		err = a.listObjectVersions(w, r, bucket, q)
	case key == "" && has("tagging"):
		err = a.bucketTagging(w, r, bucket)
	case key != "" && has("tagging"):
		err = a.objectTagging(w, r, bucket, key, q.Get("versionId"))
	default:
		return false
	}
	if err != nil {
		a.writeError(w, r, err, bucket, key)
	}
	return true
}

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:",omitempty"`
	MfaDelete string   `xml:",omitempty"`
}

func (a *API) getBucketVersioning(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:GetBucketVersioning", BucketARN(bucket)); err != nil {
		return err
	}
	b, err := a.Objects.HeadBucket(r.Context(), bucket)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, versioningConfiguration{Xmlns: xmlns, Status: b.Versioning})
	return nil
}

func (a *API) putBucketVersioning(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:PutBucketVersioning", BucketARN(bucket)); err != nil {
		return err
	}
	var conf versioningConfiguration
	if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&conf); err != nil {
		return errMalformedXML
	}
	if conf.MfaDelete == "Enabled" {
		return &apiError{http.StatusNotImplemented, "NotImplemented", "MFA delete is not implemented."}
	}
	if conf.Status != objects.VersioningEnabled && conf.Status != objects.VersioningSuspended {
		return errMalformedXML
	}
	if err := a.Objects.SetVersioning(r.Context(), bucket, conf.Status); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type versionXML struct {
	XMLName      xml.Name `xml:"Version"`
	Key          string
	VersionID    string `xml:"VersionId"`
	IsLatest     bool
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        owner
}

type deleteMarkerXML struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string
	VersionID    string `xml:"VersionId"`
	IsLatest     bool
	LastModified string
	Owner        owner
}

type listVersionsResult struct {
	XMLName             xml.Name `xml:"ListVersionsResult"`
	Xmlns               string   `xml:"xmlns,attr"`
	Name                string
	Prefix              string
	KeyMarker           string
	VersionIDMarker     string `xml:"VersionIdMarker"`
	NextKeyMarker       string `xml:",omitempty"`
	NextVersionIDMarker string `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int
	Delimiter           string `xml:",omitempty"`
	EncodingType        string `xml:",omitempty"`
	IsTruncated         bool
	Entries             []any // versions and delete markers, in order
	CommonPrefixes      []commonPrefix
}

func (a *API) listObjectVersions(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	if err := a.authorize(r.Context(), "s3:ListBucketVersions", BucketARN(bucket)); err != nil {
		return err
	}
	lo, enc, err := listParams(q)
	if err != nil {
		return err
	}
	opts := objects.VersionListOptions{Prefix: lo.Prefix, Delimiter: lo.Delimiter, MaxKeys: lo.MaxKeys,
		KeyMarker: q.Get("key-marker"), VersionIDMarker: q.Get("version-id-marker")}
	page, err := a.Objects.ListVersions(r.Context(), bucket, opts)
	if err != nil {
		return err
	}
	res := listVersionsResult{Xmlns: xmlns, Name: bucket, Prefix: encodeKey(opts.Prefix, enc), KeyMarker: encodeKey(opts.KeyMarker, enc),
		VersionIDMarker: opts.VersionIDMarker, MaxKeys: opts.MaxKeys, Delimiter: encodeKey(opts.Delimiter, enc), EncodingType: enc,
		IsTruncated: page.Truncated, NextKeyMarker: encodeKey(page.NextKeyMarker, enc), NextVersionIDMarker: page.NextVersionID}
	for _, v := range page.Versions {
		if v.DeleteMarker {
			res.Entries = append(res.Entries, deleteMarkerXML{Key: encodeKey(v.Key, enc), VersionID: v.Version(), IsLatest: v.IsLatest,
				LastModified: isoTime(v.Modified), Owner: platformOwner})
			continue
		}
		res.Entries = append(res.Entries, versionXML{Key: encodeKey(v.Key, enc), VersionID: v.Version(), IsLatest: v.IsLatest,
			LastModified: isoTime(v.Modified), ETag: v.ETag, Size: v.Size, StorageClass: "STANDARD", Owner: platformOwner})
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encodeKey(p, enc)})
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

// S3's tagging limits.
const (
	maxObjectTags = 10
	maxBucketTags = 50
	maxTagKey     = 128
	maxTagValue   = 256
)

type tagXML struct {
	Key   string
	Value string
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  []tagXML `xml:"TagSet>Tag"`
}

func invalidTag(msg string) error { return &apiError{http.StatusBadRequest, "InvalidTag", msg} }

// checkTags applies S3's rules to a tag set and returns it as a map.
func checkTags(tags []tagXML, limit int) (map[string]string, error) {
	if len(tags) > limit {
		if limit == maxObjectTags {
			return nil, &apiError{http.StatusBadRequest, "BadRequest", "Object tags cannot be greater than 10"}
		}
		return nil, invalidTag("Bucket tag count cannot be greater than 50")
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || !utf8.ValidString(t.Key):
			return nil, invalidTag("The TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Key) > maxTagKey:
			return nil, invalidTag("The TagKey you have provided is too long, max 128")
		case utf8.RuneCountInString(t.Value) > maxTagValue || !utf8.ValidString(t.Value):
			return nil, invalidTag("The TagValue you have provided is too long, max 256")
		case len(t.Key) >= 4 && t.Key[:4] == "aws:":
			return nil, invalidTag("Your TagKey cannot be prefixed with aws:")
		}
		if _, dup := out[t.Key]; dup {
			return nil, invalidTag("Cannot provide multiple Tags with the same key")
		}
		out[t.Key] = t.Value
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseTagHeader reads x-amz-tagging, a URL query ("k1=v1&k2=v2").
func parseTagHeader(v string) (map[string]string, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."}
	}
	var tags []tagXML
	for k, vs := range q {
		for _, v := range vs {
			tags = append(tags, tagXML{Key: k, Value: v})
		}
	}
	return checkTags(tags, maxObjectTags)
}

func readTagging(r *http.Request, limit int) (map[string]string, error) {
	var t tagging
	if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&t); err != nil {
		return nil, errMalformedXML
	}
	return checkTags(t.TagSet, limit)
}

func writeTagging(w http.ResponseWriter, tags map[string]string) {
	res := tagging{Xmlns: xmlns, TagSet: []tagXML{}}
	for k, v := range tags {
		res.TagSet = append(res.TagSet, tagXML{Key: k, Value: v})
	}
	sort.Slice(res.TagSet, func(i, j int) bool { return res.TagSet[i].Key < res.TagSet[j].Key })
	writeXML(w, http.StatusOK, res)
}

func (a *API) bucketTagging(w http.ResponseWriter, r *http.Request, bucket string) error {
	switch r.Method {
	case http.MethodGet:
		if err := a.authorize(r.Context(), "s3:GetBucketTagging", BucketARN(bucket)); err != nil {
			return err
		}
		b, err := a.Objects.HeadBucket(r.Context(), bucket)
		if err != nil {
			return err
		}
		if len(b.Tags) == 0 {
			return &apiError{http.StatusNotFound, "NoSuchTagSet", "The TagSet does not exist"}
		}
		writeTagging(w, b.Tags)
		return nil
	case http.MethodPut, http.MethodDelete:
		// DeleteBucketTagging is allowed by s3:PutBucketTagging, as in AWS.
		if err := a.authorize(r.Context(), "s3:PutBucketTagging", BucketARN(bucket)); err != nil {
			return err
		}
		var tags map[string]string
		if r.Method == http.MethodPut {
			var err error
			if tags, err = readTagging(r, maxBucketTags); err != nil {
				return err
			}
		}
		if err := a.Objects.SetBucketTags(r.Context(), bucket, tags); err != nil {
			return err
		}
		status := http.StatusNoContent
		if r.Method == http.MethodPut {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		return nil
	}
	return errMethod
}

func (a *API) objectTagging(w http.ResponseWriter, r *http.Request, bucket, key, versionID string) error {
	action := map[string]string{http.MethodGet: "s3:GetObjectTagging", http.MethodPut: "s3:PutObjectTagging",
		http.MethodDelete: "s3:DeleteObjectTagging"}[r.Method]
	if action == "" {
		return errMethod
	}
	if versionID != "" {
		action = map[string]string{http.MethodGet: "s3:GetObjectVersionTagging", http.MethodPut: "s3:PutObjectVersionTagging",
			http.MethodDelete: "s3:DeleteObjectVersionTagging"}[r.Method]
	}
	if err := a.authorize(r.Context(), action, ObjectARN(bucket, key)); err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		o, err := a.Objects.HeadObjectVersion(r.Context(), bucket, key, versionID)
		if err != nil {
			return err
		}
		setVersionHeader(w.Header(), &o)
		writeTagging(w, o.Tags)
		return nil
	}
	var tags map[string]string
	if r.Method == http.MethodPut {
		var err error
		if tags, err = readTagging(r, maxObjectTags); err != nil {
			return err
		}
	}
	o, err := a.Objects.SetObjectTags(r.Context(), bucket, key, versionID, tags)
	if err != nil {
		return err
	}
	setVersionHeader(w.Header(), &o)
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
