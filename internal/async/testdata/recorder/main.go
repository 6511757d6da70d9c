// Command recorder is a test function: it posts every event it receives to
// $CALLBACK (with its $ROLE), then fails when the event says "fail": true.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

var client = &http.Client{Timeout: 10 * time.Second}

func handle(ctx context.Context, ev json.RawMessage) (any, error) {
	if cb := os.Getenv("CALLBACK"); cb != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb, bytes.NewReader(ev))
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Role", os.Getenv("ROLE"))
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			req.Header.Set("X-Request-Id", lc.AwsRequestID)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
	}
	var e struct {
		Fail  bool `json:"fail"`
		Sleep int  `json:"sleepMs"`
	}
	_ = json.Unmarshal(ev, &e)
	if e.Sleep > 0 {
		time.Sleep(time.Duration(e.Sleep) * time.Millisecond)
	}
	if e.Fail {
		return nil, errors.New("asked to fail")
	}
	return map[string]bool{"ok": true}, nil
}

func main() { lambda.Start(handle) }
