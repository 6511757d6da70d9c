// Package integration runs the platform for real: an in-process server,
// real function processes in Go, Node.js and Python, and real clients.
package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// invokeResult is an SDK invoke's answer, decoded.
type invokeResult struct {
	out     *lambda.InvokeOutput
	payload map[string]any
	log     string
}

func invoke(t *testing.T, p *testkit.Platform, name string, event any, tail bool) invokeResult {
	t.Helper()
	res, err := tryInvoke(p, name, event, tail)
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	return res
}

func tryInvoke(p *testkit.Platform, name string, event any, tail bool) (invokeResult, error) {
	payload, _ := json.Marshal(event)
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload}
	if tail {
		in.LogType = types.LogTypeTail
	}
	out, err := p.Lambda().Invoke(context.Background(), in)
	if err != nil {
		return invokeResult{}, err
	}
	res := invokeResult{out: out}
	if len(out.Payload) > 0 && out.Payload[0] == '{' {
		if err := json.Unmarshal(out.Payload, &res.payload); err != nil {
			return res, err
		}
	}
	if out.LogResult != nil {
		raw, err := base64.StdEncoding.DecodeString(*out.LogResult)
		if err != nil {
			return res, err
		}
		res.log = string(raw)
	}
	return res, nil
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func functionError(r invokeResult) string { return aws.ToString(r.out.FunctionError) }

func field(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

func wantField(t *testing.T, m map[string]any, path string, want any) {
	t.Helper()
	if got := field(m, path); got != want {
		t.Errorf("%s = %#v, want %#v (payload %v)", path, got, want, m)
	}
}

// instanceOf names the instance that served r (pids are no use: each
// isolated instance is pid 1 of its own namespace).
func instanceOf(r invokeResult) any { return field(r.payload, "env.AWS_LAMBDA_LOG_STREAM_NAME") }
