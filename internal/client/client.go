// Package client is the nimbus CLI's side of the platform's APIs: it loads
// and packages a service, uploads what the platform lacks, deploys, invokes
// and reads logs.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/packaging"
	"github.com/nimbus-platform/nimbus/internal/sandbox"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
)

// Client talks to one platform.
type Client struct {
	Endpoint string // e.g. http://127.0.0.1:9000
	HTTP     *http.Client
	creds    *Credentials
	region   string
	// BuildCache keeps build steps' outputs (bundles, Python requirements)
	// between deploys; "" is packaging.DefaultCacheDir.
	BuildCache string
}

// New returns a client for endpoint.
func New(endpoint string) *Client {
	return &Client{Endpoint: strings.TrimRight(endpoint, "/"), HTTP: &http.Client{}}
}

// APIError is an error answer of the platform.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("the platform answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	if err := c.sign(req); err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach nimbus at %s (is `nimbus up` running? set --endpoint or NIMBUS_ENDPOINT): %w", c.Endpoint, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &APIError{Status: resp.StatusCode, Code: resp.Header.Get("X-Amzn-ErrorType")}
		var fields map[string]any
		if json.Unmarshal(body, &fields) == nil {
			for _, k := range []string{"code", "__type"} {
				if s, ok := fields[k].(string); ok && e.Code == "" {
					e.Code = s
				}
			}
			for _, k := range []string{"message", "Message"} {
				if s, ok := fields[k].(string); ok {
					e.Message = s
				}
			}
		}
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return nil, e
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// Progress receives one line per step of a deploy.
type Progress func(format string, args ...any)

// DeployOutcome is what Deploy did.
type DeployOutcome struct {
	Project  *manifest.Project
	Response *deployapi.DeployResponse
	Uploaded int // packages uploaded (the rest were already there)
}

// LoadManifest loads the manifest in dir as a deploy reads it: ${ssm:}
// resolves through the platform's parameters unless opts brings its own
// source. Every command that reads a manifest loads it here, so a name means
// the same to each of them.
func (c *Client) LoadManifest(ctx context.Context, dir string, opts manifest.Options) (*manifest.Project, error) {
	if opts.Parameters == nil {
		opts.Parameters = c.Parameters(ctx)
	}
	return manifest.Load(dir, opts)
}

// Deploy loads the manifest in dir, packages and uploads the code the
// platform does not have yet, and deploys.
func (c *Client) Deploy(ctx context.Context, dir string, opts manifest.Options, progress Progress) (*DeployOutcome, error) {
	return c.DeployWith(ctx, dir, opts, progress, nil)
}

