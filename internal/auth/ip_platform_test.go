package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// IpAddress and NotIpAddress against a real platform: every caller here
// reaches it from 127.0.0.1, the function's instance too, and aws:SourceIp
// is that address whatever X-Forwarded-For claims.
func TestSourceIPConditionsOnAPlatform(t *testing.T) {
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/auth/testdata/sender", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := "service: ipc\nprovider:\n  name: aws\n  runtime: provided.al2023\n  timeout: 10\nfunctions:\n  sender:\n    handler: bootstrap\n    package:\n      artifact: fn.zip\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	ctx := context.Background()
	admin := sqsWith(p, p.Credentials())
	queueURL := map[string]string{}
	for _, name := range []string{"near", "far", "fenced"} {
		out, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		queueURL[name] = *out.QueueUrl
	}
	const arn = "arn:aws:sqs:us-east-1:000000000000:"
	statements := `[
	 {"Effect":"Allow","Action":"sqs:SendMessage","Resource":"` + arn + `near","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","127.0.0.0/8","::1/128"]}}},
	 {"Effect":"Allow","Action":"sqs:SendMessage","Resource":"` + arn + `far","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}},
	 {"Effect":"Allow","Action":"sqs:SendMessage","Resource":"` + arn + `fenced"},
	 {"Effect":"Deny","Action":"sqs:SendMessage","Resource":"` + arn + `fenced","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}},
	 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::ipbucket/*"}]`
	_, err := p.Client.DeployWith(ctx, dir, manifest.Options{}, nil, func(app *appspec.Application) {
		f := &app.Functions[0]
		f.IAMStatements = json.RawMessage(statements)
		if f.Environment == nil {
			f.Environment = map[string]string{}
		}
		f.Environment["TEST_ENDPOINT"] = p.URL()
	})
	if err != nil {
		t.Fatal(err)
	}

	// From inside the function's instance.
	invoke := func(queue string) (string, string) {
		ev, _ := json.Marshal(map[string]string{"queueUrl": queueURL[queue], "body": "to " + queue})
		out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("ipc-dev-sender"), Payload: ev})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.Payload), aws.ToString(out.FunctionError)
	}
	if payload, ferr := invoke("near"); payload != `"sent"` || ferr != "" {
		t.Errorf("function to near (IpAddress holds its address): %s %s", ferr, payload)
	}
	if payload, ferr := invoke("far"); ferr == "" || !strings.Contains(payload, "because no identity-based policy allows") {
		t.Errorf("function to far (IpAddress another network): %s %s", ferr, payload)
	}
	if payload, ferr := invoke("fenced"); ferr == "" || !strings.Contains(payload, "with an explicit deny") {
		t.Errorf("function to fenced (NotIpAddress denies): %s %s", ferr, payload)
	}

	// With the function's credentials from here, claiming another address
	// in the headers a proxy would add: the connection's address counts.
	fc, err := p.Auth.FunctionCredentials("ipc-dev-sender", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	fnCreds := credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)
	fnSQS := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: fnCreds,
		Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()}, sqs.WithAPIOptions(withForwardedFor("192.0.2.9")))
	for queue, want := range map[string]string{"near": "", "far": "AccessDenied", "fenced": "AccessDenied"} {
		_, err := fnSQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL[queue]), MessageBody: aws.String("x")})
		if got := codeOf(err); got != want && !(want == "AccessDenied" && strings.Contains(got, "AccessDenied")) {
			t.Errorf("SendMessage to %s with the function's credentials: %v, want %q", queue, err, want)
		}
	}

	// A bucket policy: an operator's writes are not bound by it, the
	// function's are refused from 127.0.0.0/8 and its reads allowed off
	// 10.0.0.0/8.
	s3admin := awss3.NewFromConfig(p.AWSConfig(), func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := s3admin.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("ipbucket")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("ipbucket"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::ipbucket/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},
	 {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::ipbucket/*","Condition":{"NotIpAddress":{"aws:SourceIp":["127.0.0.0/8","::1/128"]}}},
	 {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::ipbucket","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.1/32"}}}]}`
	if _, err := s3admin.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("ipbucket"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	fnS3 := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: fnCreds, UsePathStyle: true,
		Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()}, awss3.WithAPIOptions(withForwardedFor("192.0.2.9")))
	if _, err := fnS3.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("ipbucket"), Key: aws.String("k")}); err != nil {
		t.Errorf("GetObject from 127.0.0.1 (the Deny is NotIpAddress 127.0.0.0/8): %v", err)
	}
	if _, err := fnS3.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("ipbucket"), Key: aws.String("k2"), Body: strings.NewReader("v")}); codeOf(err) != "AccessDenied" {
		t.Errorf("PutObject from 127.0.0.1 (denied by IpAddress 127.0.0.0/8): %v, want AccessDenied", err)
	}
	// The identity policy does not allow ListBucket; the bucket policy does,
	// for this address.
	if _, err := fnS3.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("ipbucket")}); err != nil {
		t.Errorf("ListObjectsV2 allowed by the bucket policy's IpAddress: %v", err)
	}
}

// codeOf is an API error's code, "" for none.
func codeOf(err error) string {
	var ae smithy.APIError
	if err == nil {
		return ""
	}
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

// withForwardedFor adds the headers a proxy in front of the platform
// would, naming addr as the client.
func withForwardedFor(addr string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Build.Add(middleware.BuildMiddlewareFunc("forwardedFor", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if r, ok := in.Request.(*smithyhttp.Request); ok {
				r.Header.Set("X-Forwarded-For", addr)
				r.Header.Set("X-Real-Ip", addr)
				r.Header.Set("Forwarded", "for="+addr)
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
	}
}
