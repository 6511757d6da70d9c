package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/schedule"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

type call struct {
	Role   string
	Custom map[string]string
	Body   []byte
}

type recorder struct {
	mu    sync.Mutex
	calls []call
	srv   *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		c := call{Role: req.Header.Get("X-Role"), Body: body}
		if cu := req.Header.Get("X-Custom"); cu != "" {
			_ = json.Unmarshal([]byte(cu), &c.Custom)
		}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) byRole(role string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.Role == role {
			out = append(out, c)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	buildOnce sync.Once
	zipPath   string
)

// writeService writes a service of recorder functions.
func writeService(t *testing.T, callback, body string) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nimbus-events-recorder-*")
		if err != nil {
			t.Fatal(err)
		}
		zipPath = filepath.Join(dir, "fn.zip")
		testkit.BuildGoZip(t, "internal/events/testdata/recorder", zipPath, "bootstrap")
	})
	dir := t.TempDir()
	data, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fn.zip"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf(`service: evtest
provider:
  name: aws
  runtime: provided.al2023
  memorySize: 128
  timeout: 5
  environment:
    CALLBACK: %s
package:
  artifact: fn.zip
%s`, callback, body)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ebClient(p *testkit.Platform) *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(),
		Retryer:     aws.NopRetryer{},
		HTTPClient:  testkit.HTTPClient(),
	})
}

func sqsClient(p *testkit.Platform) *sqs.Client {
	return sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(),
		Retryer:     aws.NopRetryer{},
		HTTPClient:  testkit.HTTPClient(),
	})
}

func fnARN(name string) string { return "arn:aws:lambda:us-east-1:000000000000:function:" + name }

func TestPutEventsReachesMatchingTargets(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `functions:
  orders:
    handler: bootstrap
    environment: {ROLE: orders}
    events:
      - eventBridge:
          eventBus: shop
          pattern:
            source: [shop.orders]
            detail-type: [created]
            detail:
              total: [{numeric: [">", 100]}]
  audit:
    handler: bootstrap
    environment: {ROLE: audit}
  transformed:
    handler: bootstrap
    environment: {ROLE: transformed}
