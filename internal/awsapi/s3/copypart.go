package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/objects"
)

type copyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string
	ETag         string
}

// uploadPartCopy is UploadPart with its bytes taken from an existing
// object (x-amz-copy-source), whole or a range of it
// (x-amz-copy-source-range: bytes=first-last).
func (a *API) uploadPartCopy(w http.ResponseWriter, r *http.Request, bucket, key, id string, n int) error {
	srcBucket, srcKey, srcVersion, err := copySource(r)
	if err != nil {
		return err
	}
	action := "s3:GetObject"
	if srcVersion != "" {
		action = "s3:GetObjectVersion"
	}
	if err := a.authorize(r.Context(), action, ObjectARN(srcBucket, srcKey)); err != nil {
		return err
	}
	src, f, err := a.Objects.GetObjectVersion(r.Context(), srcBucket, srcKey, srcVersion)
	if err != nil {
		return sourceError(err)
	}
	defer f.Close()
	if status := copyPreconditions(r.Header, &src); status != 0 {
		return &apiError{status, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"}
	}
	start, length := int64(0), src.Size
	if v := r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if start, length, err = copyRange(v, src.Size); err != nil {
			return err
		}
	}
	p, err := a.Objects.UploadPart(r.Context(), bucket, key, id, n, io.NewSectionReader(f, start, length), length, nil)
	if err != nil {
		return err
	}
	if srcVersion != "" || !src.Null {
		w.Header().Set("x-amz-copy-source-version-id", src.Version())
	}
	writeXML(w, http.StatusOK, copyPartResult{Xmlns: xmlns, LastModified: isoTime(p.Modified), ETag: p.ETag})
	return nil
}

// copyRange reads x-amz-copy-source-range, which unlike Range must be
// "bytes=first-last" and lie within the source.
func copyRange(v string, size int64) (int64, int64, error) {
	bad := &apiError{http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("Range specified is not valid for source object of size: %d", size)}
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, &apiError{http.StatusBadRequest, "InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"}
	}
	a, b, ok := strings.Cut(spec, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || first < 0 || last < first || last >= size {
		return 0, 0, bad
	}
	return first, last - first + 1, nil
}

// partRange is the byte range of part v of o, for GetObject's partNumber;
// an object not uploaded in parts has one part. It sets the parts count
// S3 sends for multipart objects.
func partRange(h http.Header, r *http.Request, o *objects.Object, v string) (int64, int64, error) {
	if r.Header.Get("Range") != "" {
		return 0, 0, &apiError{http.StatusBadRequest, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter"}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > objects.MaxParts {
		return 0, 0, &apiError{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"}
	}
	sizes := o.PartSizes
	if len(sizes) == 0 {
		sizes = []int64{o.Size}
	} else {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(len(sizes)))
	}
	if n > len(sizes) {
		return 0, 0, &apiError{http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable"}
	}
	var start int64
	for _, s := range sizes[:n-1] {
		start += s
	}
	return start, sizes[n-1], nil
}
