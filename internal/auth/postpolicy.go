package auth

// PolicyForm is what a browser upload (S3 POST object) carries to prove who
// allowed it: the form's SigV4 fields and its base64 policy document.
type PolicyForm struct {
	Algorithm     string // x-amz-algorithm
	Credential    string // x-amz-credential: <key id>/<date>/<region>/s3/aws4_request
	Date          string // x-amz-date
	SecurityToken string // x-amz-security-token
	Policy        string // policy, base64 as sent
	Signature     string // x-amz-signature
}

// VerifyPolicyForm checks a POST policy's signature: SigV4's signing key of
// the credential's scope over the base64 policy itself. The policy's own
// expiration and conditions are the S3 edge's to check; the form's date is
// not bounded by the skew window, since the page may be used long after it
// was made (the policy's expiration bounds it).
func (s *Service) VerifyPolicyForm(f PolicyForm) (*Principal, error) {
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
