// Command events decodes API Gateway events with aws-lambda-go's types and
// answers with the raw event and the decoded one re-encoded, so a caller can
// check that the types lose nothing.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type answer struct {
	Raw     json.RawMessage `json:"raw"`
	Decoded any             `json:"decoded"`
}

func handle(ctx context.Context, raw json.RawMessage) (events.APIGatewayProxyResponse, error) {
	var probe struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	var decoded any
	if probe.Version == "2.0" {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		decoded = ev
	} else {
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		decoded = ev
	}
	body, err := json.Marshal(answer{Raw: raw, Decoded: decoded})
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	return events.APIGatewayProxyResponse{
		StatusCode:        200,
		Headers:           map[string]string{"Content-Type": "application/json"},
		MultiValueHeaders: map[string][]string{"X-Runtime": {"go"}},
		Body:              string(body),
	}, nil
}

func main() { lambda.Start(handle) }
