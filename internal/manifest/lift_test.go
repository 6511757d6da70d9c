package manifest

import (
	"encoding/json"
	"strings"
	"testing"
)

const liftManifest = `service: shop
provider:
  name: aws
  runtime: nodejs20.x
plugins:
  - serverless-lift
constructs:
  jobs:
    type: queue
    maxRetries: 2
    batchSize: 5
    maxBatchingWindow: 4
    maxConcurrency: 3
    delay: 10
    worker:
      handler: handler.hello
      timeout: 10
      memorySize: 256
  orders:
    type: queue
    fifo: true
    worker:
      handler: handler.hello
  stripe:
    type: webhook
    path: /stripe
    eventType: $request.body.type
    authorizer:
      handler: handler.hello
  github:
    type: webhook
    path: /gh
    method: put
    insecure: true
functions:
  publisher:
    handler: handler.hello
    environment:
      QUEUE_URL: ${construct:jobs.queueUrl}
      DLQ_URL: ${construct:jobs.dlqUrl}
      BUS: ${construct:stripe.busName}
`

func TestLiftConstructs(t *testing.T) {
	p := mustLoad(t, map[string]string{"serverless.yml": liftManifest, "handler.js": handlerJS}, Options{})
	if len(p.Warnings) != 0 {
		t.Errorf("warnings: %v", p.Warnings)
	}
	worker := p.Function("jobsWorker")
	if worker == nil || worker.Name != "shop-dev-jobsWorker" || worker.Timeout != 10 || worker.MemorySize != 256 {
		t.Fatalf("worker = %+v", worker)
	}
	if len(worker.Events) != 1 || worker.Events[0].Type != "sqs" {
		t.Fatalf("worker events = %+v", worker.Events)
	}
	var sqs map[string]any
	if err := json.Unmarshal(worker.Events[0].Properties, &sqs); err != nil {
		t.Fatal(err)
	}
	wantSQS := `{"arn":{"Fn::GetAtt":["JobsQueue","Arn"]},"batchSize":5,"functionResponseType":"ReportBatchItemFailures","maximumBatchingWindow":4,"maximumConcurrency":3}`
	if got, _ := json.Marshal(sqs); string(got) != wantSQS {
		t.Errorf("sqs event = %s, want %s", got, wantSQS)
	}
	if p.Function("stripeAuthorizer") == nil || p.Function("githubAuthorizer") != nil {
		t.Errorf("authorizer functions: stripe %v github %v", p.Function("stripeAuthorizer"), p.Function("githubAuthorizer"))
	}

	var res struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(p.App.Resources, &res); err != nil {
		t.Fatal(err)
	}
	q := res.Resources["JobsQueue"].Properties
	if q["QueueName"] != "shop-dev-jobs" || q["VisibilityTimeout"] != float64(64) || q["DelaySeconds"] != float64(10) {
		t.Errorf("JobsQueue = %v", q)
	}
	if rp, _ := json.Marshal(q["RedrivePolicy"]); string(rp) != `{"deadLetterTargetArn":{"Fn::GetAtt":["JobsDlq","Arn"]},"maxReceiveCount":2}` {
		t.Errorf("RedrivePolicy = %s", rp)
	}
	dlq := res.Resources["JobsDlq"].Properties
	if dlq["QueueName"] != "shop-dev-jobs-dlq" || dlq["MessageRetentionPeriod"] != float64(1209600) {
		t.Errorf("JobsDlq = %v", dlq)
	}
	fq := res.Resources["OrdersQueue"].Properties
	if fq["QueueName"] != "shop-dev-orders.fifo" || fq["FifoQueue"] != true || fq["ContentBasedDeduplication"] != true || fq["VisibilityTimeout"] != float64(36) {
		t.Errorf("OrdersQueue = %v", fq)
	}
	if n := res.Resources["OrdersDlq"].Properties["QueueName"]; n != "shop-dev-orders-dlq.fifo" {
		t.Errorf("OrdersDlq name = %v", n)
	}
	if b := res.Resources["StripeBus"]; b.Type != "AWS::Events::EventBus" || b.Properties["Name"] != "shop-dev-stripe" {
		t.Errorf("StripeBus = %+v", b)
	}

	pub := p.Function("publisher")
	for k, want := range map[string]string{"QUEUE_URL": `{"Ref":"JobsQueue"}`, "DLQ_URL": `{"Ref":"JobsDlq"}`, "BUS": `{"Ref":"StripeBus"}`} {
		if got := string(pub.EnvironmentRefs[k]); got != want {
			t.Errorf("publisher %s = %s, want %s", k, got, want)
		}
	}
	// Every function may send to both queues.
	for _, fn := range p.App.Functions {
		s := string(fn.IAMStatements)
		if !strings.Contains(s, `"sqs:SendMessage"`) || !strings.Contains(s, `["JobsQueue","Arn"]`) || !strings.Contains(s, `["OrdersQueue","Arn"]`) {
			t.Errorf("function %s statements = %s", fn.Key, s)
		}
	}

	if len(p.App.EventRoutes) != 2 {
		t.Fatalf("event routes = %+v", p.App.EventRoutes)
	}
	s, g := p.App.EventRoutes[0], p.App.EventRoutes[1]
	if s.Method != "POST" || s.Path != "/stripe" || s.Authorizer != "lift-stripe" || s.Source != "stripe" ||
		s.DetailType != "$request.body.type" || s.EventBusName != "shop-dev-stripe" {
		t.Errorf("stripe route = %+v", s)
	}
	if g.Method != "PUT" || g.Authorizer != "" || g.DetailType != "Webhook" {
		t.Errorf("github route = %+v", g)
	}
	var api struct {
		Authorizers map[string]map[string]any
	}
	if err := json.Unmarshal(p.App.HTTP.HTTPAPI, &api); err != nil {
		t.Fatal(err)
	}
	if a := api.Authorizers["lift-stripe"]; a["functionName"] != "stripeAuthorizer" || a["enableSimpleResponses"] != true {
		t.Errorf("authorizer = %v", a)
	}
}

