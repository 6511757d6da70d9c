package auth_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// errorCode reads the code of an S3 (<Error>), query (<ErrorResponse>) or
// JSON (__type) error answer.
func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.Header.Get("X-Amzn-Errortype"); v != "" {
		return v
	}
	var e struct {
		Code  string `xml:"Code"`
		Inner struct {
			Code string `xml:"Code"`
		} `xml:"Error"`
	}
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("error answer %q: %v", body, err)
	}
	if e.Code != "" {
		return e.Code
	}
	return e.Inner.Code
}

// A request signed with a clock off by more than the allowed skew (S3's 15
// minutes, the other services' 5) gets the code each service answers it with, which the AWS SDKs take as a clock skew
// (they correct their clock from the answer's Date and retry):
// RequestTimeTooSkewed from S3, SignatureDoesNotMatch from the query
// services, InvalidSignatureException from the JSON ones. S3 and the query
// protocol answered RequestExpired, which no SDK corrects on.
func TestStaleSignaturesAnswerAsEachService(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	key, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, service string, body []byte, header map[string]string, at time.Time) *http.Response {
		r, err := http.NewRequest(method, p.URL()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		if err := v4.NewSigner().SignHTTP(ctx, key, r, sha256hex(body), service, "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	jsonSQS := map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
	for _, c := range []struct {
		name, method, path, service string
		body                        string
		header                      map[string]string
		code                        string
	}{
		{"S3", "GET", "/", "s3", "", nil, "RequestTimeTooSkewed"},
		{"SNS (query)", "POST", "/", "sns", "Action=ListTopics&Version=2010-03-31", form, "SignatureDoesNotMatch"},
		{"SQS (JSON)", "POST", "/", "sqs", "{}", jsonSQS, "InvalidSignatureException"},
		{"Lambda (REST-JSON)", "GET", "/2015-03-31/functions", "lambda", "", nil, "InvalidSignatureException"},
	} {
		// 20 minutes: past S3's own window (15) as well as the others' (5).
		for _, skew := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
			resp := send(c.method, c.path, c.service, []byte(c.body), c.header, time.Now().Add(skew))
			if code := errorCode(t, resp); resp.StatusCode != http.StatusForbidden || code != c.code {
				t.Errorf("%s signed %v off: %d %s, want 403 %s", c.name, skew, resp.StatusCode, code, c.code)
			}
		}
		if resp := send(c.method, c.path, c.service, []byte(c.body), c.header, time.Now()); resp.StatusCode != http.StatusOK {
			t.Errorf("%s signed now: %d", c.name, resp.StatusCode)
		}
		// 10 minutes off: inside S3's window (15 minutes), outside the
		// others' (5).
		want := http.StatusForbidden
		if c.service == "s3" {
			want = http.StatusOK
		}
		for _, skew := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
			if resp := send(c.method, c.path, c.service, []byte(c.body), c.header, time.Now().Add(skew)); resp.StatusCode != want {
				t.Errorf("%s signed %v off: %d, want %d", c.name, skew, resp.StatusCode, want)
			}
		}
	}
}

// X-Amz-Expires is a number of seconds from 0 to 604800 (7 days); anything
// else is refused with S3's AuthorizationQueryParametersError before the
// object is read. A number past 9223372036 wrapped when it became a
// duration, and some wrapped to a valid expiry: 18447244074 seconds (584
// years) was accepted as about 6 days.
func TestPresignedExpiresIsBounded(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	s3c := awss3.NewFromConfig(p.AWSConfig(), func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("expiry")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("expiry"), Key: aws.String("k"), Body: strings.NewReader("secret")}); err != nil {
		t.Fatal(err)
	}
	key, _ := p.Credentials().Retrieve(ctx)
	presign := func(expires string) string {
		r, _ := http.NewRequest(http.MethodGet, p.URL()+"/expiry/k?X-Amz-Expires="+url.QueryEscape(expires), nil)
		u, _, err := v4.NewSigner().PresignHTTP(ctx, key, r, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, c := range []struct {
		expires string
		status  int
		code    string
	}{
		{"60", 200, ""},
		{"604800", 200, ""},
		{"604801", 400, "AuthorizationQueryParametersError"},
		{"-1", 400, "AuthorizationQueryParametersError"},
		{"ten", 400, "AuthorizationQueryParametersError"},
		{"1e3", 400, "AuthorizationQueryParametersError"},
		{"18447244074", 400, "AuthorizationQueryParametersError"},
		{"99999999999999999999", 400, "AuthorizationQueryParametersError"},
	} {
		resp, err := http.Get(presign(c.expires))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("X-Amz-Expires=%s: %d, want %d", c.expires, resp.StatusCode, c.status)
		} else if c.code != "" {
			if code := errorCode(t, resp); code != c.code {
				t.Errorf("X-Amz-Expires=%s: %s, want %s", c.expires, code, c.code)
			}
		}
		resp.Body.Close()
	}
}

