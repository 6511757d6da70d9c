package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestConsoleCommand: `nimbus console` prints a link to the platform's
// console whose token signs a browser in once.
func TestConsoleCommand(t *testing.T) {
	p := testkit.Start(t, nil)
	out, err := runCLI(t, p, "console")
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(out)
	_, token, ok := strings.Cut(url, "/console/login#token=")
	if !ok || !strings.HasPrefix(url, p.URL()+"/console/login#token=") || token == "" {
		t.Fatalf("nimbus console printed %q, want %s/console/login#token=...", out, p.URL())
	}
	signIn := func() int {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/console/api/login", strings.NewReader(`{"token":"`+token+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", p.URL())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := signIn(); code != http.StatusOK {
		t.Errorf("sign-in with the printed link: %d, want 200", code)
	}
	if code := signIn(); code != http.StatusUnauthorized {
		t.Errorf("the printed link used again: %d, want 401", code)
	}
}
