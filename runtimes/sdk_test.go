package runtimes

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTree writes files (slash-separated names) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The platform's SDK folder is on NODE_PATH. CommonJS finds it there by
// itself; ES modules find it through the client's resolve hook. Either way a
// package's own copy comes first.
func TestNodeSDKOnNodePath(t *testing.T) {
	sdk := t.TempDir()
	writeTree(t, sdk, map[string]string{
		"node_modules/dup/package.json":      `{"name":"dup","main":"index.js"}`,
		"node_modules/dup/index.js":          `exports.from = 'platform';`,
		"node_modules/only-sdk/package.json": `{"name":"only-sdk","main":"index.js"}`,
		"node_modules/only-sdk/index.js":     `exports.from = 'platform';`,
	})
	own := map[string]string{
		"node_modules/dup/package.json": `{"name":"dup","main":"index.js"}`,
		"node_modules/dup/index.js":     `exports.from = 'own';`,
	}
	cases := map[string]string{
		"app.js":  `const dup = require('dup'); const only = require('only-sdk'); exports.handler = async () => ({ dup: dup.from, only: only.from });`,
		"app.mjs": `import dup from 'dup'; import { from } from 'only-sdk'; export const handler = async () => ({ dup: dup.from, only: from });`,
	}
	for file, code := range cases {
		t.Run(file, func(t *testing.T) {
			files := map[string]string{file: code}
			for k, v := range own {
				files[k] = v
			}
			api, _, _ := start(t, runtimeOpts{lang: "node", handler: "app.handler", files: files,
				env: []string{"NODE_PATH=" + filepath.Join(sdk, "node_modules")}})
			expectResponse(t, api.invoke(t, invocation{ID: "s1", Event: `{}`}), "s1", `{"dup":"own","only":"platform"}`)
		})
	}
}

// botocore before 1.31 ignores AWS_ENDPOINT_URL; the client teaches it, as
// newer botocore behaves, and leaves a botocore that knows alone.
func TestPythonBotocoreEndpointURL(t *testing.T) {
	session := `import types

class Session:
    def get_service_model(self, service_name, api_version=None):
        return types.SimpleNamespace(service_id={"sqs": "SQS", "events": "EventBridge"}[service_name])

    def create_client(self, service_name, region_name=None, api_version=None, use_ssl=True, verify=None, endpoint_url=None):
        return endpoint_url
`
	handler := `import botocore.session

def handler(event, context):
    s = botocore.session.Session()
    return [s.create_client("sqs"), s.create_client("events"), s.create_client("sqs", endpoint_url="http://given")]
`
	cases := []struct {
		name, variables, want string
		env                   []string
	}{
		{"old botocore", "{}", `["http://global", "http://events", "http://given"]`,
			[]string{"AWS_ENDPOINT_URL=http://global", "AWS_ENDPOINT_URL_EVENTBRIDGE=http://events"}},
		{"old botocore, configured endpoints ignored", "{}", `[null, null, "http://given"]`,
			[]string{"AWS_ENDPOINT_URL=http://global", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true"}},
		{"botocore that reads them itself", `{"ignore_configured_endpoint_urls": None}`, `[null, null, "http://given"]`,
			[]string{"AWS_ENDPOINT_URL=http://global"}},
		{"no endpoint set", "{}", `[null, null, "http://given"]`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sdk := t.TempDir()
			writeTree(t, sdk, map[string]string{
				"botocore/__init__.py":       "",
				"botocore/configprovider.py": "BOTOCORE_DEFAUT_SESSION_VARIABLES = " + tc.variables + "\n",
				"botocore/session.py":        session,
			})
			api, _, _ := start(t, runtimeOpts{lang: "python", handler: "app.handler", files: map[string]string{"app.py": handler},
				env: append([]string{"PYTHONPATH=" + sdk}, tc.env...)})
			expectResponse(t, api.invoke(t, invocation{ID: "b1", Event: `{}`}), "b1", tc.want)
		})
	}
}
