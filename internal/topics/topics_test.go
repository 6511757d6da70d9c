package topics_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/testkit"
	"github.com/nimbus-platform/nimbus/internal/topics"
)

// deployFunction deploys a function fan-dev-sub on p (its code never runs).
func deployFunction(t *testing.T, p *testkit.Platform) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, _ := zw.CreateHeader(hdr)
	_, _ = io.WriteString(w, "#!/bin/sh\nexit 1\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fn.zip"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	yml := "service: fan\nprovider: {name: aws, runtime: provided.al2023}\nfunctions:\n  sub: {handler: bootstrap, package: {artifact: fn.zip}}\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Deploy(dir)
}

// A publish fans out to a lambda subscription (an async event with the SNS
// record), a raw sqs subscription (the message and its attributes, Binary as
// bytes) and an envelope sqs subscription, each through its filter policy,
// and every delivery is stored when Publish returns.
func TestPublishFansOut(t *testing.T) {
	ctx := context.Background()
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	deployFunction(t, p)

	// The topic service under test on a store of its own; the async service is
	// not started, so the lambda deliveries stay in its stream to be read.
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queues.New(ctx, queues.ServiceConfig{Store: st, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	as, err := async.New(ctx, async.Config{Store: st, Invoker: p.Invoker, Registry: p.Registry, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := topics.New(ctx, topics.Config{Store: st, Async: as, Queues: q, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ts.CreateTopic(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"raw", "env"} {
		if _, err := q.Create(ctx, name, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []topics.Subscription{
		{Protocol: "lambda", Endpoint: "arn:aws:lambda:us-east-1:000000000000:function:fan-dev-sub", FilterPolicy: `{"kind":["order"]}`},
		{Protocol: "sqs", Endpoint: q.ARN("raw"), RawMessageDelivery: true},
		{Protocol: "sqs", Endpoint: q.ARN("env"), FilterPolicy: `{"id":[{"numeric":[">",1]}]}`, FilterPolicyScope: "MessageBody"},
	} {
		sub.TopicARN = topic.ARN
		if _, err := ts.Subscribe(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	blob := []byte{0, 1, 2, 0xff}
	publish := func(msg, kind string) {
		t.Helper()
		_, err := ts.Publish(ctx, &topics.PublishInput{TopicARN: topic.ARN, Message: msg, Attributes: map[string]topics.Attribute{
			"kind": {Type: "String", Value: kind},
			"blob": {Type: "Binary", Value: base64.StdEncoding.EncodeToString(blob)},
		}})
		if err != nil {
			t.Fatalf("publish %s: %v", msg, err)
		}
	}
	publish(`{"id":1}`, "order")  // lambda and raw
	publish(`{"id":2}`, "refund") // raw and env

	// Raw: both messages, attributes typed as published.
	zero := 0
	raw, err := q.Receive(ctx, "raw", queues.ReceiveInput{Max: 10, WaitSeconds: &zero})
	if err != nil || len(raw) != 2 {
		t.Fatalf("raw queue: %v, %d messages, want 2", err, len(raw))
	}
	for _, m := range raw {
		b, k := m.Attributes["blob"], m.Attributes["kind"]
		if b.DataType != "Binary" || !bytes.Equal(b.BinaryValue, blob) || b.StringValue != nil {
			t.Errorf("raw delivery of a Binary attribute: %+v", b)
		}
		if k.DataType != "String" || k.StringValue == nil {
			t.Errorf("raw delivery of a String attribute: %+v", k)
		}
	}
	// Envelope: only the message whose body matches.
	env, err := q.Receive(ctx, "env", queues.ReceiveInput{Max: 10, WaitSeconds: &zero})
	if err != nil || len(env) != 1 {
		t.Fatalf("envelope queue: %v, %d messages, want 1", err, len(env))
	}
	var e struct {
		Type, TopicArn, Message, MessageId string
		MessageAttributes                  map[string]topics.Attribute
	}
	if err := json.Unmarshal([]byte(env[0].Body), &e); err != nil || e.Type != "Notification" || e.TopicArn != topic.ARN ||
		e.Message != `{"id":2}` || e.MessageId == "" || e.MessageAttributes["blob"].Type != "Binary" {
		t.Errorf("envelope: %v %s", err, env[0].Body)
	}
	// Lambda: one async event, the SNS record of the matching message.
	stream, err := st.JS.Stream(ctx, "NIMBUS_ASYNC")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("nimbus.async.>"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d async events stored, want 1", info.State.Msgs)
	}
	m, err := stream.GetLastMsgForSubject(ctx, "nimbus.async.fan-dev-sub")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Records []struct {
			EventSource, EventSubscriptionArn string
			Sns                               struct {
				Type, Message, TopicArn string
				MessageAttributes       map[string]topics.Attribute
			}
		}
	}
	if err := json.Unmarshal(m.Data, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("async event: %v %s", err, m.Data)
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sns" || r.Sns.Message != `{"id":1}` || r.Sns.TopicArn != topic.ARN || r.Sns.MessageAttributes["kind"].Value != "order" {
		t.Errorf("SNS record: %s", m.Data)
	}

	// A Binary attribute that is not base64 is refused and delivers nothing.
	_, err = ts.Publish(ctx, &topics.PublishInput{TopicARN: topic.ARN, Message: "x",
		Attributes: map[string]topics.Attribute{"blob": {Type: "Binary", Value: "not base64!"}}})
	var te *topics.Error
	if !errors.As(err, &te) || te.Kind != topics.InvalidParameterValue {
		t.Errorf("publish with a bad Binary attribute: %v, want ParameterValueInvalid", err)
	}
}
