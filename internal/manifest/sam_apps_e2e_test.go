package manifest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// writeProject writes files (slash paths to contents) under a new folder
// named name.
func writeProject(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// samPlatform is one platform the SAM application tests deploy to.
type samPlatform struct{ *testkit.Platform }

func (p samPlatform) deploy(t *testing.T, dir string, opts manifest.Options) *manifest.Project {
	t.Helper()
	out, err := p.Client.Deploy(context.Background(), dir, opts, nil)
	if err != nil {
		t.Fatalf("deploy %s: %v", filepath.Base(dir), err)
	}
	return out.Project
}

// TestSAMApplications deploys SAM projects written as SAM users write them
// to one platform and calls them over HTTP.
func TestSAMApplications(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := samPlatform{testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0"; c.NoSandbox = true })}
	t.Run("InlineCode", p.testInlineCode)
}

const samInlineTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  NodeFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: |
        exports.handler = async (event) => ({ statusCode: 200, body: "node " + event.pathParameters.name });
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/node/{name}", Method: GET}
  PyFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": "python " + event["pathParameters"]["name"]}
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/py/{name}", Method: GET}
`

// InlineCode becomes index.js or index.py, as CloudFormation packages it;
// nothing else of the project is in the function's package.
func (p samPlatform) testInlineCode(t *testing.T) {
	dir := writeProject(t, "inline-app", map[string]string{"template.yaml": samInlineTemplate, "notes.txt": "not code"})
	proj := p.deploy(t, dir, manifest.Options{})
	if len(proj.Warnings) != 0 {
		t.Errorf("warnings = %v", proj.Warnings)
	}
	for path, want := range map[string]string{"/node/ann": "node ann", "/py/bob": "python bob"} {
		if code, body := call(t, "GET", p.Gateway.URL()+path, ""); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
}

// errorSays reports whether err's text holds every one of parts.
func errorSays(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, s := range parts {
		if !strings.Contains(err.Error(), s) {
			return false
		}
	}
	return true
}
