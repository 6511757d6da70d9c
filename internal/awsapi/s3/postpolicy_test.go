package s3_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

type formField struct{ name, value string }

// postForm sends a browser's form upload: the fields in order, then the file.
func postForm(t *testing.T, url string, fields []formField, filename, content string) answer {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(fw, content)
	_ = mw.Close()
	// As a page's <form method=post enctype=multipart/form-data> sends it.
	return send(t, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, "POST", url, &b,
		"Content-Type", mw.FormDataContentType(), "Origin", "http://app.localhost:8080", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate")
}

func fieldsOf(m map[string]string, order ...string) []formField {
	var out []formField
	for _, k := range order {
		if v, ok := m[k]; ok {
			out = append(out, formField{k, v})
		}
	}
	for k, v := range m {
		found := false
		for _, o := range order {
			found = found || o == k
		}
		if !found {
			out = append(out, formField{k, v})
		}
	}
	return out
}

func objectBody(t *testing.T, c *awss3.Client, bucket, key string) (string, string) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err.Error()
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b), aws.ToString(out.ContentType)
}

// TestPostObject: browser form uploads with POST policies made by
// aws-sdk-go-v2 (PresignPostObject) and boto3 (generate_presigned_post),
// their conditions enforced, and S3's answers (204, 201 XML, 303 redirect).
func TestPostObject(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	mkBucket(t, c, "inbox")

	// aws-sdk-go-v2: an exact key and a size range.
	post, err := awss3.NewPresignClient(c).PresignPostObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("inbox"), Key: aws.String("notes/a.txt")},
		func(o *awss3.PresignPostOptions) {
			o.Conditions = []any{[]any{"content-length-range", 1, 100}}
		})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(post.URL, "/inbox") {
		t.Fatalf("presigned POST URL %s", post.URL)
	}
	a := postForm(t, post.URL, fieldsOf(post.Values, "key"), "a.txt", "first upload")
	if a.status != 204 || a.header.Get("ETag") != etagOf([]byte("first upload")) {
		t.Fatalf("SDK form upload: %d %v %s", a.status, a.header, a.body)
	}
	if body, _ := objectBody(t, c, "inbox", "notes/a.txt"); body != "first upload" {
		t.Fatalf("uploaded object: %q", body)
	}
	redirected, err := awss3.NewPresignClient(c).PresignPostObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("inbox"), Key: aws.String("notes/a.txt")},
		func(o *awss3.PresignPostOptions) {
			o.Conditions = []any{map[string]string{"success_action_redirect": "http://app.localhost:8080/done"}}
		})
	if err != nil {
		t.Fatal(err)
	}
	withRedirect := append(fieldsOf(redirected.Values, "key"), formField{"success_action_redirect", "http://app.localhost:8080/done"})
	a = postForm(t, redirected.URL, withRedirect, "a.txt", "second")
	if a.status != 303 || !strings.HasPrefix(a.header.Get("Location"), "http://app.localhost:8080/done?") ||
		!strings.Contains(a.header.Get("Location"), "key=notes%2Fa.txt") || !strings.Contains(a.header.Get("Location"), "bucket=inbox") {
		t.Fatalf("redirect after upload: %d %v %s", a.status, a.header, a.body)
	}
	for name, c := range map[string]struct {
		fields          []formField
		content         string
		status          int
		code, inMessage string
	}{
		"too large":   {fieldsOf(post.Values, "key"), strings.Repeat("x", 101), 400, "EntityTooLarge", ""},
		"too small":   {fieldsOf(post.Values, "key"), "", 400, "EntityTooSmall", ""},
		"other key":   {append([]formField{{"key", "notes/b.txt"}}, fieldsOf(post.Values)[1:]...), "x", 403, "AccessDenied", "Policy Condition failed"},
		"extra field": {append(fieldsOf(post.Values, "key"), formField{"x-amz-meta-owner", "eve"}), "x", 403, "AccessDenied", "Extra input fields: x-amz-meta-owner"},
		"no key":      {fieldsOf(post.Values)[1:], "x", 400, "InvalidArgument", "must contain a field named"},
	} {
		if name == "other key" || name == "no key" {
			// fieldsOf(…) without an order puts no field first reliably: build it.
			var fs []formField
			for k, v := range post.Values {
				if k != "key" {
					fs = append(fs, formField{k, v})
				}
			}
			if name == "other key" {
				fs = append(fs, formField{"key", "notes/b.txt"})
			}
			c.fields = fs
		}
		a := postForm(t, post.URL, c.fields, "a.txt", c.content)
		if a.status != c.status || !strings.Contains(a.body, "<Code>"+c.code+"</Code>") || !strings.Contains(a.body, c.inMessage) {
			t.Errorf("%s: %d %s, want %d %s", name, a.status, a.body, c.status, c.code)
		}
	}
	if body, _ := objectBody(t, c, "inbox", "notes/a.txt"); body != "second" {
		t.Fatalf("a refused upload changed the object: %q", body)
	}
	if _, msg := objectBody(t, c, "inbox", "notes/b.txt"); !strings.Contains(msg, "NoSuchKey") {
		t.Fatalf("a refused upload stored an object: %s", msg)
	}

	// A policy altered by the page fails its signature.
	policy, _ := base64.StdEncoding.DecodeString(post.Values["policy"])
	forged := base64.StdEncoding.EncodeToString(bytes.Replace(policy, []byte(`"notes/a.txt"`), []byte(`"notes/evil.txt"`), 1))
	var fs []formField
	for k, v := range post.Values {
		switch k {
		case "policy":
			v = forged
		case "key":
			v = "notes/evil.txt"
		}
		fs = append(fs, formField{k, v})
	}
	if a := postForm(t, post.URL, fs, "a.txt", "x"); a.status != 403 || !strings.Contains(a.body, "SignatureDoesNotMatch") {
		t.Fatalf("forged policy: %d %s", a.status, a.body)
	}
	// Without a policy the upload is anonymous: refused on a private bucket.
	if a := postForm(t, post.URL, []formField{{"key", "notes/anon.txt"}}, "a.txt", "x"); a.status != 403 || !strings.Contains(a.body, "<Code>AccessDenied</Code>") {
		t.Fatalf("anonymous form upload: %d %s", a.status, a.body)
	}

	// boto3: ${filename}, a key prefix, a content type and a 201 answer.
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		if os.Getenv("NIMBUS_REQUIRE_SDK") == "1" {
			t.Fatalf("boto3 is not importable by python3: %v", err)
		}
		t.Skip("boto3 is not importable by python3")
	}
	// boto3 signs forms with Signature Version 2 unless told s3v4: both.
	for _, version := range []string{"None", `"s3v4"`} {
		script := `
import json, boto3
from botocore.config import Config
s3 = boto3.client("s3", config=Config(signature_version=` + version + `, s3={"addressing_style": "path"}))
print(json.dumps(s3.generate_presigned_post("inbox", "photos/${filename}",
    Fields={"success_action_status": "201", "Content-Type": "text/plain"},
    Conditions=[["starts-with", "$key", "photos/"], {"success_action_status": "201"}, {"Content-Type": "text/plain"},
                ["content-length-range", 1, 1000]], ExpiresIn=600)))`
		bodyText := "meow " + version
		botoUpload(t, p, c, script, bodyText)
	}
}

func botoUpload(t *testing.T, p *testkit.Platform, c *awss3.Client, script, bodyText string) {
	t.Helper()
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(cmd.Environ(), p.AWSEnv()...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3: %v %s", err, out)
	}
	var boto struct {
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(out, &boto); err != nil {
		t.Fatalf("boto3 output %s: %v", out, err)
	}
	a := postForm(t, boto.URL, fieldsOf(boto.Fields, "key"), "cat.txt", bodyText)
	if a.status != 201 || !strings.Contains(a.body, "<Key>photos/cat.txt</Key>") || !strings.Contains(a.body, "<Bucket>inbox</Bucket>") ||
		!strings.Contains(a.body, "/inbox/photos/cat.txt</Location>") {
		t.Fatalf("boto3 form upload: %d %s", a.status, a.body)
	}
	if body, ct := objectBody(t, c, "inbox", "photos/cat.txt"); body != bodyText || ct != "text/plain" {
		t.Fatalf("boto3 upload stored %q (%s)", body, ct)
	}
}
