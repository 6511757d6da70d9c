// Command streamfn is a test function for stream events: it posts its whole
// event to $CALLBACK and answers what the callback answers: the body as its
// result on 200, an error otherwise.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

var client = &http.Client{Timeout: 60 * time.Second}

func handle(ctx context.Context, ev json.RawMessage) (json.RawMessage, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, os.Getenv("CALLBACK"), bytes.NewReader(ev))
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(string(body))
	}
	if len(body) == 0 {
		return nil, nil
	}
	return body, nil
}

func main() { lambda.Start(handle) }
