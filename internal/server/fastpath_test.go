package server_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/httpguard"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// signedRaw is a signed DynamoDB request as bytes on the wire.
func signedRaw(t *testing.T, p *testkit.Platform, target, body string, extra string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", p.URL()+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+target)
	p.Sign(req, "dynamodb")
	var b strings.Builder
	b.WriteString("POST / HTTP/1.1\r\nHost: " + req.Host + "\r\n")
	for k, vs := range req.Header {
		b.WriteString(k + ": " + vs[0] + "\r\n")
	}
	b.WriteString(extra)
	b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body)
	return b.String()
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

// Signed AWS calls pipelined on one raw connection are answered in order
// by the API listener's fast path; a smuggling shape behind them goes to
// net/http, which refuses it and closes; nothing hidden behind it runs; a
// head that stalls is cut, and the platform serves SDK clients throughout.
func TestAPIListenerFastPathOnThePlatform(t *testing.T) {
	p := testkit.Start(t, func(c *server.Config) {
		c.APILimits = httpguard.Limits{HeaderTimeout: time.Second}
	})
	ctx := context.Background()
	db := dynamodb.NewFromConfig(p.AWSConfig())
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("fast"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	put := func(pk string) string {
		return signedRaw(t, p, "PutItem", `{"TableName":"fast","Item":{"pk":{"S":"`+pk+`"},"n":{"N":"1"}}}`, "")
	}
	update := signedRaw(t, p, "UpdateItem", `{"TableName":"fast","Key":{"pk":{"S":"a"}},"UpdateExpression":"ADD n :one","ExpressionAttributeValues":{":one":{"N":"1"}}}`, "")
	get := signedRaw(t, p, "GetItem", `{"TableName":"fast","Key":{"pk":{"S":"a"}},"ConsistentRead":true}`, "")
	// Two lengths that disagree: the fast path leaves it, net/http refuses it.
	smuggled := signedRaw(t, p, "UpdateItem", `{"TableName":"fast","Key":{"pk":{"S":"a"}},"UpdateExpression":"ADD n :one","ExpressionAttributeValues":{":one":{"N":"100"}}}`, "Content-Length: 9\r\n")
	_, _ = io.WriteString(c, put("a")+put("b")+update+get+smuggled+update)
	br := bufio.NewReader(c)
	for i, want := range []string{"{}", "{}", "{}", `"n":{"N":"2"}`} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("answer %d: %d %s, want %s", i, resp.StatusCode, body, want)
		}
		if resp.Header.Get("X-Amz-Crc32") == "" || resp.Header.Get("Date") == "" {
			t.Errorf("answer %d lacks a header: %v", i, resp.Header)
		}
	}
	rest, _ := io.ReadAll(br)
	if !bytes.HasPrefix(rest, []byte("HTTP/1.1 400 ")) {
		t.Fatalf("the request with two lengths: %.200q, want net/http's 400", rest)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("fast"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Item["n"].(*types.AttributeValueMemberN).Value; n != "2" {
		t.Fatalf("n = %s after one pipelined update and refused ones, want 2", n)
	}

	// A head that stalls is cut after HeaderTimeout.
	slow, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_ = slow.SetDeadline(time.Now().Add(60 * time.Second))
	_, _ = io.WriteString(slow, "POST / HTTP/1.1\r\nHost: "+p.Addr()+"\r\n")
	if data, err := io.ReadAll(slow); err != nil || len(data) != 0 {
		t.Fatalf("a stalled head: %q %v, want the connection closed", data, err)
	}
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
}
