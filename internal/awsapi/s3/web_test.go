package s3_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// localhostDialer resolves every *.localhost name to loopback, as browsers
// do (Go's resolver asks DNS, which does not know them).
func localhostDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && strings.HasSuffix(host, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// browser is a browser-like HTTP client: cookies, redirects followed within
// *.localhost, *.localhost names resolved to loopback.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: localhostDialer()},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasSuffix(req.URL.Hostname(), "localhost") || len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, c *http.Client, method, url string, body io.Reader, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func port(p *testkit.Platform) string {
	_, port, _ := net.SplitHostPort(p.Addr())
	return port
}

func putTyped(t *testing.T, c *awss3.Client, bucket, key, contentType, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(body), ContentType: aws.String(contentType)}); err != nil {
		t.Fatal(err)
	}
}

func mkBucket(t *testing.T, c *awss3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// The headers a current browser adds to a page's cross-origin fetch.
func fromPage(origin string, more ...string) []string {
	return append([]string{"Origin", origin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors"}, more...)
}

// TestBucketCORS: the CORS configuration calls, preflights answered per the
// bucket's rules, CORS headers on the actual answers, and web pages let
// through to S3 (presigned URL) but not to the control plane.
func TestBucketCORS(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	mkBucket(t, c, "uploads")
	putTyped(t, c, "uploads", "hello.txt", "text/plain", "hello")
	web := browser(t)
	objURL := p.URL() + "/uploads/hello.txt"

	// No configuration: preflights are refused.
	a := send(t, web, "OPTIONS", objURL, nil, fromPage("https://app.example.com", "Access-Control-Request-Method", "GET")...)
	if a.status != 403 || !strings.Contains(a.body, "<Code>CORSResponse</Code>") || !strings.Contains(a.body, "CORS is not enabled") {
		t.Fatalf("preflight without CORS: %d %s", a.status, a.body)
	}
	_, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("uploads")})
	apiError(t, err, "NoSuchCORSConfiguration", 404)

	rules := []types.CORSRule{
		{AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT"},
			AllowedHeaders: []string{"content-type", "x-amz-*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(600)},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}},
	}
	if _, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String("uploads"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("uploads")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CORSRules) != 2 || got.CORSRules[0].AllowedOrigins[0] != "https://*.example.com" || *got.CORSRules[0].MaxAgeSeconds != 600 ||
		got.CORSRules[0].ExposeHeaders[0] != "ETag" || got.CORSRules[1].AllowedMethods[0] != "GET" {
		t.Fatalf("GetBucketCors: %+v", got.CORSRules)
	}
	_, err = c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String("uploads"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}}}})
	apiError(t, err, "InvalidArgument", 400)

	// A preflight for a PUT from a matching origin, with a matching header.
	a = send(t, web, "OPTIONS", objURL+"?X-Amz-Credential=x", nil, fromPage("https://app.example.com",
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "Content-Type, X-Amz-Meta-Owner")...)
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		a.header.Get("Access-Control-Allow-Methods") != "GET, PUT" || a.header.Get("Access-Control-Allow-Headers") != "content-type, x-amz-meta-owner" ||
		a.header.Get("Access-Control-Max-Age") != "600" || a.header.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Fatalf("preflight: %d %v %s", a.status, a.header, a.body)
	}
	// The wildcard rule answers other origins, for GET only.
	a = send(t, web, "OPTIONS", objURL, nil, fromPage("http://other.test", "Access-Control-Request-Method", "GET")...)
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wildcard preflight: %d %v", a.status, a.header)
	}
	for name, h := range map[string][]string{
		"method":  fromPage("http://other.test", "Access-Control-Request-Method", "PUT"),
		"header":  fromPage("https://app.example.com", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization"),
		"origin":  fromPage("https://example.com.evil.test", "Access-Control-Request-Method", "PUT"),
		"DELETE":  fromPage("https://app.example.com", "Access-Control-Request-Method", "DELETE"),
		"no-such": fromPage("https://app.example.com", "Access-Control-Request-Method", "PATCH"),
	} {
		a = send(t, web, "OPTIONS", objURL, nil, h...)
		if a.status != 403 || !strings.Contains(a.body, "This CORS request is not allowed") || a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight not allowed (%s): %d %s", name, a.status, a.body)
		}
	}

	// The actual requests: a presigned PUT and GET sent as a page would.
	presign := awss3.NewPresignClient(c)
	pu, err := presign.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("from-page.txt")})
	if err != nil {
		t.Fatal(err)
	}
	a = send(t, web, "PUT", pu.URL, strings.NewReader("page data"), fromPage("https://app.example.com")...)
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || a.header.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Fatalf("presigned PUT from a page: %d %v %s", a.status, a.header, a.body)
	}
	pg, err := presign.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("uploads"), Key: aws.String("from-page.txt")})
	if err != nil {
		t.Fatal(err)
	}
	a = send(t, web, "GET", pg.URL, nil, fromPage("http://other.test")...)
	if a.status != 200 || a.body != "page data" || a.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("presigned GET from a page: %d %v %s", a.status, a.header, a.body)
	}
	// No rule for this origin and method: the answer has no CORS headers
	// (the browser keeps it from the page), though S3 served it.
	pu, err = presign.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("from-evil.txt")})
	if err != nil {
		t.Fatal(err)
	}
	a = send(t, web, "PUT", pu.URL, strings.NewReader("x"), fromPage("https://evil.test")...)
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("PUT from an unlisted origin: %d %v", a.status, a.header)
	}
	// A page's unsigned write is refused by S3 itself.
	a = send(t, web, "PUT", objURL, strings.NewReader("x"), fromPage("https://app.example.com")...)
	if a.status != 403 || !strings.Contains(a.body, "<Code>AccessDenied</Code>") {
		t.Fatalf("anonymous PUT from a page: %d %s", a.status, a.body)
	}

	// The control plane still refuses pages: the preflight and the request.
	for _, path := range []string{"/2015-03-31/functions/any/invocations", "/nimbus/v1/services", "/"} {
		a = send(t, web, "OPTIONS", p.URL()+path, nil, fromPage("https://app.example.com", "Access-Control-Request-Method", "POST")...)
		if a.status != 403 || !strings.Contains(a.body, "AccessDeniedException") || a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight to %s: %d %s", path, a.status, a.body)
		}
		req, _ := http.NewRequest("POST", p.URL()+path, strings.NewReader(`{}`))
		for _, h := range [][2]string{{"Origin", "https://app.example.com"}, {"Content-Type", "text/plain"}} {
			req.Header.Set(h[0], h[1])
		}
		service := map[string]string{"/": "sqs", "/nimbus/v1/services": "nimbus"}[path]
		if service == "" {
			service = "lambda"
		}
		p.Sign(req, service) // even signed: pages do not reach the control plane
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), "requests from web pages are not accepted") {
			t.Errorf("page POST to %s: %d %s", path, resp.StatusCode, b)
		}
	}

	if _, err := c.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	a = send(t, web, "OPTIONS", objURL, nil, fromPage("http://other.test", "Access-Control-Request-Method", "GET")...)
	if a.status != 403 || !strings.Contains(a.body, "CORS is not enabled") {
		t.Fatalf("preflight after DeleteBucketCors: %d %s", a.status, a.body)
	}
}

