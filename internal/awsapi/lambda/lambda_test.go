package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const hello = "hello-dev-hello"

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func liveInstances(p *testkit.Platform) int {
	n := 0
	for _, s := range p.Runtime().Stats() {
		n += s.Instances
	}
	return n
}

// One platform for the edge's input checks; each subtest leaves it as it found it.
func TestLambdaInput(t *testing.T) {
	p := testkit.Start(t, nil)
	p.Deploy("examples/hello")
	sdk := p.Lambda()
	ctx := context.Background()

	t.Run("invalid UTF-8 payload", func(t *testing.T) {
		for _, typ := range []types.InvocationType{types.InvocationTypeRequestResponse, types.InvocationTypeEvent} {
			_, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(hello), InvocationType: typ, Payload: []byte("{\"name\":\"caf\xe9\"}")})
			if code := errorCode(err); code != "InvalidRequestContentException" {
				t.Errorf("%s invoke with invalid UTF-8: %v, want InvalidRequestContentException", typ, err)
			}
		}
		if n := liveInstances(p); n != 0 {
			t.Errorf("a refused payload ran the function (%d instances)", n)
		}
		// Valid UTF-8 beyond ASCII goes through unchanged.
		out, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(hello), Payload: []byte(`{"name":"café ☃"}`)})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke: %v", err)
		}
		if !strings.Contains(string(out.Payload), "café ☃") {
			t.Errorf("payload altered: %s", out.Payload)
		}
	})

	t.Run("ARNs of another account or region", func(t *testing.T) {
		fn, err := sdk.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(hello)})
		if err != nil {
			t.Fatal(err)
		}
		own := aws.ToString(fn.Configuration.FunctionArn)
		account := strings.Split(own, ":")[4]
		region := strings.Split(own, ":")[3]
		for _, name := range []string{own, account + ":function:" + hello, own + ":$LATEST"} {
			if _, err := sdk.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)}); err != nil {
				t.Errorf("own name %s: %v", name, err)
			}
			if out, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)}); err != nil || out.FunctionError != nil {
				t.Errorf("invoke by own name %s: %v", name, err)
			}
		}
		otherRegion := "eu-west-1"
		if region == otherRegion {
			otherRegion = "us-west-2"
		}
		foreign := []string{
			"arn:aws:lambda:" + region + ":123456789012:function:" + hello,
			"arn:aws:lambda:" + otherRegion + ":" + account + ":function:" + hello,
			"arn:aws-cn:lambda:" + region + ":" + account + ":function:" + hello,
			"123456789012:function:" + hello,
			"arn:aws:lambda:" + region + ":123456789012:function:" + hello + ":$LATEST",
		}
		for _, name := range foreign {
			calls := map[string]error{}
			_, calls["Invoke"] = sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
			_, calls["Invoke Event"] = sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
			_, calls["Invoke DryRun"] = sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeDryRun})
			_, calls["GetFunction"] = sdk.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
			_, calls["GetFunctionConfiguration"] = sdk.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
			_, calls["DeleteFunction"] = sdk.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
			for call, err := range calls {
				if code := errorCode(err); code != "ResourceNotFoundException" {
					t.Errorf("%s %s: %v, want ResourceNotFoundException", call, name, err)
				}
			}
		}
		if _, ok := p.Registry.Get(hello); !ok {
			t.Fatal("DeleteFunction with another account's ARN deleted the local function")
		}
	})

	t.Run("sub-resources", func(t *testing.T) {
		aliases, err := sdk.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String(hello)})
		if err != nil || len(aliases.Aliases) != 0 {
			t.Errorf("ListAliases: %v %+v", err, aliases)
		}
		versions, err := sdk.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(hello)})
		if err != nil || len(versions.Versions) != 1 || aws.ToString(versions.Versions[0].Version) != "$LATEST" {
			t.Errorf("ListVersionsByFunction: %v %+v", err, versions)
		}
		if _, err := sdk.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String("nothing-here")}); errorCode(err) != "ResourceNotFoundException" {
			t.Errorf("ListAliases of a missing function: %v", err)
		}
		if _, err := sdk.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(hello), Name: aws.String("live")}); errorCode(err) != "ResourceNotFoundException" {
			t.Errorf("GetAlias: %v", err)
		}
		if _, err := sdk.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(hello)}); errorCode(err) != "ResourceNotFoundException" {
			t.Errorf("GetPolicy: %v", err)
		}
		if out, err := sdk.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(hello)}); err != nil || out.ReservedConcurrentExecutions != nil {
			t.Errorf("GetFunctionConcurrency: %v %+v", err, out)
		}
		if _, err := sdk.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(hello)}); errorCode(err) != "ResourceNotFoundException" {
			t.Errorf("GetFunctionEventInvokeConfig: %v", err)
		}
		fn, err := sdk.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(hello)})
		if err != nil {
			t.Fatal(err)
		}
		tags, err := sdk.ListTags(ctx, &lambda.ListTagsInput{Resource: fn.Configuration.FunctionArn})
		if err != nil || tags.Tags["service"] != "hello" {
			t.Errorf("ListTags: %v %+v", err, tags)
		}
		for op, err := range map[string]error{
			"AddPermission":        second(sdk.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String(hello), StatementId: aws.String("s"), Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("*")})),
			"GetFunctionUrlConfig": second(sdk.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String(hello)})),
		} {
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "NotImplemented" || !strings.Contains(ae.ErrorMessage(), op) {
				t.Errorf("%s: %v, want NotImplemented naming the operation", op, err)
			}
		}
	})

	t.Run("unknown paths", func(t *testing.T) {
		for _, c := range []struct{ method, path, code string }{
			{"GET", "/2015-03-31/nothing", "UnknownOperationException"},
			{"PUT", "/2015-03-31/functions/" + hello + "/invocations", "UnknownOperationException"},
			{"GET", "/2015-03-31/functions/" + hello + "/nothing", "UnknownOperationException"},
			{"PATCH", "/2015-03-31/functions/" + hello, "UnknownOperationException"},
			{"GET", "/2019-09-30/functions/" + hello + "/provisioned-concurrency", "NotImplemented"},
		} {
			req, _ := http.NewRequest(c.method, p.URL()+c.path, nil)
			p.Sign(req, "lambda")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Message string `json:"message"`
			}
			if resp.Header.Get("X-Amzn-ErrorType") != c.code || json.Unmarshal(body, &e) != nil || e.Message == "" || strings.Contains(string(body), "Functions") {
				t.Errorf("%s %s: %d %s %s, want %s", c.method, c.path, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, c.code)
			}
		}
	})
}

func second[T any](_ T, err error) error { return err }
