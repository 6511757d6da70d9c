package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// A function URL whose authorizer is aws_iam was served to anyone: the
// authorizer was accepted at deploy and never checked.
const iamURLApp = `service: urliam
provider:
  name: aws
  runtime: python3.12
functions:
  private:
    handler: handler.private
    url:
      authorizer: aws_iam
  public:
    handler: handler.private
    url: true
  allowed:
    handler: handler.call
    iamRoleStatements:
      - Effect: Allow
        Action: lambda:InvokeFunctionUrl
        Resource: arn:aws:lambda:*:*:function:urliam-dev-private
  stranger:
    handler: handler.call
    iamRoleStatements:
      - Effect: Allow
        Action: lambda:InvokeFunction
        Resource: arn:aws:lambda:*:*:function:urliam-dev-private
`

const iamURLHandler = `import json, os, urllib.request, urllib.error

def private(event, context):
    return {"statusCode": 200, "body": "the private answer"}

def call(event, context):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN"))
    req = AWSRequest(method="GET", url=event["url"])
    SigV4Auth(creds, "lambda", os.environ["AWS_REGION"]).add_auth(req)
    try:
        with urllib.request.urlopen(urllib.request.Request(event["url"], headers=dict(req.headers.items())), timeout=20) as r:
            return {"status": r.status, "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode()}
`

func TestFunctionURLWithIAMNeedsASignature(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": iamURLApp, "handler.py": iamURLHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	url := p.Gateway.URL() + "/lambda-url/urliam-dev-private/x"

	// Anonymous, and signed with a wrong secret: refused, the function not run.
	if c := do(t, "GET", url, nil); c.status != http.StatusForbidden || bytes.Contains(c.body, []byte("private answer")) {
		t.Fatalf("unsigned call of an aws_iam function URL: %d %s", c.status, c.body)
	}
	if c := do(t, "GET", url, nil, "Authorization", "AWS4-HMAC-SHA256 Credential=AKIAFORGEDFORGEDFORG/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00",
		"X-Amz-Date", "20260101T000000Z"); c.status != http.StatusForbidden {
		t.Fatalf("forged signature: %d %s", c.status, c.body)
	}
	// By host name too.
	if c := do(t, "GET", p.Gateway.URL()+"/x", nil, "Host", "urliam-dev-private.lambda-url.localhost"); c.status != http.StatusForbidden {
		t.Fatalf("unsigned call by host name: %d %s", c.status, c.body)
	}
	// Signed by an operator: served.
	req, _ := http.NewRequest("GET", url, nil)
	p.Sign(req, "lambda")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator-signed call: %d", resp.StatusCode)
	}
	// A URL without an authorizer stays public.
	if c := do(t, "GET", p.Gateway.URL()+"/lambda-url/urliam-dev-public/x", nil); c.status != http.StatusOK {
		t.Fatalf("public URL: %d %s", c.status, c.body)
	}

	// Functions sign with their own credentials: only lambda:InvokeFunctionUrl lets them in.
	testkit.RequireSDK(t, false, true)
	payload, _ := json.Marshal(map[string]string{"url": url})
	for fn, want := range map[string]int{"urliam-dev-allowed": 200, "urliam-dev-stranger": 403} {
		out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: payload})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("%s: %v %s", fn, err, out.Payload)
		}
		var got struct {
			Status int
			Body   string
		}
		if err := json.Unmarshal(out.Payload, &got); err != nil || got.Status != want {
			t.Errorf("%s called the aws_iam URL: %s, want status %d", fn, out.Payload, want)
		}
	}
}
