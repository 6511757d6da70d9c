// Command cpuinfo is a test function: it answers with the CPU count its Go
// runtime plans with and the GOMAXPROCS it was given.
package main

import (
	"context"
	"os"
	"runtime"

	"github.com/aws/aws-lambda-go/lambda"
)

type answer struct {
	GOMAXPROCS int    `json:"gomaxprocs"`
	Env        string `json:"env"`
}

func main() {
	lambda.Start(func(context.Context) (answer, error) {
		return answer{GOMAXPROCS: runtime.GOMAXPROCS(0), Env: os.Getenv("GOMAXPROCS")}, nil
	})
}
