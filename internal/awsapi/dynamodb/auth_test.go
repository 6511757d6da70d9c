package dynamodb_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodb"
	"github.com/nimbus-platform/nimbus/internal/tables"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestAuthorizeHook: every operation passes the hook with its IAM action and
// the table (or index) ARN, and a refusal is AccessDeniedException that
// changes nothing.
func TestAuthorizeHook(t *testing.T) {
	svc, err := tables.Open(tables.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var mu sync.Mutex
	var seen []string
	api := &dynamodb.API{Tables: svc, Authorize: func(ctx context.Context, action, resource string) error {
		mu.Lock()
		seen = append(seen, action+" "+resource)
		mu.Unlock()
		if action == "dynamodb:DeleteItem" {
			return errors.New("User: x is not authorized to perform: dynamodb:DeleteItem")
		}
		return nil
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c := awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	ctx := context.Background()
	createTable(t, c, "guarded", "")
	if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("guarded"), Item: item{"pk": s("a")}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("guarded"), Key: item{"pk": s("a")}})
	apiError(t, err, "AccessDeniedException", "not authorized to perform: dynamodb:DeleteItem")
	got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("guarded"), Key: item{"pk": s("a")}})
	if err != nil || got.Item == nil {
		t.Fatalf("item after a refused delete: %v, %v", got.Item, err)
	}
	if _, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("guarded"), IndexName: nil, KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: item{":p": s("a")}, Select: types.SelectCount}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:dynamodb:us-east-1:000000000000:table/guarded"
	want := []string{"dynamodb:CreateTable " + arn, "dynamodb:PutItem " + arn, "dynamodb:DeleteItem " + arn, "dynamodb:GetItem " + arn, "dynamodb:Query " + arn}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("authorised %v", seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("authorised %v, want %v", seen, want)
		}
	}
}
