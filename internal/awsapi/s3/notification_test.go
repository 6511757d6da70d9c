package s3_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// recorder collects the events the recorder function posts back.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) events() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	recorderOnce sync.Once
	recorderZip  string
)

// writeService writes service s3events of the recorder function (it posts
// each event to CALLBACK) with the given functions section and the rest.
func writeService(t *testing.T, callback, body string) string {
	t.Helper()
	return writeNamedService(t, "s3events", callback, "", body)
}

// writeNamedService is writeService with a service name and more provider
// settings.
func writeNamedService(t *testing.T, service, callback, provider, body string) string {
	t.Helper()
	recorderOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nimbus-s3-recorder-*")
		if err != nil {
			t.Fatal(err)
		}
		recorderZip = filepath.Join(dir, "fn.zip")
		testkit.BuildGoZip(t, "internal/events/testdata/recorder", recorderZip, "bootstrap")
	})
	dir := t.TempDir()
	data, err := os.ReadFile(recorderZip)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fn.zip"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf(`service: %s
provider:
  name: aws
  runtime: provided.al2023
  memorySize: 128
  timeout: 5
  environment:
    CALLBACK: %s
%spackage:
  artifact: fn.zip
%s`, service, callback, provider, body)
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sqsClient(p *testkit.Platform) *sqs.Client {
	return sqs.NewFromConfig(p.AWSConfig())
}

// receiveAll polls a queue until want messages arrived (or the deadline).
func receiveAll(t *testing.T, q *sqs.Client, url string, want int) []string {
	t.Helper()
	var got []string
	waitFor(t, fmt.Sprintf("%d messages", want), func() bool {
		out, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			got = append(got, aws.ToString(m.Body))
			if _, err := q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		return len(got) >= want
	})
	return got
}

type record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	S3           struct {
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name string `json:"name"`
			ARN  string `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      *int64 `json:"size"`
			ETag      string `json:"eTag"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

func records(t *testing.T, body []byte) []record {
	t.Helper()
	var msg struct {
		Records []record `json:"Records"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("event %s: %v", body, err)
	}
	return msg.Records
}

// sameShape fails unless got has exactly want's keys, recursively, with
// values of the same JSON types (skip names keys want has that got may lack).
func sameShape(t *testing.T, path string, want, got any, skip map[string]bool) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, want an object", path, got)
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if !skip[k] {
					t.Errorf("%s.%s: missing", path, k)
				}
				continue
			}
			sameShape(t, path+"."+k, wv, gv, skip)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s.%s: not in AWS's event", path, k)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %d items", path, got, len(w))
			return
		}
		for i := range w {
			sameShape(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i], skip)
		}
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			t.Errorf("%s: got %T (%v), want %T", path, got, got, want)
		}
	}
}

var sequencerRE = regexp.MustCompile(`^[0-9A-F]{16,}$`)

