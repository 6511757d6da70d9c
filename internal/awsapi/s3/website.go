package s3

import (
	"context"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// ServeWebsite answers a request to a bucket's website endpoint as S3's
// website endpoints do: GET and HEAD only, anonymous (objects must be
// public through the bucket policy), index documents for "directories",
// a redirect from "dir" to "dir/" when "dir/index.html" exists, routing
// rules, and the error document (or an HTML error page) with the error's
// status.
func (a *API) ServeWebsite(w http.ResponseWriter, r *http.Request, bucket string) {
	w.Header().Set("x-amz-request-id", requestID())
	// Whoever signed, the website serves what is public, as S3's does.
	ctx := auth.WithPrincipal(r.Context(), nil, r.TLS != nil, time.Now())
	ctx = context.WithValue(ctx, factsKey{}, &requestFacts{secure: r.TLS != nil, referer: r.Referer(), remote: r.RemoteAddr})
	r = r.WithContext(ctx)
	if r.Method == http.MethodOptions {
		if err := a.preflight(w, r, bucket); err != nil {
			ae := coreError(err)
			if ae == nil {
				ae = &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
			}
			a.websiteError(w, r, ae, bucket, "")
		}
		return
	}
	site, err := a.Objects.BucketWebsite(ctx, bucket)
	if err != nil {
		a.websiteFail(w, r, err, bucket, "")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a.websiteError(w, r, &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource."}, bucket, "")
		return
	}
	a.applyCORS(w, r, bucket)
	if ra := site.RedirectAllRequestsTo; ra != nil {
		proto := ra.Protocol
		if proto == "" {
			proto = scheme(r)
		}
		w.Header().Set("Location", proto+"://"+ra.HostName+r.URL.RequestURI())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/")
	if rule := matchRoutingRule(site.RoutingRules, key, 0); rule != nil {
		redirect(w, r, rule, key)
		return
	}
	lookup := key
	if lookup == "" || strings.HasSuffix(lookup, "/") {
		lookup += site.IndexDocument
	}
	status, apiErr := a.serveWebObject(w, r, bucket, lookup, http.StatusOK)
	if status == 0 {
		return
	}
	if key != "" && lookup == key && (status == http.StatusNotFound || status == http.StatusForbidden) {
		// "dir" names a folder whose index exists: S3 sends the browser to "dir/".
		if a.readable(ctx, bucket, key+"/"+site.IndexDocument) {
			w.Header().Set("Location", "/"+escapePath(key)+"/")
			w.WriteHeader(http.StatusFound)
			return
		}
	}
	if rule := matchRoutingRule(site.RoutingRules, key, status); rule != nil {
		redirect(w, r, rule, key)
		return
	}
	if site.ErrorDocument != "" {
		if s, _ := a.serveWebObject(w, r, bucket, site.ErrorDocument, status); s == 0 {
			return
		}
	}
	a.websiteError(w, r, apiErr, bucket, lookup)
}

// serveWebObject writes bucket/key with status (a 200 honours ranges and
// conditional requests); when it cannot, it writes nothing and returns the
// error's status and error.
func (a *API) serveWebObject(w http.ResponseWriter, r *http.Request, bucket, key string, status int) (int, *apiError) {
	ctx := r.Context()
	if err := a.authorize(ctx, "s3:GetObject", ObjectARN(bucket, key)); err != nil {
		return http.StatusForbidden, &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}
	}
	o, f, err := a.Objects.GetObject(ctx, bucket, key)
	if err != nil {
		ae := coreError(err)
		if ae == nil {
			a.log().Error("website object unreadable", "bucket", bucket, "key", key, "err", err)
			return http.StatusInternalServerError, &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
		}
		if ae.code == "NoSuchKey" && a.authorize(ctx, "s3:ListBucket", BucketARN(bucket)) != nil {
			// Without s3:ListBucket a missing key is not told from a
			// forbidden one, as in S3.
			return http.StatusForbidden, &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}
		}
		return ae.status, ae
	}
	defer f.Close()
	writeAttributes(w.Header(), &o)
	if status == http.StatusOK {
		http.ServeContent(w, r, "", o.Modified, f)
		return 0, nil
	}
	w.Header().Set("Content-Length", strconv.FormatInt(o.Size, 10))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, f)
	}
	return 0, nil
}

