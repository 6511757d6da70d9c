package dynamodb_test

import (
	"context"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestSDKRequestsWriteCleanly: the tests' SDK clients never see a request
// write fail (see testkit.HTTPClient). With the SDK's own HTTP client, a
// few requests in a thousand to a fast server report io.EOF from the
// request body after the SDK closed it, and net/http then closes the
// connection under the response being read: the "use of closed network
// connection" TestConsumedCapacity failed with.
func TestSDKRequestsWriteCleanly(t *testing.T) {
	c := fastSweepClient(t)
	createTable(t, c, "conn", "")
	var failed atomic.Int64
	var last atomic.Value
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err != nil {
			failed.Add(1)
			last.Store(i.Err.Error())
		}
	}})
	if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("conn"), Item: item{"pk": s("k"), "v": s(strings.Repeat("v", 5000))}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("conn"), Key: item{"pk": s("k")}, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		if err != nil {
			t.Fatalf("GetItem %d: %v", i, err)
		}
		if out.ConsumedCapacity == nil || len(out.Item) != 2 {
			t.Fatalf("GetItem %d: %+v", i, out)
		}
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d request writes failed, the last with %v", n, last.Load())
	}
}
