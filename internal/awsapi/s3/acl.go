package s3

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// Canned ACLs (ADR 0012): x-amz-acl on writes and bucket creation, the
// ?acl calls of buckets and objects, and ?ownershipControls. Buckets keep
// ACLs enabled unless their object ownership is BucketOwnerEnforced, as S3
// buckets made before April 2023 and buckets that ask for ObjectWriter do.

const (
	groupAllUsers      = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

var (
	errACLNotSupported = &apiError{http.StatusBadRequest, "AccessControlListNotSupported", "The bucket does not allow ACLs"}
	errACLWithEnforced = &apiError{http.StatusBadRequest, "InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"}
	errGrantHeaders    = &apiError{http.StatusNotImplemented, "NotImplemented", "nimbus keeps canned ACLs only: send x-amz-acl (private, public-read, public-read-write, authenticated-read, bucket-owner-read or bucket-owner-full-control) instead of x-amz-grant-* headers"}
)

func hasGrantHeaders(h http.Header) bool {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-grant-") {
			return true
		}
	}
	return false
}

// enforcedAllows says a bucket with ACLs disabled accepts the ACL: none, or
// the one that keeps every object the owner's.
func enforcedAllows(acl string, bucket bool) bool {
	return acl == "" || acl == "bucket-owner-full-control" || (bucket && acl == "private")
}

// requestACL reads a write's x-amz-acl and checks it against the bucket:
// its object ownership and its public access block's BlockPublicAcls.
func (a *API) requestACL(ctx context.Context, h http.Header, bucket string) (string, error) {
	if hasGrantHeaders(h) {
		return "", errGrantHeaders
	}
	acl := h.Get("X-Amz-Acl")
	if acl == "" {
		return "", nil
	}
	if !objects.ValidCannedACL(acl, false) {
		return "", &apiError{http.StatusBadRequest, "InvalidArgument", "Invalid canned ACL: " + acl}
	}
	b, err := a.Objects.HeadBucket(ctx, bucket)
	if err != nil {
		return "", err
	}
	return acl, a.checkACL(ctx, &b, acl, false)
}

func (a *API) checkACL(ctx context.Context, b *objects.Bucket, acl string, forBucket bool) error {
	if b.ACLsDisabled() && !enforcedAllows(acl, forBucket) {
		return errACLNotSupported
	}
	if objects.PublicACL(acl) {
		if pab, err := a.Objects.PublicAccessBlockOf(ctx, b.Name); err == nil && pab.BlockPublicAcls {
			return &apiError{http.StatusForbidden, "AccessDenied", "Access Denied: the bucket's public access block (BlockPublicAcls) refuses the public ACL " + acl}
		}
	}
	return nil
}

// createBucketACL reads CreateBucket's x-amz-acl and x-amz-object-ownership.
func createBucketACL(h http.Header) (acl, ownership string, err error) {
	if hasGrantHeaders(h) {
		return "", "", errGrantHeaders
	}
	acl, ownership = h.Get("X-Amz-Acl"), h.Get("X-Amz-Object-Ownership")
	if acl != "" && !objects.ValidCannedACL(acl, true) {
		return "", "", &apiError{http.StatusBadRequest, "InvalidArgument", "Invalid canned ACL: " + acl}
	}
	if ownership != "" && !objects.ValidOwnership(ownership) {
		return "", "", &apiError{http.StatusBadRequest, "InvalidArgument", "Invalid x-amz-object-ownership header: " + ownership}
	}
	if ownership == objects.OwnershipBucketOwnerEnforced && !enforcedAllows(acl, true) {
		return "", "", errACLWithEnforced
	}
	return acl, ownership, nil
}

