// Command hello is a Lambda function written with aws-lambda-go, unchanged
// from what runs on AWS.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Event is what callers send.
type Event struct {
	Name    string `json:"name"`
	SleepMS int    `json:"sleepMs"`
	Exit    bool   `json:"exit"`
	Panic   bool   `json:"panic"`
}

// Reply is what the function answers.
type Reply struct {
	Message         string            `json:"message"`
	RequestID       string            `json:"requestId"`
	FunctionName    string            `json:"functionName"`
	FunctionVersion string            `json:"functionVersion"`
	MemoryLimitMB   int               `json:"memoryLimitMB"`
	InvokedARN      string            `json:"invokedArn"`
	DeadlineInMS    int64             `json:"deadlineInMs"`
	PID             int               `json:"pid"`
	Env             map[string]string `json:"env"`
}

func handle(ctx context.Context, ev Event) (Reply, error) {
	if ev.SleepMS > 0 {
		time.Sleep(time.Duration(ev.SleepMS) * time.Millisecond)
	}
	if ev.Exit {
		fmt.Println("exiting on purpose")
		os.Exit(3)
	}
	if ev.Panic {
		panic("asked to panic")
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	name := ev.Name
	if name == "" {
		name = "world"
	}
	fmt.Printf("hello %s\n", name)
	env := map[string]string{}
	for _, k := range []string{"STAGE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT",
		"LAMBDA_RUNTIME_DIR", "_HANDLER", "TZ", "AWS_LAMBDA_RUNTIME_API"} {
		env[k] = os.Getenv(k)
	}
	return Reply{
		Message:         "Hello, " + name + "!",
		RequestID:       lc.AwsRequestID,
		FunctionName:    lambdacontext.FunctionName,
		FunctionVersion: lambdacontext.FunctionVersion,
		MemoryLimitMB:   lambdacontext.MemoryLimitInMB,
		InvokedARN:      lc.InvokedFunctionArn,
		DeadlineInMS:    time.Until(deadline).Milliseconds(),
		PID:             os.Getpid(),
		Env:             env,
	}, nil
}

func main() { lambda.Start(handle) }
