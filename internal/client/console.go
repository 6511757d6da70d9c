package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/console"
)

// ConsoleLink asks for a one-time sign-in link to the web console.
func (c *Client) ConsoleLink(ctx context.Context) (*console.LinkResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+console.LinkPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var link console.LinkResponse
	if err := json.NewDecoder(resp.Body).Decode(&link); err != nil {
		return nil, fmt.Errorf("read the sign-in link: %w", err)
	}
	if link.Path != "" {
		// The address this client reaches the platform by (a proxy's).
		link.URL = strings.TrimRight(c.Endpoint, "/") + link.Path
	}
	return &link, nil
}
