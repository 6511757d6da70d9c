package sqs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func client(p *testkit.Platform) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL()),
		Credentials:  p.Credentials(),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   testkit.HTTPClient(),
	})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSQS(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()

	// Bad input first: nothing may be created.
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad name!")}); code(err) != "InvalidParameterValue" {
		t.Errorf("invalid name: %v", err)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "99999"}}); code(err) != "InvalidAttributeValue" {
		t.Errorf("invalid attribute: %v", err)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"Bogus": "1"}}); code(err) != "InvalidAttributeName" {
		t.Errorf("unknown attribute: %v", err)
	}
	if out, _ := c.ListQueues(ctx, &sqs.ListQueuesInput{}); len(out.QueueUrls) != 0 {
		t.Fatalf("refused creates left queues: %v", out.QueueUrls)
	}
	_, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
	var dne *types.QueueDoesNotExist
	if !errors.As(err, &dne) {
		t.Errorf("unknown queue: %v", err)
	}

	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":"2"}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Same attributes: same queue; different: QueueAlreadyExists.
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{"VisibilityTimeout": "5"}}); err == nil {
		t.Errorf("create with different attributes succeeded")
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["QueueArn"] != "arn:aws:sqs:us-east-1:000000000000:jobs" || attrs.Attributes["VisibilityTimeout"] != "1" {
		t.Errorf("attributes = %v", attrs.Attributes)
	}

	// Send with attributes (the SDK checks the MD5 digests itself).
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("hello"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"s": {DataType: aws.String("String"), StringValue: aws.String("v")},
			"n": {DataType: aws.String("Number"), StringValue: aws.String("42")},
			"b": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	recv := func(vt *int32, wait int32) []types.Message {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
			VisibilityTimeout: aws.ToInt32(vt), MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	msgs := recv(nil, 1)
	if len(msgs) != 1 || *msgs[0].MessageId != *sent.MessageId || *msgs[0].Body != "hello" || len(msgs[0].MessageAttributes) != 3 ||
		msgs[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("received %+v", msgs)
	}
	// Invisible for the visibility timeout, then back with count 2.
	if again := recv(nil, 0); len(again) != 0 {
		t.Fatalf("message visible during its visibility timeout")
	}
	time.Sleep(1100 * time.Millisecond)
	msgs = recv(nil, 2)
	if len(msgs) != 1 || msgs[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after visibility timeout: %+v", msgs)
	}
	// Third receive exceeds maxReceiveCount 2: it moves to the DLQ.
	time.Sleep(1100 * time.Millisecond)
	if m := recv(nil, 1); len(m) != 0 {
		t.Fatalf("poison message returned a third time")
	}
	dm, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 2})
	if err != nil || len(dm.Messages) != 1 || *dm.Messages[0].Body != "hello" {
		t.Fatalf("dead-letter queue: %v %+v", err, dm)
	}

	// Delete: never delivered again.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	msgs = recv(nil, 2)
	if len(msgs) != 1 {
		t.Fatalf("got %d", len(msgs))
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	if m := recv(nil, 0); len(m) != 0 {
		t.Fatalf("deleted message came back")
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String("garbage")}); code(err) != "ReceiptHandleIsInvalid" {
		t.Errorf("bad receipt handle: %v", err)
	}

	// ChangeMessageVisibility to 0 makes it visible at once; longer holds it.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("three")}); err != nil {
		t.Fatal(err)
	}
	msgs = recv(aws.Int32(30), 2)
	if len(msgs) != 1 {
		t.Fatalf("got %d", len(msgs))
	}
	time.Sleep(1200 * time.Millisecond)
	if m := recv(nil, 0); len(m) != 0 {
		t.Fatalf("per-receive VisibilityTimeout 30 was not held")
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	msgs = recv(aws.Int32(30), 1)
	if len(msgs) != 1 {
		t.Fatalf("visibility 0: got %d", len(msgs))
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// Long polling returns as soon as a message arrives.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("late")})
	}()
	start := time.Now()
	msgs = recv(nil, 10)
	if len(msgs) != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("long poll: %d messages after %v", len(msgs), time.Since(start))
	}

	// Batches: duplicate ids are refused whole; entries fail on their own.
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("a"), MessageBody: aws.String("2")}}})
	var dup *types.BatchEntryIdsNotDistinct
	if !errors.As(err, &dup) {
		t.Errorf("duplicate batch ids: %v", err)
	}
	bo, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("b"), MessageBody: aws.String("bad \x01 char")},
		{Id: aws.String("c"), MessageBody: aws.String(strings.Repeat("x", 300000))}}})
	if err == nil {
		t.Errorf("batch over the size limit accepted: %+v", bo)
	}
	bo, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("b"), MessageBody: aws.String("bad \x01 char")}}})
	if err != nil || len(bo.Successful) != 1 || len(bo.Failed) != 1 || *bo.Failed[0].Id != "b" {
		t.Errorf("partial batch: %v %+v", err, bo)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(strings.Repeat("x", 262145))}); code(err) != "InvalidParameterValue" {
		t.Errorf("oversize message: %v", err)
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: q.QueueUrl}); err != nil {
		t.Fatal(err)
	}

	// Delay.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("later"), DelaySeconds: 1}); err != nil {
		t.Fatal(err)
	}
	if m := recv(nil, 0); len(m) != 0 {
		t.Fatalf("delayed message visible at once")
	}
	msgs = recv(nil, 5)
	if len(msgs) != 1 || *msgs[0].Body != "later" || msgs[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("delayed message: %+v", msgs)
	}
	if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x")}); !errors.As(err, &dne) {
		t.Errorf("send to deleted queue: %v", err)
	}
}

