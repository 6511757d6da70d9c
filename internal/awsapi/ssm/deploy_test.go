package ssm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func invokeJSON(t *testing.T, p *testkit.Platform, fn string, event any) map[string]any {
	t.Helper()
	payload, _ := json.Marshal(event)
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: payload})
	if err != nil {
		t.Fatalf("invoke %s: %v", fn, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("%s failed: %s", fn, out.Payload)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Payload, &m); err != nil {
		t.Fatalf("%s answered %s: %v", fn, out.Payload, err)
	}
	return m
}

// TestDeployFromParameters: a service's environment comes from ${ssm:} at
// deploy (a SecureString decrypted, a StringList kept raw, a fallback), a
// missing parameter stops the deploy with its place in the file, and a
// Python function reads parameters with boto3 where its IAM statement
// allows and is refused elsewhere.
func TestDeployFromParameters(t *testing.T) {
	testkit.RequireSDK(t, false, true)
	p := testkit.Start(t, nil)
	ctx := context.Background()
	dir := testkit.Path(t, "internal/awsapi/ssm/testdata/app")

	_, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "serverless.yml:9:") || !strings.Contains(err.Error(), "/params-app/db-url does not exist") {
		t.Fatalf("deploy without parameters: %v", err)
	}

	c := awsssm.NewFromConfig(p.AWSConfig())
	for _, in := range []awsssm.PutParameterInput{
		{Name: aws.String("/params-app/db-url"), Value: aws.String("postgres://db/app"), Type: types.ParameterTypeString},
		{Name: aws.String("/params-app/api-key"), Value: aws.String("k-123"), Type: types.ParameterTypeSecureString},
		{Name: aws.String("/params-app/hosts"), Value: aws.String("a.internal,b.internal"), Type: types.ParameterTypeStringList},
		{Name: aws.String("/private/key"), Value: aws.String("not for functions"), Type: types.ParameterTypeSecureString},
	} {
		if _, err := c.PutParameter(ctx, &in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Client.Deploy(ctx, dir, manifest.Options{}, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	env := invokeJSON(t, p, "params-app-dev-env", map[string]any{})
	want := map[string]any{"DB_URL": "postgres://db/app", "API_KEY": "k-123", "HOSTS": "a.internal,b.internal", "MODE": "standard"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %v, want %v", k, env[k], v)
		}
	}

	got := invokeJSON(t, p, "params-app-dev-reader", map[string]any{"name": "/params-app/api-key"})
	if got["value"] != "k-123" || got["type"] != "SecureString" {
		t.Errorf("reader on /params-app/api-key: %v", got)
	}
	got = invokeJSON(t, p, "params-app-dev-reader", map[string]any{"name": "/private/key"})
	if got["error"] != "AccessDeniedException" {
		t.Errorf("reader on /private/key: %v", got)
	}
}
