package manifest

import (
	"strings"
	"testing"
)

const deployYML = `service: shop
plugins: [serverless-plugin-canary-deployments]
provider:
  name: aws
  runtime: nodejs20.x
functions:
  api:
    handler: handler.hello
    deploymentSettings:
      type: Linear10PercentEvery1Minute
      alias: Live
      preTrafficHook: check
  check:
    handler: handler.hello
`

// deploymentSettings decode to the function's deployment; the hook is named
// by its deployed name and may report its outcome.
func TestDeploymentSettings(t *testing.T) {
	p := mustLoad(t, map[string]string{"serverless.yml": deployYML, "handler.js": handlerJS}, Options{})
	var api, check int
	for i, f := range p.App.Functions {
		switch f.Key {
		case "api":
			api = i
		case "check":
			check = i
		}
	}
	d := p.App.Functions[api].Deployment
	if d == nil || d.Alias != "Live" || d.Type != "Linear10PercentEvery1Minute" || d.PreTrafficHook != "shop-dev-check" {
		t.Fatalf("deployment = %+v", d)
	}
	// The hook may report for the deployments of the function it guards, not
	// for every function's.
	if s := string(p.App.Functions[check].IAMStatements); !strings.Contains(s, "codedeploy:PutLifecycleEventHookExecutionStatus") ||
		!strings.Contains(s, `"Resource":"arn:aws:codedeploy:*:*:deploymentgroup:shop-dev-api/*"`) || strings.Contains(s, `"Resource":"*"`) {
		t.Errorf("hook statements = %s", s)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings = %+v", p.Warnings)
	}
}

// Wrong deploymentSettings are errors at their place.
func TestDeploymentSettingsErrors(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"type: Linear10PercentEvery1Minute", "type: Canary10Percent7Minutes", `type "Canary10Percent7Minutes" is none of CodeDeploy's predefined`},
		{"alias: Live", "alias: '123'", "must not be only digits"},
		{"preTrafficHook: check", "preTrafficHook: nope", `traffic hook "nope" is not a function of this service`},
		{"      alias: Live\n", "", "has no alias"},
	} {
		yml := strings.Replace(deployYML, c.from, c.to, 1)
		errs := loadErrors(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}, Options{})
		if !strings.Contains(errs.Error(), c.want) || errs[0].Line == 0 {
			t.Errorf("%s: errors %v, want %q at a line", c.to, errs, c.want)
		}
	}
}
