package dynamodb_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodb"
	"github.com/nimbus-platform/nimbus/internal/tables"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// fastSweepClient serves a tables service whose TTL sweeper runs often.
func fastSweepClient(t *testing.T) *awsddb.Client {
	t.Helper()
	svc, err := tables.Open(tables.Config{Dir: t.TempDir(), TTLInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&dynamodb.API{Tables: svc})
	t.Cleanup(func() {
		srv.Close()
		_ = svc.Close()
	})
	return awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
}

// TestTimeToLive: UpdateTimeToLive/DescribeTimeToLive with DynamoDB's
// checks, and the sweeper removes expired items only: not a future expiry,
// not a non-number, not one more than five years past.
func TestTimeToLive(t *testing.T) {
	c := fastSweepClient(t)
	ctx := context.Background()
	createTable(t, c, "sessions", "")
	desc, err := c.DescribeTimeToLive(ctx, &awsddb.DescribeTimeToLiveInput{TableName: aws.String("sessions")})
	if err != nil || desc.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusDisabled {
		t.Fatalf("before: %+v, %v", desc, err)
	}
	now := time.Now().Unix()
	items := map[string]types.AttributeValue{
		"expired": n(strconv.FormatInt(now-60, 10)),
		"future":  n(strconv.FormatInt(now+3600, 10)),
		"text":    s(strconv.FormatInt(now-60, 10)),
		"ancient": n(strconv.FormatInt(now-6*365*24*3600, 10)),
	}
	for pk, exp := range items {
		if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("sessions"), Item: item{"pk": s(pk), "exp": exp}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.UpdateTimeToLive(ctx, &awsddb.UpdateTimeToLiveInput{TableName: aws.String("sessions"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(false)}})
	apiError(t, err, "ValidationException", "TimeToLive is already disabled")
	up, err := c.UpdateTimeToLive(ctx, &awsddb.UpdateTimeToLiveInput{TableName: aws.String("sessions"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)}})
	if err != nil || aws.ToString(up.TimeToLiveSpecification.AttributeName) != "exp" || !aws.ToBool(up.TimeToLiveSpecification.Enabled) {
		t.Fatalf("UpdateTimeToLive: %+v, %v", up, err)
	}
	_, err = c.UpdateTimeToLive(ctx, &awsddb.UpdateTimeToLiveInput{TableName: aws.String("sessions"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)}})
	apiError(t, err, "ValidationException", "TimeToLive is already enabled")
	_, err = c.UpdateTimeToLive(ctx, &awsddb.UpdateTimeToLiveInput{TableName: aws.String("nope"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)}})
	apiError(t, err, "ResourceNotFoundException", "")
	desc, err = c.DescribeTimeToLive(ctx, &awsddb.DescribeTimeToLiveInput{TableName: aws.String("sessions")})
	if err != nil || desc.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(desc.TimeToLiveDescription.AttributeName) != "exp" {
		t.Fatalf("after: %+v, %v", desc.TimeToLiveDescription, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("sessions"), Key: item{"pk": s("expired")}})
		if err != nil {
			t.Fatal(err)
		}
		if got.Item == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired item was never swept")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, pk := range []string{"future", "text", "ancient"} {
		got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("sessions"), Key: item{"pk": s(pk)}})
		if err != nil || got.Item == nil {
			t.Errorf("%s was removed (%v)", pk, err)
		}
	}
}

