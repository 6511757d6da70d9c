package async_test

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// call is one event a recorder function reported.
type call struct {
	Role, RequestID string
	Body            []byte
}

// recorder collects the calls of test functions.
type recorder struct {
	mu    sync.Mutex
	calls []call
	srv   *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, call{Role: req.Header.Get("X-Role"), RequestID: req.Header.Get("X-Request-Id"), Body: body})
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

// writeService builds the recorder function and writes a service using it.
func writeService(t *testing.T, callback, functionsYAML string) string {
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/async/testdata/recorder", filepath.Join(dir, "fn.zip"), "bootstrap")
	yml := fmt.Sprintf(`service: asynctest
provider:
  name: aws
  runtime: provided.al2023
  memorySize: 128
  timeout: 5
  environment:
    CALLBACK: %s
package:
  individually: true
functions:
%s`, callback, functionsYAML)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const fnZip = `    handler: bootstrap
    package:
      artifact: fn.zip
`

func TestAsyncInvokeRetriesAndDestinations(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `  work:
`+fnZip+`    environment:
      ROLE: work
    destinations:
      onSuccess: sink
      onFailure: sink
  once:
`+fnZip+`    maximumRetryAttempts: 0
    environment:
      ROLE: once
    destinations:
      onFailure: sink
  sink:
`+fnZip+`    environment:
      ROLE: sink
`)
	p := testkit.Start(t, func(c *server.Config) {
		c.NoSandbox = true
		c.Async.RetryDelays = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	})
	p.Deploy(dir)
	lc := p.Lambda()
	ctx := context.Background()

	invoke := func(fn, payload string) {
		t.Helper()
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{
			FunctionName:   aws.String(fn),
			InvocationType: types.InvocationTypeEvent,
			Payload:        []byte(payload),
		})
		if err != nil {
			t.Fatalf("invoke %s: %v", fn, err)
		}
		if out.StatusCode != 202 {
			t.Fatalf("invoke %s: status %d, want 202", fn, out.StatusCode)
		}
	}

	// A failing event runs 1 + 2 times with the same request id, then the
	// on-failure destination gets Lambda's record.
	invoke("asynctest-dev-work", `{"id":"f1","fail":true}`)
	waitFor(t, "the failure record", 20*time.Second, func() bool { return len(rec.byRole("sink")) >= 1 })
	time.Sleep(300 * time.Millisecond) // no extra attempts may follow
	work := rec.byRole("work")
	if len(work) != 3 {
		t.Fatalf("failing event ran %d times, want 3", len(work))
	}
	for _, c := range work[1:] {
		if c.RequestID != work[0].RequestID {
			t.Errorf("retry has request id %s, want %s", c.RequestID, work[0].RequestID)
		}
	}
	var recd async.Record
	if err := json.Unmarshal(rec.byRole("sink")[0].Body, &recd); err != nil {
		t.Fatal(err)
	}
	if recd.Version != "1.0" || recd.RequestContext.Condition != "RetriesExhausted" || recd.RequestContext.ApproximateInvokeCount != 3 ||
		recd.RequestContext.RequestID != work[0].RequestID || !strings.HasSuffix(recd.RequestContext.FunctionArn, ":function:asynctest-dev-work:$LATEST") {
		t.Errorf("record = %+v", recd)
	}
	if string(recd.RequestPayload) != `{"id":"f1","fail":true}` {
		t.Errorf("requestPayload = %s", recd.RequestPayload)
	}
	if recd.ResponseContext == nil || recd.ResponseContext.FunctionError != "Unhandled" || recd.ResponseContext.StatusCode != 200 {
		t.Errorf("responseContext = %+v", recd.ResponseContext)
	}
	if !strings.Contains(string(recd.ResponsePayload), "asked to fail") {
		t.Errorf("responsePayload = %s", recd.ResponsePayload)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", recd.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", recd.Timestamp, err)
	}

	// maximumRetryAttempts 0: one attempt.
	invoke("asynctest-dev-once", `{"id":"o1","fail":true}`)
	waitFor(t, "the second failure record", 20*time.Second, func() bool { return len(rec.byRole("sink")) >= 2 })
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.byRole("once")); n != 1 {
		t.Errorf("maximumRetryAttempts 0: ran %d times, want 1", n)
	}
	if err := json.Unmarshal(rec.byRole("sink")[1].Body, &recd); err != nil {
		t.Fatal(err)
	}
	if recd.RequestContext.ApproximateInvokeCount != 1 || recd.RequestContext.Condition != "RetriesExhausted" {
		t.Errorf("record = %+v", recd.RequestContext)
	}

	// Success: one run, a Success record.
	invoke("asynctest-dev-work", `{"id":"s1"}`)
	waitFor(t, "the success record", 20*time.Second, func() bool { return len(rec.byRole("sink")) >= 3 })
	if err := json.Unmarshal(rec.byRole("sink")[2].Body, &recd); err != nil {
		t.Fatal(err)
	}
	if recd.RequestContext.Condition != "Success" || string(recd.ResponsePayload) != `{"ok":true}` || recd.RequestContext.ApproximateInvokeCount != 1 {
		t.Errorf("success record = %+v %s", recd.RequestContext, recd.ResponsePayload)
	}

	// Bad input: AWS-shaped errors, nothing stored.
	before := len(rec.calls)
	_, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("asynctest-dev-work"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"x":"` + strings.Repeat("a", async.MaxPayloadBytes) + `"}`)})
	var tooLarge *types.RequestTooLargeException
	var apiErr smithy.APIError
	if !errors.As(err, &tooLarge) && !(errors.As(err, &apiErr) && apiErr.ErrorCode() == "RequestEntityTooLargeException") {
		t.Errorf("oversize payload: %v, want RequestEntityTooLargeException", err)
	}
	_, err = lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown function: %v, want ResourceNotFoundException", err)
	}
	_, err = lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("asynctest-dev-work"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{nope`)})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidRequestContentException" {
		t.Errorf("malformed payload: %v, want InvalidRequestContentException", err)
	}
	time.Sleep(200 * time.Millisecond)
	if len(rec.calls) != before {
		t.Errorf("refused invocations ran")
	}
}

