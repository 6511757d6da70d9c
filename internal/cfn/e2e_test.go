package cfn_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// envHandler returns the variables the test looks at.
const envHandler = `exports.handler = async () => {
  const out = {};
  for (const k of ["QUEUE_URL", "QUEUE_ARN", "TOPIC_ARN", "BUS_ARN", "BUS_NAME", "PREFIX", "SELF_ARN", "IMPORTED", "PARTS"]) {
    if (process.env[k] !== undefined) out[k] = process.env[k];
  }
  return out;
};
`

const exporterYML = `service: refs
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
  environment:
    TOPIC_ARN: {Ref: Alerts}
functions:
  env:
    handler: handler.handler
    environment:
      QUEUE_URL: {Ref: Jobs}
      QUEUE_ARN: !GetAtt Jobs.Arn
      BUS_ARN:
        Fn::GetAtt: [Bus, Arn]
      BUS_NAME: !Ref Bus
      PREFIX: !Sub "${AWS::StackName}-${AWS::Region}-${AWS::AccountId}-${Jobs.QueueName}"
      SELF_ARN: !GetAtt EnvLambdaFunction.Arn
      PARTS: !Join [",", [!Select [3, !Split [":", !GetAtt Jobs.Arn]], !Ref "AWS::Partition"]]
    events:
      - sqs:
          arn: !GetAtt Jobs.Arn
      - eventBridge:
          eventBus: !Ref Bus
          pattern:
            source: [refs.test]
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
    Alerts:
      Type: AWS::SNS::Topic
    Bus:
      Type: AWS::Events::EventBus
      Properties:
        Name: refs-bus
  Outputs:
    JobsUrl:
      Value: !Ref Jobs
      Export:
        Name: !Sub "${AWS::StackName}-JobsUrl"
`

const importerYML = `service: importer
provider:
  name: aws
  runtime: nodejs20.x
functions:
  env:
    handler: handler.handler
    environment:
      IMPORTED: !ImportValue refs-dev-JobsUrl
`

func writeService(t *testing.T, yml string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": envHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func invokeEnv(t *testing.T, p *testkit.Platform, function string) map[string]string {
	t.Helper()
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(function)})
	if err != nil {
		t.Fatalf("invoke %s: %v", function, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("invoke %s: %s: %s", function, *out.FunctionError, out.Payload)
	}
	env := map[string]string{}
	if err := json.Unmarshal(out.Payload, &env); err != nil {
		t.Fatalf("payload %s: %v", out.Payload, err)
	}
	return env
}