func (a *API) readable(ctx context.Context, bucket, key string) bool {
	if a.authorize(ctx, "s3:GetObject", ObjectARN(bucket, key)) != nil {
		return false
	}
	_, err := a.Objects.HeadObject(ctx, bucket, key)
	return err == nil
}

// matchRoutingRule returns the first rule whose condition holds for key
// (and, with status > 0, for the error status the lookup returned).
// Rules with an error-code condition apply only after a lookup failed.
func matchRoutingRule(rules []objects.WebsiteRouting, key string, status int) *objects.WebsiteRouting {
	for i := range rules {
		c := rules[i].Condition
		wantStatus := c != nil && c.HTTPErrorCodeReturnedEquals != ""
		if wantStatus != (status > 0) {
			continue
		}
		if wantStatus && c.HTTPErrorCodeReturnedEquals != strconv.Itoa(status) {
			continue
		}
		if c != nil && !strings.HasPrefix(key, c.KeyPrefixEquals) {
			continue
		}
		return &rules[i]
	}
	return nil
}

func redirect(w http.ResponseWriter, r *http.Request, rule *objects.WebsiteRouting, key string) {
	rd := rule.Redirect
	switch {
	case rd.ReplaceKeyWith != nil:
		key = *rd.ReplaceKeyWith
	case rd.ReplaceKeyPrefixWith != nil:
		prefix := ""
		if rule.Condition != nil {
			prefix = rule.Condition.KeyPrefixEquals
		}
		key = *rd.ReplaceKeyPrefixWith + strings.TrimPrefix(key, prefix)
	}
	proto, host, code := rd.Protocol, rd.HostName, http.StatusMovedPermanently
	if proto == "" {
		proto = scheme(r)
	}
	if host == "" {
		host = r.Host
	}
	if n, err := strconv.Atoi(rd.HTTPRedirectCode); err == nil {
		code = n
	}
	w.Header().Set("Location", proto+"://"+host+"/"+escapePath(key))
	w.WriteHeader(code)
}

// requestID is an x-amz-request-id: 16 hex digits, as S3's. It names a
// request in logs and errors, nothing secret, so the runtime's cheap
// per-thread generator is enough.
func requestID() string {
	var b [16]byte
	const digits = "0123456789ABCDEF"
	v := rand.Uint64()
	for i := range b {
		b[i] = digits[v>>(4*i)&0xf]
	}
	return string(b[:])
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func escapePath(key string) string {
	return strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
}

func (a *API) websiteFail(w http.ResponseWriter, r *http.Request, err error, bucket, key string) {
	ae := coreError(err)
	if ae == nil {
		a.log().Error("website request failed", "bucket", bucket, "err", err)
		ae = &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
	}
	a.websiteError(w, r, ae, bucket, key)
}

// websiteError writes S3's HTML error page.
func (a *API) websiteError(w http.ResponseWriter, r *http.Request, ae *apiError, bucket, key string) {
	title := fmt.Sprintf("%d %s", ae.status, http.StatusText(ae.status))
	var b strings.Builder
	b.WriteString("<html>\n<head><title>" + title + "</title></head>\n<body>\n<h1>" + title + "</h1>\n<ul>\n")
	b.WriteString("<li>Code: " + html.EscapeString(ae.code) + "</li>\n<li>Message: " + html.EscapeString(ae.message) + "</li>\n")
	if ae.code == "NoSuchBucket" || ae.code == "NoSuchWebsiteConfiguration" {
		b.WriteString("<li>BucketName: " + html.EscapeString(bucket) + "</li>\n")
	}
	if ae.code == "NoSuchKey" {
		b.WriteString("<li>Key: " + html.EscapeString(key) + "</li>\n")
	}
	b.WriteString("<li>RequestId: " + html.EscapeString(w.Header().Get("x-amz-request-id")) + "</li>\n</ul>\n<hr/>\n</body>\n</html>\n")
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("x-amz-error-code", ae.code)
	h.Set("x-amz-error-message", ae.message)
	w.WriteHeader(ae.status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, b.String())
	}
}