func TestLiftConstructErrors(t *testing.T) {
	cases := []struct {
		name, constructs, want string
	}{
		{"webhook without authorizer", "  hook:\n    type: webhook\n    path: /hook\n", "is secure by default but has no authorizer"},
		{"webhook insecure with authorizer", "  hook:\n    type: webhook\n    path: /hook\n    insecure: true\n    authorizer:\n      handler: handler.hello\n", "is declared insecure but has an authorizer"},
		{"webhook without path", "  hook:\n    type: webhook\n    insecure: true\n", "path is required"},
		{"queue without worker", "  jobs:\n    type: queue\n", "require a worker"},
		{"bad variable", "  jobs:\n    type: queue\n    worker:\n      handler: handler.hello\nfunctions:\n  f:\n    handler: handler.hello\n    environment:\n      X: ${construct:jobs.nope}\n", `has no variable "nope" (it has dlqArn, dlqUrl, queueArn, queueUrl)`},
		{"unknown type", "  x:\n    type: spaceship\n", `unknown construct type "spaceship"`},
		{"delay too long", "  jobs:\n    type: queue\n    delay: 901\n    worker:\n      handler: handler.hello\n", "delay 901 must be between 0 and 900"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := "service: shop\nprovider:\n  name: aws\n  runtime: nodejs20.x\nconstructs:\n" + c.constructs
			errs := loadErrors(t, map[string]string{"serverless.yml": m, "handler.js": handlerJS}, Options{})
			if !strings.Contains(errs.Error(), c.want) {
				t.Errorf("errors = %v, want %q", errs, c.want)
			}
		})
	}
}

func TestLiftOtherConstructsWarn(t *testing.T) {
	m := "service: shop\nprovider:\n  name: aws\n  runtime: nodejs20.x\nconstructs:\n  site:\n    type: static-website\n    path: public\n" +
		"  jobs:\n    type: queue\n    alarm: ops@example.com\n    worker:\n      handler: handler.hello\n    bogus: 1\n"
	p := mustLoad(t, map[string]string{"serverless.yml": m, "handler.js": handlerJS}, Options{})
	all := p.Warnings.Error()
	for _, want := range []string{`construct "site" of type static-website is not reproduced`, "alarm is not reproduced", `unknown key "bogus" in construct "jobs"`} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings = %v, want %q", all, want)
		}
	}
}

func TestLiftStorageAndTable(t *testing.T) {
	m := `service: shop
provider:
  name: aws
  runtime: nodejs20.x
constructs:
  avatars:
    type: storage
    cors: "*"
  db:
    type: database/dynamodb-single-table
    gsiCount: 2
    localSecondaryIndexes: true
functions:
  api:
    handler: handler.hello
    environment:
      BUCKET: ${construct:avatars.bucketName}
      BUCKET_ARN: ${construct:avatars.bucketArn}
      TABLE: ${construct:db.tableName}
      STREAM: ${construct:db.tableStreamArn}
`
	p := mustLoad(t, map[string]string{"serverless.yml": m, "handler.js": handlerJS}, Options{})
	// The bucket's CORS rules are written as lift writes them; nimbus's S3
	// says itself that it does not apply them.
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings.Error(), "CorsConfiguration") {
		t.Errorf("warnings: %v", p.Warnings)
	}
	var res struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(p.App.Resources, &res); err != nil {
		t.Fatal(err)
	}
	b := res.Resources["AvatarsBucket"]
	if b.Type != "AWS::S3::Bucket" || string(b.Properties["CorsConfiguration"]) != `{"CorsRules":[{"AllowedOrigins":["*"],"AllowedMethods":["GET","PUT","DELETE"],"AllowedHeaders":["*"]}]}` {
		t.Errorf("bucket = %s %s", b.Type, b.Properties["CorsConfiguration"])
	}
	tb := res.Resources["DbTable"]
	if tb.Type != "AWS::DynamoDB::Table" || string(tb.Properties["KeySchema"]) != `[{"AttributeName":"PK","KeyType":"HASH"},{"AttributeName":"SK","KeyType":"RANGE"}]` ||
		!strings.Contains(string(tb.Properties["GlobalSecondaryIndexes"]), `"IndexName":"GSI-2"`) ||
		!strings.Contains(string(tb.Properties["LocalSecondaryIndexes"]), `"IndexName":"LSI-5"`) ||
		string(tb.Properties["StreamSpecification"]) != `{"StreamViewType":"NEW_AND_OLD_IMAGES"}` {
		t.Errorf("table = %s %v", tb.Type, tb.Properties)
	}
	fn := p.Function("api")
	for k, want := range map[string]string{"BUCKET": `{"Ref":"AvatarsBucket"}`, "BUCKET_ARN": `{"Fn::GetAtt":["AvatarsBucket","Arn"]}`,
		"TABLE": `{"Ref":"DbTable"}`, "STREAM": `{"Fn::GetAtt":["DbTable","StreamArn"]}`} {
		if got := string(fn.EnvironmentRefs[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	s := string(fn.IAMStatements)
	for _, want := range []string{`"s3:PutObject"`, `{"Fn::Join":["/",[{"Fn::GetAtt":["AvatarsBucket","Arn"]},"*"]]}`, `"dynamodb:Query"`,
		`{"Fn::Join":["/",[{"Fn::GetAtt":["DbTable","Arn"]},"index","*"]]}`} {
		if !strings.Contains(s, want) {
			t.Errorf("statements %s lack %s", s, want)
		}
	}
}
