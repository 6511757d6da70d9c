// Package lift_test deploys serverless-lift constructs as lift users write
// them and drives them through the AWS SDK and the HTTP gateway.
package lift_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// recorder collects what functions post to it.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  [][]byte
	more chan struct{}
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{more: make(chan struct{}, 1)}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, b)
		rec.mu.Unlock()
		select {
		case rec.more <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// waitFor polls what was recorded until ok says it is enough.
func (rec *recorder) waitFor(t *testing.T, what string, ok func([][]byte) bool) [][]byte {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		rec.mu.Lock()
		got := append([][]byte(nil), rec.got...)
		rec.mu.Unlock()
		if ok(got) {
			return got
		}
		select {
		case <-rec.more:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not seen within 60 s; recorded %q", what, got)
		}
	}
}

func writeDir(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const queueYML = `service: lift
provider:
  name: aws
  runtime: nodejs20.x
  environment:
    CALLBACK: ${env:LIFT_CALLBACK}
constructs:
  jobs:
    type: queue
    maxRetries: 2
    worker:
      handler: worker.handler
      timeout: 1
functions:
  publisher:
    handler: publisher.handler
    environment:
      QUEUE_URL: ${construct:jobs.queueUrl}
plugins:
  - serverless-lift
`

// publisherJS sends its input to the queue with the AWS SDK, as lift's
// documentation shows.
const publisherJS = `const { SQSClient, SendMessageCommand } = require("@aws-sdk/client-sqs");
const sqs = new SQSClient({});
exports.handler = async (event) => {
  const out = await sqs.send(new SendMessageCommand({ QueueUrl: process.env.QUEUE_URL, MessageBody: event.body }));
  return { messageId: out.MessageId };
};
`

// workerJS posts every record to $CALLBACK and reports the ones whose body
// is "fail" as failed (lift turns on ReportBatchItemFailures).
const workerJS = `const http = require("http");
const post = (body) => new Promise((resolve, reject) => {
  const req = http.request(process.env.CALLBACK, { method: "POST" }, (res) => { res.resume(); res.on("end", resolve); });
  req.on("error", reject);
  req.end(body);
});
exports.handler = async (event) => {
  const failures = [];
  for (const r of event.Records) {
    await post(JSON.stringify({ body: r.body, receiveCount: r.attributes.ApproximateReceiveCount, source: r.eventSourceARN }));
    if (r.body === "fail") failures.push({ itemIdentifier: r.messageId });
  }
  return { batchItemFailures: failures };
};
`

func TestQueueConstruct(t *testing.T) {
	testkit.RequireSDK(t, true, false)
	rec := newRecorder(t)
	t.Setenv("LIFT_CALLBACK", rec.srv.URL)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(writeDir(t, map[string]string{"serverless.yml": queueYML, "publisher.js": publisherJS, "worker.js": workerJS}))
	ctx := context.Background()

	invoke := func(body string) {
		t.Helper()
		payload, _ := json.Marshal(map[string]string{"body": body})
		out, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("lift-dev-publisher"), Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		if out.FunctionError != nil || !strings.Contains(string(out.Payload), "messageId") {
			t.Fatalf("publisher answered %s (%v)", out.Payload, aws.ToString(out.FunctionError))
		}
	}
	invoke("hello")
	type record struct {
		Body, ReceiveCount, Source string
	}
	parse := func(got [][]byte) []record {
		var out []record
		for _, b := range got {
			var r record
			if json.Unmarshal(b, &r) == nil {
				out = append(out, r)
			}
		}
		return out
	}
	got := rec.waitFor(t, "the worker receiving the message", func(got [][]byte) bool { return len(parse(got)) > 0 })
	if r := parse(got)[0]; r.Body != "hello" || r.Source != "arn:aws:sqs:us-east-1:000000000000:lift-dev-jobs" {
		t.Errorf("worker got %+v", r)
	}

	// A message the worker keeps failing is tried maxRetries times, then
	// waits in the dead-letter queue.
	invoke("fail")
	rec.waitFor(t, "two attempts of the failing message", func(got [][]byte) bool {
		n := 0
		for _, r := range parse(got) {
			if r.Body == "fail" {
				n++
			}
		}
		return n >= 2
	})
	sqsc := sqs.NewFromConfig(p.AWSConfig())
	dlq, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("lift-dev-jobs-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(strings.TrimSuffix(aws.ToString(dlq.QueueUrl), "-dlq")),
		AttributeNames: []sqstypes.QueueAttributeName{"VisibilityTimeout", "RedrivePolicy"}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["VisibilityTimeout"] != "6" || !strings.Contains(attrs.Attributes["RedrivePolicy"], `"maxReceiveCount":2`) {
		t.Errorf("queue attributes = %v", attrs.Attributes)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			if b := aws.ToString(out.Messages[0].Body); b != "fail" {
				t.Errorf("dead-letter queue holds %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failing message did not reach the dead-letter queue within 60 s")
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range parse(rec.got) {
		if r.Body == "hello" && r.ReceiveCount != "1" {
			t.Errorf("the message that succeeded was received again: %+v", r)
		}
	}
}

const webhookYML = `service: hooks
provider:
  name: aws
  runtime: nodejs20.x
  environment:
    CALLBACK: ${env:LIFT_CALLBACK}
constructs:
  stripe:
    type: webhook
    path: /stripe
    eventType: $request.body.type
    authorizer:
      handler: auth.handler
      environment:
        SECRET: s3cret
  github:
    type: webhook
    path: /github
    insecure: true
    eventType: $request.header.X-GitHub-Event
functions:
  consumer:
    handler: consumer.handler
    events:
      - eventBridge:
          eventBus: ${construct:stripe.busName}
          pattern:
            source:
              - stripe
            detail-type:
              - invoice.paid
      - eventBridge:
          eventBus: ${construct:github.busName}
          pattern:
            source:
              - github
plugins:
  - serverless-lift
`

const consumerJS = `const http = require("http");
exports.handler = async (event) => new Promise((resolve, reject) => {
  const req = http.request(process.env.CALLBACK, { method: "POST" }, (res) => { res.resume(); res.on("end", () => resolve({})); });
  req.on("error", reject);
  req.end(JSON.stringify(event));
});
`

// authJS is lift's authorizer: payload 2.0 in, a simple response out.
const authJS = `exports.handler = async (event) => ({ isAuthorized: event.headers.authorization === process.env.SECRET });
`

func TestWebhookConstruct(t *testing.T) {
	rec := newRecorder(t)
	t.Setenv("LIFT_CALLBACK", rec.srv.URL)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox, c.HTTPAddr = true, "127.0.0.1:0" })
	out := p.Deploy(writeDir(t, map[string]string{"serverless.yml": webhookYML, "consumer.js": consumerJS, "auth.js": authJS}))
	base := p.Gateway.URL()
	// The deploy lists the webhook routes as endpoints of the service.
	if eps := strings.Join(out.Response.Endpoints, "\n"); !strings.Contains(eps, "POST "+base+"/stripe (authorizer lift-stripe)") ||
		!strings.Contains(eps, "POST "+base+"/github") {
		t.Errorf("endpoints:\n%s", eps)
	}

	post := func(path, auth string, header map[string]string, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewBufferString(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The authorizer refuses: no Authorization header is 401 before it
	// runs, a wrong one 403, as API Gateway answers.
	if code, body := post("/stripe", "", nil, `{"type":"invoice.paid"}`); code != 401 || body != `{"message":"Unauthorized"}` {
		t.Errorf("without Authorization: %d %s", code, body)
	}
	if code, body := post("/stripe", "wrong", nil, `{"type":"invoice.paid"}`); code != 403 || body != `{"message":"Forbidden"}` {
		t.Errorf("wrong secret: %d %s", code, body)
	}

	code, body := post("/stripe", "s3cret", nil, `{"type":"invoice.paid","id":"in_1"}`)
	var put struct {
		Entries []struct {
			EventId string
		}
		FailedEntryCount int
	}
	if err := json.Unmarshal([]byte(body), &put); err != nil || code != 200 || len(put.Entries) != 1 || put.Entries[0].EventId == "" || put.FailedEntryCount != 0 {
		t.Fatalf("accepted webhook: %d %s", code, body)
	}
	type event struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
		Time       string          `json:"time"`
	}
	find := func(got [][]byte, source string) *event {
		for _, b := range got {
			var e event
			if json.Unmarshal(b, &e) == nil && e.Source == source {
				return &e
			}
		}
		return nil
	}
	got := rec.waitFor(t, "the stripe event", func(got [][]byte) bool { return find(got, "stripe") != nil })
	e := find(got, "stripe")
	if e.ID != put.Entries[0].EventId || e.DetailType != "invoice.paid" || e.Version != "0" || e.Account != "000000000000" ||
		e.Region != "us-east-1" || string(e.Detail) != `{"type":"invoice.paid","id":"in_1"}` || e.Resources == nil || e.Time == "" {
		t.Errorf("stripe event = %+v (detail %s)", e, e.Detail)
	}

	// Insecure: no authorizer; the detail type from a header.
	if code, body := post("/github", "", map[string]string{"X-GitHub-Event": "push"}, `{"ref":"main"}`); code != 200 || !strings.Contains(body, `"FailedEntryCount":0`) {
		t.Fatalf("github webhook: %d %s", code, body)
	}
	got = rec.waitFor(t, "the github event", func(got [][]byte) bool { return find(got, "github") != nil })
	if e := find(got, "github"); e.DetailType != "push" || string(e.Detail) != `{"ref":"main"}` {
		t.Errorf("github event = %+v", e)
	}
	// A body that is not a JSON object is EventBridge's failed entry, still 200.
	if code, body := post("/github", "", map[string]string{"X-GitHub-Event": "push"}, `not json`); code != 200 || !strings.Contains(body, `"FailedEntryCount":1`) {
		t.Errorf("malformed detail: %d %s", code, body)
	}
}

// Lift refuses a webhook that is neither secured by an authorizer nor
// declared insecure; so does nimbus, before anything is deployed.
func TestWebhookWithoutAuthorizerRefused(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	dir := writeDir(t, map[string]string{"serverless.yml": `service: open
provider:
  name: aws
  runtime: nodejs20.x
constructs:
  hook:
    type: webhook
    path: /hook
`})
	_, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), `construct "hook" is secure by default but has no authorizer`) {
		t.Fatalf("deploy error = %v", err)
	}
	if apps, err := p.Client.Services(context.Background()); err == nil && len(apps) != 0 {
		t.Errorf("services after the refused deploy: %v", apps)
	}
}

const dataYML = `service: data
provider:
  name: aws
  runtime: nodejs20.x
constructs:
  avatars:
    type: storage
  db:
    type: database/dynamodb-single-table
    gsiCount: 1
functions:
  save:
    handler: save.handler
    environment:
      BUCKET: ${construct:avatars.bucketName}
      TABLE: ${construct:db.tableName}
plugins:
  - serverless-lift
`

// saveJS writes an object and an item with the SDK: lift lets every function
// of the service use its buckets and tables.
const saveJS = `const { S3Client, PutObjectCommand, GetObjectCommand } = require("@aws-sdk/client-s3");
const { DynamoDBClient, PutItemCommand, QueryCommand } = require("@aws-sdk/client-dynamodb");
const s3 = new S3Client({ forcePathStyle: true });
const db = new DynamoDBClient({});
exports.handler = async () => {
  await s3.send(new PutObjectCommand({ Bucket: process.env.BUCKET, Key: "a.txt", Body: "avatar" }));
  const obj = await s3.send(new GetObjectCommand({ Bucket: process.env.BUCKET, Key: "a.txt" }));
  await db.send(new PutItemCommand({ TableName: process.env.TABLE, Item: { PK: { S: "user#1" }, SK: { S: "profile" }, "GSI-1-PK": { S: "all" }, "GSI-1-SK": { S: "1" } } }));
  const q = await db.send(new QueryCommand({ TableName: process.env.TABLE, IndexName: "GSI-1", KeyConditionExpression: "#p = :v",
    ExpressionAttributeNames: { "#p": "GSI-1-PK" }, ExpressionAttributeValues: { ":v": { S: "all" } } }));
  return { object: await obj.Body.transformToString(), items: q.Count, bucket: process.env.BUCKET, table: process.env.TABLE };
};
`

func TestStorageAndTableConstructs(t *testing.T) {
	testkit.RequireSDK(t, true, false)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(writeDir(t, map[string]string{"serverless.yml": dataYML, "save.js": saveJS}))
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("data-dev-save")})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Object, Bucket, Table string
		Items                 int
	}
	if out.FunctionError != nil || json.Unmarshal(out.Payload, &got) != nil {
		t.Fatalf("save answered %s (%v)", out.Payload, aws.ToString(out.FunctionError))
	}
	if got.Object != "avatar" || got.Items != 1 || got.Bucket != "data-dev-avatarsbucket" || got.Table == "" {
		t.Errorf("save = %+v", got)
	}
}
