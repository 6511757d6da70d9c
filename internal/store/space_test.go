package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// smallDisk mounts a tmpfs of size MiB for the test; it skips when the test
// cannot mount (not root, or no mount namespace rights).
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file until the disk is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// The last bytes go in small writes, so that nothing is left.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	return path
}

// syncBuffer is a log destination the platform and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// With the data directory's disk full, the platform refuses writes at once
// with AWS's ServiceUnavailable, keeps what it acknowledged, and accepts
// writes again as soon as space is freed, without a restart. It starts on a
// disk far smaller than the log store's budget.
func TestFullDisk(t *testing.T) {
	disk := smallDisk(t, 64)
	var logged syncBuffer
	p := testkit.Start(t, func(c *server.Config) {
		c.DataDir = filepath.Join(disk, "data")
		c.NoSandbox = true
		c.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	p.Deploy("examples/hello")
	ctx := context.Background()
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()),
		Credentials: p.Credentials(), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	send := func(body string) error {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)})
		if err == nil {
			acked[body] = true
		}
		return err
	}
	for i := range 20 {
		if err := send(fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	filler := fill(t, disk)
	// Writes go on until the platform sees the disk full; from then on every
	// write is refused, at once, with ServiceUnavailable.
	var refusals []time.Duration
	for i := 0; len(refusals) < 5; i++ {
		if i > 200 {
			t.Fatalf("writes still accepted on a full disk (%d acknowledged)", len(acked))
		}
		start := time.Now()
		err := send(fmt.Sprintf("full-%d", i))
		took := time.Since(start)
		if err == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if code := apiCode(err); code != "ServiceUnavailable" {
			t.Fatalf("SendMessage on a full disk: %v (code %q after %v), want ServiceUnavailable", err, code, took)
		}
		refusals = append(refusals, took)
	}
	t.Logf("refusals took %v", refusals)
	// The operator is told which disk is full.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if l := logged.String(); strings.Contains(l, "disk is full") && strings.Contains(l, disk) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line names the full disk %s:\n%s", disk, logged.String())
		}
	}
	lc := p.Lambda()
	_, err = lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello-dev-hello"),
		InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{}`)})
	if code := apiCode(err); code != "ServiceUnavailable" {
		t.Errorf("async Invoke on a full disk: %v, want ServiceUnavailable", err)
	}

	// A deploy (its code upload and its record) is refused the same way.
	_, err = p.Client.Deploy(ctx, testkit.Path(t, "examples/python-hello"), manifest.Options{}, nil)
	var de *client.APIError
	if !errors.As(err, &de) || de.Status != 503 || de.Code != "ServiceUnavailable" {
		t.Errorf("deploy on a full disk: %v, want 503 ServiceUnavailable", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Writes are accepted again, without a restart.
	deadline := time.Now().Add(15 * time.Second)
	for send("after") != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes still refused 15s after space was freed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello-dev-hello"),
		InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{}`)}); err != nil {
		t.Errorf("async Invoke after space was freed: %v", err)
	}
	// Everything acknowledged is there.
	got := map[string]bool{}
	for idle := 0; idle < 2; {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			idle++
		}
		for _, m := range out.Messages {
			got[*m.Body] = true
		}
	}
	for body := range acked {
		if !got[body] {
			t.Errorf("acknowledged message %q is lost", body)
		}
	}
	t.Logf("%d acknowledged, %d received", len(acked), len(got))
}

// A write that meets the full disk anyway (another program took the space
// between two readings of it) breaks the stream it went to until JetStream
// reopens it: the store does that by itself once space is back.
func TestStoreRecoversFromAWriteThatMetTheFullDisk(t *testing.T) {
	disk := smallDisk(t, 32)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: disk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stream, err := st.Stream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	// A durable consumer read as the platform's workers read theirs.
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	// Its pull requests are lost with the restart; a short expiry makes it
	// notice in seconds (the default, 30 s, in about 30).
	iter, err := cons.Messages(jetstream.PullExpiry(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Stop()
	received := make(chan string, 100)
	go func() {
		for {
			m, err := iter.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err == nil {
				received <- string(m.Data())
				_ = m.Ack()
			}
		}
	}()
	for i := range 10 {
		if _, err := st.JS.Publish(ctx, "t", fmt.Appendf(nil, "before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		<-received
	}
	filler := fill(t, disk)
	// Past the guard, straight to the server, as if the space went just now.
	if m, err := st.NC.Request("t", make([]byte, 256<<10), 2*time.Second); err == nil {
		t.Logf("the unguarded write was answered: %s", m.Data)
	} else {
		t.Logf("the unguarded write was not answered: %v", err)
	}
	if _, err := st.JS.Publish(ctx, "t", []byte("refused")); !store.IsNoSpace(err) {
		t.Fatalf("write on a full disk: %v, want ErrNoSpace", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := st.JS.Publish(pctx, "t", []byte("after"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 15s after space was freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The consumer goes on after the restart.
	for got := ""; got != "after"; {
		select {
		case got = <-received:
		case <-time.After(20 * time.Second):
			t.Fatal("the durable consumer received nothing after the store recovered")
		}
	}
	for i := range 10 {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil || string(m.Data) != fmt.Sprintf("before-%d", i) {
			t.Fatalf("acknowledged message %d: %v %q", i+1, err, m.Data)
		}
	}
}
