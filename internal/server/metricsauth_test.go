package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestMetricsNeedACredential: /metrics names functions and counts their
// calls, so a function (or any local process) without the token or an
// operator key is refused; /healthz stays open.
func TestMetricsNeedACredential(t *testing.T) {
	p := testkit.Start(t, nil)
	file := filepath.Join(p.Config.DataDir, server.MetricsTokenFile)
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("metrics token file %s: %v, %v; want mode 0600", file, st, err)
	}
	token, err := server.ReadMetricsToken(p.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}

	get := func(path string, prepare func(*http.Request)) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, p.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if prepare != nil {
			prepare(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}

	if code, _ := get("/healthz", nil); code != http.StatusOK {
		t.Errorf("unsigned /healthz: %d, want 200", code)
	}
	refused := func(code int) bool { return code == http.StatusForbidden || code == http.StatusBadRequest }
	if code, _ := get("/metrics", nil); !refused(code) {
		t.Errorf("unsigned /metrics: %d, want 403", code)
	}
	if code, _ := get("/metrics", bearer(strings.Repeat("0", len(token)))); !refused(code) {
		t.Errorf("/metrics with a wrong token: %d, want 400 or 403", code)
	}
	// A function's own requests from inside its instance.
	dir := t.TempDir()
	files := map[string]string{
		"serverless.yml": "service: metrics\nprovider:\n  name: aws\n  runtime: python3.12\nfunctions:\n  snoop:\n    handler: snoop.handler\n",
		"snoop.py": `import os, urllib.request, urllib.error

def handler(event, context):
    out = {}
    for name, headers in (("unsigned", {}), ("guess", {"Authorization": "Bearer " + event["guess"]})):
        req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/metrics", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                out[name] = r.status
        except urllib.error.HTTPError as e:
            out[name] = e.code
    return out
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("metrics-dev-snoop"),
		Payload: []byte(`{"guess":"` + strings.Repeat("f", len(token)) + `"}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke: %v %s", err, out.Payload)
	}
	var seen map[string]int
	if err := json.Unmarshal(out.Payload, &seen); err != nil || !refused(seen["unsigned"]) || !refused(seen["guess"]) {
		t.Errorf("the function's requests to /metrics got %s, want 403 or 400 for each", out.Payload)
	}

	// Signed with a function's credentials: a valid signature, not an operator.
	creds, err := p.Auth.FunctionCredentials("metrics-dev-snoop", "$LATEST")
	if err != nil {
		t.Fatal(err)
	}
	code, body := get("/metrics", func(r *http.Request) {
		sum := sha256.Sum256(nil)
		c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
		if err := v4.NewSigner().SignHTTP(context.Background(), c, r, hex.EncodeToString(sum[:]), "nimbus", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	if code != http.StatusForbidden || !strings.Contains(body, server.MetricsTokenFile) {
		t.Errorf("/metrics signed by a function: %d %q, want 403 naming the token file", code, body)
	}

	// The token and an operator's signature read the metrics.
	if code, body := get("/metrics", bearer(token)); code != http.StatusOK || !strings.Contains(body, `function="metrics-dev-snoop"`) {
		t.Errorf("/metrics with the token: %d, want 200 with the function's series:\n%.500s", code, body)
	}
	if code, _ := get("/metrics", func(r *http.Request) { p.Sign(r, "nimbus") }); code != http.StatusOK {
		t.Errorf("/metrics signed with the administrator key: %d, want 200", code)
	}
}
