package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func TestStageFlags(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	yml := "service: shop\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions:\n  hello:\n    handler: handler.hello\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte("exports.hello = async () => process.env.AWS_LAMBDA_FUNCTION_NAME;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"dev", "prod"} {
		if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{Stage: stage}, nil); err != nil {
			t.Fatal(err)
		}
	}
	stagesOf := func(args ...string) []string {
		t.Helper()
		out, err := runCLI(t, p, append([]string{"info", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("info %v: %v", args, err)
		}
		var services []deployapi.ServiceInfo
		if err := json.Unmarshal([]byte(out), &services); err != nil {
			t.Fatalf("info --json: %v\n%s", err, out)
		}
		var stages []string
		for _, s := range services {
			stages = append(stages, s.Service+"."+s.Stage)
		}
		return stages
	}
	if got := strings.Join(stagesOf("--service", "shop"), " "); got != "shop.dev shop.prod" {
		t.Fatalf("info --service shop lists %q, want both stages", got)
	}
	if got := strings.Join(stagesOf("--service", "shop", "--stage", "prod"), " "); got != "shop.prod" {
		t.Fatalf("info --stage prod lists %q", got)
	}
	if _, err := runCLI(t, p, "remove", "--service", "shop"); err == nil || !strings.Contains(err.Error(), "dev, prod") {
		t.Fatalf("remove --service without --stage while two are deployed: %v", err)
	}
	// From the manifest's directory: --stage picks the stage.
	if _, err := runCLI(t, p, "remove", dir, "--stage", "prod"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stagesOf(), " "); got != "shop.dev" {
		t.Fatalf("after remove --stage prod: %q, want dev alone", got)
	}
}
