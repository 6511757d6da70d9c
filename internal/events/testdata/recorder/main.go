// Command recorder is a test function: it posts every event it receives to
// $CALLBACK with its $ROLE (and the client context's custom values), and fails
// when $FAIL is set.
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, os.Getenv("CALLBACK"), bytes.NewReader(ev))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Role", os.Getenv("ROLE"))
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.ClientContext.Custom != nil {
		custom, _ := json.Marshal(lc.ClientContext.Custom)
		req.Header.Set("X-Custom", string(custom))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if os.Getenv("FAIL") != "" {
		return nil, errors.New("recorder asked to fail")
	}
	return map[string]bool{"ok": true}, nil
}

func main() { lambda.Start(handle) }