// TestTags: TagResource, UntagResource and ListTagsOfResource on a table's
// ARN, and a missing table's ARN is ResourceNotFoundException.
func TestTags(t *testing.T) {
	c := fastSweepClient(t)
	ctx := context.Background()
	createTable(t, c, "tagged", "")
	arn := aws.String("arn:aws:dynamodb:us-east-1:000000000000:table/tagged")
	if _, err := c.TagResource(ctx, &awsddb.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{
		{Key: aws.String("team"), Value: aws.String("core")}, {Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &awsddb.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		t.Helper()
		out, err := c.ListTagsOfResource(ctx, &awsddb.ListTagsOfResourceInput{ResourceArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, tag := range out.Tags {
			got += aws.ToString(tag.Key) + "=" + aws.ToString(tag.Value) + ";"
		}
		return got
	}
	if got := list(); got != "env=prod;team=core;" {
		t.Errorf("tags = %s", got)
	}
	if _, err := c.UntagResource(ctx, &awsddb.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "env=prod;" {
		t.Errorf("tags after untag = %s", got)
	}
	_, err := c.ListTagsOfResource(ctx, &awsddb.ListTagsOfResourceInput{ResourceArn: aws.String("arn:aws:dynamodb:us-east-1:000000000000:table/nope")})
	apiError(t, err, "ResourceNotFoundException", "")
	_, err = c.TagResource(ctx, &awsddb.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
	apiError(t, err, "ValidationException", "")
}

// TestItemCountAndSize: DescribeTable's ItemCount and TableSizeBytes (and
// a sparse index's) follow puts, overwrites and deletes, and are counted
// again after the service reopens.
func TestItemCountAndSize(t *testing.T) {
	dir := t.TempDir()
	open := func() (*awsddb.Client, func()) {
		svc, err := tables.Open(tables.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(&dynamodb.API{Tables: svc})
		return awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()}), func() {
				srv.Close()
				_ = svc.Close()
			}
	}
	c, closeFn := open()
	ctx := context.Background()
	if _, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:            aws.String("counted"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("byG"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	}); err != nil {
		t.Fatal(err)
	}
	check := func(c *awsddb.Client, count, size, ixCount int64) {
		t.Helper()
		d, err := c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("counted")})
		if err != nil {
			t.Fatal(err)
		}
		ix := d.Table.GlobalSecondaryIndexes[0]
		if aws.ToInt64(d.Table.ItemCount) != count || aws.ToInt64(d.Table.TableSizeBytes) != size || aws.ToInt64(ix.ItemCount) != ixCount {
			t.Errorf("ItemCount %d, TableSizeBytes %d, index count %d; want %d, %d, %d",
				aws.ToInt64(d.Table.ItemCount), aws.ToInt64(d.Table.TableSizeBytes), aws.ToInt64(ix.ItemCount), count, size, ixCount)
		}
	}
	check(c, 0, 0, 0)
	put := func(it item) {
		t.Helper()
		if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("counted"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	put(item{"pk": s("a"), "v": s("xyz")})            // 2+1 + 1+3 = 7 bytes
	put(item{"pk": s("b"), "g": s("g1")})             // 3 + 3 = 6
	put(item{"pk": s("c"), "g": s("g2"), "v": s("")}) // 3 + 3 + 1 = 7
	check(c, 3, 20, 2)
	put(item{"pk": s("a"), "v": s("xyzxyz")}) // 10 now
	if _, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("counted"), Key: item{"pk": s("b")}}); err != nil {
		t.Fatal(err)
	}
	check(c, 2, 17, 1)
	closeFn()
	c, closeFn = open()
	defer closeFn()
	check(c, 2, 17, 1)
}

// TestConsumedCapacity: ReturnConsumedCapacity TOTAL and INDEXES by
// DynamoDB's on-demand rules: 1 KB write units on the larger of the old and
// new item, index entries counted per index, 4 KB read units halved for
// eventually consistent reads, Query counted on what it read.
func TestConsumedCapacity(t *testing.T) {
	c := fastSweepClient(t)
	ctx := context.Background()
	if _, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:            aws.String("cap"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN}, {AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("byG"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1500)
	put, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("cap"), ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes,
		Item: item{"pk": s("a"), "sk": n("1"), "g": s("g1"), "v": s(big)}})
	if err != nil {
		t.Fatal(err)
	}
	cc := put.ConsumedCapacity
	if aws.ToFloat64(cc.CapacityUnits) != 3 || aws.ToFloat64(cc.Table.CapacityUnits) != 2 || aws.ToFloat64(cc.GlobalSecondaryIndexes["byG"].CapacityUnits) != 1 || aws.ToString(cc.TableName) != "cap" {
		t.Errorf("put capacity = %+v (table %+v, indexes %+v), want 3 = table 2 + byG 1", cc, cc.Table, cc.GlobalSecondaryIndexes)
	}
	// Overwrite with a small item: counted on the larger (old) one; no
	// index entry any more (a delete from the index).
	put, err = c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("cap"), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		Item: item{"pk": s("a"), "sk": n("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if put.ConsumedCapacity == nil || aws.ToFloat64(put.ConsumedCapacity.CapacityUnits) != 3 || put.ConsumedCapacity.Table != nil {
		t.Errorf("overwrite capacity = %+v", put.ConsumedCapacity)
	}
	for i, size := range []int{5000, 3000, 3000} {
		if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("cap"), Item: item{"pk": s("q"), "sk": n(strconv.Itoa(i)), "v": s(strings.Repeat("y", size))}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(consistent bool) float64 {
		t.Helper()
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("cap"), Key: item{"pk": s("q"), "sk": n("0")},
			ConsistentRead: aws.Bool(consistent), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	if got := get(true); got != 2 {
		t.Errorf("consistent GetItem of 5 KB = %v units, want 2", got)
	}
	if got := get(false); got != 1 {
		t.Errorf("eventually consistent GetItem of 5 KB = %v units, want 1", got)
	}
	q, err := c.Query(ctx, &awsddb.QueryInput{TableName: aws.String("cap"), KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: item{":p": s("q")}, ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	if err != nil {
		t.Fatal(err)
	}
	if q.ConsumedCapacity == nil || aws.ToFloat64(q.ConsumedCapacity.CapacityUnits) != 3 { // ~11 KB read
		t.Errorf("query capacity = %+v", q.ConsumedCapacity)
	}
	_, err = c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("cap"), Key: item{"pk": s("q"), "sk": n("0")}, ReturnConsumedCapacity: "ALL"})
	apiError(t, err, "ValidationException", "returnConsumedCapacity")
}

// TestUpdateTableBilling: UpdateTable switches billing modes and
// throughput, with DynamoDB's checks; index and stream updates are refused
// for now.
func TestUpdateTableBilling(t *testing.T) {
	c := fastSweepClient(t)
	ctx := context.Background()
	createTable(t, c, "billed", "")
	_, err := c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("billed"), BillingMode: types.BillingModeProvisioned})
	apiError(t, err, "ValidationException", "ProvisionedThroughput must be specified")
	out, err := c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("billed"), BillingMode: types.BillingModeProvisioned,
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(3), WriteCapacityUnits: aws.Int64(4)}})
	if err != nil {
		t.Fatal(err)
	}
	if d := out.TableDescription; d.BillingModeSummary.BillingMode != types.BillingModeProvisioned || aws.ToInt64(d.ProvisionedThroughput.WriteCapacityUnits) != 4 {
		t.Errorf("after update: %+v %+v", d.BillingModeSummary, d.ProvisionedThroughput)
	}
	_, err = c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("billed"), BillingMode: types.BillingModePayPerRequest,
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(3), WriteCapacityUnits: aws.Int64(4)}})
	apiError(t, err, "ValidationException", "PAY_PER_REQUEST")
	if _, err := c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("billed"), BillingMode: types.BillingModePayPerRequest}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String("billed")})
	if err != nil || d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("describe after switching back: %+v, %v", d, err)
	}
	up, err := c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("billed"), StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}})
	if err != nil || up.TableDescription.LatestStreamArn == nil || up.TableDescription.StreamSpecification.StreamViewType != types.StreamViewTypeNewImage {
		t.Errorf("enable the stream: %+v, %v", up, err)
	}
	_, err = c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("billed"), StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false), StreamViewType: types.StreamViewTypeNewImage}})
	apiError(t, err, "ValidationException", "StreamViewType cannot be specified")
	_, err = c.UpdateTable(ctx, &awsddb.UpdateTableInput{TableName: aws.String("nope"), BillingMode: types.BillingModePayPerRequest})
	apiError(t, err, "ResourceNotFoundException", "")
}
