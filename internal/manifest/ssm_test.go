package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// parameters is a platform's parameters for the resolver hook; calls counts
// reads, to show each parameter is read once per load.
type parameters struct {
	m     map[string]Parameter
	calls int
}

func (p *parameters) get(name string, decrypt bool) (Parameter, error) {
	p.calls++
	v, ok := p.m[name]
	if !ok {
		return Parameter{}, fmt.Errorf("no %s: %w", name, ErrParameterNotFound)
	}
	if v.Type == "SecureString" && !decrypt {
		v.Value = "ENCRYPTED"
	}
	return v, nil
}

func TestSSMVariables(t *testing.T) {
	ps := &parameters{m: map[string]Parameter{
		"/app/url":    {Type: "String", Value: "postgres://db"},
		"/app/secret": {Type: "SecureString", Value: "hunter2"},
		"/app/hosts":  {Type: "StringList", Value: "a,b,c"},
		"plain":       {Type: "String", Value: "p"},
	}}
	opts := Options{Parameters: ps.get}
	for _, tc := range []struct{ name, yml, want string }{
		{"string", "out: ${ssm:/app/url}", `"postgres://db"`},
		{"secure decrypted by default", "out: ${ssm:/app/secret}", `"hunter2"`},
		{"noDecrypt", "out: ${ssm(noDecrypt):/app/secret}", `"ENCRYPTED"`},
		{"string list is an array", "out: ${ssm:/app/hosts}", `["a","b","c"]`},
		{"raw string list", "out: ${ssm(raw):/app/hosts}", `"a,b,c"`},
		{"name without slash", "out: ${ssm:plain}", `"p"`},
		{"embedded", "out: url=${ssm:/app/url};", `"url=postgres://db;"`},
		{"fallback", "out: ${ssm:/app/missing, 'dflt'}", `"dflt"`},
		{"fallback to another source", "out: ${ssm:/app/missing, ssm:/app/url}", `"postgres://db"`},
		{"same region", "out: ${ssm(us-east-1):/app/url}", `"postgres://db"`},
		{"name from a variable", "n: url\n  out: ${ssm:/app/${self:custom.n}}", `"postgres://db"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := resolveCustom(t, "service: shop\ncustom:\n  "+tc.yml+"\n", opts, nil)
			if errs != nil {
				t.Fatalf("errors: %v", errs)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}

	ps.calls = 0
	if _, errs := resolveCustom(t, "service: shop\ncustom:\n  a: ${ssm:/app/url}\n  b: ${ssm:/app/url}\n  out: ${ssm:/app/url}\n", opts, nil); errs != nil {
		t.Fatal(errs)
	}
	if ps.calls != 1 {
		t.Errorf("read /app/url %d times in one load, want 1", ps.calls)
	}
}

func TestSSMVariableErrors(t *testing.T) {
	ps := &parameters{m: map[string]Parameter{"/app/url": {Type: "String", Value: "u"}}}
	opts := Options{Parameters: ps.get}
	for _, tc := range []struct {
		name string
		yml  string
		want wantError
	}{
		{"missing names the parameter and its place", "custom:\n  x: 1\n  out: ${ssm:/app/missing}\n",
			wantError{"4:8", "parameter /app/missing does not exist on the platform", "give a default"}},
		{"old ~true suffix", "custom:\n  out: ${ssm:/app/url~true}\n",
			wantError{"3:8", "~true suffix", "${ssm:/app/url}"}},
		{"secrets manager", "custom:\n  out: ${ssm:/aws/reference/secretsmanager/db}\n",
			wantError{"3:8", "Secrets Manager, which nimbus does not have", "--secure"}},
		{"unknown option", "custom:\n  out: ${ssm(sideways):/app/url}\n",
			wantError{"3:8", `unknown option "sideways"`, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := resolveCustom(t, "service: shop\n"+tc.yml, opts, nil)
			checkErrors(t, errs, []wantError{tc.want})
		})
	}
}

func TestSSMOtherRegionWarns(t *testing.T) {
	ps := &parameters{m: map[string]Parameter{"/app/url": {Type: "String", Value: "u"}}}
	diags := &diagnostics{file: "serverless.yml"}
	data := []byte("service: shop\ncustom:\n  out: ${ssm(eu-west-1):/app/url}\n")
	root := parseYAML(newSource("serverless.yml", data), data, diags)
	r := &resolver{root: root, dir: t.TempDir(), opts: Options{Parameters: ps.get}, lookupEnv: envOf(nil), diags: diags, instanceID: "i", files: map[string]*node{}}
	r.resolveAll(root)
	if len(diags.errs) > 0 {
		t.Fatal(diags.errs)
	}
	if got := string(root.get("custom").get("out").toJSON()); got != `"u"` {
		t.Fatalf("value %s", got)
	}
	if len(diags.warnings) != 1 || !strings.Contains(diags.warnings[0].Error(), "eu-west-1") || diags.warnings[0].Line != 3 {
		t.Fatalf("warnings: %v", diags.warnings)
	}
}
