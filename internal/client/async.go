package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
)

// InvokeAsync calls Invoke with InvocationType Event: the platform answers
// once the event is stored durably; it returns the request id.
func (c *Client) InvokeAsync(ctx context.Context, function, qualifier string, payload []byte) (string, error) {
	u := c.Endpoint + "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations"
	if qualifier != "" {
		u += "?Qualifier=" + url.QueryEscape(qualifier)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	resp, err := c.do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return resp.Header.Get("X-Amzn-Requestid"), nil
}
