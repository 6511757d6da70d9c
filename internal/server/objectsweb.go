package server

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// S3's browser-facing requests on the API listener (docs/adr/0017):
//
//   - <bucket>.s3-website.<host>: the bucket's website, anonymous, GET/HEAD.
//   - <bucket>.<host>: virtual-host style S3 (signed or anonymous).
//   - path style /<bucket>/... without a signature: anonymous S3 (public
//     buckets, CORS preflights, browser form uploads), unless the first
//     segment is one of the platform's own routes.
//
// <host> is localhost or a name of --allowed-host. These requests reach only
// the S3 edge, never the control plane, so the listener's guard lets web
// pages send them (S3Browser).

// websiteLabel marks a website host: <bucket>.s3-website.localhost.
const websiteLabel = ".s3-website"

// s3Host returns the bucket a Host header names, and whether it is the
// bucket's website endpoint; "" when the host is the listener's own name.
func (s *Server) s3Host(hostport string) (bucket string, website bool) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	sub, ok := strings.CutSuffix(host, ".localhost")
	for _, a := range s.cfg.AllowedHosts {
		if ok {
			break
		}
		name := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(a)), "*.")
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
		sub, ok = strings.CutSuffix(host, "."+name)
	}
	if !ok || sub == "" {
		return "", false
	}
	bucket, website = strings.CutSuffix(sub, websiteLabel)
	if !objects.ValidBucketName(bucket) {
		return "", false
	}
	return bucket, website
}

// s3Signed reports whether a request carries a signature (header or
// presigned). A CORS preflight never does, even to a presigned URL.
func s3Signed(r *http.Request) bool {
	if r.Method == http.MethodOptions {
		return false
	}
	return r.Header.Get("Authorization") != "" || strings.Contains(r.URL.RawQuery, "X-Amz-Signature=") ||
		strings.Contains(r.URL.RawQuery, "X-Amz-Credential=")
}

// platformSegment reports whether a first path segment is one of the
// platform's own routes: health and metrics, Lambda's dated API versions
// (2015-03-31) and SQS's queue URLs (the account id). It runs on every
// unsigned request, so it is a plain comparison rather than a regexp.
func platformSegment(s string) bool {
	switch s {
	case "healthz", "metrics", "console", appspec.AccountID:
		return true
	}
	if len(s) != len("2015-03-31") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// s3Anonymous reports whether an unsigned request is for S3: anonymous
// access, a preflight, a form upload or a website page. The auth middleware
// lets it through without a principal; the S3 edge allows what bucket
// policies allow anyone.
func (s *Server) s3Anonymous(r *http.Request) bool {
	if bucket, website := s.s3Host(r.Host); bucket != "" {
		return website || !s3Signed(r)
	}
	if s3Signed(r) || r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	deployFirst, _, _ := strings.Cut(strings.TrimPrefix(deployapi.Prefix, "/"), "/")
	return first != "" && first != deployFirst && !platformSegment(first)
}

// S3Browser reports whether a request goes to the S3 edge (or a website),
// which serves web pages: signed S3 calls (presigned URLs), anonymous ones,
// preflights and form uploads. The guard skips its web page checks for
// these; every other route keeps them.
func (s *Server) S3Browser(r *http.Request) bool {
	if b, _ := s.s3Host(r.Host); b != "" {
		return true
	}
	return isS3(r) || s.s3Anonymous(r)
}

// serveS3Web routes website and virtual-host requests; it reports false for
// the rest.
func (s *Server) serveS3Web(w http.ResponseWriter, r *http.Request, api interface {
	http.Handler
	ServeWebsite(http.ResponseWriter, *http.Request, string)
}) bool {
	bucket, website := s.s3Host(r.Host)
	switch {
	case website:
		api.ServeWebsite(w, r, bucket)
	case bucket != "":
		// Virtual-host style: the signature was checked on the path as
		// sent; the edge reads path-style URLs.
		r2, u := r.WithContext(r.Context()), *r.URL
		u.Path = "/" + bucket + r.URL.Path
		if r.URL.RawPath != "" {
			u.RawPath = "/" + bucket + r.URL.RawPath
		}
		r2.URL = &u
		api.ServeHTTP(w, r2)
	case s.s3Anonymous(r):
		sandboxObjects(w) // objects.go
		api.ServeHTTP(w, r)
	default:
		return false
	}
	return true
}

// verifyForm checks a browser upload's signed policy for the S3 edge.
func (s *Server) verifyForm(ctx context.Context, f auth.PolicyForm) (context.Context, error) {
	if s.Auth == nil {
		return ctx, nil // --no-auth: the caller is already the anonymous administrator
	}
	p, err := s.Auth.VerifyPolicyForm(f)
	if err != nil {
		return nil, err
	}
	return auth.WithPrincipal(ctx, p, false, time.Now()), nil
}

// s3HostSigned reports a signed request to a bucket's host, which is S3's
// whatever its credential scope says (the verifier then refuses one not
// scoped to s3).
func (s *Server) s3HostSigned(r *http.Request) bool {
	b, _ := s.s3Host(r.Host)
	return b != ""
}