// A signature covers the Host it was made for: the same request received
// under another name of the same listener is refused.
func TestSignatureOverAnotherHostIsRefused(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	key, _ := p.Credentials().Retrieve(ctx)
	u, _ := url.Parse(p.URL())
	for _, c := range []struct {
		signedHost string
		status     int
	}{
		{u.Host, 200},
		{"localhost:" + u.Port(), 403},
		{"evil.example", 403},
	} {
		r, _ := http.NewRequest(http.MethodGet, p.URL()+"/2015-03-31/functions", nil)
		r.Host = c.signedHost
		if err := v4.NewSigner().SignHTTP(ctx, key, r, sha256hex(nil), "lambda", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		r.Host = "" // sent with the URL's host
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("signed for %s, sent to %s: %d, want %d", c.signedHost, u.Host, resp.StatusCode, c.status)
		}
	}
}

// A Deny conditioned on one partition key with a plain operator
// (StringEquals, not ForAnyValue) refuses a batch that names that key among
// others: on a multi-valued key the plain operator fails closed for a Deny
// as for an Allow. It needed every value to match, so a BatchGetItem naming
// a harmless key beside the denied one read the denied one.
func TestDenyOnOneLeadingKeyRefusesABatchNamingIt(t *testing.T) {
	dir := t.TempDir()
	yml := `service: vault
provider:
  name: aws
  runtime: nodejs20.x
  iam:
    role:
      statements:
        - Effect: Allow
          Action: dynamodb:*
          Resource:
            Fn::GetAtt: [Vault, Arn]
        - Effect: Deny
          Action: dynamodb:*
          Resource:
            Fn::GetAtt: [Vault, Arn]
          Condition:
            StringEquals:
              dynamodb:LeadingKeys: secret
functions:
  fn:
    handler: handler.handler
resources:
  Resources:
    Vault:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: Vault
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
`
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": "exports.handler = async () => ({});\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	ctx := context.Background()
	admin := dynamodb.NewFromConfig(p.AWSConfig())
	for _, pk := range []string{"open", "secret"} {
		if _, err := admin.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("Vault"),
			Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}}); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := p.Auth.FunctionCredentials("vault-dev-fn", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.AWSConfig()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)
	fn := dynamodb.NewFromConfig(cfg)
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}
	}
	batch := func(pks ...string) error {
		keys := make([]map[string]ddbtypes.AttributeValue, 0, len(pks))
		for _, pk := range pks {
			keys = append(keys, key(pk))
		}
		_, err := fn.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{"Vault": {Keys: keys}}})
		return err
	}
	if err := batch("open"); err != nil {
		t.Fatalf("the open partition alone: %v", err)
	}
	if err := batch("secret"); err == nil || apiCode(t, err) != "AccessDeniedException" {
		t.Fatalf("the denied partition alone: %v", err)
	}
	if err := batch("open", "secret"); err == nil || apiCode(t, err) != "AccessDeniedException" {
		t.Fatalf("a batch naming the denied partition beside another: %v, want AccessDeniedException", err)
	}
	if _, err := fn.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("Vault"), Key: key("secret")}); err == nil {
		t.Fatal("GetItem of the denied partition was allowed")
	}
}
