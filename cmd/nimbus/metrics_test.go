package main

import (
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func TestInfoShowsTheMetricsToken(t *testing.T) {
	p := testkit.Start(t, nil)
	token, err := server.ReadMetricsToken(p.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, p, "--data", p.Config.DataDir, "info")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Authorization: Bearer "+token) || !strings.Contains(out, "credentials_file: ") {
		t.Errorf("info does not show how to read /metrics:\n%s", out)
	}
}
