package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// bucketPolicy is a parsed bucket policy: IAM statements, each with the
// principals it applies to. The statements are evaluated by auth's IAM
// evaluator; only the Principal element is this file's.
type bucketPolicy struct {
	statements []policyStatement
}

type policyStatement struct {
	anyone     bool     // Principal "*" or {"AWS": "*"}: anonymous callers too
	principals []string // AWS account ids and ARNs
	policy     auth.Policy
	allow      bool
}

// parseBucketPolicy reads a bucket policy document; every Resource must be
// the bucket or its objects, as S3 requires.
func parseBucketPolicy(doc []byte, bucket string) (*bucketPolicy, error) {
	var d struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("policies must be valid JSON: %v", err)
	}
	var raws []json.RawMessage
	if t := strings.TrimSpace(string(d.Statement)); strings.HasPrefix(t, "{") {
		raws = []json.RawMessage{d.Statement}
	} else if err := json.Unmarshal(d.Statement, &raws); err != nil || len(raws) == 0 {
		return nil, errors.New("missing required field Statement")
	}
	p := &bucketPolicy{}
	for _, raw := range raws {
		var head struct {
			Principal    json.RawMessage
			NotPrincipal json.RawMessage
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("statement is not valid JSON: %v", err)
		}
		if len(head.NotPrincipal) > 0 {
			return nil, errors.New("the NotPrincipal element is not supported by nimbus")
		}
		if len(head.Principal) == 0 {
			return nil, errors.New("missing required field Principal")
		}
		st := policyStatement{}
		if err := st.readPrincipal(head.Principal); err != nil {
			return nil, err
		}
		pol, err := auth.ParseStatements(raw)
		if err != nil {
			return nil, err
		}
		for _, s := range pol {
			for _, res := range append(append([]string(nil), s.Resource...), s.NotResource...) {
				if res != BucketARN(bucket) && !strings.HasPrefix(res, BucketARN(bucket)+"/") {
					return nil, errors.New("policy has invalid resource")
				}
			}
		}
		st.policy, st.allow = pol, pol[0].Effect == "Allow"
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func (st *policyStatement) readPrincipal(raw json.RawMessage) error {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return errors.New("invalid principal in policy")
		}
		st.anyone = true
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return errors.New("invalid principal in policy")
	}
	for kind, v := range m {
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			var one string
			if err := json.Unmarshal(v, &one); err != nil {
				return errors.New("invalid principal in policy")
			}
			list = []string{one}
		}
		if kind != "AWS" {
			continue // service and canonical-user principals name no nimbus caller
		}
		for _, p := range list {
			if p == "*" {
				st.anyone = true
			}
			st.principals = append(st.principals, p)
		}
	}
	return nil
}

// public reports whether the policy grants anything to anyone (S3's test
// for BlockPublicPolicy and RestrictPublicBuckets, without its condition
// analysis: any Allow for "*" counts).
func (p *bucketPolicy) public() bool {
	for _, st := range p.statements {
		if st.anyone && st.allow {
			return true
		}
	}
	return false
}

// appliesTo reports whether the statement names the caller (nil:
// anonymous).
func (st *policyStatement) appliesTo(p *auth.Principal, account string) bool {
	if st.anyone {
		return true
	}
	if p == nil {
		return false
	}
	for _, name := range st.principals {
		switch {
		case name == account, name == "arn:aws:iam::"+account+":root":
			return true
		case name == p.ARN:
			return true
		case p.Kind == auth.Function && strings.HasPrefix(name, "arn:aws:iam::"+account+":role/"):
			// A role ARN covers the sessions of that role.
			role := strings.TrimPrefix(name, "arn:aws:iam::"+account+":role/")
			if strings.HasPrefix(p.ARN, "arn:aws:sts::"+account+":assumed-role/"+role+"/") {
				return true
			}
		}
	}
	return false
}

// evaluate applies the statements that name the caller.
func (p *bucketPolicy) evaluate(caller *auth.Principal, account string, req *auth.Request) auth.Decision {
	out := auth.ImplicitDeny
	for i := range p.statements {
		st := &p.statements[i]
		if !st.appliesTo(caller, account) {
			continue
		}
		switch auth.Evaluate(req, st.policy) {
		case auth.ExplicitDeny:
			return auth.ExplicitDeny
		case auth.Allow:
			out = auth.Allow
		}
	}
	return out
}

// requestFacts are what a bucket policy's conditions may ask of a request.
type requestFacts struct {
	secure  bool
	referer string
	remote  string // the connection's peer, for aws:SourceIp
}

type factsKey struct{}

