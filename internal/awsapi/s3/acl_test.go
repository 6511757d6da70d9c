package s3_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// grantsOf sums up an ACL as "grantee permission" lines.
func grantsOf(gs []types.Grant) []string {
	var out []string
	for _, g := range gs {
		who := aws.ToString(g.Grantee.ID)
		if g.Grantee.URI != nil {
			who = aws.ToString(g.Grantee.URI)[strings.LastIndex(aws.ToString(g.Grantee.URI), "/")+1:]
		}
		out = append(out, string(g.Grantee.Type)+":"+who+" "+string(g.Permission))
	}
	return out
}

// Canned ACLs through aws-sdk-go-v2: x-amz-acl on PutObject, CopyObject,
// CreateMultipartUpload and CreateBucket; Get/Put Object and Bucket ACL; a
// public-read object read by an anonymous HTTP GET through the S3 API and
// the bucket's website, unless the public access block says otherwise; and
// BucketOwnerEnforced buckets refusing ACLs with
// AccessControlListNotSupported.
func TestCannedACLs(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	web := browser(t)
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("pics"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	anon := func(key string) int {
		t.Helper()
		return send(t, web, "GET", p.URL()+"/pics/"+key, nil).status
	}
	put := func(key string, acl types.ObjectCannedACL) error {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("pics"), Key: aws.String(key), Body: strings.NewReader("img " + key), ACL: acl})
		return err
	}
	if err := put("open.png", types.ObjectCannedACLPublicRead); err != nil {
		t.Fatal(err)
	}
	if err := put("closed.png", ""); err != nil {
		t.Fatal(err)
	}
	if got := anon("open.png"); got != http.StatusOK {
		t.Errorf("anonymous GET of a public-read object: %d", got)
	}
	if a := send(t, web, "GET", p.URL()+"/pics/open.png", nil); a.body != "img open.png" {
		t.Errorf("anonymous GET body %q", a.body)
	}
	if got := anon("closed.png"); got != http.StatusForbidden {
		t.Errorf("anonymous GET of a private object: %d, want 403", got)
	}
	if a := send(t, web, "PUT", p.URL()+"/pics/open.png", strings.NewReader("x")); a.status != http.StatusForbidden {
		t.Errorf("anonymous PUT over a public-read object: %d, want 403", a.status)
	}
	if a := send(t, web, "GET", p.URL()+"/pics/", nil); a.status != http.StatusForbidden {
		t.Errorf("anonymous listing of a private bucket: %d, want 403", a.status)
	}

	// GetObjectAcl names the grants; PutObjectAcl changes them.
	acl, err := c.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: aws.String("pics"), Key: aws.String("open.png")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(grantsOf(acl.Grants), ", "); got != "CanonicalUser:nimbus FULL_CONTROL, Group:AllUsers READ" || aws.ToString(acl.Owner.ID) != "nimbus" {
		t.Errorf("public-read object's ACL: %s (owner %v)", got, aws.ToString(acl.Owner.ID))
	}
	if _, err := c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("pics"), Key: aws.String("open.png"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	if got := anon("open.png"); got != http.StatusForbidden {
		t.Errorf("anonymous GET after PutObjectAcl private: %d, want 403", got)
	}
	// An AccessControlPolicy body that is a canned ACL's is taken; other
	// grants are refused with NotImplemented.
	owner := &types.Owner{ID: aws.String("nimbus")}
	ownerGrant := types.Grant{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("nimbus")}, Permission: types.PermissionFullControl}
	if _, err := c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("pics"), Key: aws.String("closed.png"), AccessControlPolicy: &types.AccessControlPolicy{Owner: owner,
		Grants: []types.Grant{ownerGrant, {Grantee: &types.Grantee{Type: types.TypeGroup, URI: aws.String("http://acs.amazonaws.com/groups/global/AllUsers")}, Permission: types.PermissionRead}}}}); err != nil {
		t.Fatal(err)
	}
	if got := anon("closed.png"); got != http.StatusOK {
		t.Errorf("anonymous GET after a public-read grant list: %d", got)
	}
	_, err = c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("pics"), Key: aws.String("closed.png"), AccessControlPolicy: &types.AccessControlPolicy{Owner: owner,
		Grants: []types.Grant{ownerGrant, {Grantee: &types.Grantee{Type: types.TypeAmazonCustomerByEmail, EmailAddress: aws.String("x@example.com")}, Permission: types.PermissionRead}}}})
	apiError(t, err, "NotImplemented", 501)
	_, err = c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("pics"), Key: aws.String("closed.png"), GrantRead: aws.String(`id="someone"`)})
	apiError(t, err, "NotImplemented", 501)

	// CopyObject takes the ACL its request names, not the source's.
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("pics"), Key: aws.String("copy-private.png"), CopySource: aws.String("pics/closed.png")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("pics"), Key: aws.String("copy-public.png"), CopySource: aws.String("pics/closed.png"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if a, b := anon("copy-private.png"), anon("copy-public.png"); a != http.StatusForbidden || b != http.StatusOK {
		t.Errorf("anonymous GET of copies: private %d (want 403), public-read %d (want 200)", a, b)
	}
	// A multipart upload's ACL reaches the object.
	mp, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("pics"), Key: aws.String("big.png"), ACL: types.ObjectCannedACLPublicRead})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("pics"), Key: aws.String("big.png"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("big")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("pics"), Key: aws.String("big.png"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if got := anon("big.png"); got != http.StatusOK {
		t.Errorf("anonymous GET of a public-read multipart object: %d", got)
	}

	// The bucket's website serves public-read objects to anyone.
	if _, err := c.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: aws.String("pics"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}}}); err != nil {
		t.Fatal(err)
	}
	site := "http://pics.s3-website.localhost:" + port(p)
	if a := send(t, web, "GET", site+"/copy-public.png", nil); a.status != http.StatusOK || a.body != "img closed.png" {
		t.Errorf("website GET of a public-read object: %d %q", a.status, a.body)
	}
	if a := send(t, web, "GET", site+"/copy-private.png", nil); a.status != http.StatusForbidden {
		t.Errorf("website GET of a private object: %d, want 403", a.status)
	}

	// Bucket ACLs: public-read lists, public-read-write also writes.
	if _, err := c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pics"), ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	bacl, err := c.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("pics")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(grantsOf(bacl.Grants), ", "); got != "CanonicalUser:nimbus FULL_CONTROL, Group:AllUsers READ, Group:AllUsers WRITE" {
		t.Errorf("public-read-write bucket's ACL: %s", got)
	}
	if a := send(t, web, "GET", p.URL()+"/pics/", nil); a.status != http.StatusOK || !strings.Contains(a.body, "<Key>big.png</Key>") {
		t.Errorf("anonymous listing of a public-read-write bucket: %d %s", a.status, a.body)
	}
	if a := send(t, web, "PUT", p.URL()+"/pics/dropped.txt", strings.NewReader("x")); a.status != http.StatusOK {
		t.Errorf("anonymous PUT into a public-read-write bucket: %d %s", a.status, a.body)
	}
	if _, err := c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pics"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	if a := send(t, web, "PUT", p.URL()+"/pics/dropped2.txt", strings.NewReader("x")); a.status != http.StatusForbidden {
		t.Errorf("anonymous PUT into a private bucket: %d", a.status)
	}

	// The public access block: IgnorePublicAcls hides what public ACLs
	// grant; BlockPublicAcls refuses new ones.
	if _, err := c.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: aws.String("pics"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{IgnorePublicAcls: aws.Bool(true), BlockPublicAcls: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	if got := anon("big.png"); got != http.StatusForbidden {
		t.Errorf("anonymous GET of a public-read object under IgnorePublicAcls: %d, want 403", got)
	}
	if a := send(t, web, "GET", site+"/big.png", nil); a.status != http.StatusForbidden {
		t.Errorf("website GET under IgnorePublicAcls: %d, want 403", a.status)
	}
	apiError(t, put("blocked.png", types.ObjectCannedACLPublicRead), "AccessDenied", 403)
	_, err = c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("pics"), Key: aws.String("big.png"), ACL: types.ObjectCannedACLAuthenticatedRead})
	apiError(t, err, "AccessDenied", 403)
	if err := put("fine.png", types.ObjectCannedACLBucketOwnerFullControl); err != nil {
		t.Errorf("a non-public ACL under BlockPublicAcls: %v", err)
	}

	// BucketOwnerEnforced: ACLs are disabled.
	_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("enforced"), ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced, ACL: types.BucketCannedACLPublicRead})
	apiError(t, err, "InvalidBucketAclWithObjectOwnership", 400)
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("enforced"), ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}); err != nil {
		t.Fatal(err)
	}
	oc, err := c.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String("enforced")})
	if err != nil || len(oc.OwnershipControls.Rules) != 1 || oc.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("ownership controls: %+v %v", oc, err)
	}
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("a"), Body: strings.NewReader("a"), ACL: types.ObjectCannedACLPublicRead})
	apiError(t, err, "AccessControlListNotSupported", 400)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("a"), Body: strings.NewReader("a"), ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Errorf("bucket-owner-full-control under BucketOwnerEnforced: %v", err)
	}
	_, err = c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("enforced"), ACL: types.BucketCannedACLPublicRead})
	apiError(t, err, "AccessControlListNotSupported", 400)
	if _, err := c.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: aws.String("enforced"), Key: aws.String("a")}); err != nil {
		t.Errorf("reading an ACL under BucketOwnerEnforced: %v", err)
	}
	// Back to ObjectWriter, ACLs work again; a bucket without controls
	// says so.
	if _, err := c.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{Bucket: aws.String("enforced"),
		OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipObjectWriter}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("enforced"), Key: aws.String("a"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Errorf("PutObjectAcl under ObjectWriter: %v", err)
	}
	if a := send(t, web, "GET", p.URL()+"/enforced/a", nil); a.status != http.StatusOK {
		t.Errorf("anonymous GET after ObjectWriter and public-read: %d", a.status)
	}
	_, err = c.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String("pics")})
	apiError(t, err, "OwnershipControlsNotFoundError", 404)
}

