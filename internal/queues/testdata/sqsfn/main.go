// Command sqsfn is a test function for queue triggers: it posts each record's
// body to $CALLBACK and reports records whose body starts with "fail" as
// batch item failures; a body "crash" fails the whole batch; a body starting
// with "sleep" takes a second.
package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

var client = &http.Client{Timeout: 10 * time.Second}

func handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var out events.SQSEventResponse
	for _, r := range ev.Records {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, os.Getenv("CALLBACK"), strings.NewReader(r.Body))
		req.Header.Set("X-Role", "sqs")
		req.Header.Set("X-Receive-Count", r.Attributes["ApproximateReceiveCount"])
		req.Header.Set("X-Source", r.EventSourceARN)
		req.Header.Set("X-Revision", os.Getenv("REVISION"))
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
		if strings.HasPrefix(r.Body, "sleep") {
			time.Sleep(time.Second)
		}
		if r.Body == "crash" {
			return out, context.DeadlineExceeded
		}
		if strings.HasPrefix(r.Body, "fail") {
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return out, nil
}

func main() { lambda.Start(handle) }
