// Package stepfunctions_test runs state machines as real projects declare
// them: started by their own events, from SAM templates, and nested.
package stepfunctions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/nimbus-platform/nimbus/internal/schedule"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const machineARN = "arn:aws:states:us-east-1:000000000000:stateMachine:"

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inputs lists the inputs of a machine's executions.
func inputs(t *testing.T, c *sfn.Client, machine string) []string {
	t.Helper()
	ctx := context.Background()
	list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN + machine)})
	if err != nil {
		t.Fatalf("ListExecutions %s: %v", machine, err)
	}
	var out []string
	for _, e := range list.Executions {
		d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		out = append(out, aws.ToString(d.Input))
	}
	return out
}

func contains(list []string, want string) bool {
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}

func post(t *testing.T, url, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestStateMachineEvents: serverless-step-functions `http`, `schedule` and
// `eventBridge` events start their machine through the gateway's routes,
// the scheduler and the bus's rules: a POST answers StartExecution's
// {executionArn, startDate} (or StartSyncExecution's outcome) and its body
// is the input; a schedule's input and an event rule's inputTransformer and
// inputPath shape the input; a disabled schedule never fires.
func TestStateMachineEvents(t *testing.T) {
	// A minute of schedule time is two seconds.
	clock := schedule.ScaledClock(time.Now(), 30)
	p := testkit.Start(t, func(c *server.Config) {
		c.NoSandbox, c.HTTPAddr = true, "127.0.0.1:0"
		c.Events.Clock = clock
	})
	out := p.Deploy(testkit.Path(t, "test/stepfunctions/testdata/events"))
	base := p.Gateway.URL()
	if eps := strings.Join(out.Response.Endpoints, "\n"); !strings.Contains(eps, "POST "+base+"/dev/orders") {
		t.Errorf("endpoints:\n%s", eps)
	}
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()

	// http: StartExecution's answer, the body as input, CORS headers.
	status, h, body := post(t, base+"/dev/orders", `{"orderId": 7}`, map[string]string{"Origin": "https://shop.example"})
	var started struct {
		ExecutionArn string  `json:"executionArn"`
		StartDate    float64 `json:"startDate"`
	}
	if err := json.Unmarshal([]byte(body), &started); err != nil || status != http.StatusOK ||
		!strings.HasPrefix(started.ExecutionArn, "arn:aws:states:us-east-1:000000000000:execution:orders:") || started.StartDate < 1e9 {
		t.Fatalf("POST /orders: %d %s", status, body)
	}
	if h.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("no CORS header on the answer: %v", h)
	}
	d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(started.ExecutionArn)})
	if err != nil || aws.ToString(d.Input) != `{"orderId": 7}` {
		t.Fatalf("execution started by POST: %+v %v", d, err)
	}

	// http with action StartSyncExecution: the outcome in the answer.
	status, _, body = post(t, base+"/dev/quote", `{"item":"tea"}`, nil)
	var synced struct {
		Status, Output string
	}
	if err := json.Unmarshal([]byte(body), &synced); err != nil || status != http.StatusOK ||
		synced.Status != "SUCCEEDED" || synced.Output != `{"item":"tea","price":42}` {
		t.Fatalf("POST /quote: %d %s", status, body)
	}
	// A body that is not JSON is refused as StartExecution refuses it.
	if status, _, body = post(t, base+"/dev/orders", `not json`, nil); status != http.StatusBadRequest || !strings.Contains(body, "ValidationException") {
		t.Fatalf("POST /orders with a bad body: %d %s", status, body)
	}

	// eventBridge: inputTransformer and inputPath.
	eb := eventbridge.NewFromConfig(p.AWSConfig())
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("shop"), DetailType: aws.String("OrderPlaced"), Detail: aws.String(`{"id": 9}`)},
		{Source: aws.String("shop"), DetailType: aws.String("OrderRefunded"), Detail: aws.String(`{"id":10,"amount":3}`)},
		{Source: aws.String("other"), DetailType: aws.String("OrderPlaced"), Detail: aws.String(`{"id": 11}`)},
	}})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %+v %v", put, err)
	}
	waitFor(t, "the rules' executions", func() bool {
		in := inputs(t, c, "orders")
		return contains(in, `{"orderId": 9, "via": "bus"}`) && contains(in, `{"id":10,"amount":3}`)
	})

	// schedule: the input given; the disabled one never fires.
	waitFor(t, "two scheduled executions", func() bool { return len(inputs(t, c, "ticker")) >= 2 })
	for _, in := range inputs(t, c, "ticker") {
		if in != `{"tick":true}` {
			t.Fatalf("scheduled execution input %s", in)
		}
	}
	// The event of another source matched no rule.
	for _, in := range inputs(t, c, "orders") {
		if strings.Contains(in, "11") {
			t.Fatalf("an event no rule matches started %s", in)
		}
	}
}
