package dispatch_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/dispatch"
	"github.com/nimbus-platform/nimbus/internal/awsapi/sqs"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// fakeQuery is another query-protocol service (SNS's place) that records
// what reached it.
type fakeQuery struct{ got []string }

func (f *fakeQuery) IsAction(a string) bool { return a == "Publish" || a == "CreateTopic" }
func (f *fakeQuery) ServeQuery(w http.ResponseWriter, r *http.Request, form url.Values) {
	f.got = append(f.got, form.Get("Action"))
	_, _ = io.WriteString(w, "<PublishResponse/>")
}

func TestDispatch(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	q, err := queues.New(ctx, queues.ServiceConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Create(ctx, "orders", nil, nil); err != nil {
		t.Fatal(err)
	}
	other := &fakeQuery{}
	var events []string
	mux := http.NewServeMux()
	(&dispatch.Dispatcher{
		SQS:   &sqs.API{Queues: q},
		Query: []dispatch.QueryService{other},
		JSON: map[string]http.Handler{"AWSEvents.": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			events = append(events, r.Header.Get("X-Amz-Target"))
			_, _ = io.WriteString(w, "{}")
		})},
	}).Register(mux)
	// Routing only: signatures and policies are internal/auth's tests.
	srv := httptest.NewServer(auth.Middleware(nil, "000000000000", mux, nil))
	defer srv.Close()

	post := func(path, target, contentType, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	const form = "application/x-www-form-urlencoded"
	const amzJSON = "application/x-amz-json-1.0"

	// SQS by X-Amz-Target (JSON protocol).
	st1, _, body := post("/", "AmazonSQS.GetQueueUrl", amzJSON, `{"QueueName":"orders"}`)
	if st1 != 200 || !strings.Contains(body, `"QueueUrl"`) || !strings.Contains(body, "/000000000000/orders") {
		t.Errorf("AmazonSQS.GetQueueUrl: %d %s", st1, body)
	}
	// SQS by form Action (query protocol), at / and at the queue's URL.
	st2, _, body := post("/", "", form, "Action=GetQueueUrl&QueueName=orders")
	if st2 != 200 || !strings.Contains(body, "<GetQueueUrlResponse") || !strings.Contains(body, "/000000000000/orders") {
		t.Errorf("Action=GetQueueUrl: %d %s", st2, body)
	}
	st3, _, body := post("/000000000000/orders", "", form, "Action=GetQueueAttributes&AttributeName.1=All")
	if st3 != 200 || !strings.Contains(body, "<GetQueueAttributesResponse") {
		t.Errorf("Action=GetQueueAttributes at the queue URL: %d %s", st3, body)
	}
	// Another query service's action goes to it, not to SQS.
	if st4, _, body := post("/", "", form, "Action=Publish&Message=x"); st4 != 200 || len(other.got) != 1 || other.got[0] != "Publish" {
		t.Errorf("Action=Publish: %d %s, routed %v", st4, body, other.got)
	}
	// Another JSON service by its target prefix.
	if st5, _, _ := post("/", "AWSEvents.PutEvents", "application/x-amz-json-1.1", `{}`); st5 != 200 || len(events) != 1 || events[0] != "AWSEvents.PutEvents" {
		t.Errorf("AWSEvents.PutEvents: %d, routed %v", st5, events)
	}

	// An unknown target: a JSON-protocol error AWS SDKs read.
	st6, h, body := post("/", "DynamoDB_20120810.GetItem", amzJSON, `{}`)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if st6 != 400 || !strings.HasPrefix(h.Get("Content-Type"), "application/x-amz-json") || json.Unmarshal([]byte(body), &e) != nil ||
		e.Type != "UnknownOperationException" || e.Message == "" {
		t.Errorf("unknown target: %d %s %s", st6, h.Get("Content-Type"), body)
	}
	if len(other.got) != 1 || len(events) != 1 {
		t.Errorf("an unknown target reached a service")
	}
	// Unknown and missing actions: query-protocol errors.
	for _, c := range []struct{ body, code string }{
		{"Action=Nope", "<Code>InvalidAction</Code>"},
		{"QueueName=orders", "<Code>MissingAction</Code>"},
	} {
		if st, _, body := post("/", "", form, c.body); st != 400 || !strings.Contains(body, c.code) || !strings.Contains(body, "<ErrorResponse") {
			t.Errorf("%s: %d %s, want 400 %s", c.body, st, body, c.code)
		}
	}
}
