// Command fail is a go1.x-style function that always returns an error.
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
)

// OrderError is a typed error, reported by its Go type name.
type OrderError struct{ ID string }

func (e *OrderError) Error() string { return fmt.Sprintf("order %s cannot be billed", e.ID) }

func handle(ctx context.Context, ev map[string]any) (string, error) {
	id, _ := ev["id"].(string)
	return "", &OrderError{ID: id}
}

func main() { lambda.Start(handle) }
