package objects

import (
	"context"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Access control lists: nimbus keeps S3's canned ACLs (one word per bucket
// and per object version, "" meaning private) and the bucket's object
// ownership setting. Explicit grants are not kept (ADR 0012).

// Object ownership settings (S3's OwnershipControls).
const (
	OwnershipObjectWriter         = "ObjectWriter"
	OwnershipBucketOwnerPreferred = "BucketOwnerPreferred"
	OwnershipBucketOwnerEnforced  = "BucketOwnerEnforced"
)

// ValidCannedACL says acl is one of S3's canned ACLs. log-delivery-write
// and aws-exec-read grant AWS services and nobody nimbus knows, so they act
// as private.
func ValidCannedACL(acl string, bucket bool) bool {
	switch acl {
	case "private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control", "aws-exec-read":
		return true
	case "log-delivery-write":
		return bucket
	}
	return false
}

// PublicACL says a canned ACL grants to everyone or to every signed caller
// (what S3's BlockPublicAcls and IgnorePublicAcls call public).
func PublicACL(acl string) bool {
	return acl == "public-read" || acl == "public-read-write" || acl == "authenticated-read"
}

// ValidOwnership says s is an object ownership setting.
func ValidOwnership(s string) bool {
	return s == OwnershipObjectWriter || s == OwnershipBucketOwnerPreferred || s == OwnershipBucketOwnerEnforced
}

// ACLsDisabled says the bucket's ACLs neither grant nor may be changed.
func (b *Bucket) ACLsDisabled() bool { return b.Ownership == OwnershipBucketOwnerEnforced }

// SetBucketACL replaces a bucket's canned ACL.
func (s *Store) SetBucketACL(_ context.Context, bucket, acl string) error {
	if acl == "private" {
		acl = ""
	}
	return s.updateBucket(bucket, func(b *Bucket) { b.ACL = acl })
}

// SetBucketOwnership sets (or with "" removes) the bucket's object
// ownership.
func (s *Store) SetBucketOwnership(_ context.Context, bucket, ownership string) error {
	return s.updateBucket(bucket, func(b *Bucket) { b.Ownership = ownership })
}

// SetObjectACL replaces the canned ACL of one version of an object (the
// current one when versionID is "") and returns that version.
func (s *Store) SetObjectACL(_ context.Context, bucket, key, versionID, acl string) (Object, error) {
	if acl == "private" {
		acl = ""
	}
	return s.updateVersion(bucket, key, versionID, "set the object's ACL", func(o *Object) { o.ACL = acl })
}

// updateVersion changes one version of an object in place (the current one
// when versionID is "").
func (s *Store) updateVersion(bucket, key, versionID, what string, change func(*Object)) (Object, error) {
	if versionID != "" && !validVersionID(versionID) {
		return Object{}, invalidVersion()
	}
	unlock := s.lockKey(bucket, key)
	defer unlock()
	if _, err := s.bucket(bucket); err != nil {
		return Object{}, err
	}
	cur, curErr := s.object(bucket, key, true)
	var v Object
	var err error
	if versionID == "" {
		v, err = cur, curErr
	} else {
		v, err = s.findVersion(bucket, key, versionID)
	}
	if err != nil {
		return Object{}, err
	}
	if v.DeleteMarker {
		return Object{}, &Error{Kind: KindDeleteMarker, Message: "The specified method is not allowed against this resource.", DeleteMarker: v.Version()}
	}
	change(&v)
	data, err := encodeEntry(&v)
	if err != nil {
		return Object{}, err
	}
	current := curErr == nil && cur.VersionID == v.VersionID
	vdata := data
	if current {
		vdata = versionEntry(data)
	}
	b := s.db.NewBatch()
	defer b.Close()
	if v.VersionID != "" {
		_ = b.Set(versionKey(bucket, key, v.VersionID), vdata, nil)
	}
	if current {
		_ = b.Set(objectKey(bucket, key), data, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return Object{}, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// CannedACLFromCloudFormation maps AWS::S3::Bucket's AccessControl to the
// canned ACL ("PublicRead" is "public-read").
func CannedACLFromCloudFormation(v string) (string, bool) {
	var b strings.Builder
	for i, r := range v {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	acl := b.String()
	return acl, ValidCannedACL(acl, true)
}