// aclAllows says a canned ACL grants the action to the caller (nil:
// anonymous): READ on an object is s3:GetObject, READ on a bucket
// s3:ListBucket, WRITE on a bucket s3:PutObject and s3:DeleteObject. ACLs of
// a bucket whose ownership is BucketOwnerEnforced grant nothing, nor do
// public ones under IgnorePublicAcls. It reads only what a refusal would
// otherwise answer, so allowed requests pay nothing for it.
func (a *API) aclAllows(ctx context.Context, action, bucket, key string, caller *auth.Principal) bool {
	var write bool
	switch action {
	case "s3:GetObject":
		if key == "" {
			return false
		}
	case "s3:ListBucket":
	case "s3:PutObject", "s3:DeleteObject":
		write = true
	default:
		return false
	}
	b, err := a.Objects.HeadBucket(ctx, bucket)
	if err != nil || b.ACLsDisabled() {
		return false
	}
	acl := b.ACL
	if action == "s3:GetObject" {
		o, err := a.Objects.HeadObject(ctx, bucket, key)
		if err != nil {
			return false
		}
		acl = o.ACL
	}
	var granted bool
	switch acl {
	case "public-read":
		granted = !write
	case "public-read-write":
		granted = true
	case "authenticated-read":
		granted = !write && caller != nil
	}
	if !granted {
		return false
	}
	pab, err := a.Objects.PublicAccessBlockOf(ctx, bucket)
	return err != nil || !pab.IgnorePublicAcls
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:",omitempty"`
	DisplayName string `xml:",omitempty"`
	URI         string `xml:",omitempty"`
}

type grant struct {
	Grantee    grantee
	Permission string
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Owner   owner
	Grants  []grant `xml:"AccessControlList>Grant"`
}

// readGrant is a grant as a client sends it (the xsi:type attribute is
// read by its local name).
type readGrant struct {
	Grantee struct {
		Type string `xml:"type,attr"`
		ID   string
		URI  string
	}
	Permission string
}

// cannedGrants lists the grants of a canned ACL: the owner's full control
// and what the ACL adds.
func cannedGrants(acl string) []grant {
	ownerGrant := grant{Grantee: grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser",
		ID: platformOwner.ID, DisplayName: platformOwner.DisplayName}, Permission: "FULL_CONTROL"}
	group := func(uri, perm string) grant {
		return grant{Grantee: grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "Group", URI: uri}, Permission: perm}
	}
	gs := []grant{ownerGrant}
	switch acl {
	case "public-read":
		gs = append(gs, group(groupAllUsers, "READ"))
	case "public-read-write":
		gs = append(gs, group(groupAllUsers, "READ"), group(groupAllUsers, "WRITE"))
	case "authenticated-read":
		gs = append(gs, group(groupAuthenticated, "READ"))
	}
	return gs
}

// cannedFromGrants finds the canned ACL whose grants a PutAcl body lists.
func cannedFromGrants(gs []readGrant) (string, bool) {
	var got []string
	for _, g := range gs {
		switch {
		case g.Grantee.Type == "CanonicalUser" && g.Grantee.ID == platformOwner.ID && g.Permission == "FULL_CONTROL":
			continue // the owner's, in every canned ACL
		case g.Grantee.Type == "Group":
			got = append(got, g.Grantee.URI+" "+g.Permission)
		default:
			return "", false
		}
	}
	slices.Sort(got)
	for _, acl := range []string{"private", "public-read", "public-read-write", "authenticated-read"} {
		var want []string
		for _, g := range cannedGrants(acl)[1:] {
			want = append(want, g.Grantee.URI+" "+g.Permission)
		}
		slices.Sort(want)
		if slices.Equal(got, want) {
			return acl, true
		}
	}
	return "", false
}

// readPutACL reads a PutBucketAcl/PutObjectAcl request: x-amz-acl, or an
// AccessControlPolicy body whose grants are a canned ACL's.
func readPutACL(r *http.Request, forBucket bool) (string, error) {
	if hasGrantHeaders(r.Header) {
		return "", errGrantHeaders
	}
	if acl := r.Header.Get("X-Amz-Acl"); acl != "" {
		if !objects.ValidCannedACL(acl, forBucket) {
			return "", &apiError{http.StatusBadRequest, "InvalidArgument", "Invalid canned ACL: " + acl}
		}
		return acl, nil
	}
	var body struct {
		Grants []readGrant `xml:"AccessControlList>Grant"`
	}
	if err := readXML(r, &body); err != nil {
		return "", err
	}
	acl, ok := cannedFromGrants(body.Grants)
	if !ok {
		return "", &apiError{http.StatusNotImplemented, "NotImplemented", "nimbus keeps canned ACLs only: these grants are not those of private, public-read, public-read-write or authenticated-read; send x-amz-acl instead"}
	}
	return acl, nil
}

// serveACL answers ?acl on buckets and objects and ?ownershipControls on
// buckets; it reports false for other requests.
func (a *API) serveACL(w http.ResponseWriter, r *http.Request, bucket, key string, q url.Values) bool {
	_, acl := q["acl"]
	_, oc := q["ownershipControls"]
	if bucket == "" || !(acl || oc && key == "") {
		return false
	}
	var err error
	switch {
	case oc:
		err = a.ownershipControls(w, r, bucket)
	case key == "":
		err = a.bucketACL(w, r, bucket)
	default:
		err = a.objectACL(w, r, bucket, key, q.Get("versionId"))
	}
	if err != nil {
		a.writeError(w, r, err, bucket, key)
	}
	return true
}

func (a *API) bucketACL(w http.ResponseWriter, r *http.Request, bucket string) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		if err := a.authorize(ctx, "s3:GetBucketAcl", BucketARN(bucket)); err != nil {
			return err
		}
		b, err := a.Objects.HeadBucket(ctx, bucket)
		if err != nil {
			return err
		}
		writeXML(w, http.StatusOK, accessControlPolicy{Xmlns: xmlns, Owner: platformOwner, Grants: cannedGrants(b.ACL)})
		return nil
	case http.MethodPut:
		if err := a.authorize(ctx, "s3:PutBucketAcl", BucketARN(bucket)); err != nil {
			return err
		}
		b, err := a.Objects.HeadBucket(ctx, bucket)
		if err != nil {
			return err
		}
		acl, err := readPutACL(r, true)
		if err != nil {
			return err
		}
		if err := a.checkACL(ctx, &b, acl, true); err != nil {
			return err
		}
		if err := a.Objects.SetBucketACL(ctx, bucket, acl); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return errMethod
}

func (a *API) objectACL(w http.ResponseWriter, r *http.Request, bucket, key, versionID string) error {
	ctx := r.Context()
	action := map[string]string{http.MethodGet: "s3:GetObjectAcl", http.MethodPut: "s3:PutObjectAcl"}[r.Method]
	if action == "" {
		return errMethod
	}
	if versionID != "" {
		action = strings.Replace(action, "Object", "ObjectVersion", 1)
	}
	if err := a.authorize(ctx, action, ObjectARN(bucket, key)); err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		o, err := a.Objects.HeadObjectVersion(ctx, bucket, key, versionID)
		if err != nil {
			return err
		}
		setVersionHeader(w.Header(), &o)
		writeXML(w, http.StatusOK, accessControlPolicy{Xmlns: xmlns, Owner: platformOwner, Grants: cannedGrants(o.ACL)})
		return nil
	}
	b, err := a.Objects.HeadBucket(ctx, bucket)
	if err != nil {
		return err
	}
	acl, err := readPutACL(r, false)
	if err != nil {
		return err
	}
	if err := a.checkACL(ctx, &b, acl, false); err != nil {
		return err
	}
	o, err := a.Objects.SetObjectACL(ctx, bucket, key, versionID, acl)
	if err != nil {
		return err
	}
	setVersionHeader(w.Header(), &o)
	w.WriteHeader(http.StatusOK)
	return nil
}

type ownershipControlsXML struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string
	} `xml:"Rule"`
}

func (a *API) ownershipControls(w http.ResponseWriter, r *http.Request, bucket string) error {
	ctx := r.Context()
	action := map[string]string{http.MethodGet: "s3:GetBucketOwnershipControls", http.MethodPut: "s3:PutBucketOwnershipControls",
		http.MethodDelete: "s3:PutBucketOwnershipControls"}[r.Method]
	if action == "" {
		return errMethod
	}
	if err := a.authorize(ctx, action, BucketARN(bucket)); err != nil {
		return err
	}
	b, err := a.Objects.HeadBucket(ctx, bucket)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		if b.Ownership == "" {
			return &apiError{http.StatusNotFound, "OwnershipControlsNotFoundError", "The bucket ownership controls were not found"}
		}
		res := ownershipControlsXML{Xmlns: xmlns}
		res.Rules = append(res.Rules, struct{ ObjectOwnership string }{b.Ownership})
		writeXML(w, http.StatusOK, res)
		return nil
	case http.MethodPut:
		var conf ownershipControlsXML
		if err := readXML(r, &conf); err != nil {
			return err
		}
		if len(conf.Rules) != 1 || !objects.ValidOwnership(conf.Rules[0].ObjectOwnership) {
			return errMalformedXML
		}
		own := conf.Rules[0].ObjectOwnership
		if own == objects.OwnershipBucketOwnerEnforced && !enforcedAllows(b.ACL, true) {
			return errACLWithEnforced
		}
		if err := a.Objects.SetBucketOwnership(ctx, bucket, own); err != nil {
			return err
		}
	default:
		if err := a.Objects.SetBucketOwnership(ctx, bucket, ""); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
