package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func sqsWith(p *testkit.Platform, creds aws.CredentialsProvider) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds, Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode()
}

// A function whose statements allow sending to one queue sends there with
// the credentials in its environment, and is refused the other queue with
// AWS's AccessDenied naming its role, the action and the queue.
func TestFunctionAllowedOneQueueDeniedAnother(t *testing.T) {
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/auth/testdata/sender", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := "service: perm\nprovider:\n  name: aws\n  runtime: provided.al2023\n  timeout: 10\nfunctions:\n  sender:\n    handler: bootstrap\n    package:\n      artifact: fn.zip\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, nil)
	ctx := context.Background()
	admin := sqsWith(p, p.Credentials())
	queueURL := map[string]string{}
	for _, name := range []string{"allowed", "denied"} {
		out, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		queueURL[name] = *out.QueueUrl
	}
	_, err := p.Client.DeployWith(ctx, dir, manifest.Options{}, nil, func(app *appspec.Application) {
		f := &app.Functions[0]
		f.IAMStatements = json.RawMessage(`[{"Effect":"Allow","Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Resource":"arn:aws:sqs:us-east-1:000000000000:allowed"}]`)
		if f.Environment == nil {
			f.Environment = map[string]string{}
		}
		f.Environment["TEST_ENDPOINT"] = p.URL()
	})
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(queue string) (string, string) {
		ev, _ := json.Marshal(map[string]string{"queueUrl": queueURL[queue], "body": "to " + queue})
		out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("perm-dev-sender"), Payload: ev})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.Payload), aws.ToString(out.FunctionError)
	}
	if payload, ferr := invoke("allowed"); payload != `"sent"` || ferr != "" {
		t.Fatalf("send to the allowed queue: %s %s", ferr, payload)
	}
	payload, ferr := invoke("denied")
	want := "AccessDenied: User: arn:aws:sts::000000000000:assumed-role/perm-dev-us-east-1-lambdaRole/perm-dev-sender is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:denied because no identity-based policy allows the sqs:SendMessage action"
	if ferr == "" || !strings.Contains(payload, want) {
		t.Fatalf("send to the denied queue answered %s %s\nwant it to contain %s", ferr, payload, want)
	}
	for name, wantN := range map[string]int{"allowed": 1, "denied": 0} {
		out, err := admin.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL[name]), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) != wantN {
			t.Errorf("queue %s holds %d messages, want %d", name, len(out.Messages), wantN)
		}
	}

	// GetFunction's code link works without signing (it carries the
	// platform's signature), and not with its signature stripped.
	gf, err := p.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("perm-dev-sender")})
	if err != nil {
		t.Fatal(err)
	}
	loc := aws.ToString(gf.Code.Location)
	for u, want := range map[string]int{loc: 200, strings.Split(loc, "?")[0]: 403} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}

	// The same credentials a function gets: refused by the deploy API, and
	// dead once the function is removed.
	fc, err := p.Auth.FunctionCredentials("perm-dev-sender", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	fnClient := client.New(p.URL()).WithCredentials(client.Credentials{AccessKeyID: fc.AccessKeyID, SecretAccessKey: fc.SecretAccessKey, SessionToken: fc.SessionToken}, "us-east-1")
	if _, err := fnClient.Services(ctx); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("deploy API with a function's credentials: %v", err)
	}
	fnCreds := credentials.NewStaticCredentialsProvider(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken)
	if _, err := sqsWith(p, fnCreds).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL["allowed"]), MessageBody: aws.String("x")}); err != nil {
		t.Fatalf("function credentials before removal: %v", err)
	}
	if _, err := p.Client.Remove(ctx, "perm"); err != nil {
		t.Fatal(err)
	}
	_, err = sqsWith(p, fnCreds).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL["allowed"]), MessageBody: aws.String("x")})
	if code := apiCode(t, err); code != "UnrecognizedClientException" {
		t.Fatalf("removed function's credentials: %s", code)
	}
}

