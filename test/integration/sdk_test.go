package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestFunctionsCallServicesThroughSDKs: functions in Node.js (CommonJS and an
// ES module, with the platform's AWS SDK for JavaScript v3), Python (the
// platform's boto3) and Go (aws-sdk-go-v2) each send to a queue, publish to a
// topic, put an event on a bus and invoke another function, configured by
// their environment alone. The test sees every effect: the invoked
// function's answer, and in one queue the message, the topic's delivery
// (through a queue subscription) and the event (through a bus rule).
func TestFunctionsCallServicesThroughSDKs(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	t.Parallel()
	p := testkit.Start(t, nil)
	ctx := context.Background()
	creds := p.Credentials()
	sq := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	sn := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})
	eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: creds})

	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("sdk-calls")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	queueARN := qa.Attributes["QueueArn"]
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("sdk-calls")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	bus, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("sdk-calls")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("sdk-calls"), EventBusName: aws.String("sdk-calls"),
		EventPattern: aws.String(`{"source":["nimbus.sdk-test"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("sdk-calls"), EventBusName: aws.String("sdk-calls"),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(queueARN), InputPath: aws.String("$.detail")}}}); err != nil {
		t.Fatal(err)
	}

	goZip := filepath.Join(t.TempDir(), "sdkcaller.zip")
	testkit.BuildGoZip(t, "test/integration/sdkcaller", goZip, "bootstrap")
	env := map[string]string{
		"SDK_QUEUE_URL": aws.ToString(q.QueueUrl),
		"SDK_QUEUE_ARN": queueARN,
		"SDK_TOPIC_ARN": aws.ToString(topic.TopicArn),
		"SDK_BUS_NAME":  "sdk-calls",
		"SDK_BUS_ARN":   aws.ToString(bus.EventBusArn),
		"SDK_GO_ZIP":    goZip,
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if _, err := p.Client.Deploy(ctx, testkit.Path(t, "test/integration/testdata/sdk-calls"), manifest.Options{LookupEnv: lookup}, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}

	callers := map[string]string{"node-cjs": "nodeCjs", "node-esm": "nodeEsm", "python": "python", "go": "go"}
	var want []string
	for from, fn := range callers {
		res := invoke(t, p, "sdk-calls-dev-"+fn, map[string]string{"from": from}, true)
		if fe := functionError(res); fe != "" {
			t.Fatalf("%s failed: %s\n%s\n%s", fn, fe, res.out.Payload, res.log)
		}
		// The invoked function answered through the caller.
		wantField(t, res.payload, "target.echoed", from)
		wantField(t, res.payload, "target.by", "sdk-calls-dev-target")
		for _, via := range []string{"sqs", "sns", "events"} {
			want = append(want, via+" "+from)
		}
	}
	sort.Strings(want)

	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var b struct{ Via, From string }
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &b); err != nil {
				t.Fatalf("unexpected message %q: %v", aws.ToString(m.Body), err)
			}
			got = append(got, b.Via+" "+b.From)
			if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Strings(got)
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("the queue received\n  %s\nwant\n  %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

// TestPackagedSDKWins: a package that ships its own @aws-sdk/client-sqs (in
// its node_modules, for require and for import) or its own boto3 gets its
// own, as on Lambda; what it does not ship still resolves from the platform.
func TestPackagedSDKWins(t *testing.T) {
	testkit.RequireSDK(t, true, true)
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("test/integration/testdata/sdk-own")
	for _, fn := range []string{"nodeCjs", "nodeEsm"} {
		res := invoke(t, p, "sdk-own-dev-"+fn, map[string]any{}, true)
		if fe := functionError(res); fe != "" {
			t.Fatalf("%s failed: %s\n%s\n%s", fn, fe, res.out.Payload, res.log)
		}
		wantField(t, res.payload, "sqsOwn", true)
		wantField(t, res.payload, "snsFromPlatform", true)
	}
	res := invoke(t, p, "sdk-own-dev-python", map[string]any{}, true)
	if fe := functionError(res); fe != "" {
		t.Fatalf("python failed: %s\n%s\n%s", fe, res.out.Payload, res.log)
	}
	wantField(t, res.payload, "boto3Own", true)
	botocore, _ := res.payload["botocoreFile"].(string)
	root, _ := res.payload["taskRoot"].(string)
	if botocore == "" || root == "" || strings.HasPrefix(botocore, root) {
		t.Fatalf("botocore came from %q (task root %q), want the platform's", botocore, root)
	}
}

// TestEnvironmentForSDKs: every instance is told the platform's AWS API as
// AWS_ENDPOINT_URL, and a function's own value wins (Lambda does not reserve
// the name). The SDK folder is on NODE_PATH and PYTHONPATH after the
// function's own entries; in Python the task root comes first and the SDK
// before the standard library and the host's packages.
func TestEnvironmentForSDKs(t *testing.T) {
	t.Parallel()
	p := testkit.Start(t, nil)
	p.Deploy("test/integration/testdata/sdk-own")
	res := invoke(t, p, "sdk-own-dev-env", map[string]any{}, false)
	wantField(t, res.payload, "endpoint", p.URL())
	wantField(t, res.payload, "region", "us-east-1")

	res = invoke(t, p, "sdk-own-dev-envOwnEndpoint", map[string]any{}, false)
	wantField(t, res.payload, "endpoint", "http://endpoint.example:4566")
	nodePath := strings.Split(fmt.Sprint(res.payload["nodePath"]), ":")
	own, sdk := slices.Index(nodePath, "/opt/own/node_modules"), slices.IndexFunc(nodePath, func(e string) bool { return strings.HasSuffix(e, "sdk/nodejs/node_modules") })
	if own != 0 || sdk < 0 {
		t.Errorf("NODE_PATH %q: want the function's own entry first and the SDK's after it", nodePath)
	}

	res = invoke(t, p, "sdk-own-dev-envPython", map[string]any{}, false)
	wantField(t, res.payload, "endpoint", p.URL())
	var sysPath []string
	for _, e := range res.payload["sysPath"].([]any) {
		sysPath = append(sysPath, fmt.Sprint(e))
	}
	ownPy := slices.Index(sysPath, "/opt/own/python")
	sdkPy := slices.IndexFunc(sysPath, func(e string) bool { return strings.HasSuffix(e, "sdk/python") })
	stdlib := slices.IndexFunc(sysPath, func(e string) bool { return strings.Contains(e, "/lib/python3") })
	if len(sysPath) == 0 || sysPath[0] != res.payload["taskRoot"] || ownPy < 1 || sdkPy <= ownPy || stdlib <= sdkPy {
		t.Errorf("sys.path %q: want the task root, the function's PYTHONPATH, the SDK, then the standard library", sysPath)
	}
}
