package s3

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/objects"
)

// CORS as S3 answers it: a preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is matched against the bucket's rules in
// order and the first rule that allows the origin, the method and every
// requested header answers; an actual request with an Origin gets the
// headers of the first rule that allows its origin and method.

var errCORSNotEnabled = &apiError{http.StatusForbidden, "CORSResponse", "CORS is not enabled for this bucket."}
var errCORSDenied = &apiError{http.StatusForbidden, "CORSResponse", "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."}

// wildcardMatch matches s against a pattern with at most one '*'.
func wildcardMatch(pattern, s string) bool {
	before, after, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

func corsAllows(rule *objects.CORSRule, origin, method string) bool {
	originOK := false
	for _, o := range rule.AllowedOrigins {
		if wildcardMatch(o, origin) {
			originOK = true
			break
		}
	}
	if !originOK {
		return false
	}
	for _, m := range rule.AllowedMethods {
		if m == method {
			return true
		}
	}
	return false
}

func corsAllowsHeader(rule *objects.CORSRule, header string) bool {
	for _, h := range rule.AllowedHeaders {
		if wildcardMatch(strings.ToLower(h), header) {
			return true
		}
	}
	return false
}

// setCORS writes the headers every matched answer carries.
func setCORS(h http.Header, rule *objects.CORSRule, origin string) {
	allow := origin
	for _, o := range rule.AllowedOrigins {
		if o == "*" {
			allow = "*"
			break
		}
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if allow != "*" {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposedHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposedHeaders, ", "))
	}
	if rule.MaxAge != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*rule.MaxAge))
	}
}

// preflight answers an OPTIONS request for bucket.
func (a *API) preflight(w http.ResponseWriter, r *http.Request, bucket string) error {
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	if origin == "" {
		return &apiError{http.StatusBadRequest, "BadRequest", "Insufficient information. Origin request header needed."}
	}
	if method == "" {
		return &apiError{http.StatusBadRequest, "BadRequest", "Invalid Access-Control-Request-Method: null"}
	}
	rules, err := a.Objects.BucketCORS(r.Context(), bucket)
	if err != nil {
		if objects.IsKind(err, objects.KindNoSuchCORSConfiguration) || objects.IsKind(err, objects.KindNoSuchBucket) {
			return errCORSNotEnabled
		}
		return err
	}
	var headers []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
				headers = append(headers, h)
			}
		}
	}
	h := w.Header()
	h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
rules:
	for i := range rules {
		rule := &rules[i]
		if !corsAllows(rule, origin, method) {
			continue
		}
		for _, hd := range headers {
			if !corsAllowsHeader(rule, hd) {
				continue rules
			}
		}
		setCORS(h, rule, origin)
		if len(headers) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
		}
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return errCORSDenied
}

// applyCORS adds the CORS headers of an actual request (one with an Origin)
// when one of the bucket's rules allows it; without a match the answer
// carries none and the browser keeps it from the page.
func (a *API) applyCORS(w http.ResponseWriter, r *http.Request, bucket string) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	rules, err := a.Objects.BucketCORS(r.Context(), bucket)
	if err != nil {
		return
	}
	h := w.Header()
	h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	for i := range rules {
		if corsAllows(&rules[i], origin, r.Method) {
			setCORS(h, &rules[i], origin)
			return
		}
	}
}

// web applies CORS to a request: it answers preflights itself (returning
// nil) and adds the headers of a matching rule to other answers. The
// request it returns carries what bucket policy conditions need.
func (a *API) web(w http.ResponseWriter, r *http.Request, bucket, key string) *http.Request {
	r = withFacts(r)
	if bucket == "" {
		return r
	}
	if r.Method == http.MethodOptions {
		if err := a.preflight(w, r, bucket); err != nil {
			a.writeError(w, r, err, bucket, key)
		}
		return nil
	}
	a.applyCORS(w, r, bucket)
	return r
}