// TestDestinationNamesAnAlias: a destination may name a function's alias
// by its qualified ARN, and the record goes to that alias.
func TestDestinationNamesAnAlias(t *testing.T) {
	rec := newRecorder(t)
	dir := writeService(t, rec.srv.URL, `  work:
`+fnZip+`    environment:
      ROLE: work
    destinations:
      onSuccess: arn:aws:lambda:us-east-1:000000000000:function:asynctest-dev-sink:live
  sink:
`+fnZip+`    environment:
      ROLE: sink
`)
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	p.Deploy(dir)
	lc := p.Lambda()
	ctx := context.Background()
	v, err := lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("asynctest-dev-sink")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("asynctest-dev-sink"),
		Name: aws.String("live"), FunctionVersion: v.Version}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("asynctest-dev-work"),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the success record at sink:live", 30*time.Second, func() bool { return len(rec.byRole("sink")) >= 1 })
	var recd async.Record
	if err := json.Unmarshal(rec.byRole("sink")[0].Body, &recd); err != nil {
		t.Fatal(err)
	}
	if recd.RequestContext.Condition != "Success" || !strings.HasSuffix(recd.RequestContext.FunctionArn, ":function:asynctest-dev-work:$LATEST") {
		t.Errorf("record = %+v", recd.RequestContext)
	}
	// The alias's version ran it: its pool is keyed by function and version.
	ran := false
	for _, st := range p.Runtime().Stats() {
		ran = ran || strings.HasPrefix(st.Key, "asynctest-dev-sink@"+aws.ToString(v.Version)+"-")
	}
	if !ran {
		t.Errorf("version %s of sink did not run: %+v", aws.ToString(v.Version), p.Runtime().Stats())
	}
}
