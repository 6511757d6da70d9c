package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// `nimbus params set/get/ls/rm` keep parameters through the SSM API, signed
// with the operator's key; SecureStrings are shown only with --decrypt.
func TestParamsCommands(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	creds, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
	run := func(stdin string, args ...string) (string, error) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs(append([]string{"--endpoint", p.URL()}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	if out, err := run("", "params", "set", "/shop/db-url", "postgres://db"); err != nil || !strings.Contains(out, "Set /shop/db-url (version 1)") {
		t.Fatalf("set: %q %v", out, err)
	}
	if out, err := run("", "params", "set", "/shop/db-url", "postgres://db2"); err != nil || !strings.Contains(out, "(version 2)") {
		t.Fatalf("set again: %q %v", out, err)
	}
	if out, err := run("k-secret\n", "params", "set", "/shop/api-key", "-", "--secure"); err != nil || !strings.Contains(out, "version 1") {
		t.Fatalf("set --secure from stdin: %q %v", out, err)
	}
	if _, err := run("", "params", "set", "/shop/hosts", "a,b", "--type", "StringList"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", "params", "set", "/aws/nope", "v"); err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Fatalf("set reserved name: %v", err)
	}

	c := awsssm.NewFromConfig(p.AWSConfig())
	got, err := c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/shop/api-key"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(got.Parameter.Value) != "k-secret" || got.Parameter.Type != "SecureString" {
		t.Fatalf("stored secret: %+v %v", got, err)
	}

	if out, err := run("", "params", "get", "/shop/db-url"); err != nil || out != "postgres://db2\n" {
		t.Fatalf("get: %q %v", out, err)
	}
	if out, err := run("", "params", "get", "/shop/db-url:1"); err != nil || out != "postgres://db\n" {
		t.Fatalf("get :1: %q %v", out, err)
	}
	if _, err := run("", "params", "get", "/shop/api-key"); err == nil || !strings.Contains(err.Error(), "--decrypt") {
		t.Fatalf("get secure without --decrypt: %v", err)
	}
	if out, err := run("", "params", "get", "/shop/api-key", "--decrypt"); err != nil || out != "k-secret\n" {
		t.Fatalf("get --decrypt: %q %v", out, err)
	}
	if _, err := run("", "params", "get", "/shop/none"); err == nil || !strings.Contains(err.Error(), "ParameterNotFound") {
		t.Fatalf("get missing: %v", err)
	}

	if _, err := run("", "params", "set", "/other/x", "1"); err != nil {
		t.Fatal(err)
	}
	out, err := run("", "params", "ls", "/shop")
	if err != nil || !strings.Contains(out, "/shop/api-key") || !strings.Contains(out, "SecureString") || strings.Contains(out, "k-secret") ||
		!strings.Contains(out, "/shop/hosts") || strings.Contains(out, "/other/x") {
		t.Fatalf("ls /shop: %q %v", out, err)
	}
	if out, err := run("", "params", "ls"); err != nil || !strings.Contains(out, "/other/x") || strings.Count(out, "\n") != 5 {
		t.Fatalf("ls: %q %v", out, err)
	}
	if out, err := run("", "params", "rm", "/other/x", "/shop/hosts"); err != nil || strings.Count(out, "Deleted") != 2 {
		t.Fatalf("rm: %q %v", out, err)
	}
	if _, err := run("", "params", "rm", "/other/x"); err == nil || !strings.Contains(err.Error(), "ParameterNotFound") {
		t.Fatalf("rm again: %v", err)
	}
	if out, err := run("", "params", "ls"); err != nil || strings.Contains(out, "/other/x") || strings.Count(out, "\n") != 3 {
		t.Fatalf("ls after rm: %q %v", out, err)
	}
}
