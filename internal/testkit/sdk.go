package testkit

import (
	"os"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/sdk"
)

// RequireSDK skips the test when the SDK folder (sdk.DefaultDir, which Start
// hands to the platform) lacks the Node.js or Python SDK it needs, and fails
// it instead when NIMBUS_REQUIRE_SDK=1, as in CI, which installs the folder.
func RequireSDK(t testing.TB, node, python bool) {
	t.Helper()
	dir := sdk.DefaultDir()
	st := sdk.Check(dir)
	var missing string
	switch {
	case node && !st.Node:
		missing = "the AWS SDK for JavaScript"
	case python && !st.Python:
		missing = "boto3"
	default:
		return
	}
	msg := missing + " is not installed in " + dir + " (install it with `go run ./cmd/nimbus sdk install`)"
	if os.Getenv("NIMBUS_REQUIRE_SDK") == "1" {
		t.Fatal(msg + "; NIMBUS_REQUIRE_SDK=1 makes this a failure")
	}
	t.Skip(msg)
}
