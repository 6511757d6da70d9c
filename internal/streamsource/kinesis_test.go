package streamsource_test

import (
	"context"
	"encoding/json"
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
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/nimbus-platform/nimbus/internal/conformance"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const kinesisYML = `service: ks
provider:
  name: aws
  runtime: provided.al2023
  timeout: 5
functions:
  reader:
    handler: bootstrap
    package:
      artifact: fn.zip
    environment:
      CALLBACK: %s
    events:
      - stream:
          type: kinesis
          arn:
            Fn::GetAtt: [Clicks, Arn]
          batchSize: 4
          startingPosition: TRIM_HORIZON
resources:
  Resources:
    Clicks:
      Type: AWS::Kinesis::Stream
      Properties:
        Name: clicks
        ShardCount: 2
`

// TestKinesisStreamEvents: a data stream declared in the manifest feeds a
// function's stream event: every record arrives once, each partition key's
// in order, in the shape Lambda gives Kinesis records.
func TestKinesisStreamEvents(t *testing.T) {
	var mu sync.Mutex
	byKey := map[string][]string{}
	var first map[string]json.RawMessage
	var firstRec struct {
		Kinesis struct {
			PartitionKey   string `json:"partitionKey"`
			SequenceNumber string `json:"sequenceNumber"`
			Data           []byte `json:"data"`
		} `json:"kinesis"`
		EventID           string `json:"eventID"`
		EventSourceARN    string `json:"eventSourceARN"`
		InvokeIdentityArn string `json:"invokeIdentityArn"`
		EventName         string `json:"eventName"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var raw struct{ Records []map[string]json.RawMessage }
		if err := json.Unmarshal(body, &raw); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rec := range raw.Records {
			var k struct {
				PartitionKey string `json:"partitionKey"`
				Data         []byte `json:"data"`
			}
			_ = json.Unmarshal(rec["kinesis"], &k)
			byKey[k.PartitionKey] = append(byKey[k.PartitionKey], string(k.Data))
			if first == nil {
				first = rec
				data, _ := json.Marshal(rec)
				_ = json.Unmarshal(data, &firstRec)
			}
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	testkit.BuildGoZip(t, "internal/streamsource/testdata/streamfn", filepath.Join(dir, "fn.zip"), "bootstrap")
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(fmt.Sprintf(kinesisYML, srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testkit.Start(t, func(c *server.Config) { c.NoSandbox = true })
	out := p.Deploy(dir)
	for _, w := range out.Project.Warnings {
		t.Errorf("warning: %s", w.Message)
	}
	ctx := context.Background()
	c := kinesis.NewFromConfig(p.AWSConfig())
	keys := []string{"a", "b", "c"}
	for i := 0; i < 12; i++ {
		k := keys[i%3]
		if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), PartitionKey: aws.String(k), Data: fmt.Appendf(nil, "%s%d", k, i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(byKey["a"]) + len(byKey["b"]) + len(byKey["c"])
		mu.Unlock()
		if n >= 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 12 records", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(byKey["a"]) != "[a0 a3 a6 a9]" || fmt.Sprint(byKey["b"]) != "[b1 b4 b7 b10]" || fmt.Sprint(byKey["c"]) != "[c2 c5 c8 c11]" {
		t.Errorf("delivered %v", byKey)
	}
	arn := "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
	if firstRec.EventSourceARN != arn || firstRec.EventName != "aws:kinesis:record" || !strings.HasSuffix(firstRec.EventID, ":"+firstRec.Kinesis.SequenceNumber) ||
		!strings.HasPrefix(firstRec.EventID, "shardId-00000000000") || !strings.Contains(firstRec.InvokeIdentityArn, ":role/") || len(firstRec.Kinesis.Data) == 0 {
		t.Errorf("record = %+v", firstRec)
	}
	// The same fields as AWS's sample Kinesis event.
	data, err := os.ReadFile(filepath.Join(conformance.Dir(t), "lambda", "events", "kinesis-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Records []map[string]json.RawMessage }
	if err := json.Unmarshal(data, &sample); err != nil {
		t.Fatal(err)
	}
	if got, want := shape(first, "kinesis"), shape(sample.Records[0], "kinesis"); got != want {
		t.Errorf("record fields %s, AWS's sample has %s", got, want)
	}
}