// TestNotificationToFunction configures a bucket through the SDK to invoke
// a function for created .csv objects under in/: one PUT gives exactly one
// event of S3's shape; keys outside the filter give none.
func TestNotificationToFunction(t *testing.T) {
	rec := newRecorder(t)
	p := testkit.Start(t, testkit.AllowLocalPortOf(rec.srv.URL))
	p.Deploy(writeService(t, rec.srv.URL, "functions:\n  record:\n    handler: bootstrap\n"))
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	fn := "arn:aws:lambda:us-east-1:000000000000:function:s3events-dev-record"
	conf := &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
		Id: aws.String("csv-in"), LambdaFunctionArn: aws.String(fn), Events: []types.Event{"s3:ObjectCreated:*"},
		Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
			{Name: types.FilterRuleNamePrefix, Value: aws.String("in/")}, {Name: types.FilterRuleNameSuffix, Value: aws.String(".csv")}}}},
	}}}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: aws.String("uploads"), NotificationConfiguration: conf}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: aws.String("uploads")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LambdaFunctionConfigurations) != 1 || aws.ToString(got.LambdaFunctionConfigurations[0].LambdaFunctionArn) != fn ||
		aws.ToString(got.LambdaFunctionConfigurations[0].Id) != "csv-in" || len(got.LambdaFunctionConfigurations[0].Filter.Key.FilterRules) != 2 {
		t.Fatalf("configuration read back: %+v", got.LambdaFunctionConfigurations)
	}

	body := []byte("a,b\n1,2\n")
	for _, key := range []string{"in/x.txt", "out/y.csv", "in/Happy Face=1.csv"} {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String(key), Body: strings.NewReader(string(body))}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the event", func() bool { return len(rec.events()) >= 1 })
	ev := rec.events()[0]
	rs := records(t, ev)
	if len(rs) != 1 {
		t.Fatalf("records: %s", ev)
	}
	r := rs[0]
	sum := md5.Sum(body)
	if r.EventVersion != "2.1" || r.EventSource != "aws:s3" || r.AWSRegion != "us-east-1" || r.EventName != "ObjectCreated:Put" ||
		r.S3.ConfigurationID != "csv-in" || r.S3.Bucket.Name != "uploads" || r.S3.Bucket.ARN != "arn:aws:s3:::uploads" ||
		r.S3.Object.Key != "in/Happy+Face%3D1.csv" || r.S3.Object.Size == nil || *r.S3.Object.Size != int64(len(body)) ||
		r.S3.Object.ETag != hex.EncodeToString(sum[:]) || !sequencerRE.MatchString(r.S3.Object.Sequencer) {
		t.Fatalf("record: %s", ev)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.EventTime); err != nil {
		t.Fatalf("eventTime %q: %v", r.EventTime, err)
	}
	// Field by field against AWS's samples (versionId only on versioned buckets).
	var ours any
	_ = json.Unmarshal(ev, &ours)
	for _, sample := range []string{"lambda/events/s3-event.json", "lambda/events/sam-cli/s3-put.json"} {
		data, err := os.ReadFile(filepath.Join(testkit.Shared(t), "conformance", sample))
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		sameShape(t, sample, want, ours, map[string]bool{"versionId": true})
	}

	// Another object a moment later: still one event each, sequencer higher.
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("in/Happy Face=1.csv"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second event", func() bool { return len(rec.events()) >= 2 })
	second := records(t, rec.events()[1])[0]
	if !(len(second.S3.Object.Sequencer) == len(r.S3.Object.Sequencer) && second.S3.Object.Sequencer > r.S3.Object.Sequencer) {
		t.Fatalf("sequencer %s after %s", second.S3.Object.Sequencer, r.S3.Object.Sequencer)
	}
	// A delete is not an ObjectCreated event: nothing more arrives, and the
	// keys outside the filter never did.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("uploads"), Key: aws.String("in/Happy Face=1.csv")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("in/last.csv"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the third event", func() bool { return len(rec.events()) >= 3 })
	if third := records(t, rec.events()[2])[0]; third.S3.Object.Key != "in/last.csv" || len(rec.events()) != 3 {
		t.Fatalf("events after the delete: %d, last %+v", len(rec.events()), third)
	}
}

