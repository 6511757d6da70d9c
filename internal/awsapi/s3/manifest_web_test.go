package s3_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// A manifest's AWS::S3::Bucket with WebsiteConfiguration and
// CorsConfiguration: the deploy creates the bucket with both settings and
// its summary (and `nimbus info`'s) names the website's URL.
func TestManifestBucketWebsite(t *testing.T) {
	dir := t.TempDir()
	handler, err := os.ReadFile(testkit.Path(t, "examples/hello/handler.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), handler, 0o644); err != nil {
		t.Fatal(err)
	}
	yml := `service: webapp
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
resources:
  Resources:
    Site:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: webapp-site
        WebsiteConfiguration:
          IndexDocument: index.html
          ErrorDocument: index.html
        CorsConfiguration:
          CorsRules:
            - AllowedOrigins: ["*"]
              AllowedMethods: [GET, HEAD]
              MaxAge: 300
`
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	ctx := context.Background()
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	c := client(p)
	site, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: aws.String("webapp-site")})
	if err != nil || *site.IndexDocument.Suffix != "index.html" || *site.ErrorDocument.Key != "index.html" {
		t.Fatalf("website of the deployed bucket: %+v %v", site, err)
	}
	cors, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("webapp-site")})
	if err != nil || len(cors.CORSRules) != 1 || *cors.CORSRules[0].MaxAgeSeconds != 300 || cors.CORSRules[0].AllowedMethods[1] != "HEAD" {
		t.Fatalf("CORS of the deployed bucket: %+v %v", cors, err)
	}
	services, err := p.Client.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	url := ""
	for _, s := range services {
		for _, r := range s.Resources {
			if r.Kind == "website" {
				url = r.Name
			}
		}
	}
	if want := "http://webapp-site.s3-website.localhost:" + port(p) + "/"; url != want {
		t.Fatalf("website in the service's info: %q, want %q (%+v)", url, want, services)
	}
	putTyped(t, c, "webapp-site", "index.html", "text/html", "<p>app</p>")
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("webapp-site"), Policy: aws.String(publicRead("webapp-site", false, ""))}); err != nil {
		t.Fatal(err)
	}
	if a := send(t, browser(t), "GET", url, nil); a.status != 200 || a.body != "<p>app</p>" {
		t.Fatalf("GET %s: %d %s", url, a.status, a.body)
	}

	// A bad configuration refuses the deploy and changes nothing.
	bad := strings.Replace(yml, "IndexDocument: index.html", "IndexDocument: a/index.html", 1)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err == nil || !strings.Contains(err.Error(), "IndexDocument") {
		t.Fatalf("deploy of a bad website configuration: %v", err)
	}
	if site, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: aws.String("webapp-site")}); err != nil || *site.IndexDocument.Suffix != "index.html" {
		t.Fatalf("website after the refused deploy: %+v %v", site, err)
	}
}

// A bucket resource without BucketName (CloudFormation makes its name) gets
// its website and CORS settings too, is listed with its website URL, and a
// redeploy that drops CorsConfiguration clears it.
func TestManifestGeneratedBucketWebsite(t *testing.T) {
	dir := t.TempDir()
	handler, err := os.ReadFile(testkit.Path(t, "examples/hello/handler.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), handler, 0o644); err != nil {
		t.Fatal(err)
	}
	yml := `service: genweb
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
        WebsiteConfiguration:
          IndexDocument: index.html
        CorsConfiguration:
          CorsRules:
            - AllowedOrigins: ["https://example.com"]
              AllowedMethods: [GET]
`
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	ctx := context.Background()
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	c := client(p)
	list, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(list.Buckets) != 1 {
		t.Fatalf("buckets after the deploy: %+v %v", list, err)
	}
	name := aws.ToString(list.Buckets[0].Name)
	if !strings.Contains(name, "assets") {
		t.Fatalf("generated bucket name %q", name)
	}
	site, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: aws.String(name)})
	if err != nil || *site.IndexDocument.Suffix != "index.html" {
		t.Fatalf("website of the generated bucket: %+v %v", site, err)
	}
	cors, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String(name)})
	if err != nil || len(cors.CORSRules) != 1 || cors.CORSRules[0].AllowedOrigins[0] != "https://example.com" {
		t.Fatalf("CORS of the generated bucket: %+v %v", cors, err)
	}
	services, err := p.Client.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	url := ""
	for _, s := range services {
		for _, r := range s.Resources {
			if r.Kind == "website" {
				url = r.Name
			}
		}
	}
	if want := "http://" + name + ".s3-website.localhost:" + port(p) + "/"; url != want {
		t.Fatalf("website in the service's info: %q, want %q", url, want)
	}

	noCORS := yml[:strings.Index(yml, "        CorsConfiguration:")]
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(noCORS), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String(name)}); err == nil || !strings.Contains(err.Error(), "NoSuchCORSConfiguration") {
		t.Fatalf("CORS after the template dropped it: %v", err)
	}
	if site, err := c.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: aws.String(name)}); err != nil || *site.IndexDocument.Suffix != "index.html" {
		t.Fatalf("website after the redeploy: %+v %v", site, err)
	}
}
