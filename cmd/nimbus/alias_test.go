package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// `nimbus alias list/create/update/delete` manage aliases through the
// Lambda API with the operator's key; a bad weight or an unknown version is
// a clear error.
func TestAliasCommands(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	creds, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
	run := func(args ...string) (string, error) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"--endpoint", p.URL()}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	dir := t.TempDir()
	const fn = "al-dev-echo"
	for i, code := range []string{"A", "B"} {
		yml := "service: al\nprovider:\n  name: aws\n  runtime: nodejs20.x\n  versionFunctions: true\nfunctions:\n  echo:\n    handler: handler.echo\n"
		js := "exports.echo = async () => '" + code + "';\n"
		if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		if v := p.Deploy(dir).Response.Versions[fn]; v != []string{"1", "2"}[i] {
			t.Fatalf("deploy %d published %q", i+1, v)
		}
	}
	if out, err := run("alias", "list", fn); err != nil || !strings.Contains(out, "No aliases.") {
		t.Fatalf("list with none: %q %v", out, err)
	}
	if out, err := run("alias", "create", fn, "live", "--version", "1"); err != nil || !strings.Contains(out, "Created alias live → version 1") {
		t.Fatalf("create: %q %v", out, err)
	}
	if _, err := run("alias", "create", fn, "bad", "--version", "9"); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("create on a missing version: %v", err)
	}
	if _, err := run("alias", "update", fn, "live", "--weight", "2"); err == nil || !strings.Contains(err.Error(), "VERSION=SHARE") {
		t.Fatalf("a weight without a share: %v", err)
	}
	if out, err := run("alias", "update", fn, "live", "--weight", "2=0.25"); err != nil || !strings.Contains(out, "and version 2 at 25%") {
		t.Fatalf("update weights: %q %v", out, err)
	}
	got, err := p.Lambda().GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: aws.String(fn), Name: aws.String("live")})
	if err != nil || got.RoutingConfig == nil || got.RoutingConfig.AdditionalVersionWeights["2"] != 0.25 {
		t.Fatalf("alias after update: %+v %v", got, err)
	}
	if out, err := run("alias", "list", fn); err != nil || !strings.Contains(out, "live") || !strings.Contains(out, "2 at 25%") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := run("alias", "update", fn, "live", "--version", "2", "--no-weights"); err != nil || !strings.Contains(out, "→ version 2\n") {
		t.Fatalf("promote: %q %v", out, err)
	}
	if out, err := run("alias", "delete", fn, "live"); err != nil || !strings.Contains(out, "Deleted alias live") {
		t.Fatalf("delete: %q %v", out, err)
	}
	if out, err := run("alias", "list", fn); err != nil || !strings.Contains(out, "No aliases.") {
		t.Fatalf("list after delete: %q %v", out, err)
	}
}
