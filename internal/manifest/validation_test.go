package manifest

import (
	"errors"
	"strings"
	"testing"
)

// A manifest with an unknown key at three levels: top, provider, function
// (and a function's destinations).
const unknownKeysYML = `service: shop
provider:
  name: aws
  runtime: nodejs20.x
  memorysize: 512
functions:
  hello:
    handler: handler.hello
    timout: 3
    destinations:
      onFailur: other
  other:
    handler: handler.hello
custum: {}
`

func TestConfigValidationModeDefaultWarns(t *testing.T) {
	p := mustLoad(t, map[string]string{"serverless.yml": unknownKeysYML, "handler.js": handlerJS}, Options{})
	want := []struct{ pos, msg, hint string }{
		{"5:3", `unknown key "memorysize" in provider`, `did you mean "memorySize"?`},
		{"9:5", `unknown key "timout" in function "hello"`, `did you mean "timeout"?`},
		{"11:7", `unknown key "onFailur" in function "hello" destinations`, `did you mean "onFailure"?`},
		{"14:1", `unknown key "custum" in the manifest`, `did you mean "custom"?`},
	}
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.Error())
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		found := false
		for _, g := range p.Warnings {
			if strings.Contains(g.Error(), ":"+w.pos+": "+w.msg) && g.Hint == w.hint {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning at %s %q with hint %q in:\n%s", w.pos, w.msg, w.hint, all)
		}
	}
	if len(p.App.Functions) != 2 {
		t.Errorf("functions = %d, want both loaded despite the warnings", len(p.App.Functions))
	}
}

func TestConfigValidationModeErrorAndOff(t *testing.T) {
	_, err := Load(writeTree(t, map[string]string{
		"serverless.yml": unknownKeysYML + "configValidationMode: error\n", "handler.js": handlerJS,
	}), Options{LookupEnv: envOf(nil)})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("configValidationMode error: %v, want the 4 unknown keys as errors", err)
	}
	p := mustLoad(t, map[string]string{"serverless.yml": unknownKeysYML + "configValidationMode: off\n", "handler.js": handlerJS}, Options{})
	for _, w := range p.Warnings {
		if strings.Contains(w.Message, "unknown key") {
			t.Errorf("configValidationMode off still warns: %v", w)
		}
	}
}

func TestIAMStatementUnknownKeyStaysAnError(t *testing.T) {
	yml := `service: shop
provider:
  name: aws
  runtime: nodejs20.x
  iam:
    role:
      statements:
        - Effect: Allow
          Action: sqs:*
          Resource: '*'
          Conditon: {}
functions:
  hello:
    handler: handler.hello
`
	_, err := Load(writeTree(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}), Options{LookupEnv: envOf(nil)})
	if err == nil || !strings.Contains(err.Error(), `unknown key "Conditon"`) {
		t.Fatalf("a misspelt statement key loaded: %v", err)
	}
}

func TestKnownPluginsAreSilent(t *testing.T) {
	yml := "service: shop\nprovider: {name: aws, runtime: nodejs20.x}\nplugins:\n  - serverless-esbuild\n  - serverless-python-requirements\n  - serverless-iam-roles-per-function\n  - serverless-lift\n  - serverless-my-own\n"
	p := mustLoad(t, map[string]string{"serverless.yml": yml}, Options{})
	if len(p.Warnings) != 1 {
		t.Fatalf("warnings = %v, want one, about serverless-my-own", p.Warnings)
	}
	if msg := p.Warnings[0].Message; !strings.Contains(msg, "serverless-my-own") || strings.Contains(msg, "serverless-esbuild,") || strings.Contains(msg, "serverless-lift (") {
		t.Errorf("warning %q", msg)
	}
}

func TestAWSVariables(t *testing.T) {
	yml := "service: shop\nprovider:\n  name: aws\n  runtime: nodejs20.x\n  region: eu-west-1\n  environment:\n    ACCOUNT: ${aws:accountId}\n    REGION: ${aws:region}\nfunctions:\n  hello:\n    handler: handler.hello\n"
	p := mustLoad(t, map[string]string{"serverless.yml": yml, "handler.js": handlerJS}, Options{})
	env := p.App.Functions[0].Environment
	if env["ACCOUNT"] != "000000000000" || env["REGION"] != "eu-west-1" {
		t.Errorf("environment = %v", env)
	}
}