// A function's environment gets the real URL and ARNs of the queue, topic and
// bus its service declares, in the service's region, and a second service
// imports an export of the first.
func TestReferencesEndToEnd(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	ctx := context.Background()
	out := p.Deploy(writeService(t, exporterYML))
	if len(out.Project.Warnings) != 0 {
		t.Errorf("warnings: %v", out.Project.Warnings)
	}
	env := invokeEnv(t, p, "refs-dev-env")

	creds := p.Credentials()
	sqsc := sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	url, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("refs-dev-Jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if env["QUEUE_URL"] != *url.QueueUrl {
		t.Errorf("QUEUE_URL = %q, SQS says the queue is at %q", env["QUEUE_URL"], *url.QueueUrl)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(env["QUEUE_URL"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("the queue URL from the environment does not work: %v", err)
	}
	wantQueueARN := "arn:aws:sqs:eu-west-1:000000000000:refs-dev-Jobs"
	if got := attrs.Attributes["QueueArn"]; got != wantQueueARN || env["QUEUE_ARN"] != wantQueueARN {
		t.Errorf("queue ARN: SQS says %q, environment %q, want %q", got, env["QUEUE_ARN"], wantQueueARN)
	}

	snsc := sns.New(sns.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	topics, err := snsc.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil {
		t.Fatal(err)
	}
	wantTopicARN := "arn:aws:sns:eu-west-1:000000000000:refs-dev-Alerts"
	found := false
	for _, tp := range topics.Topics {
		found = found || *tp.TopicArn == wantTopicARN
	}
	if !found || env["TOPIC_ARN"] != wantTopicARN {
		t.Errorf("TOPIC_ARN = %q; want %q among the topics %v", env["TOPIC_ARN"], wantTopicARN, topics.Topics)
	}
	if _, err := snsc.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(env["TOPIC_ARN"]), Message: aws.String("hi")}); err != nil {
		t.Errorf("publish to the topic ARN from the environment: %v", err)
	}

	ebc := eventbridge.New(eventbridge.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	bus, err := ebc.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("refs-bus")})
	if err != nil {
		t.Fatal(err)
	}
	if env["BUS_ARN"] != *bus.Arn || env["BUS_ARN"] != "arn:aws:events:eu-west-1:000000000000:event-bus/refs-bus" || env["BUS_NAME"] != "refs-bus" {
		t.Errorf("BUS_ARN = %q, BUS_NAME = %q; EventBridge says %q", env["BUS_ARN"], env["BUS_NAME"], *bus.Arn)
	}
	rules, err := ebc.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String("refs-bus")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 1 || !strings.HasPrefix(*rules.Rules[0].Arn, "arn:aws:events:eu-west-1:000000000000:rule/refs-bus/") {
		t.Errorf("rules of refs-bus: %+v, want one rule with an eu-west-1 ARN", rules.Rules)
	}

	if want := "refs-dev-eu-west-1-000000000000-refs-dev-Jobs"; env["PREFIX"] != want {
		t.Errorf("PREFIX = %q, want %q", env["PREFIX"], want)
	}
	if want := "arn:aws:lambda:eu-west-1:000000000000:function:refs-dev-env"; env["SELF_ARN"] != want {
		t.Errorf("SELF_ARN = %q, want %q", env["SELF_ARN"], want)
	}
	if env["PARTS"] != "eu-west-1,aws" {
		t.Errorf("PARTS = %q", env["PARTS"])
	}
	fn, err := p.Lambda().GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("refs-dev-env")})
	if err != nil {
		t.Fatal(err)
	}
	if *fn.FunctionArn != env["SELF_ARN"] {
		t.Errorf("Lambda says the function is %s", *fn.FunctionArn)
	}

	p.Deploy(writeService(t, importerYML))
	if got := invokeEnv(t, p, "importer-dev-env")["IMPORTED"]; got != env["QUEUE_URL"] {
		t.Errorf("IMPORTED = %q, want the exported queue URL %q", got, env["QUEUE_URL"])
	}

	// What cannot resolve refuses the deploy and leaves the running version.
	bad := strings.Replace(importerYML, "refs-dev-JobsUrl", "nobody-exports-this", 1)
	_, err = p.Client.Deploy(ctx, writeService(t, bad), manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), `no deployed service exports "nobody-exports-this"`) {
		t.Errorf("deploy with a missing import: err = %v", err)
	}
	if got := invokeEnv(t, p, "importer-dev-env")["IMPORTED"]; got != env["QUEUE_URL"] {
		t.Errorf("after the refused deploy IMPORTED = %q", got)
	}
	clash := strings.Replace(exporterYML, "service: refs", "service: clash", 1)
	clash = strings.Replace(clash, `Name: !Sub "${AWS::StackName}-JobsUrl"`, "Name: refs-dev-JobsUrl", 1)
	clash = strings.Replace(clash, "Name: refs-bus", "Name: clash-bus", 1)
	_, err = p.Client.Deploy(ctx, writeService(t, clash), manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), `export "refs-dev-JobsUrl" is already exported by service refs`) {
		t.Errorf("deploy exporting a taken name: err = %v", err)
	}

	// An export in use stays: the exporter can neither drop it nor go.
	_, err = p.Client.Remove(ctx, "refs")
	if err == nil || !strings.Contains(err.Error(), `export "refs-dev-JobsUrl" is imported by service importer`) {
		t.Errorf("remove of a service whose export is imported: err = %v", err)
	}
	dropped := strings.Replace(exporterYML, "      Export:\n        Name: !Sub \"${AWS::StackName}-JobsUrl\"\n", "", 1)
	if dropped == exporterYML {
		t.Fatal("the test's manifest changed")
	}
	_, err = p.Client.Deploy(ctx, writeService(t, dropped), manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), `export "refs-dev-JobsUrl" is imported by service importer`) {
		t.Errorf("deploy dropping an export in use: err = %v", err)
	}
	if _, err := p.Client.Remove(ctx, "importer"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Remove(ctx, "refs"); err != nil {
		t.Errorf("remove once the export is no longer imported: %v", err)
	}
}

// recorderHandler posts every event it gets to $CALLBACK.
const recorderHandler = `const http = require("http");
exports.handler = async (event) => new Promise((resolve, reject) => {
  const req = http.request(process.env.CALLBACK, { method: "POST" }, (res) => { res.resume(); res.on("end", () => resolve({})); });
  req.on("error", reject);
  req.end(JSON.stringify(event));
});
`

// Events from a queue of a service in eu-west-1 name the queue by its
// eu-west-1 ARN and region, as Lambda's do.
func TestEventSourcesInTheServiceRegion(t *testing.T) {
	got := make(chan []byte, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer cb.Close()
	yml := `service: regional
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
functions:
  rec:
    handler: handler.handler
    environment:
      CALLBACK: ` + cb.URL + `
    events:
      - sqs:
          arn: !GetAtt Jobs.Arn
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
`
	dir := t.TempDir()
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": recorderHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	ctx := context.Background()
	sqsc := sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: p.Credentials()})
	url, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("regional-dev-Jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Records []struct {
			EventSourceARN string `json:"eventSourceARN"`
			AWSRegion      string `json:"awsRegion"`
			Body           string `json:"body"`
		}
	}
	select {
	case b := <-got:
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("event %s: %v", b, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the function was not invoked for the message")
	}
	if len(ev.Records) != 1 || ev.Records[0].EventSourceARN != "arn:aws:sqs:eu-west-1:000000000000:regional-dev-Jobs" ||
		ev.Records[0].AWSRegion != "eu-west-1" || ev.Records[0].Body != "hello" {
		t.Errorf("records = %+v", ev.Records)
	}
}