// withFacts keeps the request's facts for policy conditions; operators
// skip bucket policies, so their requests skip this.
func withFacts(r *http.Request) *http.Request {
	if auth.Unrestricted(r.Context()) {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), factsKey{}, &requestFacts{secure: r.TLS != nil, referer: r.Referer(), remote: r.RemoteAddr}))
}

// errAnonymousDenied is S3's answer to an anonymous request no policy allows.
var errAnonymousDenied = &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}

// decide combines the caller's own policy (identityErr from Authorize) with
// the bucket policy of the resource and the ACLs, as S3 does within an
// account: an explicit Deny in either policy refuses, whatever allows it
// elsewhere; else an Allow in either policy or an ACL grant grants.
func (a *API) decide(ctx context.Context, action, resource string, identityErr error) error {
	if identityErr == nil && auth.Unrestricted(ctx) {
		return nil // operators: bucket policies do not bind them
	}
	if auth.IsExplicitDeny(identityErr) {
		// Checked first: neither a bucket policy's Allow nor an ACL grant
		// (public-read included) overrides an identity policy's Deny.
		return &apiError{http.StatusForbidden, "AccessDenied", identityErr.Error()}
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(resource, "arn:aws:s3:::"), "/")
	caller := auth.PrincipalFrom(ctx)
	deny := func() error {
		// The one check of canned ACLs: for anonymous callers (the S3
		// API and websites) and signed ones alike (acl.go).
		if a.aclAllows(ctx, action, bucket, key, caller) {
			return nil
		}
		if caller == nil {
			return errAnonymousDenied
		}
		msg := "Access Denied"
		if identityErr != nil {
			msg = identityErr.Error()
		}
		return &apiError{http.StatusForbidden, "AccessDenied", msg}
	}
	if resource == "*" || bucket == "" {
		if identityErr != nil {
			return deny()
		}
		return nil
	}
	policy := a.policyOf(ctx, bucket, caller)
	if policy == nil {
		if identityErr != nil {
			return deny()
		}
		return nil
	}
	conds := map[string]string{"aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)}
	if f, ok := ctx.Value(factsKey{}).(*requestFacts); ok {
		conds["aws:SecureTransport"] = strconv.FormatBool(f.secure)
		if f.referer != "" {
			conds["aws:Referer"] = f.referer
		}
		if ip := auth.SourceIP(f.remote); ip != "" {
			conds["aws:SourceIp"] = ip
		}
	}
	if caller != nil {
		conds["aws:PrincipalArn"] = caller.ARN
		conds["aws:PrincipalAccount"] = appspec.AccountID
		if caller.FunctionARN != "" {
			conds["lambda:SourceFunctionArn"] = caller.FunctionARN
		}
	}
	switch policy.evaluate(caller, appspec.AccountID, &auth.Request{Action: action, Resource: resource, Context: conds}) {
	case auth.ExplicitDeny:
		return &apiError{http.StatusForbidden, "AccessDenied", "Access Denied: an explicit deny in the bucket policy of " + bucket}
	case auth.Allow:
		return nil
	}
	if identityErr != nil {
		return deny()
	}
	return nil
}

// policyOf reads a bucket's policy; an anonymous caller does not get the
// grants of a public policy when the bucket restricts public access.
func (a *API) policyOf(ctx context.Context, bucket string, caller *auth.Principal) *bucketPolicy {
	doc, err := a.Objects.BucketPolicy(ctx, bucket)
	if err != nil {
		if !objects.IsKind(err, objects.KindNoSuchBucketPolicy) && !objects.IsKind(err, objects.KindNoSuchBucket) {
			a.log().Warn("bucket policy unreadable", "bucket", bucket, "err", err)
		}
		return nil
	}
	p, err := parseBucketPolicy(doc, bucket)
	if err != nil {
		a.log().Warn("bucket policy unreadable: it grants nothing", "bucket", bucket, "err", err)
		return nil
	}
	if caller == nil && p.public() {
		if pab, err := a.Objects.PublicAccessBlockOf(ctx, bucket); err == nil && pab.RestrictPublicBuckets {
			return nil
		}
	}
	return p
}

// hideMissing answers AccessDenied instead of NoSuchKey to a caller that may
// not list the bucket, as S3 does: without s3:ListBucket one cannot tell a
// missing key from a forbidden one.
func (a *API) hideMissing(ctx context.Context, ae *apiError, bucket string) *apiError {
	if ae == nil || ae.code != "NoSuchKey" || auth.Unrestricted(ctx) || a.Authorize == nil {
		return ae
	}
	if err := a.authorize(ctx, "s3:ListBucket", BucketARN(bucket)); err != nil {
		return coreError(err)
	}
	return ae
}