func publicRead(bucket string, withList bool, prefix string) string {
	st := []map[string]any{{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
		"Resource": "arn:aws:s3:::" + bucket + "/" + prefix + "*"}}
	if withList {
		st = append(st, map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": "*"}, "Action": []string{"s3:ListBucket"},
			"Resource": "arn:aws:s3:::" + bucket})
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": st})
	return string(b)
}

// TestBucketPolicyAnonymous: a bucket policy with Principal "*" lets
// unsigned requests read what it names, path style and virtual-host style;
// everything else unsigned is AccessDenied; the public access block
// restricts or blocks public policies.
func TestBucketPolicyAnonymous(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	mkBucket(t, c, "assets")
	putTyped(t, c, "assets", "public/logo.svg", "image/svg+xml", "<svg/>")
	putTyped(t, c, "assets", "private/key.txt", "text/plain", "secret")
	anon := browser(t)
	denied := func(what string, a answer) {
		t.Helper()
		if a.status != 403 || !strings.Contains(a.body, "<Code>AccessDenied</Code>") {
			t.Fatalf("%s: %d %s, want 403 AccessDenied", what, a.status, a.body)
		}
	}
	denied("anonymous GET without a policy", send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil))
	_, err := c.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("assets")})
	apiError(t, err, "NoSuchBucketPolicy", 404)

	for name, doc := range map[string]string{
		"not JSON":        `{"Statement": [`,
		"other bucket":    strings.ReplaceAll(publicRead("assets", false, "public/"), "arn:aws:s3:::assets/", "arn:aws:s3:::other/"),
		"no principal":    `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}`,
		"bad effect":      `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}`,
		"principal other": `{"Statement":[{"Effect":"Allow","Principal":"someone","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}`,
	} {
		_, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(doc)})
		if err == nil {
			t.Fatalf("policy %s accepted", name)
		}
		apiError(t, err, "MalformedPolicy", 400)
	}

	doc := publicRead("assets", false, "public/")
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("assets")}); err != nil || *got.Policy != doc {
		t.Fatalf("GetBucketPolicy: %v %v", got, err)
	}
	a := send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil)
	if a.status != 200 || a.body != "<svg/>" || a.header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("anonymous GET of a public object: %d %s", a.status, a.body)
	}
	if a := send(t, anon, "HEAD", p.URL()+"/assets/public/logo.svg", nil); a.status != 200 {
		t.Fatalf("anonymous HEAD: %d", a.status)
	}
	// Virtual-host style, as curl or a browser sends it.
	a = send(t, anon, "GET", "http://assets.localhost:"+port(p)+"/public/logo.svg", nil)
	if a.status != 200 || a.body != "<svg/>" {
		t.Fatalf("anonymous virtual-host GET: %d %s", a.status, a.body)
	}
	denied("anonymous GET outside the policy", send(t, anon, "GET", p.URL()+"/assets/private/key.txt", nil))
	denied("anonymous virtual-host GET outside the policy", send(t, anon, "GET", "http://assets.localhost:"+port(p)+"/private/key.txt", nil))
	denied("anonymous listing", send(t, anon, "GET", p.URL()+"/assets?list-type=2", nil))
	denied("anonymous PUT", send(t, anon, "PUT", p.URL()+"/assets/public/new.txt", strings.NewReader("x")))
	denied("anonymous DELETE", send(t, anon, "DELETE", p.URL()+"/assets/public/logo.svg", nil))
	denied("anonymous GetBucketPolicy", send(t, anon, "GET", p.URL()+"/assets?policy", nil))
	denied("anonymous GET of a missing bucket", send(t, anon, "GET", p.URL()+"/nothing-here/x", nil))
	// Missing keys: 403 without s3:ListBucket (S3 hides what does not exist).
	denied("anonymous GET of a missing public key", send(t, anon, "GET", p.URL()+"/assets/public/none", nil))
	// A wrong signature is not taken for anonymous access.
	a = send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil, "Authorization",
		"AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
	if a.status < 400 || strings.Contains(a.body, "<svg") {
		t.Fatalf("badly signed GET: %d %s", a.status, a.body)
	}

	// An explicit Deny in the bucket policy binds anonymous callers too.
	deny := `{"Statement":[` + strings.TrimSuffix(strings.TrimPrefix(doc, `{"Statement":[`), `],"Version":"2012-10-17"}`) +
		`,{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/public/logo.svg"}]}`
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(deny)}); err != nil {
		t.Fatalf("policy %s: %v", deny, err)
	}
	denied("anonymous GET denied explicitly", send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil))
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}

	// RestrictPublicBuckets: the public policy no longer grants anonymous reads.
	if _, err := c.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: aws.String("assets"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true), BlockPublicPolicy: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	pab, err := c.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: aws.String("assets")})
	if err != nil || !*pab.PublicAccessBlockConfiguration.RestrictPublicBuckets || *pab.PublicAccessBlockConfiguration.BlockPublicAcls {
		t.Fatalf("GetPublicAccessBlock: %+v %v", pab, err)
	}
	denied("anonymous GET with RestrictPublicBuckets", send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil))
	_, err = c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(doc)})
	apiError(t, err, "AccessDenied", 403)
	if _, err := c.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: aws.String("assets")}); err != nil {
		t.Fatal(err)
	}
	if a := send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil); a.status != 200 {
		t.Fatalf("anonymous GET after DeletePublicAccessBlock: %d %s", a.status, a.body)
	}

	if _, err := c.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String("assets")}); err != nil {
		t.Fatal(err)
	}
	denied("anonymous GET after DeleteBucketPolicy", send(t, anon, "GET", p.URL()+"/assets/public/logo.svg", nil))
}