`)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	eb := ebClient(p)
	ctx := context.Background()

	// A rule through the API on the manifest's bus with two targets.
	_, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String("audit-all"), EventBusName: aws.String("shop"),
		EventPattern: aws.String(`{"source":[{"prefix":"shop."}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("audit-all"), EventBusName: aws.String("shop"), Targets: []ebtypes.Target{
		{Id: aws.String("audit"), Arn: aws.String(fnARN("evtest-dev-audit")), InputPath: aws.String("$.detail")},
		{Id: aws.String("tr"), Arn: aws.String(fnARN("evtest-dev-transformed")), InputTransformer: &ebtypes.InputTransformer{
			InputPathsMap: map[string]string{"id": "$.detail.id", "total": "$.detail.total", "src": "$.source"},
			InputTemplate: aws.String(`{"order": <id>, "total": <total>, "text": "order <id> from <src>", "rule": <aws.events.rule-name>}`),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// A rule on the default bus that must never fire for events of the shop bus.
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("default-all"), EventPattern: aws.String(`{"source":[{"prefix":""}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("default-all"), Targets: []ebtypes.Target{{Id: aws.String("x"), Arn: aws.String(fnARN("evtest-dev-orders"))}}}); err != nil {
		t.Fatal(err)
	}

	out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{EventBusName: aws.String("shop"), Source: aws.String("shop.orders"), DetailType: aws.String("created"), Detail: aws.String(`{"id":"o-1","total":250}`)},
		{EventBusName: aws.String("shop"), Source: aws.String("shop.orders"), DetailType: aws.String("created"), Detail: aws.String(`{"id":"o-2","total":50}`)},
		{EventBusName: aws.String("shop"), Source: aws.String("other"), DetailType: aws.String("created"), Detail: aws.String(`{"id":"o-3","total":500}`)},
		{EventBusName: aws.String("shop"), Source: aws.String("shop.orders"), DetailType: aws.String("created")},
		{EventBusName: aws.String("nope"), Source: aws.String("shop.orders"), DetailType: aws.String("created"), Detail: aws.String(`{}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 2 || out.Entries[0].EventId == nil || aws.ToString(out.Entries[3].ErrorCode) != "InvalidArgument" || aws.ToString(out.Entries[4].ErrorCode) != "ResourceNotFoundException" {
		b, _ := json.Marshal(out.Entries)
		t.Fatalf("PutEvents results: failed %d, %s", out.FailedEntryCount, b)
	}
	waitFor(t, "deliveries", 15*time.Second, func() bool {
		return len(rec.byRole("orders")) >= 1 && len(rec.byRole("audit")) >= 2 && len(rec.byRole("transformed")) >= 2
	})
	time.Sleep(300 * time.Millisecond) // anything extra would show up now
	orders := rec.byRole("orders")
	if len(orders) != 1 {
		t.Fatalf("orders got %d events, want 1 (only o-1 matches)", len(orders))
	}
	var ev struct {
		Version, ID, Source, Account, Time, Region string
		DetailType                                 string `json:"detail-type"`
		Detail                                     map[string]any
	}
	if err := json.Unmarshal(orders[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Version != "0" || ev.ID != aws.ToString(out.Entries[0].EventId) || ev.Source != "shop.orders" || ev.DetailType != "created" || ev.Detail["id"] != "o-1" || ev.Account != "000000000000" || ev.Region == "" || ev.Time == "" {
		t.Fatalf("event shape: %s", orders[0].Body)
	}
	var audited []string
	for _, c := range rec.byRole("audit") {
		audited = append(audited, string(c.Body))
	}
	sort.Strings(audited)
	if want := []string{`{"id":"o-1","total":250}`, `{"id":"o-2","total":50}`}; strings.Join(audited, "|") != strings.Join(want, "|") {
		t.Fatalf("audit (InputPath $.detail) got %q, want %q", audited, want)
	}
	var transformed []string
	for _, c := range rec.byRole("transformed") {
		transformed = append(transformed, string(c.Body))
	}
	sort.Strings(transformed)
	want := []string{
		`{"order": "o-1", "total": 250, "text": "order o-1 from shop.orders", "rule": "audit-all"}`,
		`{"order": "o-2", "total": 50, "text": "order o-2 from shop.orders", "rule": "audit-all"}`,
	}
	if strings.Join(transformed, "|") != strings.Join(want, "|") {
		t.Fatalf("transformed got\n%s\nwant\n%s", strings.Join(transformed, "\n"), strings.Join(want, "\n"))
	}

	// The API sees the manifest's rule, and refuses to change it.
	rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String("shop")})
	if err != nil || len(rules.Rules) != 2 {
		t.Fatalf("ListRules: %v %+v", err, rules)
	}
	_, err = eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("evtest-dev-orders-rule-1"), EventBusName: aws.String("shop")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ManagedRuleException" {
		t.Fatalf("DeleteRule of a manifest rule: %v", err)
	}
	// AWS-shaped errors.
	_, err = eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, 11)})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Fatalf("11 entries: %v", err)
	}
	_, err = eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("bad"), EventPattern: aws.String(`{"source":"x"}`)})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidEventPatternException" {
		t.Fatalf("bad pattern: %v", err)
	}
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("audit-all"), EventBusName: aws.String("shop"), Targets: []ebtypes.Target{
		{Id: aws.String("t"), Arn: aws.String(fnARN("x")), InputTransformer: &ebtypes.InputTransformer{InputTemplate: aws.String(`"<undeclared>"`)}}}})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" || !strings.Contains(apiErr.ErrorMessage(), "invalid placeholder undeclared") {
		t.Fatalf("undeclared placeholder: %v", err)
	}
	res, err := eb.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{
		EventPattern: aws.String(`{"detail":{"total":[{"numeric":[">",100]}]}}`),
		Event:        aws.String(string(orders[0].Body)),
	})
	if err != nil || !res.Result {
		t.Fatalf("TestEventPattern: %v %v", err, res)
	}
}

