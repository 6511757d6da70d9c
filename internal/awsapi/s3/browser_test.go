package s3_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/chromedp"

	"github.com/nimbus-platform/nimbus/internal/testkit/headless"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// runPage opens url and waits (up to a minute) for the page's script to set
// window.done, then returns window.results.
func runPage(t *testing.T, ctx context.Context, url string) map[string]string {
	t.Helper()
	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("browser at %s: %v", url, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.done === true`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("the page at %s did not finish: %v", url, err)
	}
	results, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`window.results`))
	if err != nil {
		t.Fatalf("browser at %s: %v", url, err)
	}
	return results
}

// A script shared by the pages: each step records what the page could see.
const pageScript = `
window.results = {};
async function step(name, f) {
  try { window.results[name] = String(await f()); }
  catch (e) { window.results[name] = "error: " + e.name; }
}
`

// TestBrowser drives a real Chromium: a page served by a bucket website
// uploads and reads an object with presigned URLs (CORS preflight and
// all); the same page and a page on another origin try the control plane
// and are refused, with nothing changed.
func TestBrowser(t *testing.T) {
	ctx := headless.Chromium(t)
	p := testkit.Start(t, nil)
	c := client(p)
	bg := context.Background()
	site := "http://site.s3-website.localhost:" + port(p)

	mkBucket(t, c, "data")
	if _, err := c.PutBucketCors(bg, &awss3.PutBucketCorsInput{Bucket: aws.String("data"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{site}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"},
			ExposeHeaders: []string{"ETag"}}}}}); err != nil {
		t.Fatal(err)
	}
	presign := awss3.NewPresignClient(c)
	pu, err := presign.PresignPutObject(bg, &awss3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("from-browser.txt"), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := presign.PresignGetObject(bg, &awss3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("from-browser.txt")})
	if err != nil {
		t.Fatal(err)
	}

	mkBucket(t, c, "site")
	page := `<!doctype html><html><head><title>app</title></head><body><script>` + pageScript + `
(async () => {
  const params = new URLSearchParams(location.hash.slice(1));
  await step("put", async () => {
    const r = await fetch(params.get("put"), {method: "PUT", body: "hello from chromium", headers: {"Content-Type": "text/plain"}});
    return r.status + " " + (r.headers.get("ETag") || "no-etag");
  });
  await step("get", async () => { const r = await fetch(params.get("get")); return r.status + " " + await r.text(); });
  await step("lambda", async () => { const r = await fetch(params.get("api") + "/2015-03-31/functions"); return r.status; });
  await step("keys", async () => {
    const r = await fetch(params.get("api") + "/nimbus/v1/keys", {method: "POST", mode: "no-cors", body: '{"name":"page"}', headers: {"Content-Type": "text/plain"}});
    return r.type;
  });
  window.done = true;
})();
</script></body></html>`
	putTyped(t, c, "site", "index.html", "text/html", page)
	if _, err := c.PutBucketPolicy(bg, &awss3.PutBucketPolicyInput{Bucket: aws.String("site"), Policy: aws.String(publicRead("site", false, ""))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketWebsite(bg, &awss3.PutBucketWebsiteInput{Bucket: aws.String("site"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}}}); err != nil {
		t.Fatal(err)
	}
	hash := url.Values{"put": {pu.URL}, "get": {pg.URL}, "api": {p.URL()}}.Encode()
	res := runPage(t, ctx, site+"/#"+hash)
	t.Logf("the website's page saw: %v", res)
	if !strings.HasPrefix(res["put"], "200 \"") {
		t.Errorf("presigned PUT from the website's page: %q", res["put"])
	}
	if res["get"] != "200 hello from chromium" {
		t.Errorf("presigned GET from the website's page: %q", res["get"])
	}
	if !strings.HasPrefix(res["lambda"], "error:") {
		t.Errorf("the page read the Lambda API: %q", res["lambda"])
	}
	if body, _ := objectBody(t, c, "data", "from-browser.txt"); body != "hello from chromium" {
		t.Errorf("object stored by the page: %q", body)
	}

	// A page on another origin tries the control plane: a CORS read, and
	// "simple" writes a page may send without a preflight.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><html><body><script>`+pageScript+`
(async () => {
  const api = new URLSearchParams(location.hash.slice(1)).get("api");
  await step("list", async () => { const r = await fetch(api + "/2015-03-31/functions"); return r.status; });
  await step("keys", async () => (await fetch(api + "/nimbus/v1/keys", {method: "POST", mode: "no-cors", body: '{"name":"evil"}', headers: {"Content-Type": "text/plain"}})).type);
  await step("queue", async () => (await fetch(api + "/", {method: "POST", mode: "no-cors", body: "Action=CreateQueue&QueueName=evil", headers: {"Content-Type": "application/x-www-form-urlencoded"}})).type);
  await step("bucket", async () => (await fetch(api + "/evil-bucket", {method: "PUT", mode: "no-cors"})).type);
  window.done = true;
})();
</script></body></html>`)
	}))
	defer evil.Close()
	res = runPage(t, ctx, evil.URL+"/#"+url.Values{"api": {p.URL()}}.Encode())
	if !strings.HasPrefix(res["list"], "error:") {
		t.Errorf("another origin read the Lambda API: %q", res["list"])
	}
	if keys, err := p.Client.ListKeys(bg); err != nil || len(keys) != 1 {
		t.Errorf("keys after the pages' attempts: %v %v", keys, err)
	}
	if _, err := c.HeadBucket(bg, &awss3.HeadBucketInput{Bucket: aws.String("evil-bucket")}); err == nil {
		t.Error("a page created a bucket")
	}
	t.Logf("the other origin's page saw: %v", res)
}
