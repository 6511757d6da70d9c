package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// Parameter reads a parameter through the platform's SSM API, signed with
// the client's key: what ${ssm:} in a manifest resolves against.
func (c *Client) Parameter(ctx context.Context, name string, decrypt bool) (manifest.Parameter, error) {
	body, _ := json.Marshal(map[string]any{"Name": name, "WithDecryption": decrypt})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return manifest.Parameter{}, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	resp, err := c.do(req)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "ParameterNotFound" {
		return manifest.Parameter{}, fmt.Errorf("%s: %w", name, manifest.ErrParameterNotFound)
	}
	if err != nil {
		return manifest.Parameter{}, err
	}
	defer resp.Body.Close()
	var out struct{ Parameter manifest.Parameter }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return manifest.Parameter{}, fmt.Errorf("read parameter %s: %w", name, err)
	}
	return out.Parameter, nil
}

// Parameters is a manifest.ParameterSource reading through c.
func (c *Client) Parameters(ctx context.Context) manifest.ParameterSource {
	return func(name string, decrypt bool) (manifest.Parameter, error) {
		return c.Parameter(ctx, name, decrypt)
	}
}