// A topic's inline Subscription property subscribes the queue it names.
func TestTopicInlineSubscription(t *testing.T) {
	yml := `service: inline
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
functions:
  env:
    handler: handler.handler
resources:
  Resources:
    Inbox:
      Type: AWS::SQS::Queue
    News:
      Type: AWS::SNS::Topic
      Properties:
        Subscription:
          - Protocol: sqs
            Endpoint: !GetAtt Inbox.Arn
`
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(writeService(t, yml))
	ctx := context.Background()
	creds := p.Credentials()
	snsc := sns.New(sns.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	if _, err := snsc.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:eu-west-1:000000000000:inline-dev-News"), Message: aws.String("extra")}); err != nil {
		t.Fatal(err)
	}
	sqsc := sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	url, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("inline-dev-Inbox")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, WaitTimeSeconds: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.Contains(*out.Messages[0].Body, `"Message":"extra"`) {
		t.Fatalf("messages = %+v", out.Messages)
	}
}

// An async failure goes to the topic a service in eu-west-1 names with Ref:
// the destination's ARN and the topic's agree on the region.
func TestDestinationTopicInTheServiceRegion(t *testing.T) {
	yml := `service: dest
provider:
  name: aws
  runtime: nodejs20.x
  region: eu-west-1
functions:
  fails:
    handler: handler.handler
    maximumRetryAttempts: 0
    destinations:
      onFailure: !Ref Failures
resources:
  Resources:
    Inbox:
      Type: AWS::SQS::Queue
    Failures:
      Type: AWS::SNS::Topic
      Properties:
        Subscription:
          - Protocol: sqs
            Endpoint: !GetAtt Inbox.Arn
`
	dir := t.TempDir()
	for name, content := range map[string]string{"serverless.yml": yml, "handler.js": `exports.handler = async () => { throw new Error("boom"); };`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	ctx := context.Background()
	if _, err := p.Lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("dest-dev-fails"), InvocationType: "Event", Payload: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	sqsc := sqs.New(sqs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(p.URL()), Credentials: p.Credentials()})
	url, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("dest-dev-Inbox")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, WaitTimeSeconds: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			body := *out.Messages[0].Body
			if !strings.Contains(body, `arn:aws:sns:eu-west-1:000000000000:dest-dev-Failures`) || !strings.Contains(body, "boom") {
				t.Errorf("message = %s", body)
			}
			return
		}
	}
	t.Fatal("the failure record never reached the topic's queue")
}

// A deploy sent straight to the platform (no CLI checks) whose references
// double at every step is refused quickly, and the platform keeps serving.
func TestReferenceBombIsRefusedByThePlatform(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	res := `"Q0":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"q"}}`
	for i := 1; i <= 60; i++ {
		res += fmt.Sprintf(`,"Q%d":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":{"Fn::Sub":"${Q%d.QueueName}${Q%d.QueueName}"}}}`, i, i-1, i-1)
	}
	// A real package, so that only the references can be at fault.
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, err := zw.Create("h.js")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(envHandler))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(zipped.Bytes())
	digest := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/nimbus/v1/code/"+digest, bytes.NewReader(zipped.Bytes()))
	req.Header.Set("Content-Type", "application/zip")
	p.Sign(req, "nimbus")
	up, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	up.Body.Close()
	if up.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", up.Status)
	}
	app := `{"service":"bomb","stage":"dev","region":"us-east-1","resources":{"Resources":{` + res + `}},
		"functions":[{"key":"f","name":"bomb-dev-f","handler":"h.handler","runtime":"nodejs20.x","memorySize":128,"timeout":3,
		"architecture":"x86_64","environmentRefs":{"BIG":{"Fn::GetAtt":["Q60","QueueName"]}},
		"code":{"sha256":"` + digest + `","size":` + fmt.Sprint(zipped.Len()) + `}}]}`
	start := time.Now()
	dreq, _ := http.NewRequest(http.MethodPost, p.URL()+"/nimbus/v1/services", strings.NewReader(app))
	dreq.Header.Set("Content-Type", "application/json")
	p.Sign(dreq, "nimbus")
	resp, err := http.DefaultClient.Do(dreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "simplify them") {
		t.Fatalf("deploy answered %d %s", resp.StatusCode, body)
	}
	t.Logf("refused in %v", time.Since(start))
	p.Deploy(writeService(t, importerYML[:strings.Index(importerYML, "    environment:")]))
	if _, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("importer-dev-env")}); err != nil {
		t.Fatalf("the platform no longer serves: %v", err)
	}
}