// TestNotificationToQueueAndBus sends removals to a queue (after S3's test
// event) and every event to the default bus, where a rule forwards created
// objects to another queue; bad configurations are refused as S3 refuses them.
func TestNotificationToQueueAndBus(t *testing.T) {
	p := testkit.Start(t, nil)
	c, q, eb := client(p), sqsClient(p), ebClient(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("docs")}); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, name := range []string{"removed", "bridge"} {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		urls[name] = aws.ToString(out.QueueUrl)
	}
	queueARN := "arn:aws:sqs:us-east-1:000000000000:removed"
	put := func(conf *types.NotificationConfiguration) error {
		_, err := c.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: aws.String("docs"), NotificationConfiguration: conf})
		return err
	}
	prefix := func(v string) *types.NotificationConfigurationFilter {
		return &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNamePrefix, Value: aws.String(v)}}}}
	}
	// Overlapping filters for a shared event type, across destinations.
	err := put(&types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
		{QueueArn: aws.String(queueARN), Events: []types.Event{"s3:ObjectCreated:*"}, Filter: prefix("a/")},
		{QueueArn: aws.String("arn:aws:sqs:us-east-1:000000000000:bridge"), Events: []types.Event{"s3:ObjectCreated:Put"}, Filter: prefix("a/b")},
	}})
	apiError(t, err, "InvalidArgument", 400)
	if !strings.Contains(err.Error(), "Configurations overlap") {
		t.Fatalf("overlap: %v", err)
	}
	// Disjoint prefixes may share an event type.
	if err := put(&types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
		{QueueArn: aws.String(queueARN), Events: []types.Event{"s3:ObjectCreated:*"}, Filter: prefix("a/")},
		{QueueArn: aws.String(queueARN), Events: []types.Event{"s3:ObjectCreated:Put"}, Filter: prefix("b/")},
	}}); err != nil {
		t.Fatal(err)
	}
	receiveAll(t, q, urls["removed"], 2) // two test events
	// Destinations that do not exist.
	err = put(&types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
		{QueueArn: aws.String("arn:aws:sqs:us-east-1:000000000000:nope"), Events: []types.Event{"s3:ObjectRemoved:*"}}}})
	apiError(t, err, "InvalidArgument", 400)
	if !strings.Contains(err.Error(), "Unable to validate the following destination configurations") {
		t.Fatalf("unknown queue: %v", err)
	}
	err = put(&types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
		{LambdaFunctionArn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:nope"), Events: []types.Event{"s3:ObjectCreated:*"}}}})
	apiError(t, err, "InvalidArgument", 400)
	err = put(&types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
		{QueueArn: aws.String(queueARN), Events: []types.Event{"s3:ObjectCreated:Nope"}}}})
	apiError(t, err, "InvalidArgument", 400)

	if err := put(&types.NotificationConfiguration{
		QueueConfigurations:      []types.QueueConfiguration{{Id: aws.String("gone"), QueueArn: aws.String(queueARN), Events: []types.Event{"s3:ObjectRemoved:*"}}},
		EventBridgeConfiguration: &types.EventBridgeConfiguration{},
	}); err != nil {
		t.Fatal(err)
	}
	test := receiveAll(t, q, urls["removed"], 1)
	var te map[string]any
	if err := json.Unmarshal([]byte(test[0]), &te); err != nil || te["Event"] != "s3:TestEvent" || te["Service"] != "Amazon S3" || te["Bucket"] != "docs" {
		t.Fatalf("test event: %s", test[0])
	}
	got, err := c.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: aws.String("docs")})
	if err != nil || got.EventBridgeConfiguration == nil || len(got.QueueConfigurations) != 1 || aws.ToString(got.QueueConfigurations[0].Id) != "gone" {
		t.Fatalf("read back: %+v, %v", got, err)
	}

	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("s3-created"),
		EventPattern: aws.String(`{"source":["aws.s3"],"detail-type":["Object Created"],"detail":{"bucket":{"name":["docs"]}}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("s3-created"), Targets: []ebtypes.Target{
		{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:bridge")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("report 1.pdf"), Body: strings.NewReader("pdf")}); err != nil {
		t.Fatal(err)
	}
	bridged := receiveAll(t, q, urls["bridge"], 1)
	var be struct {
		Source     string   `json:"source"`
		DetailType string   `json:"detail-type"`
		Resources  []string `json:"resources"`
		Detail     struct {
			Version string `json:"version"`
			Bucket  struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key       string `json:"key"`
				Size      int64  `json:"size"`
				ETag      string `json:"etag"`
				Sequencer string `json:"sequencer"`
			} `json:"object"`
			Reason    string `json:"reason"`
			RequestID string `json:"request-id"`
			Requester string `json:"requester"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(bridged[0]), &be); err != nil {
		t.Fatal(err)
	}
	d := be.Detail
	if be.Source != "aws.s3" || be.DetailType != "Object Created" || len(be.Resources) != 1 || be.Resources[0] != "arn:aws:s3:::docs" ||
		d.Version != "0" || d.Bucket.Name != "docs" || d.Object.Key != "report 1.pdf" || d.Object.Size != 3 ||
		d.Object.ETag != strings.Trim(etagOf([]byte("pdf")), `"`) || !sequencerRE.MatchString(d.Object.Sequencer) || d.Reason != "PutObject" ||
		d.RequestID == "" || d.Requester != "000000000000" {
		t.Fatalf("EventBridge event: %s", bridged[0])
	}

	// Removals reach the queue; a created object did not.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("docs"), Key: aws.String("report 1.pdf")}); err != nil {
		t.Fatal(err)
	}
	removed := receiveAll(t, q, urls["removed"], 1)
	var raw map[string]any
	_ = json.Unmarshal([]byte(removed[0]), &raw)
	rs := records(t, []byte(removed[0]))
	if len(removed) != 1 || len(rs) != 1 || rs[0].EventName != "ObjectRemoved:Delete" || rs[0].S3.Object.Key != "report+1.pdf" ||
		rs[0].S3.ConfigurationID != "gone" || rs[0].S3.Object.Size != nil || !sequencerRE.MatchString(rs[0].S3.Object.Sequencer) {
		t.Fatalf("removal: %s", removed)
	}
	obj := raw["Records"].([]any)[0].(map[string]any)["s3"].(map[string]any)["object"].(map[string]any)
	if _, ok := obj["eTag"]; ok {
		t.Fatalf("a removal carries no eTag: %s", removed[0])
	}
	// A deleted bucket's configuration goes with it.
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("docs")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("docs")}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: aws.String("docs")})
	if err != nil || got.EventBridgeConfiguration != nil || len(got.QueueConfigurations) != 0 {
		t.Fatalf("a new bucket of the same name has no configuration: %+v, %v", got, err)
	}
}

