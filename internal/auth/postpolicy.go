package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
)

// PolicyForm is what a browser upload (S3 POST object) carries to prove who
// allowed it: the form's SigV4 fields and its base64 policy document.
type PolicyForm struct {
	Algorithm     string // x-amz-algorithm
	Credential    string // x-amz-credential: <key id>/<date>/<region>/s3/aws4_request
	Date          string // x-amz-date
	SecurityToken string // x-amz-security-token
	Policy        string // policy, base64 as sent
	Signature     string // x-amz-signature
	// Signature Version 2 forms (boto3's generate_presigned_post unless
	// told s3v4): AWSAccessKeyId and a base64 HMAC-SHA1 signature.
	AccessKeyID string // AWSAccessKeyId
	SignatureV2 string // signature
}

// VerifyPolicyForm checks a POST policy's signature: SigV4's signing key of
// the credential's scope over the base64 policy itself. The policy's own
// expiration and conditions are the S3 edge's to check; the form's date is
// not bounded by the skew window, since the page may be used long after it
// was made (the policy's expiration bounds it).
func (s *Service) VerifyPolicyForm(f PolicyForm) (*Principal, error) {
	if f.Algorithm == "" && f.AccessKeyID != "" {
		return s.verifyPolicyFormV2(f)
	}
	if f.Algorithm != algorithm {
		return nil, newError(ErrIncompleteSignature, "x-amz-algorithm must be "+algorithm+".")
	}
	sr := &signedRequest{presigned: true}
	if err := sr.setCredential(f.Credential); err != nil {
		return nil, err
	}
	if sr.service != "s3" {
		return nil, newError(ErrSignatureMismatch, "Credential should be scoped to correct service: 's3'. ")
	}
	if err := sr.setDate(f.Date); err != nil {
		return nil, err
	}
	if sr.date != sr.amzDate.Format(shortDateFormat) {
		return nil, newError(ErrSignatureMismatch, "Credential should be scoped to a valid date, not '"+sr.date+"'.")
	}
	sr.securityToken = f.SecurityToken
	principal, secret, err := s.identify(sr)
	if err != nil {
		return nil, err
	}
	if !signatureMatches(s.signingKey(sr, secret), f.Policy, f.Signature) {
		return nil, newError(ErrSignatureMismatch, "")
	}
	return principal, nil
}

// verifyPolicyFormV2 checks a Signature Version 2 form: base64 of
// HMAC-SHA1(secret, base64 policy).
func (s *Service) verifyPolicyFormV2(f PolicyForm) (*Principal, error) {
	principal, secret, err := s.identify(&signedRequest{accessKeyID: f.AccessKeyID, securityToken: f.SecurityToken})
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(f.Policy))
	got, err := base64.StdEncoding.DecodeString(f.SignatureV2)
	if err != nil || !hmac.Equal(got, m.Sum(nil)) {
		return nil, newError(ErrSignatureMismatch, "")
	}
	return principal, nil
}