// TestWebsite serves a bucket as S3's website endpoints do, to a
// browser-like client at <bucket>.s3-website.localhost: index documents,
// the dir → dir/ redirect, routing rules, the error document with its
// status, a single-page app's fallback, and only what is public.
func TestWebsite(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	mkBucket(t, c, "site")
	for key, body := range map[string]string{"index.html": "<h1>home</h1>", "about/index.html": "<h1>about</h1>",
		"404.html": "<h1>not here</h1>", "app.js": "console.log(1)", "documents/guide.html": "<h1>guide</h1>"} {
		ct := "text/html"
		if strings.HasSuffix(key, ".js") {
			ct = "text/javascript"
		}
		putTyped(t, c, "site", key, ct, body)
	}
	base := "http://site.s3-website.localhost:" + port(p)
	web := browser(t)

	a := send(t, web, "GET", base+"/", nil)
	if a.status != 404 || !strings.Contains(a.body, "NoSuchWebsiteConfiguration") || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("website without configuration: %d %s", a.status, a.body)
	}
	_, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: aws.String("site")})
	apiError(t, err, "NoSuchWebsiteConfiguration", 404)
	_, err = c.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: aws.String("site"), WebsiteConfiguration: &types.WebsiteConfiguration{
		ErrorDocument: &types.ErrorDocument{Key: aws.String("404.html")}}})
	apiError(t, err, "InvalidArgument", 400)

	conf := &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")},
		ErrorDocument: &types.ErrorDocument{Key: aws.String("404.html")},
		RoutingRules: []types.RoutingRule{
			{Condition: &types.Condition{KeyPrefixEquals: aws.String("docs/")}, Redirect: &types.Redirect{ReplaceKeyPrefixWith: aws.String("documents/")}},
			{Condition: &types.Condition{KeyPrefixEquals: aws.String("old/"), HttpErrorCodeReturnedEquals: aws.String("404")},
				Redirect: &types.Redirect{HostName: aws.String("archive.example.com"), HttpRedirectCode: aws.String("302"), Protocol: types.ProtocolHttps}},
		},
	}
	if _, err := c.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: aws.String("site"), WebsiteConfiguration: conf}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: aws.String("site")})
	if err != nil || *got.IndexDocument.Suffix != "index.html" || *got.ErrorDocument.Key != "404.html" || len(got.RoutingRules) != 2 ||
		*got.RoutingRules[0].Redirect.ReplaceKeyPrefixWith != "documents/" || *got.RoutingRules[1].Condition.HttpErrorCodeReturnedEquals != "404" {
		t.Fatalf("GetBucketWebsite: %+v %v", got, err)
	}

	// Not public yet: S3 website endpoints serve only what anyone may read.
	// (The error document is not public either: an HTML error page answers.)
	if a := send(t, web, "GET", base+"/", nil); a.status != 403 || !strings.Contains(a.body, "<li>Code: AccessDenied</li>") || strings.Contains(a.body, "home") {
		t.Fatalf("private website: %d %s", a.status, a.body)
	}
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("site"), Policy: aws.String(publicRead("site", true, ""))}); err != nil {
		t.Fatal(err)
	}

	a = send(t, web, "GET", base+"/", nil)
	if a.status != 200 || a.body != "<h1>home</h1>" || a.header.Get("Content-Type") != "text/html" || a.header.Get("ETag") == "" {
		t.Fatalf("GET /: %d %v %s", a.status, a.header, a.body)
	}
	js := send(t, web, "GET", base+"/app.js", nil)
	if js.status != 200 || js.body != "console.log(1)" || js.header.Get("Content-Type") != "text/javascript" {
		t.Fatalf("GET /app.js: %d %s", js.status, js.body)
	}
	if a := send(t, web, "GET", base+"/app.js", nil, "If-None-Match", js.header.Get("ETag")); a.status != 304 {
		t.Fatalf("conditional GET: %d", a.status)
	}
	if a := send(t, web, "GET", base+"/app.js", nil, "Range", "bytes=0-6"); a.status != 206 || a.body != "console" {
		t.Fatalf("range GET: %d %s", a.status, a.body)
	}
	if a := send(t, web, "HEAD", base+"/", nil); a.status != 200 || a.header.Get("Content-Length") != "13" {
		t.Fatalf("HEAD /: %d %v", a.status, a.header)
	}
	// "about" is a folder with an index: 302 to "about/", which the client follows.
	noFollow := &http.Client{Transport: &http.Transport{DialContext: localhostDialer()},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if a := send(t, noFollow, "GET", base+"/about", nil); a.status != 302 || a.header.Get("Location") != "/about/" {
		t.Fatalf("GET /about: %d %v", a.status, a.header)
	}
	if a := send(t, web, "GET", base+"/about", nil); a.status != 200 || a.body != "<h1>about</h1>" {
		t.Fatalf("GET /about followed: %d %s", a.status, a.body)
	}
	// The error document, with the error's status.
	a = send(t, web, "GET", base+"/missing.html", nil)
	if a.status != 404 || a.body != "<h1>not here</h1>" || a.header.Get("Content-Type") != "text/html" {
		t.Fatalf("GET /missing.html: %d %s", a.status, a.body)
	}
	// Routing rules: a prefix rewritten before the lookup, a redirect on 404.
	if a := send(t, noFollow, "GET", base+"/docs/guide.html", nil); a.status != 301 || a.header.Get("Location") != base+"/documents/guide.html" {
		t.Fatalf("GET /docs/guide.html: %d %v", a.status, a.header)
	}
	if a := send(t, web, "GET", base+"/docs/guide.html", nil); a.status != 200 || a.body != "<h1>guide</h1>" {
		t.Fatalf("GET /docs/guide.html followed: %d %s", a.status, a.body)
	}
	if a := send(t, noFollow, "GET", base+"/old/page.html", nil); a.status != 302 || a.header.Get("Location") != "https://archive.example.com/old/page.html" {
		t.Fatalf("GET /old/page.html: %d %v", a.status, a.header)
	}
	// GET and HEAD only; other methods get an HTML error page.
	a = send(t, web, "POST", base+"/", strings.NewReader("x"), "Content-Type", "text/plain")
	if a.status != 405 || !strings.Contains(a.body, "<li>Code: MethodNotAllowed</li>") {
		t.Fatalf("POST /: %d %s", a.status, a.body)
	}
	// The website host serves the website only: no S3 API, no control plane.
	for _, path := range []string{"/?list-type=2", "/2015-03-31/functions", "/nimbus/v1/services"} {
		if a := send(t, web, "GET", base+path, nil); a.status == 200 && path != "/?list-type=2" || strings.Contains(a.body, "ListBucketResult") || strings.Contains(a.body, "Functions") {
			t.Errorf("GET %s on the website: %d %s", path, a.status, a.body)
		}
	}

	// A single-page app: every unknown path answers index.html (status 404,
	// as S3 does; browsers render it).
	mkBucket(t, c, "spa")
	putTyped(t, c, "spa", "index.html", "text/html", "<div id=app></div>")
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("spa"), Policy: aws.String(publicRead("spa", false, ""))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: aws.String("spa"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}, ErrorDocument: &types.ErrorDocument{Key: aws.String("index.html")}}}); err != nil {
		t.Fatal(err)
	}
	spa := "http://spa.s3-website.localhost:" + port(p)
	if a := send(t, web, "GET", spa+"/", nil); a.status != 200 || a.body != "<div id=app></div>" {
		t.Fatalf("spa /: %d %s", a.status, a.body)
	}
	// Without s3:ListBucket a missing key is a 403, still answered with the app.
	if a := send(t, web, "GET", spa+"/users/42/settings", nil); a.status != 403 || a.body != "<div id=app></div>" {
		t.Fatalf("spa deep link: %d %s", a.status, a.body)
	}

	// RedirectAllRequestsTo.
	mkBucket(t, c, "old-site")
	if _, err := c.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: aws.String("old-site"), WebsiteConfiguration: &types.WebsiteConfiguration{
		RedirectAllRequestsTo: &types.RedirectAllRequestsTo{HostName: aws.String("new.example.com"), Protocol: types.ProtocolHttps}}}); err != nil {
		t.Fatal(err)
	}
	if a := send(t, noFollow, "GET", "http://old-site.s3-website.localhost:"+port(p)+"/a/b?x=1", nil); a.status != 301 || a.header.Get("Location") != "https://new.example.com/a/b?x=1" {
		t.Fatalf("redirect all: %d %v", a.status, a.header)
	}
	if a := send(t, web, "GET", "http://nothing.s3-website.localhost:"+port(p)+"/", nil); a.status != 404 || !strings.Contains(a.body, "NoSuchBucket") {
		t.Fatalf("website of a missing bucket: %d %s", a.status, a.body)
	}

	if _, err := c.DeleteBucketWebsite(ctx, &awss3.DeleteBucketWebsiteInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	if a := send(t, web, "GET", base+"/", nil); a.status != 404 || !strings.Contains(a.body, "NoSuchWebsiteConfiguration") {
		t.Fatalf("after DeleteBucketWebsite: %d %s", a.status, a.body)
	}
}

