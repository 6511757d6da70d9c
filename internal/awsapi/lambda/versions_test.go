package lambda_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const echo = "ver-dev-echo"

// writeApp writes a one-function service whose answer says which code,
// configuration and version ran.
func writeApp(t *testing.T, dir, code, greeting string, providerExtra ...string) {
	t.Helper()
	manifest := `service: ver
provider:
  name: aws
` + strings.Join(providerExtra, "") + `
  runtime: nodejs20.x
  environment:
    GREETING: ` + greeting + `
functions:
  echo:
    handler: handler.echo
`
	handler := `module.exports.echo = async (event, context) => ({
  code: '` + code + `',
  greeting: process.env.GREETING,
  version: process.env.AWS_LAMBDA_FUNCTION_VERSION,
  invoked: context.invokedFunctionArn,
});
`
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler.js"), []byte(handler), 0o644); err != nil {
		t.Fatal(err)
	}
}

type echoed struct {
	Code, Greeting, Version, Invoked string
	executed                         string
}

func call(t *testing.T, sdk *lambda.Client, name, qualifier string) echoed {
	t.Helper()
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := sdk.Invoke(context.Background(), in)
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke %s (%s): %v", name, qualifier, err)
	}
	var e echoed
	if err := json.Unmarshal(out.Payload, &e); err != nil {
		t.Fatalf("answer %s: %v", out.Payload, err)
	}
	e.executed = aws.ToString(out.ExecutedVersion)
	return e
}

func TestVersionsAndAliases(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	writeApp(t, dir, "A", "hello")
	p.Deploy(dir)
	sdk := p.Lambda()
	ctx := context.Background()

	latest, err := sdk.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(echo)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo), CodeSha256: aws.String("AAAA")}); errorCode(err) != "InvalidParameterValueException" {
		t.Errorf("PublishVersion with another CodeSha256: %v", err)
	}
	if _, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo), RevisionId: aws.String("nope")}); errorCode(err) != "PreconditionFailedException" {
		t.Errorf("PublishVersion with another RevisionId: %v", err)
	}
	v1, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo),
		CodeSha256: latest.CodeSha256, RevisionId: latest.RevisionId, Description: aws.String("first")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(v1.Version) != "1" || !strings.HasSuffix(aws.ToString(v1.FunctionArn), ":"+echo+":1") || aws.ToString(v1.Description) != "first" {
		t.Errorf("version 1: %s %s %s", aws.ToString(v1.Version), aws.ToString(v1.FunctionArn), aws.ToString(v1.Description))
	}
	// Nothing changed: Lambda answers the latest version rather than a new one.
	again, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)})
	if err != nil || aws.ToString(again.Version) != "1" {
		t.Errorf("publishing unchanged code: %v %s, want version 1", err, aws.ToString(again.Version))
	}

	writeApp(t, dir, "B", "bonjour")
	p.Deploy(dir)
	v2, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)})
	if err != nil || aws.ToString(v2.Version) != "2" {
		t.Fatalf("version 2: %v %+v", err, v2)
	}
	writeApp(t, dir, "C", "hola")
	p.Deploy(dir)

	arn := strings.TrimSuffix(aws.ToString(v1.FunctionArn), ":1")
	for _, c := range []struct {
		name, qualifier, code, greeting, version, invoked string
	}{
		{echo, "", "C", "hola", "$LATEST", arn},
		{echo, "$LATEST", "C", "hola", "$LATEST", arn},
		{echo, "1", "A", "hello", "1", arn + ":1"},
		{echo + ":2", "", "B", "bonjour", "2", arn + ":2"},
		{arn + ":1", "", "A", "hello", "1", arn + ":1"},
	} {
		got := call(t, sdk, c.name, c.qualifier)
		if got.Code != c.code || got.Greeting != c.greeting || got.Version != c.version || got.executed != c.version || got.Invoked != c.invoked {
			t.Errorf("invoke %s qualifier %q: %+v, want code %s greeting %s version %s invoked %s", c.name, c.qualifier, got, c.code, c.greeting, c.version, c.invoked)
		}
	}
	cfg, err := sdk.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(echo), Qualifier: aws.String("1")})
	if err != nil || aws.ToString(cfg.Configuration.Version) != "1" || aws.ToString(cfg.Configuration.CodeSha256) != aws.ToString(latest.CodeSha256) ||
		cfg.Configuration.Environment.Variables["GREETING"] != "hello" {
		t.Errorf("GetFunction of version 1: %v %+v", err, cfg)
	}
	if _, err := sdk.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(echo), Qualifier: aws.String("9")}); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("a version never published: %v", err)
	}

	// Paged listing: $LATEST, 1, 2.
	var listed []string
	var marker *string
	for {
		page, err := sdk.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(echo), MaxItems: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			listed = append(listed, aws.ToString(v.Version))
		}
		if marker = page.NextMarker; marker == nil {
			break
		}
	}
	if strings.Join(listed, ",") != "$LATEST,1,2" {
		t.Errorf("versions listed: %v", listed)
	}

	// Aliases.
	for _, bad := range []string{"123", "$LATEST", "has:colon", strings.Repeat("a", 129)} {
		if _, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String(bad), FunctionVersion: aws.String("1")}); err == nil {
			t.Errorf("alias name %q accepted", bad)
		}
	}
	if _, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("7")}); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("alias to a missing version: %v", err)
	}
	live, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil || aws.ToString(live.AliasArn) != arn+":live" {
		t.Fatalf("CreateAlias: %v %+v", err, live)
	}
	if _, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("1")}); errorCode(err) != "ResourceConflictException" {
		t.Errorf("CreateAlias twice: %v", err)
	}
	if _, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("next"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if got := call(t, sdk, echo+":live", ""); got.Code != "A" || got.executed != "1" || got.Invoked != arn+":live" {
		t.Errorf("invoke through alias live: %+v", got)
	}
	if _, err := sdk.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(echo), Qualifier: aws.String("1")}); errorCode(err) != "ResourceConflictException" {
		t.Errorf("deleting a version an alias routes to: %v", err)
	}
	if _, err := sdk.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: aws.String("stale")}); errorCode(err) != "PreconditionFailedException" {
		t.Errorf("UpdateAlias with a stale RevisionId: %v", err)
	}
	upd, err := sdk.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: live.RevisionId})
	if err != nil || aws.ToString(upd.FunctionVersion) != "2" || aws.ToString(upd.RevisionId) == aws.ToString(live.RevisionId) {
		t.Fatalf("UpdateAlias: %v %+v", err, upd)
	}
	if got := call(t, sdk, echo, "live"); got.Code != "B" || got.executed != "2" {
		t.Errorf("invoke through the moved alias: %+v", got)
	}
	only2, err := sdk.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String(echo), FunctionVersion: aws.String("2"), MaxItems: aws.Int32(1)})
	if err != nil || len(only2.Aliases) != 1 || aws.ToString(only2.Aliases[0].Name) != "live" || only2.NextMarker == nil {
		t.Fatalf("ListAliases page 1: %v %+v", err, only2)
	}
	rest, err := sdk.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String(echo), FunctionVersion: aws.String("2"), Marker: only2.NextMarker})
	if err != nil || len(rest.Aliases) != 1 || aws.ToString(rest.Aliases[0].Name) != "next" || rest.NextMarker != nil {
		t.Errorf("ListAliases page 2: %v %+v", err, rest)
	}

	// Version 1 is free now: it can go, and its number is not reused.
	if _, err := sdk.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(echo), Qualifier: aws.String("1")}); err != nil {
		t.Fatalf("DeleteFunction of version 1: %v", err)
	}
	if _, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(echo + ":1")}); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("invoke of a deleted version: %v", err)
	}
	if _, err := sdk.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String(echo), Name: aws.String("next")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(echo), Name: aws.String("next")}); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetAlias of a deleted alias: %v", err)
	}

	// Versions and aliases survive a restart, with their code.
	p = p.Restart()
	sdk = p.Lambda()
	if got := call(t, sdk, echo, "live"); got.Code != "B" || got.executed != "2" {
		t.Errorf("alias after a restart: %+v", got)
	}
	v3, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)})
	if err != nil || aws.ToString(v3.Version) != "3" {
		t.Errorf("publish after a restart: %v %+v", err, v3)
	}

	// Removing the service removes its versions.
	if _, err := p.Client.Remove(ctx, "ver"); err != nil {
		t.Fatal(err)
	}
	if vs := p.Registry.Versions(echo); len(vs) != 0 {
		t.Errorf("versions left after remove: %d", len(vs))
	}
	if _, ok := p.Registry.Alias(echo, "live"); ok {
		t.Error("alias left after remove")
	}
}

