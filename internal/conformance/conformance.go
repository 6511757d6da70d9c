// Package conformance locates the shared conformance data (../shared/conformance
// beside the repository) for tests. A fresh clone has no ../shared: its tests
// skip with a one-line reason, unless NIMBUS_REQUIRE_SHARED is set (CI sets
// it), where a missing directory fails them.
package conformance

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireEnv is the environment variable that makes the data mandatory.
const RequireEnv = "NIMBUS_REQUIRE_SHARED"

// Dir returns ../shared/conformance, or skips (fails under RequireEnv) when it
// is absent.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("conformance: cannot locate the repository")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir := filepath.Join(root, "..", "shared", "conformance")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("conformance data missing at %s (%s is set): %v", dir, RequireEnv, err)
		}
		t.Skipf("skipped: conformance data not found at %s (clone the shared repository beside this one to run it)", dir)
	}
	return dir
}
