package logs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/telemetry/logs"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// On a real platform, a function printing many times its share of the log
// budget leaves every line of a quiet function readable, and the lines it
// lost are counted in the metrics.
func TestNoisyNeighbourOnThePlatform(t *testing.T) {
	const budget = 4 << 20 // each function's share: 512 KiB
	p := testkit.Start(t, func(c *server.Config) {
		c.NoSandbox = true
		c.LogBudget = budget
	})
	p.Deploy("internal/telemetry/logs/testdata/noisy")
	ctx := context.Background()
	lc := p.Lambda()
	invoke := func(fn, payload string) {
		t.Helper()
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(payload)})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke %s: %v %v", fn, err, out)
		}
	}
	// 24 MiB from the chatty function, six times the whole budget, with the
	// quiet function's invocations in between.
	const quiet = 12
	for i := range quiet {
		invoke("noisy-dev-quiet", fmt.Sprintf(`{"n":%d}`, i))
		invoke("noisy-dev-chatty", `{"lines":2048}`)
	}
	read := func(fn string) []string {
		var lines []string
		if err := p.Client.Logs(ctx, fn, "", "", false, func(r logs.Record) error {
			if r.Dropped == 0 {
				lines = append(lines, r.Message)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return lines
	}
	// Lines are stored within a flush interval of being printed; a loaded
	// machine may take much longer to get there.
	var got []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got = read("noisy-dev-quiet")
		if strings.Contains(strings.Join(got, "\n")+"\n", fmt.Sprintf("quiet %d\n", quiet-1)) || time.Now().After(deadline) {
			break
		}
	}
	// Every line ends with a newline, the last one read too.
	all := strings.Join(got, "\n") + "\n"
	for i := range quiet {
		if !strings.Contains(all, fmt.Sprintf("quiet %d\n", i)) {
			t.Errorf("the quiet function's line %q is gone", fmt.Sprintf("quiet %d", i))
		}
	}
	if starts := strings.Count(all, "START RequestId:"); starts != quiet {
		t.Errorf("the quiet function kept %d START lines of %d", starts, quiet)
	}
	// The writer trims a function after each flush: it is over its share
	// by at most what one flush stored, and within it once the flush is done.
	var chatty []string
	size := 0
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		chatty, size = read("noisy-dev-chatty"), 0
		for _, l := range chatty {
			size += len(l)
		}
		if size <= budget/8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chatty function keeps %d bytes of logs, over its share of %d", size, budget/8)
		}
	}
	req, err := http.NewRequest(http.MethodGet, p.URL()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Sign(req, "nimbus") // metrics want an operator
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `nimbus_log_lines_evicted_total{function="noisy-dev-chatty"}`) {
		t.Errorf("no evicted lines counted for the chatty function in /metrics")
	}
	for _, m := range []string{"nimbus_log_lines_dropped_total", "nimbus_log_lines_evicted_total"} {
		if strings.Contains(string(metrics), m+`{function="noisy-dev-quiet"}`) {
			t.Errorf("lines of the quiet function were counted in %s", m)
		}
	}
	t.Logf("chatty kept %d lines (%d KiB) of %d", len(chatty), size>>10, quiet*2048)
}