// A weighted alias sends about its weight of the invocations to the
// additional version: 10% of 2,000 is 200, and 100 to 300 lies more than
// seven standard deviations either side.
func TestWeightedAlias(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	writeApp(t, dir, "A", "hello")
	p.Deploy(dir)
	sdk := p.Lambda()
	ctx := context.Background()
	if _, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)}); err != nil {
		t.Fatal(err)
	}
	writeApp(t, dir, "B", "hello")
	p.Deploy(dir)
	if _, err := sdk.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]float64{{"2": 1.5}, {"1": 0.1}, {"$LATEST": 0.1}, {"9": 0.1}} {
		_, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("bad"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: bad}})
		if err == nil {
			t.Errorf("routing %v accepted", bad)
		}
	}
	al, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("canary"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}})
	if err != nil || al.RoutingConfig == nil || al.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 {
		t.Fatalf("CreateAlias: %v %+v", err, al)
	}
	if _, err := sdk.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(echo), Qualifier: aws.String("2")}); errorCode(err) != "ResourceConflictException" {
		t.Errorf("deleting the canary version: %v", err)
	}
	const n = 2000
	counts := map[string]int{}
	for range n {
		got := call(t, sdk, echo, "canary")
		if (got.executed == "2") != (got.Code == "B") {
			t.Fatalf("executed version %s ran code %s", got.executed, got.Code)
		}
		counts[got.executed]++
	}
	if counts["2"] < 100 || counts["2"] > 300 || counts["1"]+counts["2"] != n {
		t.Errorf("canary split: %v, want about 200 on version 2", counts)
	}
	// Clearing the routing sends everything to the primary version.
	if _, err := sdk.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(echo), Name: aws.String("canary"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if got := call(t, sdk, echo, "canary"); got.executed != "1" {
			t.Fatalf("after clearing the routing: version %s ran", got.executed)
		}
	}
}