// TestVirtualHostStyle: aws-sdk-go-v2 without UsePathStyle against
// http://localhost:PORT puts the bucket in the host (bucket.localhost); the
// signature is checked on that host, and names other than the listener's
// subdomains are still refused.
func TestVirtualHostStyle(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	cfg := p.AWSConfig()
	cfg.BaseEndpoint = aws.String("http://localhost:" + port(p))
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: localhostDialer()}}
	var hosts []string
	c := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.HTTPClient = hostRecorder{cfg.HTTPClient.(*http.Client), &hosts}
	})

	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("vhost")}); err != nil {
		t.Fatal(err)
	}
	putTyped(t, c, "vhost", "dir/a b.txt", "text/plain", "virtual")
	if body, ct := objectBody(t, c, "vhost", "dir/a b.txt"); body != "virtual" || ct != "text/plain" {
		t.Fatalf("GetObject: %q %s", body, ct)
	}
	list, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("vhost"), Prefix: aws.String("dir/")})
	if err != nil || len(list.Contents) != 1 || *list.Contents[0].Key != "dir/a b.txt" {
		t.Fatalf("ListObjectsV2: %+v %v", list, err)
	}
	if len(hosts) == 0 || hosts[0] != "vhost.localhost:"+port(p) {
		t.Fatalf("the SDK did not use virtual-host style: %v", hosts)
	}
	// The path-style client sees the same bucket.
	if body, _ := objectBody(t, client(p), "vhost", "dir/a b.txt"); body != "virtual" {
		t.Fatalf("path style read %q", body)
	}
	pg, err := awss3.NewPresignClient(c).PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/a b.txt")})
	if err != nil || !strings.HasPrefix(pg.URL, "http://vhost.localhost:") {
		t.Fatalf("presigned URL %v %v", pg, err)
	}
	if a := send(t, browser(t), "GET", pg.URL, nil); a.status != 200 || a.body != "virtual" {
		t.Fatalf("presigned virtual-host GET: %d %s", a.status, a.body)
	}
	// The same presigned URL sent to another bucket's host: the signed host
	// does not match.
	other := strings.Replace(pg.URL, "http://vhost.localhost", "http://other.localhost", 1)
	if a := send(t, browser(t), "GET", other, nil); a.status != 403 || !strings.Contains(a.body, "SignatureDoesNotMatch") {
		t.Fatalf("presigned URL on another host: %d %s", a.status, a.body)
	}
	// A signature for another service on a bucket's host is refused.
	req, _ := http.NewRequest("GET", "http://vhost.localhost:"+port(p)+"/dir/a%20b.txt", nil)
	p.Sign(req, "lambda")
	resp, err := browser(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.Contains(string(b), "virtual") {
		t.Fatalf("lambda-signed virtual-host GET: %d %s", resp.StatusCode, b)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/a b.txt")}); err != nil {
		t.Fatal(err)
	}
	// A name that is not a subdomain of the listener's is refused.
	req, _ = http.NewRequest("GET", p.URL()+"/", nil)
	req.Host = "vhost.example:" + port(p)
	p.Sign(req, "s3")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "is not an address of this nimbus") {
		t.Fatalf("foreign host: %d %s", resp.StatusCode, b)
	}
}

type hostRecorder struct {
	c     *http.Client
	hosts *[]string
}

func (h hostRecorder) Do(r *http.Request) (*http.Response, error) {
	*h.hosts = append(*h.hosts, r.Host+r.URL.Host)
	return h.c.Do(r)
}
