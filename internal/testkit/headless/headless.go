// Package headless starts the headless Chromium that tests of web pages
// drive. It is a package of its own so that only those tests link chromedp.
package headless

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium starts a headless Chromium for the test, or skips (fails with
// NIMBUS_REQUIRE_BROWSER=1) when none is installed. Pages get tabs of their
// own (chromedp.NewContext of the returned context), which close without
// taking the browser with them.
func Chromium(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("NIMBUS_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium installed (apt-get install chromium); NIMBUS_REQUIRE_BROWSER=1 makes this a failure")
		}
		t.Skip("no Chromium installed (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true)}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}
