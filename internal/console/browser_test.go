package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/chromedp/chromedp"

	"github.com/nimbus-platform/nimbus/internal/testkit/headless"
)

// TestBrowser signs a real Chromium in through the CLI's one-time link and
// reads the pages as an operator would: the function and its invocation
// count, its log line with markup shown as text, an invocation from the
// form whose output carries markup too; nothing of it runs.
func TestBrowser(t *testing.T) {
	browserCtx := headless.Chromium(t)
	p, _ := start(t)
	if _, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(echoFn),
		Payload: []byte(`{"message":` + quote(xss) + `}`)}); err != nil {
		t.Fatal(err)
	}
	url := p.URL() + "/console/login#token=" + link(t, p)

	tab, closeTab := chromedp.NewContext(browserCtx)
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	poll := func(what, expr string) {
		t.Helper()
		// A navigation (the sign-in page moving on) ends a poll: poll again.
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second)))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " | " + document.getElementById("error")?.textContent + " | " + document.body.innerText.slice(0, 2000)`))
				t.Fatalf("%s: %v\npage: %s", what, err, state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	untouched := func(where string) {
		t.Helper()
		if got := eval(`String(document.querySelectorAll("img").length) + " " + document.title`); got != "0 nimbus console" {
			t.Errorf("%s: %q; want no <img> element and the title untouched", where, got)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	poll("signed in, the function listed with one invocation",
		`location.pathname === "/console/" && document.querySelector('tr[data-function="`+echoFn+`"] td.invocations')?.textContent === "1"`)
	if got := eval(`location.href`); strings.Contains(got, "token") {
		t.Errorf("the sign-in token stayed in the address: %s", got)
	}
	if got := eval(`document.cookie`); got != "" {
		t.Errorf("the page's script reads cookies: %q", got)
	}

	eval(`location.hash = "#/fn/` + echoFn + `"; ""`)
	poll("the log line with markup, shown as text",
		`[...document.querySelectorAll("#logs .line")].some((e) => e.textContent.includes(`+quote("message: "+xss)+`))`)
	untouched("the logs")

	eval(`document.getElementById("payload").value = ` + quote(`{"message":`+quote(xss+" from the form")+`}`) + `;
		document.getElementById("invoke-form").requestSubmit(); ""`)
	poll("the invocation's answer", `document.getElementById("invoke-status").textContent.startsWith("Succeeded")`)
	if got := eval(`document.getElementById("invoke-payload").textContent`); !strings.Contains(got, `<img src=x`) {
		t.Errorf("the invocation's output: %q, want the markup as text", got)
	}
	poll("the invocation's log line in the tail",
		`[...document.querySelectorAll("#logs .line")].some((e) => e.textContent.includes(`+quote(xss+" from the form")+`))`)
	untouched("the invocation")

	eval(`location.hash = "#/"; ""`)
	poll("the invocation counted", `document.querySelector('tr[data-function="`+echoFn+`"] td.invocations')?.textContent === "2"`)

	eval(`location.hash = "#/resources"; ""`)
	poll("the resources page", `document.getElementById("queues").textContent.includes("cons-jobs") &&
		document.getElementById("tables").textContent.includes("cons-items") && document.getElementById("routes").textContent.includes("/echo")`)
}
