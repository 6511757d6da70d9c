package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// `nimbus table scan` and `get` read a table signed with the operator's key
// and print plain JSON (or DynamoDB JSON with --typed).
func TestTableCommands(t *testing.T) {
	p := testkit.Start(t, nil)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(p.AWSConfig(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(p.URL()) })
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("people"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("n"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("n"), KeyType: types.KeyTypeRange}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("people"), Item: map[string]types.AttributeValue{
			"id": &types.AttributeValueMemberS{Value: id}, "n": &types.AttributeValueMemberN{Value: "12345678901234567890"},
			"tags": &types.AttributeValueMemberSS{Value: []string{"y", "x"}}, "ok": &types.AttributeValueMemberBOOL{Value: true},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
	run := func(args ...string) (string, error) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"--endpoint", p.URL()}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run("table", "get", "people", `{"id":"b","n":12345678901234567890}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"b","n":12345678901234567890,"ok":true,"tags":["x","y"]}` + "\n"; out != want {
		t.Errorf("get = %q, want %q", out, want)
	}
	out, err = run("table", "get", "--typed", "people", `{"id":{"S":"a"},"n":{"N":"12345678901234567890"}}`)
	if err != nil || !strings.Contains(out, `"id":{"S":"a"}`) {
		t.Errorf("get --typed = %q, %v", out, err)
	}
	if _, err := run("table", "get", "people", `{"id":"zz","n":1}`); err == nil || !strings.Contains(err.Error(), "no item") {
		t.Errorf("missing item: %v", err)
	}
	if _, err := run("table", "get", "people", `{"id":"a"}`); err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Errorf("partial key: %v", err)
	}
	out, err = run("table", "scan", "people")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"id":"c"`) {
		t.Errorf("scan = %q, %v", out, err)
	}
	out, err = run("table", "scan", "--limit", "2", "people")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Errorf("scan --limit 2 = %q, %v", out, err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if _, err := run("table", "scan", "people"); err == nil {
		t.Error("a scan signed with a wrong secret succeeded")
	}
}
