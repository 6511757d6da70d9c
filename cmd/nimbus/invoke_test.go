package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// `nimbus invoke KEY` and `nimbus logs KEY` read ./serverless.yml as deploy
// does: a function whose name comes from ${ssm:} is found by its key.
func TestInvokeAndLogsResolveParameters(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	ssm := awsssm.NewFromConfig(p.AWSConfig())
	for name, value := range map[string]string{"/greet/function-name": "greeter-from-ssm", "/greet/word": "bonjour"} {
		if _, err := ssm.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"serverless.yml": "service: greet\nprovider:\n  name: aws\n  runtime: python3.12\nfunctions:\n  hello:\n" +
			"    handler: handler.hello\n    name: ${ssm:/greet/function-name}\n    environment:\n      WORD: ${ssm:/greet/word}\n",
		"handler.py": "import os\n\ndef hello(event, context):\n    print('saying', os.environ['WORD'])\n    return {'word': os.environ['WORD'], 'name': context.function_name}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	t.Chdir(dir)

	out, err := runCLI(t, p, "invoke", "hello", "-d", "{}")
	if err != nil {
		t.Fatalf("invoke hello: %v", err)
	}
	var got struct{ Word, Name string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Word != "bonjour" || got.Name != "greeter-from-ssm" {
		t.Fatalf("invoke hello printed %q (%v), want the word and name from the parameters", out, err)
	}

	// Logs reach the store asynchronously: read until the line is there.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := runCLI(t, p, "logs", "hello", "--since", "10m")
		if err != nil {
			t.Fatalf("logs hello: %v", err)
		}
		if strings.Contains(out, "saying bonjour") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs hello never showed the invocation's line:\n%s", out)
		}
	}
}
