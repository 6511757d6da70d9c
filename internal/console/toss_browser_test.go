package console_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
	"github.com/nimbus-platform/nimbus/internal/testkit/headless"
)

// tosserApp answers on the gateway with a cookie named as the caller asks,
// for the console's path: what any function behind a route can do to a
// browser that visits it.
const tosserApp = `service: tosser
provider:
  name: aws
  runtime: nodejs20.x
functions:
  toss:
    handler: handler.toss
    events:
      - httpApi: GET /toss
`

const tosserHandler = `exports.toss = async (event) => ({
  statusCode: 200,
  headers: {'content-type': 'text/plain'},
  cookies: [event.queryStringParameters.name + '=tossed-by-a-function; Path=/console/api'],
  body: 'tossed',
});
`

// TestBrowserKeepsItsSessionAfterATossedCookie: a real Chromium signed in to
// the console visits a gateway page that sets a cookie of the console's name
// for /console/api (same host, other port); the console keeps working.
func TestBrowserKeepsItsSessionAfterATossedCookie(t *testing.T) {
	browserCtx := headless.Chromium(t)
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": tosserApp, "handler.js": tosserHandler} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	_, port, _ := net.SplitHostPort(p.Addr())

	tab, closeTab := chromedp.NewContext(browserCtx)
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	poll := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second)))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " | " + document.body.innerText.slice(0, 2000)`))
				t.Fatalf("%s: %v\npage: %s", what, err, state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	listed := `location.pathname === "/console/" && document.querySelector('tr[data-function="tosser-dev-toss"]') !== null`

	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL()+"/console/login#token="+link(t, p))); err != nil {
		t.Fatal(err)
	}
	poll("signed in", listed)

	if err := chromedp.Do(ctx, chromedp.Navigate(p.Gateway.URL()+"/toss?name=nimbus_console_"+port)); err != nil {
		t.Fatal(err)
	}
	poll("the gateway page", `document.body.innerText.includes("tossed")`)

	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL()+"/console/")); err != nil {
		t.Fatal(err)
	}
	poll("still signed in after the tossed cookie", listed)
}
