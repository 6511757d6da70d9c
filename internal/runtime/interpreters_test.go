package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

func TestVersionMatches(t *testing.T) {
	cases := []struct {
		family, want, got string
		ok                bool
	}{
		{appspec.FamilyNode, "20", "20.20.2", true},
		{appspec.FamilyNode, "22", "20.20.2", false},
		{appspec.FamilyNode, "2", "20.1.0", false},
		{appspec.FamilyPython, "3.12", "3.12.1", true},
		{appspec.FamilyPython, "3.1", "3.12.1", false},
		{appspec.FamilyPython, "3.11", "3.11", true},
		{appspec.FamilyRuby, "3.3", "3.1.2", false},
		{appspec.FamilyRuby, "3.1", "3.1.2", true},
		{appspec.FamilyJava, "17", "17.0.15", true},
		{appspec.FamilyJava, "21", "21", true},
		{appspec.FamilyJava, "8", "1.8.0", true},
		{appspec.FamilyJava, "11", "17.0.15", false},
	}
	for _, c := range cases {
		if got := versionMatches(c.family, c.want, c.got); got != c.ok {
			t.Errorf("versionMatches(%s, %s, %s) = %v, want %v", c.family, c.want, c.got, got, c.ok)
		}
	}
}

// fakeInterpreter writes an executable that reports version like the real one.
func fakeInterpreter(t *testing.T, name, output string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+output+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInterpreterChoice(t *testing.T) {
	node20 := fakeInterpreter(t, "node", "v20.20.2")
	node22 := fakeInterpreter(t, "node22", "v22.3.0")
	broken := filepath.Join(t.TempDir(), "nothing")
	in := newInterpreters(map[string]string{"nodejs22.x": node22, "nodejs18.x": node20, "nodejs16.x": broken},
		map[string]string{appspec.FamilyNode: node20})

	got, err := in.lookup("nodejs22.x")
	if err != nil || got.Path != node22 || got.Version != "22.3.0" || !got.Exact || !got.Given {
		t.Errorf("nodejs22.x = %+v, %v; want the given node22, exact", got, err)
	}
	got, err = in.lookup("nodejs18.x")
	if err != nil || got.Path != node20 || got.Exact || !got.Given {
		t.Errorf("nodejs18.x = %+v, %v; want the given node 20, not exact", got, err)
	}
	if _, err := in.lookup("nodejs16.x"); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Errorf("nodejs16.x given a missing interpreter: %v", err)
	}
	// The platform's default where no versioned one exists (unless this
	// host happens to have a node 20 of its own on PATH).
	got, err = in.lookup("nodejs20.x")
	if err != nil || !got.Exact || !strings.HasPrefix(got.Version, "20.") {
		t.Errorf("nodejs20.x = %+v, %v; want a node 20", got, err)
	}
}

func TestRuntimeOverridesAreChecked(t *testing.T) {
	for rt, want := range map[string]string{
		"cobol85":         "not a runtime identifier",
		"provided.al2023": "takes no interpreter",
		"nodejs22.x":      "absolute path",
	} {
		_, err := NewManager(Config{RunDir: t.TempDir(), Logs: discardSink{}, Runtimes: map[string]string{rt: "node22"}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--runtime %s=node22: %v, want an error with %q", rt, err, want)
		}
	}
}

func TestNodeHeapFlags(t *testing.T) {
	for _, tc := range []struct {
		mb      int
		options string
		want    string
	}{
		{128, "", "--max-semi-space-size=8 --max-old-space-size=96"},
		{10240, "", "--max-semi-space-size=16 --max-old-space-size=7680"},
		{16, "", "--max-semi-space-size=1 --max-old-space-size=12"},
		{1024, "--enable-source-maps --max-old-space-size=300", "--max-semi-space-size=16"},
		{1024, "--max-semi-space-size=2 --max-old-space-size=300", ""},
		{0, "", ""},
	} {
		if got := strings.Join(nodeHeapFlags(tc.mb, tc.options), " "); got != tc.want {
			t.Errorf("%d MB, NODE_OPTIONS %q: %q, want %q", tc.mb, tc.options, got, tc.want)
		}
	}
}