func ebClient(p *testkit.Platform) *eventbridge.Client {
	return eventbridge.NewFromConfig(p.AWSConfig())
}

// TestNotificationEventNames checks the creation events of copies and
// multipart uploads and the removal events of a multi-object delete.
func TestNotificationEventNames(t *testing.T) {
	p := testkit.Start(t, nil)
	c, q := client(p), sqsClient(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("names")}); err != nil {
		t.Fatal(err)
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("names")})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(out.QueueUrl)
	if _, err := c.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: aws.String("names"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
			{QueueArn: aws.String("arn:aws:sqs:us-east-1:000000000000:names"), Events: []types.Event{"s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*"}}}}}); err != nil {
		t.Fatal(err)
	}
	receiveAll(t, q, url, 1) // the test event
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("names"), Key: aws.String("src"), Body: strings.NewReader("abc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("names"), Key: aws.String("copy"), CopySource: aws.String("names/src")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("names"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("names"), Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("names"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("names"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("copy")}, {Key: aws.String("big")}, {Key: aws.String("never-there")}}}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range receiveAll(t, q, url, 4) {
		for _, r := range records(t, []byte(m)) {
			got[r.EventName+" "+r.S3.Object.Key] = true
		}
	}
	want := []string{"ObjectCreated:Copy copy", "ObjectCreated:CompleteMultipartUpload big", "ObjectRemoved:Delete copy", "ObjectRemoved:Delete big"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no %s in %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestNotificationToTopic publishes events to a topic, which a queue
// subscribes to: the test event and then the record arrive in SNS envelopes.
func TestNotificationToTopic(t *testing.T) {
	p := testkit.Start(t, nil)
	c, q, tp := client(p), sqsClient(p), sns.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("topical")}); err != nil {
		t.Fatal(err)
	}
	topic, err := tp.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("objects")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("fanout")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:fanout")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: aws.String("topical"),
		NotificationConfiguration: &types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{
			{TopicArn: topic.TopicArn, Events: []types.Event{"s3:ObjectCreated:*"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("topical"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, m := range receiveAll(t, q, aws.ToString(out.QueueUrl), 2) {
		var env struct{ Type, TopicArn, Message string }
		if err := json.Unmarshal([]byte(m), &env); err != nil || env.Type != "Notification" || env.TopicArn != aws.ToString(topic.TopicArn) {
			t.Fatalf("envelope: %s", m)
		}
		messages = append(messages, env.Message)
	}
	var found bool
	for _, m := range messages {
		if strings.Contains(m, `"s3:TestEvent"`) {
			continue
		}
		if r := records(t, []byte(m)); len(r) == 1 && r[0].EventName == "ObjectCreated:Put" && r[0].S3.Object.Key == "k" {
			found = true
		}
	}
	if !found || len(messages) != 2 {
		t.Fatalf("messages: %v", messages)
	}
}