// A manifest's AWS::S3::Bucket with AccessControl: PublicRead lists its
// objects to anyone; a redeploy without it makes the bucket private again.
func TestManifestBucketAccessControl(t *testing.T) {
	dir := t.TempDir()
	handler, err := os.ReadFile(testkit.Path(t, "examples/hello/handler.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), handler, 0o644); err != nil {
		t.Fatal(err)
	}
	yml := `service: aclapp
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
resources:
  Resources:
    Assets:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: aclapp-assets
        AccessControl: PublicRead
`
	write := func(y string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(yml)
	p := testkit.Start(t, nil)
	ctx := context.Background()
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	c := client(p)
	acl, err := c.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("aclapp-assets")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(grantsOf(acl.Grants), ", "); got != "CanonicalUser:nimbus FULL_CONTROL, Group:AllUsers READ" {
		t.Errorf("deployed PublicRead bucket's ACL: %s", got)
	}
	web := browser(t)
	if a := send(t, web, "GET", p.URL()+"/aclapp-assets/", nil); a.status != http.StatusOK || !strings.Contains(a.body, "ListBucketResult") {
		t.Errorf("anonymous listing of a PublicRead bucket: %d %s", a.status, a.body)
	}
	write(strings.Replace(yml, "        AccessControl: PublicRead\n", "", 1))
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if a := send(t, web, "GET", p.URL()+"/aclapp-assets/", nil); a.status != http.StatusForbidden {
		t.Errorf("anonymous listing after AccessControl was removed: %d", a.status)
	}
	write(strings.Replace(yml, "PublicRead", "Everyone", 1))
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err == nil || !strings.Contains(err.Error(), "AccessControl") {
		t.Errorf("deploy with a bad AccessControl: %v", err)
	}
}
