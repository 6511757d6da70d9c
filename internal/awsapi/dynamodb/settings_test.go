package dynamodb_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodb"
	"github.com/nimbus-platform/nimbus/internal/tables"
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
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), Retryer: aws.NopRetryer{}})
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
