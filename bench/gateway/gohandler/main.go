// Command gohandler is the benchmark's Go function: a fixed JSON answer.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

const body = `{"message":"hello","items":[1,2,3],"ok":true}`

func handle(_ context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}, nil
}

func main() { lambda.Start(handle) }