func TestFailingTargetEndsInDLQ(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `functions:
  failing:
    handler: bootstrap
    environment: {ROLE: failing, FAIL: "1"}
  dlq:
    handler: bootstrap
    environment: {ROLE: dlq}
`)
	p := testkit.Start(t, func(c *server.Config) {
		c.NoSandbox = true
		c.Events.RetryDelay = 50 * time.Millisecond
	})
	p.Deploy(dir)
	eb, sq := ebClient(p), sqsClient(p)
	ctx := context.Background()
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("events-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	queueARN := "arn:aws:sqs:us-east-1:000000000000:events-dlq"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["test"]}`)}); err != nil {
		t.Fatal(err)
	}
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: []ebtypes.Target{
		{Id: aws.String("failing"), Arn: aws.String(fnARN("evtest-dev-failing")),
			RetryPolicy:      &ebtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(2)},
			DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(queueARN)}},
		{Id: aws.String("missing"), Arn: aws.String(fnARN("no-such-function")),
			DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(fnARN("evtest-dev-dlq"))}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("test"), DetailType: aws.String("t"), Detail: aws.String(`{"n":1}`)},
	}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	id := aws.ToString(out.Entries[0].EventId)

	// The missing function is not retried: its event goes to the function DLQ at once.
	waitFor(t, "the missing function's DLQ", 10*time.Second, func() bool { return len(rec.byRole("dlq")) == 1 })
	d := rec.byRole("dlq")[0]
	if !strings.Contains(string(d.Body), id) || d.Custom["ERROR_CODE"] != "ResourceNotFoundException" || d.Custom["TARGET_ARN"] != fnARN("no-such-function") {
		t.Fatalf("function DLQ got %s with %v", d.Body, d.Custom)
	}

	// The failing function runs 1 + 2 times, then the event is in the SQS DLQ.
	var msg *sqs.ReceiveMessageOutput
	waitFor(t, "the SQS DLQ", 15*time.Second, func() bool {
		msg, err = sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
		return err == nil && len(msg.Messages) == 1
	})
	if n := len(rec.byRole("failing")); n != 3 {
		t.Fatalf("failing function ran %d times, want 3 (1 + MaximumRetryAttempts 2)", n)
	}
	m := msg.Messages[0]
	attr := func(k string) string {
		if v, ok := m.MessageAttributes[k]; ok {
			return aws.ToString(v.StringValue)
		}
		return ""
	}
	if !strings.Contains(aws.ToString(m.Body), id) || attr("ERROR_CODE") != "Lambda.FunctionError" || attr("EXHAUSTED_RETRY_CONDITION") != "MaximumRetryAttempts" ||
		attr("RETRY_ATTEMPTS") != "2" || attr("RULE_ARN") != "arn:aws:events:us-east-1:000000000000:rule/r" {
		t.Fatalf("DLQ message %s with attributes %v", aws.ToString(m.Body), m.MessageAttributes)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.byRole("failing")); n != 3 {
		t.Fatalf("failing function ran %d times after the DLQ, want 3", n)
	}
}

func TestScheduleFiresOncePerTickAcrossRestart(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `functions:
  tick:
    handler: bootstrap
    environment: {ROLE: tick}
    events:
      - schedule: rate(1 minute)
  shaped:
    handler: bootstrap
    environment: {ROLE: shaped}
    events:
      - schedule:
          rate: [rate(1 minute)]
          inputTransformer:
            inputPathsMap: {t: $.time}
            inputTemplate: '{"at": <t>}'
  off:
    handler: bootstrap
    environment: {ROLE: off}
    events:
      - schedule:
          rate: rate(1 minute)
          enabled: false
`)
	// 1 minute of schedule time is 2 seconds.
	clock := schedule.ScaledClock(time.Now(), 30)
	p := testkit.Start(t, func(c *server.Config) {
		c.NoSandbox = true
		c.Events.Clock = clock
	})
	p.Deploy(dir)
	waitFor(t, "two ticks", 12*time.Second, func() bool { return len(rec.byRole("tick")) >= 2 })
	stopped := time.Now()
	p = p.Restart()
	downtime := time.Since(stopped)
	waitFor(t, "two more ticks", 15*time.Second, func() bool { return len(rec.byRole("tick")) >= 5 })
	p.Stop()

	ticks := rec.byRole("tick")
	var times []time.Time
	for _, c := range ticks {
		var ev struct {
			ID, Source, Time string
			DetailType       string `json:"detail-type"`
			Resources        []string
			Detail           map[string]any
		}
		if err := json.Unmarshal(c.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || len(ev.Resources) != 1 || !strings.Contains(ev.Resources[0], ":rule/") || ev.Detail == nil || ev.ID == "" {
			t.Fatalf("not a Scheduled Event: %s", c.Body)
		}
		at, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, at)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	long := 0
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		switch {
		case gap == time.Minute:
		case gap > time.Minute && gap%time.Minute == 0:
			long++ // ticks missed while down: only the latest fires
		default:
			t.Fatalf("ticks %v and %v are %v apart: a duplicate or an off-grid tick (all: %v)", times[i-1], times[i], gap, times)
		}
	}
	if long > 1 || (long == 1 && downtime < 2*time.Second) {
		t.Fatalf("ticks %v: %d gaps over a minute with %v of downtime", times, long, downtime)
	}
	if len(rec.byRole("off")) != 0 {
		t.Fatal("a disabled schedule fired")
	}
	shaped := rec.byRole("shaped")
	if len(shaped) == 0 || !strings.HasPrefix(string(shaped[0].Body), `{"at": "`) {
		t.Fatalf("transformed schedule input: %v", shaped)
	}
}

func TestInvalidScheduleIsADeployError(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `functions:
  bad:
    handler: bootstrap
    events:
      - schedule: cron(0 0 30 2 ? *)
`)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	_, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "never fires") {
		t.Fatalf("deploy of a schedule that never fires: %v", err)
	}
}