// DeployWith is Deploy with a last change to the application before it is
// sent (tests use it to give functions what the manifest cannot express yet).
func (c *Client) DeployWith(ctx context.Context, dir string, opts manifest.Options, progress Progress, adjust func(*appspec.Application)) (*DeployOutcome, error) {
	if progress == nil {
		progress = func(string, ...any) {}
	}
	p, err := c.LoadManifest(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		progress("warning: %s", w.Error())
	}
	progress("Packaging %s (%d function(s))", p.App.Service, len(p.App.Functions))
	out, err := os.MkdirTemp("", "nimbus-package-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	arts, err := packaging.BuildWith(ctx, p, out, packaging.Options{Progress: progress, CacheDir: c.BuildCache})
	if err != nil {
		return nil, err
	}
	uploaded := 0
	for _, a := range arts {
		has, err := c.hasCode(ctx, a.SHA256)
		if err != nil {
			return nil, err
		}
		if has {
			continue
		}
		progress("Uploading %s (%s)", filepath.Base(a.Path), humanBytes(a.Size))
		if err := c.putCode(ctx, a); err != nil {
			return nil, err
		}
		uploaded++
	}
	packaging.Apply(&p.App, arts)
	if adjust != nil {
		adjust(&p.App)
	}
	if err := p.App.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(&p.App)
	if err != nil {
		return nil, err
	}
	progress("Deploying %s to stage %s", p.App.Service, p.App.Stage)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+deployapi.Prefix+"/services", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var dr deployapi.DeployResponse
	if err := json.NewDecoder(resp.Body).Decode(&dr); err != nil {
		return nil, fmt.Errorf("read deploy answer: %w", err)
	}
	return &DeployOutcome{Project: p, Response: &dr, Uploaded: uploaded}, nil
}

func (c *Client) hasCode(ctx context.Context, sha string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.Endpoint+deployapi.Prefix+"/code/"+sha, nil)
	if err != nil {
		return false, err
	}
	if err := c.sign(req); err != nil {
		return false, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return false, fmt.Errorf("cannot reach nimbus at %s (is `nimbus up` running? set --endpoint or NIMBUS_ENDPOINT): %w", c.Endpoint, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, &APIError{Status: resp.StatusCode, Code: resp.Header.Get("X-Amzn-ErrorType"), Message: "checking for code package " + sha + " was refused"}
}

func (c *Client) putCode(ctx context.Context, a packaging.Artifact) error {
	f, err := os.Open(a.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.Endpoint+deployapi.Prefix+"/code/"+a.SHA256, f)
	if err != nil {
		return err
	}
	req.ContentLength = a.Size
	req.Header.Set("Content-Type", "application/zip")
	// The package is named by its SHA-256: that is the payload hash to sign,
	// so the zip streams without being read twice.
	req.Header.Set("X-Amz-Content-Sha256", a.SHA256)
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", filepath.Base(a.Path), err)
	}
	resp.Body.Close()
	return nil
}

// Remove deletes a deployed service, which must have one stage deployed.
func (c *Client) Remove(ctx context.Context, service string) (*functions.DeployResult, error) {
	return c.RemoveStage(ctx, service, "")
}

// RemoveStage deletes one stage of a deployed service; the other stages
// stay. An empty stage means the only one deployed.
func (c *Client) RemoveStage(ctx context.Context, service, stage string) (*functions.DeployResult, error) {
	u := c.Endpoint + deployapi.Prefix + "/services/" + url.PathEscape(service)
	if stage != "" {
		u += "?stage=" + url.QueryEscape(stage)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res functions.DeployResult
	return &res, json.NewDecoder(resp.Body).Decode(&res)
}

// Services lists what is deployed.
func (c *Client) Services(ctx context.Context) ([]deployapi.ServiceInfo, error) {
	var out []deployapi.ServiceInfo
	return out, c.getJSON(ctx, deployapi.Prefix+"/services", &out)
}

// Isolation is what the platform's sandbox gives functions on its host.
func (c *Client) Isolation(ctx context.Context) (sandbox.Status, error) {
	var out struct {
		Isolation sandbox.Status `json:"isolation"`
	}
	return out.Isolation, c.getJSON(ctx, deployapi.Prefix+"/status", &out)
}

// InvokeResult is a synchronous invocation's answer.
type InvokeResult struct {
	Payload         []byte
	FunctionError   string
	LogTail         string
	ExecutedVersion string
	RequestID       string
}

// Invoke calls the Lambda API's Invoke, as any SDK would.
func (c *Client) Invoke(ctx context.Context, function, qualifier string, payload []byte, tail bool) (*InvokeResult, error) {
	u := c.Endpoint + "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations"
	if qualifier != "" {
		u += "?Qualifier=" + url.QueryEscape(qualifier)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	if tail {
		req.Header.Set("X-Amz-Log-Type", "Tail")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	res := &InvokeResult{
		Payload:         body,
		FunctionError:   resp.Header.Get("X-Amz-Function-Error"),
		ExecutedVersion: resp.Header.Get("X-Amz-Executed-Version"),
		RequestID:       resp.Header.Get("X-Amzn-Requestid"),
	}
	if lr := resp.Header.Get("X-Amz-Log-Result"); lr != "" {
		raw, err := base64.StdEncoding.DecodeString(lr)
		if err != nil {
			return nil, fmt.Errorf("log result is not base64: %w", err)
		}
		res.LogTail = string(raw)
	}
	return res, nil
}

// Logs streams a function's log records to fn.
func (c *Client) Logs(ctx context.Context, function, since, filter string, follow bool, fn func(logs.Record) error) error {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if filter != "" {
		q.Set("filter", filter)
	}
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint+deployapi.Prefix+"/functions/"+url.PathEscape(function)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var rec struct {
			logs.Record
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("unreadable log record: %w", err)
		}
		if rec.Error != "" {
			return errors.New(rec.Error)
		}
		if err := fn(rec.Record); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