// Attacks on signatures against a real platform: each is refused with AWS's
// code and changes nothing.
func TestSignatureAttacks(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	admin := sqsWith(p, p.Credentials())
	q, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("target")})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := p.Credentials().Retrieve(ctx)
	send := func(mutate func(r *http.Request), signAt time.Time, creds aws.Credentials, service string) (int, string) {
		body := []byte(`{"QueueUrl":"` + *q.QueueUrl + `","MessageBody":"evil"}`)
		r, _ := http.NewRequest(http.MethodPost, p.URL()+"/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		sum := sha256hex(body)
		if err := v4.NewSigner().SignHTTP(ctx, creds, r, sum, service, "us-east-1", signAt); err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(r)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Type
	}
	if st, _ := send(nil, time.Now(), key, "sqs"); st != 200 {
		t.Fatalf("a correctly signed request answered %d", st)
	}
	wrong := key
	wrong.SecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	unknown := key
	unknown.AccessKeyID = "AKIAIOSFODNN7EXAMPLE"
	expiredFn, _ := p.Auth.FunctionCredentials("no-such-function", "$LATEST")
	for _, c := range []struct {
		name    string
		mutate  func(*http.Request)
		at      time.Time
		creds   aws.Credentials
		status  int
		code    string
		service string
	}{
		{"signed for another service", nil, time.Now(), key, 403, "InvalidSignatureException", "sns"},
		{"tampered header", func(r *http.Request) { r.Header.Set("X-Amz-Target", "AmazonSQS.PurgeQueue") }, time.Now(), key, 403, "InvalidSignatureException", ""},
		{"replayed after 15 minutes", nil, time.Now().Add(-15 * time.Minute), key, 403, "InvalidSignatureException", ""},
		{"wrong secret", nil, time.Now(), wrong, 403, "InvalidSignatureException", ""},
		{"unknown key", nil, time.Now(), unknown, 403, "UnrecognizedClientException", ""},
		{"session token of no function", nil, time.Now(), aws.Credentials{AccessKeyID: expiredFn.AccessKeyID, SecretAccessKey: expiredFn.SecretAccessKey, SessionToken: expiredFn.SessionToken}, 403, "UnrecognizedClientException", ""},
		{"no signature", func(r *http.Request) { r.Header.Del("Authorization") }, time.Now(), key, 403, "MissingAuthenticationTokenException", ""},
	} {
		if c.service == "" {
			c.service = "sqs"
		}
		st, code := send(c.mutate, c.at, c.creds, c.service)
		if st != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, code, c.status, c.code)
		}
	}
	// A presigned URL (query form) works as it is, and not with another query.
	pr, _ := http.NewRequest(http.MethodGet, p.URL()+"/2015-03-31/functions?MaxItems=5", nil)
	presigned, _, err := v4.NewSigner().PresignHTTP(ctx, key, pr, sha256hex(nil), "lambda", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]int{presigned: 200, strings.Replace(presigned, "MaxItems=5", "MaxItems=6", 1): 403} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("presigned GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
	attrs, err := admin.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypesName{"ApproximateNumberOfMessages"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes["ApproximateNumberOfMessages"]; n != "1" {
		t.Errorf("queue holds %s messages, want only the one correctly signed", n)
	}
}

// Operator keys: a created key works at once, a revoked key fails at once.
func TestOperatorKeysCreateAndRevoke(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	k, err := p.Client.CreateKey(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.AccessKeyID, "AKIA") || len(k.SecretAccessKey) != 40 {
		t.Fatalf("key %+v", k)
	}
	c := sqsWith(p, credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, ""))
	if _, err := c.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("new key: %v", err)
	}
	keys, err := p.Client.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v", keys, err)
	}
	if err := p.Client.RevokeKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListQueues(ctx, &sqs.ListQueuesInput{})
	if code := apiCode(t, err); code != "UnrecognizedClientException" {
		t.Fatalf("revoked key: %s", code)
	}
	// The data directory's key file is the owner's only, and survives a restart.
	st, err := os.Stat(filepath.Join(p.Config.DataDir, server.CredentialsFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	before := p.AdminKey.AccessKeyID
	p = p.Restart()
	if p.AdminKey == nil || p.AdminKey.AccessKeyID != before {
		t.Fatalf("administrator key after restart: %+v, want %s", p.AdminKey, before)
	}
	if _, err := p.Client.Services(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNoAuthRefusedOffLoopback(t *testing.T) {
	_, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Addr: "0.0.0.0:0", NoAuth: true})
	if err == nil || !strings.Contains(err.Error(), "--no-auth is refused") {
		t.Fatalf("--no-auth on 0.0.0.0: %v", err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoAuth = true })
	if _, err := client.New(p.URL()).Services(context.Background()); err != nil {
		t.Fatalf("unsigned call with --no-auth: %v", err)
	}
}

// The AWS CLI and boto3, as users run them after eval "$(nimbus env)".
func TestAWSCLIAndBoto3(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	p := testkit.Start(t, nil)
	run := func(env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(append(os.Environ(), p.AWSEnv()...), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{
		{"sqs", "create-queue", "--queue-name", "cli"},
		{"sns", "create-topic", "--name", "cli"},
		{"events", "put-rule", "--name", "cli", "--event-pattern", `{"source":["x"]}`},
		{"lambda", "list-functions"},
	} {
		if out, err := run(nil, "aws", append([]string{"--endpoint-url", p.URL()}, args...)...); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
	}
	for _, c := range []struct {
		env  string
		args []string
		want string
	}{
		{"AWS_SECRET_ACCESS_KEY=wrong", []string{"sns", "list-topics"}, "SignatureDoesNotMatch"},
		{"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", []string{"sns", "list-topics"}, "InvalidClientTokenId"},
		{"AWS_SECRET_ACCESS_KEY=wrong", []string{"lambda", "list-functions"}, "InvalidSignatureException"},
		{"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", []string{"events", "list-rules"}, "UnrecognizedClientException"},
	} {
		out, err := run([]string{c.env}, "aws", append([]string{"--endpoint-url", p.URL()}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("aws %v with %s: %v %s, want %s", c.args, c.env, err, out, c.want)
		}
	}
	script := `
import os, boto3, botocore
for svc, call in [("sqs", "list_queues"), ("sns", "list_topics"), ("events", "list_rules"), ("lambda", "list_functions")]:
    getattr(boto3.client(svc), call)()
try:
    boto3.client("sqs", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong").list_queues()
    print("WRONG SECRET ACCEPTED")
except botocore.exceptions.ClientError as e:
    print("refused", e.response["Error"]["Code"])
print("ok")
`
	out, err := run(nil, "python3", "-c", script)
	if err != nil || !strings.Contains(out, "ok") || strings.Contains(out, "ACCEPTED") || !strings.Contains(out, "refused") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

type sqstypesName = sqstypes.QueueAttributeName

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// An instance retires before its credentials expire: the next invocation
// gets a fresh instance with fresh credentials, and no call fails.
func TestCredentialsRenewedByRetiringInstances(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	dir := t.TempDir()
	yml := "service: renew\nprovider:\n  name: aws\n  runtime: nodejs20.x\n  timeout: 3\nfunctions:\n  who:\n    handler: h.who\n"
	js := "exports.who = async () => ({id: process.env.AWS_ACCESS_KEY_ID, token: (process.env.AWS_SESSION_TOKEN || '').length > 0, secret: (process.env.AWS_SECRET_ACCESS_KEY || '').length});\n"
	for name, body := range map[string]string{"serverless.yml": yml, "h.js": js} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Credentials live 10 min + timeout + 2 s: instances retire 2 s after they start.
	p := testkit.Start(t, func(c *server.Config) { c.CredentialLifetime = 10*time.Minute + 5*time.Second })
	p.Deploy(dir)
	ctx := context.Background()
	type who struct {
		ID     string `json:"id"`
		Token  bool   `json:"token"`
		Secret int    `json:"secret"`
	}
	call := func() who {
		t.Helper()
		out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("renew-dev-who")})
		if err != nil {
			t.Fatal(err)
		}
		if out.FunctionError != nil {
			t.Fatalf("function error: %s", out.Payload)
		}
		var w who
		if err := json.Unmarshal(out.Payload, &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	first := call()
	if !strings.HasPrefix(first.ID, "ASIA") || !first.Token || first.Secret != 40 {
		t.Fatalf("instance environment: %+v", first)
	}
	time.Sleep(2500 * time.Millisecond)
	if later := call(); later.ID == first.ID || !strings.HasPrefix(later.ID, "ASIA") {
		t.Fatalf("after the instance's retirement time the credentials are still %s", later.ID)
	}
}

// What a web page in the user's browser can send without a preflight
// (text/plain and form bodies, no signature) is refused and changes nothing,
// even by a client that sends no Origin.
func TestWebPageRequestsRefused(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	for _, c := range []struct{ path, contentType, body, code string }{
		{"/", "application/x-www-form-urlencoded", "Action=CreateQueue&QueueName=pwned", "MissingAuthenticationToken"},
		{"/nimbus/v1/services", "text/plain", `{"service":"pwned","stage":"dev","region":"us-east-1","functions":[]}`, "MissingAuthenticationTokenException"},
		{"/nimbus/v1/keys", "text/plain", `{"name":"pwned"}`, "MissingAuthenticationTokenException"},
		{"/2015-03-31/functions/any/invocations", "text/plain", `{}`, "MissingAuthenticationTokenException"},
	} {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.contentType)
		// No Origin: the listener's guard refuses those before the signature
		// check (internal/server's tests); this is what gets past it.
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(b.String()+resp.Header.Get("X-Amzn-ErrorType"), c.code) {
			t.Errorf("POST %s: %d %s, want 403 %s", c.path, resp.StatusCode, b.String(), c.code)
		}
	}
	if out, err := sqsWith(p, p.Credentials()).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil || len(out.QueueUrls) != 0 {
		t.Errorf("queues after the attempts: %v %v", out.QueueUrls, err)
	}
	if keys, err := p.Client.ListKeys(ctx); err != nil || len(keys) != 1 {
		t.Errorf("keys after the attempts: %v %v", keys, err)
	}
}
