package manifest

import (
	"fmt"
	"testing"
)

// resolveCustom resolves a manifest and returns custom.out as JSON, or the errors.
func resolveCustom(t *testing.T, yml string, opts Options, files map[string]string) (string, ErrorList) {
	t.Helper()
	dir := writeTree(t, files)
	diags := &diagnostics{file: "serverless.yml"}
	data := []byte(yml)
	root := parseYAML(newSource("serverless.yml", data), data, diags)
	if root == nil {
		return "", diags.errs
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = envOf(nil)
	}
	r := &resolver{root: root, dir: dir, opts: opts, lookupEnv: opts.LookupEnv, diags: diags, instanceID: "inst", files: map[string]*node{}}
	r.resolveAll(root)
	if len(diags.errs) > 0 {
		return "", diags.sorted()
	}
	return string(root.get("custom").get("out").toJSON()), nil
}

func TestVariables(t *testing.T) {
	env := envOf(map[string]string{"NAME": "alice", "EMPTY": "", "MEM": "512", "STAGE_KEY": "prod"})
	cases := []struct {
		name  string
		yml   string // placed under custom:, must set out
		top   string // extra top-level YAML
		opts  Options
		files map[string]string
		want  string
	}{
		{name: "self string", yml: "a: hi\n  out: ${self:custom.a}", want: `"hi"`},
		{name: "self keeps number", yml: "a: 512\n  out: ${self:custom.a}", want: `512`},
		{name: "self keeps map", yml: "a: {x: 1, y: [true]}\n  out: ${self:custom.a}", want: `{"x":1,"y":[true]}`},
		{name: "self list index", yml: "a: [p, q]\n  out: ${self:custom.a.1}", want: `"q"`},
		{name: "self chain", yml: "a: ${self:custom.b}\n  b: ${self:custom.c}\n  c: end\n  out: ${self:custom.a}", want: `"end"`},
		{name: "self top-level", yml: "out: ${self:service}", want: `"shop"`},
		{name: "env", yml: "out: ${env:NAME}", opts: Options{LookupEnv: env}, want: `"alice"`},
		{name: "env empty is set", yml: "out: x${env:EMPTY}y", opts: Options{LookupEnv: env}, want: `"xy"`},
		{name: "env default single quotes", yml: "out: ${env:NOPE, 'fallback'}", opts: Options{LookupEnv: env}, want: `"fallback"`},
		{name: "env default double quotes", yml: `out: '${env:NOPE, "fb"}'`, opts: Options{LookupEnv: env}, want: `"fb"`},
		{name: "env default number", yml: "out: ${env:NOPE, 42}", opts: Options{LookupEnv: env}, want: `42`},
		{name: "chained fallbacks", yml: "out: ${env:NOPE, env:NAME, 'x'}", opts: Options{LookupEnv: env}, want: `"alice"`},
		{name: "nested default", yml: "out: ${self:custom.missing, ${env:NAME}}", opts: Options{LookupEnv: env}, want: `"alice"`},
		{name: "deeply nested default", yml: "out: ${self:custom.missing, ${env:NOPE, ${sls:stage}}}", want: `"dev"`},
		{name: "opt stage given", yml: "out: ${opt:stage, 'dev'}", opts: Options{Stage: "prod"}, want: `"prod"`},
		{name: "opt stage default", yml: "out: ${opt:stage, 'dev'}", want: `"dev"`},
		{name: "opt region", yml: "out: ${opt:region}", opts: Options{Region: "eu-west-1"}, want: `"eu-west-1"`},
		{name: "sls stage default", yml: "out: ${sls:stage}", want: `"dev"`},
		{name: "sls stage from provider", yml: "out: ${sls:stage}", top: "provider:\n  stage: ${env:STAGE_KEY}\n", opts: Options{LookupEnv: env}, want: `"prod"`},
		{name: "sls stage from flag wins", yml: "out: ${sls:stage}", top: "provider:\n  stage: qa\n", opts: Options{Stage: "prod"}, want: `"prod"`},
		{name: "sls instanceId", yml: "out: ${sls:instanceId}", want: `"inst"`},
		{name: "aws region", yml: "out: ${aws:region}", top: "provider:\n  region: ap-south-1\n", want: `"ap-south-1"`},
		{name: "interpolation n", yml: "n: 3\n  out: prefix-${sls:stage}-${self:custom.n}-x", want: `"prefix-dev-3-x"`},
		{name: "variable in address", yml: "prod: {mem: 2048}\n  out: ${self:custom.${opt:stage}.mem}", opts: Options{Stage: "prod"}, want: `2048`},
		{name: "env number text stays text", yml: "out: ${env:MEM}", opts: Options{LookupEnv: env}, want: `"512"`},
		{name: "params stage over default", yml: "out: ${param:a}-${param:b}", top: "params:\n  default: {a: da, b: db}\n  prod: {a: pa}\n", opts: Options{Stage: "prod"}, want: `"pa-db"`},
		{name: "file whole", yml: "out: ${file(./cfg.yml)}", files: map[string]string{"cfg.yml": "k: v\n"}, want: `{"k":"v"}`},
		{name: "file key", yml: "out: ${file(./cfg.${sls:stage}.json):a.b}", files: map[string]string{"cfg.dev.json": `{"a": {"b": [1]}}`}, want: `[1]`},
		{name: "file missing uses default", yml: "out: ${file(./none.yml):x, 'd'}", want: `"d"`},
		{name: "cloudformation left alone", yml: "out: ${AWS::Region}-${Bucket}-${self:service}", want: `"${AWS::Region}-${Bucket}-shop"`},
		{name: "escaped", yml: `out: \${self:service}`, want: `"${self:service}"`},
		{name: "null default", yml: "out: ${env:NOPE, null}", want: `null`},
		{name: "anchors and merge", yml: "base: &b {x: 1, y: 2}\n  out:\n    <<: *b\n    y: 3", want: `{"y":3,"x":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yml := "service: shop\n" + tc.top + "custom:\n  " + tc.yml + "\n"
			got, errs := resolveCustom(t, yml, tc.opts, tc.files)
			if errs != nil {
				t.Fatalf("errors: %v", errs)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestVariableErrors(t *testing.T) {
	cases := []struct {
		name string
		yml  string
		want []wantError
	}{
		{name: "unresolved env at its column", yml: "custom:\n  out: prefix-${env:NOPE}\n",
			want: []wantError{{"2:15", "cannot resolve variable ${env:NOPE}", "give a default"}}},
		{name: "unresolved in quoted string", yml: "custom:\n  out: \"a ${opt:stage}\"\n",
			want: []wantError{{"2:11", "option --stage was not given", ""}}},
		{name: "unresolved self", yml: "custom:\n  out: ${self:custom.nope}\n",
			want: []wantError{{"2:8", "self:custom.nope is not set", ""}}},
		{name: "cycle", yml: "custom:\n  a: ${self:custom.b}\n  b: ${self:custom.a}\n",
			want: []wantError{{"2:6", "variable cycle", ""}}},
		{name: "self cycle through parent", yml: "custom:\n  a: ${self:custom}\n",
			want: []wantError{{"2:6", "variable cycle", ""}}},
		{name: "ssm without a platform", yml: "custom:\n  out: ${ssm:/my/param}\n",
			want: []wantError{{"2:8", `this command does not reach a platform`, ""}}},
		{name: "cf unsupported even with default", yml: "custom:\n  out: ${cf:stack.out, 'x'}\n",
			want: []wantError{{"2:8", `"cf" is not supported`, ""}}},
		{name: "unknown source", yml: "custom:\n  out: ${nope:x}\n",
			want: []wantError{{"2:8", `unknown variable source "nope"`, ""}}},
		{name: "map inside string", yml: "custom:\n  m: {a: 1}\n  out: x-${self:custom.m}\n",
			want: []wantError{{"3:10", "is a map and cannot be part of a string", ""}}},
		{name: "unterminated", yml: "custom:\n  out: ${env:X\n",
			want: []wantError{{"2:8", "no closing }", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := resolveCustom(t, "service: shop\n"+tc.yml, Options{}, nil)
			// Positions are relative to the YAML given, which starts one line later.
			for i := range tc.want {
				var line, col int
				if _, err := fmt.Sscanf(tc.want[i].at, "%d:%d", &line, &col); err != nil {
					t.Fatal(err)
				}
				tc.want[i].at = fmt.Sprintf("%d:%d", line+1, col)
			}
			checkErrors(t, errs, tc.want)
		})
	}
}