func TestRoute(t *testing.T) {
	a := &functions.Alias{FunctionVersion: "1", Weights: map[string]float64{"2": 0.25}}
	for _, c := range []struct {
		r    float64
		want string
	}{{0, "2"}, {0.2499, "2"}, {0.25, "1"}, {0.99, "1"}} {
		if got := invoke.Route(a, c.r); got != c.want {
			t.Errorf("Route(%v) = %s, want %s", c.r, got, c.want)
		}
	}
	if got := invoke.Route(&functions.Alias{FunctionVersion: "3"}, 0); got != "3" {
		t.Errorf("unweighted alias routed to %s", got)
	}
}

// IAM sees an invocation through an alias or of a version as one on the
// qualified ARN: a statement naming function:NAME does not cover
// function:NAME:live; one naming function:NAME:* does (and not NAME itself).
func TestQualifiedPermissions(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	writeApp(t, dir, "A", "hello")
	callers := t.TempDir()
	if err := os.WriteFile(filepath.Join(callers, "handler.js"), []byte("module.exports.h = async () => ({});\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := `service: callers
provider:
  name: aws
  runtime: nodejs20.x
functions:
  narrow:
    handler: handler.h
    iamRoleStatements:
      - Effect: Allow
        Action: lambda:InvokeFunction
        Resource: arn:aws:lambda:*:*:function:` + echo + `
  wide:
    handler: handler.h
    iamRoleStatements:
      - Effect: Allow
        Action: lambda:InvokeFunction
        Resource: arn:aws:lambda:*:*:function:` + echo + `:*
`
	if err := os.WriteFile(filepath.Join(callers, "serverless.yml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Deploy(dir)
	p.Deploy(callers)
	ctx := context.Background()
	admin := p.Lambda()
	if _, err := admin.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(echo)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	as := func(fn string) *lambda.Client {
		c, err := p.Auth.FunctionCredentials(fn, "$LATEST")
		if err != nil {
			t.Fatal(err)
		}
		return lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Retryer: aws.NopRetryer{},
			HTTPClient: testkit.HTTPClient(), Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)})
	}
	narrow, wide := as("callers-dev-narrow"), as("callers-dev-wide")
	for _, c := range []struct {
		client          *lambda.Client
		who, name, qual string
		allowed         bool
	}{
		{narrow, "narrow", echo, "", true},
		{narrow, "narrow", echo, "live", false},
		{narrow, "narrow", echo + ":live", "", false},
		{narrow, "narrow", echo, "1", false},
		{wide, "wide", echo, "live", true},
		{wide, "wide", echo + ":1", "", true},
		{wide, "wide", echo, "", false},
	} {
		in := &lambda.InvokeInput{FunctionName: aws.String(c.name)}
		if c.qual != "" {
			in.Qualifier = aws.String(c.qual)
		}
		_, err := c.client.Invoke(ctx, in)
		if c.allowed && err != nil || !c.allowed && errorCode(err) != "AccessDeniedException" {
			t.Errorf("%s invoking %s qualifier %q: %v, allowed %v", c.who, c.name, c.qual, err, c.allowed)
		}
	}
}

// provider.versionFunctions publishes a version per deploy that changed
// the function, and names it in the deploy's answer.
func TestVersionFunctionsOnDeploy(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	const on = "  versionFunctions: true\n"
	for i, c := range []struct{ code, want string }{{"A", "1"}, {"A", "1"}, {"B", "2"}} {
		writeApp(t, dir, c.code, "hello", on)
		out := p.Deploy(dir)
		if got := out.Response.Versions[echo]; got != c.want {
			t.Errorf("deploy %d: version %q, want %s", i+1, got, c.want)
		}
	}
	if got := call(t, p.Lambda(), echo, "1"); got.Code != "A" {
		t.Errorf("version 1 runs code %s", got.Code)
	}
	// Without it, nothing is published.
	writeApp(t, dir, "C", "hello")
	if out := p.Deploy(dir); len(out.Response.Versions) != 0 || len(p.Registry.Versions(echo)) != 2 {
		t.Errorf("a deploy without versionFunctions published %v", out.Response.Versions)
	}

	// An asynchronous invoke of an alias runs the alias's version: its pool
	// (keyed by function and version, and not started before) starts.
	ctx := context.Background()
	sdk := p.Lambda()
	if _, err := sdk.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(echo), Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Runtime().Stats() {
		if strings.HasPrefix(st.Key, echo+"@2-") {
			t.Fatalf("version 2 ran before: %+v", st)
		}
	}
	if _, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(echo + ":live"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ran := false
		for _, st := range p.Runtime().Stats() {
			ran = ran || strings.HasPrefix(st.Key, echo+"@2-")
		}
		if ran {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Event invoke of alias live did not run version 2: %+v", p.Runtime().Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