func TestSQSFIFO(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad.fifo")}); code(err) != "InvalidParameterValue" {
		t.Errorf(".fifo name without FifoQueue: %v", err)
	}
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders.fifo"), Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x"), MessageGroupId: aws.String("g")}); err == nil {
		t.Errorf("FIFO send without dedup id accepted")
	}
	const groups, per = 4, 25
	for i := range per {
		for g := range groups {
			_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprint(i)),
				MessageGroupId: aws.String(fmt.Sprint("g", g)), MessageDeduplicationId: aws.String(fmt.Sprint(g, "-", i))})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// A duplicate within the window is dropped.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("0"),
		MessageGroupId: aws.String("g0"), MessageDeduplicationId: aws.String("0-0")}); err != nil {
		t.Fatal(err)
	}
	// Concurrent consumers; each group's bodies must be processed in order.
	var mu sync.Mutex
	seen := map[string][]string{}
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				done := total >= groups*per
				mu.Unlock()
				if done {
					return
				}
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{"MessageGroupId"}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range out.Messages {
					g := m.Attributes["MessageGroupId"]
					seen[g] = append(seen[g], *m.Body)
					total++
				}
				mu.Unlock()
				for _, m := range out.Messages {
					if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for g, bodies := range seen {
		if len(bodies) != per {
			t.Errorf("group %s: %d messages, want %d", g, len(bodies), per)
		}
		for i, b := range bodies {
			if b != fmt.Sprint(i) {
				t.Fatalf("group %s out of order: %v", g, bodies)
			}
		}
	}
}

func TestSQSQueryProtocol(t *testing.T) {
	p := testkit.Start(t, nil)
	post := func(form url.Values) (int, string) {
		req, err := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p.Sign(req, "sqs")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := post(url.Values{"Action": {"CreateQueue"}, "QueueName": {"cli"}, "Attribute.1.Name": {"DelaySeconds"}, "Attribute.1.Value": {"0"}})
	if st != 200 || !strings.Contains(body, "<QueueUrl>"+p.URL()+"/000000000000/cli</QueueUrl>") {
		t.Fatalf("CreateQueue: %d %s", st, body)
	}
	st, body = post(url.Values{"Action": {"SendMessage"}, "QueueUrl": {p.URL() + "/000000000000/cli"}, "MessageBody": {"a<b"},
		"MessageAttribute.1.Name": {"k"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"v"}})
	if st != 200 || !strings.Contains(body, "<MD5OfMessageBody>") || !strings.Contains(body, "<MD5OfMessageAttributes>") {
		t.Fatalf("SendMessage: %d %s", st, body)
	}
	st, body = post(url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {p.URL() + "/000000000000/cli"}, "MessageAttributeName.1": {"All"}, "AttributeName.1": {"All"}})
	if st != 200 || !strings.Contains(body, "<Body>a&lt;b</Body>") || !strings.Contains(body, "<Name>ApproximateReceiveCount</Name>") {
		t.Fatalf("ReceiveMessage: %d %s", st, body)
	}
	st, body = post(url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"nope"}})
	if st != 400 || !strings.Contains(body, "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>") {
		t.Fatalf("unknown queue: %d %s", st, body)
	}
	st, body = post(url.Values{"Action": {"Frobnicate"}})
	if st != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
		t.Fatalf("unknown action: %d %s", st, body)
	}
	// Malformed JSON protocol body.
	req, _ := http.NewRequest("POST", p.URL()+"/", strings.NewReader("{not json"))
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	p.Sign(req, "sqs")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "SerializationException") {
		t.Fatalf("malformed JSON: %d %s", resp.StatusCode, b)
	}
}
