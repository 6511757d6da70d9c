package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
)

// Credentials sign the client's requests with SigV4.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// WithCredentials makes c sign every request with creds in region.
func (c *Client) WithCredentials(creds Credentials, region string) *Client {
	if region == "" {
		region = "us-east-1"
	}
	c.creds = &creds
	c.region = region
	return c
}

// sign adds a SigV4 signature when the client has credentials: the deploy
// API's signing name is "nimbus", the Lambda API's "lambda".
func (c *Client) sign(req *http.Request) error {
	if c.creds == nil {
		return nil
	}
	service := "lambda"
	if strings.HasPrefix(req.URL.Path, deployapi.Prefix+"/") {
		service = "nimbus"
	} else if strings.HasPrefix(req.Header.Get("X-Amz-Target"), "AmazonSSM.") {
		service = "ssm"
	}
	hash := req.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		var body []byte
		if req.Body != nil && req.Body != http.NoBody {
			var err error
			if body, err = io.ReadAll(req.Body); err != nil {
				return fmt.Errorf("read request body to sign it: %w", err)
			}
			_ = req.Body.Close()
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	creds := aws.Credentials{AccessKeyID: c.creds.AccessKeyID, SecretAccessKey: c.creds.SecretAccessKey, SessionToken: c.creds.SessionToken}
	return v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, c.region, time.Now())
}

// ListKeys lists the platform's operator access keys.
func (c *Client) ListKeys(ctx context.Context) ([]auth.KeyInfo, error) {
	var keys []auth.KeyInfo
	err := c.getJSON(ctx, deployapi.Prefix+"/keys", &keys)
	return keys, err
}

// CreateKey makes a new operator access key; its secret is shown only now.
func (c *Client) CreateKey(ctx context.Context, name string) (*auth.Key, error) {
	body, _ := json.Marshal(deployapi.CreateKeyRequest{Name: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+deployapi.Prefix+"/keys", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var k auth.Key
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
		return nil, fmt.Errorf("read the new key: %w", err)
	}
	return &k, nil
}

// RevokeKey deletes an operator access key.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.Endpoint+deployapi.Prefix+"/keys/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
