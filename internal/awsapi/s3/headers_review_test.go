package s3_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// Form uploads store header values as the form sends them, CR, LF and NUL
// included (a signed policy may allow them); GetObject, on the API
// listener's fast path, must not let them start header lines of their own.
func TestObjectHeaderValuesCannotSplitAnswers(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	mkBucket(t, c, "splits")
	evil := map[string]string{
		"x-amz-meta-note":     "a\r\nSet-Cookie: injected=1",
		"x-amz-meta-nul":      "a\x00b\nX-Injected: 1",
		"content-disposition": "attachment\r\n\r\n<html>injected body",
		"cache-control":       "no-cache\rX-Injected: 2",
		"content-type":        "text/plain\nX-Injected: 3",
	}
	post, err := awss3.NewPresignClient(c).PresignPostObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("splits"), Key: aws.String("o")},
		func(o *awss3.PresignPostOptions) {
			for k, v := range evil {
				o.Conditions = append(o.Conditions, map[string]string{k: v})
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	fields := fieldsOf(post.Values, "key")
	for k, v := range evil {
		fields = append(fields, formField{k, v})
	}
	if a := postForm(t, post.URL, fields, "o", "body"); a.status != 204 {
		t.Fatalf("form upload: %d %s", a.status, a.body)
	}

	// Read the answer's head as bytes: one response, none of the values a line.
	u, _ := url.Parse(p.URL())
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, p.URL()+"/splits/o", nil)
		p.Sign(req, "s3")
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(conn)
	for _, method := range []string{"GET", "HEAD"} {
		var head []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v after %q", method, err, head)
			}
			if line == "\r\n" {
				break
			}
			if !strings.HasSuffix(line, "\r\n") || strings.ContainsAny(strings.TrimSuffix(line, "\r\n"), "\r\n") {
				t.Errorf("%s: a bare line break in %q", method, line)
			}
			head = append(head, line)
		}
		if !strings.HasPrefix(head[0], "HTTP/1.1 200") {
			t.Fatalf("%s: %q", method, head)
		}
		for _, l := range head[1:] {
			name, _, _ := strings.Cut(l, ":")
			switch strings.ToLower(name) {
			case "set-cookie", "x-injected", "<html>injected body":
				t.Errorf("%s: an injected header line %q", method, l)
			}
		}
		if method == "GET" {
			body := make([]byte, 4)
			if _, err := br.Read(body); err != nil || string(body) != "body" {
				t.Errorf("GET body %q %v", body, err)
			}
		}
	}
}
