package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/auth"
	s3api "github.com/nimbus-platform/nimbus/internal/awsapi/s3"
)

// isS3 tells S3 requests from the other APIs on the listener by the signing
// name of their credential scope (Authorization header or presigned query):
// S3's path-style URLs (/{bucket}/{key}) could otherwise be any path.
func isS3(r *http.Request) bool {
	cred := ""
	if h := r.Header.Get("Authorization"); h != "" {
		_, rest, _ := strings.Cut(h, "Credential=")
		cred, _, _ = strings.Cut(rest, ",")
	} else if r.URL.RawQuery != "" && strings.Contains(r.URL.RawQuery, "X-Amz-Credential=") {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	// AKID/date/region/service/aws4_request, read without splitting (every
	// request on the listener passes here).
	cred = strings.TrimSpace(cred)
	if strings.Count(cred, "/") != 4 {
		return false
	}
	for range 3 {
		_, cred, _ = strings.Cut(cred, "/")
	}
	service, _, _ := strings.Cut(cred, "/")
	return service == "s3"
}

// s3Route is how the auth middleware treats S3 requests: S3's canonical
// URI, UNSIGNED-PAYLOAD and streaming payloads allowed. Bodies above
// s3SignedBody are hashed as they stream to disk, not buffered first, so
// an object is never held in memory whole.
var s3Route = auth.Route{Protocol: auth.ProtocolS3, Verify: auth.VerifyOptions{Services: []string{"s3"},
	AllowUnsignedPayload: true, SingleEncodePath: true, MaxBody: s3SignedBody}}

const s3SignedBody = 64 << 10

// withS3 sends S3 requests to the S3 edge and the rest to next. It sits
// before the mux, which would clean the paths S3 keys may hold ("//", "..").
func (s *Server) withS3(next http.Handler) http.Handler {
	api := &s3api.API{Objects: s.objects, Logger: s.log, Authorize: func(ctx context.Context, action, resource string) error {
		return auth.Authorize(ctx, action, resource, nil)
	}, VerifyForm: s.verifyForm}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serveS3Web(w, r, api) { // objectsweb.go
			return
		}
		if isS3(r) {
			sandboxObjects(w)
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sandboxObjects keeps objects served path-style on the API listener's own
// origin (presigned or public URLs, /bucket/key) from running as pages of
// that origin, which the web console's session lives on: a document with
// a sandbox policy gets an opaque origin, so its scripts read none of the
// console's storage and send no same-site cookies. SDKs ignore the header;
// bucket websites and virtual-host buckets are origins of their own.
func sandboxObjects(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "sandbox")
}
