package deployapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// stagedManifest declares one of everything a stage owns: a function with an
// HTTP route and a schedule, a queue named after the stack, a rule.
const stagedManifest = `service: shop
provider:
  name: aws
  runtime: nodejs20.x
  environment:
    STAGE: ${sls:stage}
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi: GET /
      - schedule: rate(1 hour)
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
`

func writeService(t *testing.T, manifestText string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(manifestText), 0o644); err != nil {
		t.Fatal(err)
	}
	handler := "exports.hello = async () => ({ statusCode: 200, body: process.env.AWS_LAMBDA_FUNCTION_NAME + ' ' + process.env.STAGE });\n"
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte(handler), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func deployStage(t *testing.T, p *testkit.Platform, dir, stage string) {
	t.Helper()
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{Stage: stage}, nil); err != nil {
		t.Fatalf("deploy stage %s: %v", stage, err)
	}
}

func invokeBody(t *testing.T, p *testkit.Platform, name string) string {
	t.Helper()
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("invoke %s: %s: %s", name, *out.FunctionError, out.Payload)
	}
	var res struct{ Body string }
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		t.Fatalf("invoke %s: %v: %s", name, err, out.Payload)
	}
	return res.Body
}

func TestStagesDeploySideBySide(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	dir := writeService(t, stagedManifest)
	deployStage(t, p, dir, "dev")
	deployStage(t, p, dir, "prod")

	for _, stage := range []string{"dev", "prod"} {
		name := "shop-" + stage + "-hello"
		if got, want := invokeBody(t, p, name), name+" "+stage; got != want {
			t.Fatalf("%s answered %q, want %q", name, got, want)
		}
	}
	services, err := p.Client.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]bool{}
	for _, s := range services {
		if s.Service == "shop" {
			stages[s.Stage] = true
		}
	}
	if !stages["dev"] || !stages["prod"] || len(stages) != 2 {
		t.Fatalf("services list the stages %v of shop, want dev and prod", stages)
	}

	// Removing prod leaves dev whole: its function, queue and rule.
	if _, err := p.Client.RemoveStage(ctx, "shop", "prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Lambda().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("shop-prod-hello")}); err == nil {
		t.Fatal("shop-prod-hello is still deployed after its stage was removed")
	}
	if got := invokeBody(t, p, "shop-dev-hello"); got != "shop-dev-hello dev" {
		t.Fatalf("shop-dev-hello answered %q after prod was removed", got)
	}
	q := sqs.NewFromConfig(p.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	if _, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("shop-dev-Jobs")}); err != nil {
		t.Fatalf("dev's queue: %v", err)
	}
	eb := eventbridge.NewFromConfig(p.AWSConfig(), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules.Rules {
		names = append(names, aws.ToString(r.Name))
	}
	joined := strings.Join(names, " ")
	if !strings.Contains(joined, "shop-dev-hello") || strings.Contains(joined, "shop-prod-hello") {
		t.Fatalf("rules after removing prod: %v, want dev's schedule only", names)
	}

	// Without a stage, remove refuses to guess while two stages... here one is left.
	if _, err := p.Client.Remove(ctx, "shop"); err != nil {
		t.Fatalf("remove of the only stage left: %v", err)
	}
}

// get calls the gateway with plain net/http, naming host in the Host header.
func get(t *testing.T, base, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s (Host %s): %v", base, path, host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestStagesAndServicesShareGETRoot(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	ctx := context.Background()
	shop := writeService(t, stagedManifest)
	deployStage(t, p, shop, "dev")
	deployStage(t, p, shop, "prod")
	// A second service serving GET / too deploys, told where it answers.
	blog := writeService(t, strings.Replace(stagedManifest, "service: shop", "service: blog", 1))
	out, err := p.Client.Deploy(ctx, blog, manifest.Options{}, nil)
	if err != nil {
		t.Fatalf("a second service serving GET / was refused: %v", err)
	}
	base := p.Gateway.URL()
	port := base[strings.LastIndexByte(base, ':'):]
	if want := "http://dev.blog.localhost" + port; out.Response.Host != want {
		t.Errorf("deploy answer host = %q, want %q", out.Response.Host, want)
	}
	if len(out.Response.Endpoints) != 1 || !strings.HasPrefix(out.Response.Endpoints[0], "GET http://dev.blog.localhost"+port+"/ ") ||
		!strings.Contains(out.Response.Endpoints[0], "shop") {
		t.Errorf("deploy answer endpoints = %q, want GET / on blog's own host, naming shop as the root's owner", out.Response.Endpoints)
	}

	for _, c := range []struct{ host, want string }{
		{"", "shop-dev-hello dev"}, // the first deployed keeps the shared root
		{"127.0.0.1" + port, "shop-dev-hello dev"},
		{"dev.shop.localhost" + port, "shop-dev-hello dev"},
		{"prod.shop.localhost" + port, "shop-prod-hello prod"},
		{"PROD.Shop.localhost" + port, "shop-prod-hello prod"},
		{"shop.localhost" + port, "shop-dev-hello dev"}, // the service's host: its oldest stage first
		{"dev.blog.localhost" + port, "blog-dev-hello dev"},
		{"blog.localhost" + port, "blog-dev-hello dev"},
	} {
		status, body := get(t, base, c.host, "/")
		if status != http.StatusOK || body != c.want {
			t.Errorf("GET / with Host %q: %d %q, want 200 %q", c.host, status, body, c.want)
		}
	}
	if status, _ := get(t, base, "staging.shop.localhost"+port, "/nothing-here"); status != http.StatusNotFound {
		t.Errorf("an unknown path answered %d", status)
	}

	// info lists each stage with its host; removing dev hands the root on.
	services, err := p.Client.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{}
	for _, s := range services {
		hosts[s.Service+"."+s.Stage] = s.Host
	}
	if hosts["shop.prod"] != "http://prod.shop.localhost"+port || hosts["shop.dev"] != "http://dev.shop.localhost"+port {
		t.Errorf("info hosts = %v", hosts)
	}
	if _, err := p.Client.Remove(ctx, "shop"); err == nil || !strings.Contains(err.Error(), "dev, prod") {
		t.Fatalf("remove without a stage while two are deployed: %v, want a refusal naming them", err)
	}
	if _, err := p.Client.RemoveStage(ctx, "shop", "dev"); err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, base, "", "/"); status != http.StatusOK || body != "shop-prod-hello prod" {
		t.Errorf("after dev was removed the root answers %d %q, want prod (the oldest left)", status, body)
	}
}
