package manifest

import (
	"strings"
	"testing"
)

func TestLogRetentionInDays(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"serverless.yml": `service: shop
provider:
  name: aws
  runtime: nodejs20.x
  logRetentionInDays: 14
functions:
  inherits:
    handler: handler.hello
  own:
    handler: handler.hello
    logRetentionInDays: 1
`,
		"handler.js": handlerJS,
	}, Options{})
	got := map[string]int{}
	for _, f := range p.App.Functions {
		got[f.Key] = f.LogRetentionInDays
	}
	if got["inherits"] != 14 || got["own"] != 1 {
		t.Errorf("logRetentionInDays = %v, want inherits 14 and own 1", got)
	}

	errs := loadErrors(t, map[string]string{
		"serverless.yml": `service: shop
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.hello
    logRetentionInDays: 2
`,
		"handler.js": handlerJS,
	}, Options{})
	if len(errs) != 1 || errs[0].Line != 8 || !strings.Contains(errs[0].Message, "logRetentionInDays 2") {
		t.Fatalf("errors = %v, want one at line 8 about logRetentionInDays 2", errs)
	}
}
