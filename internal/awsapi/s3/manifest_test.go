package s3_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestManifestS3Event deploys a function with an s3 event as the Serverless
// Framework writes it: the deploy creates the bucket, a matching PUT invokes
// the function once with S3's record, other keys do not, and removing the
// service removes the configuration and the (empty) bucket.
func TestManifestS3Event(t *testing.T) {
	rec := newRecorder(t)
	p := testkit.Start(t, testkit.AllowLocalPortOf(rec.srv.URL))
	dir := writeService(t, rec.srv.URL, `functions:
  record:
    handler: bootstrap
    events:
      - s3:
          bucket: uploads
          event: s3:ObjectCreated:*
          rules:
            - prefix: in/
            - suffix: .csv
      - s3:
          bucket: uploads
          event: s3:ObjectRemoved:*
`)
	out := p.Deploy(dir)
	for _, w := range out.Project.Warnings {
		if strings.Contains(w.Error(), "s3") {
			t.Fatalf("warning about s3: %s", w)
		}
	}
	c := client(p)
	ctx := context.Background()
	for _, key := range []string{"in/skip.txt", "other/skip.csv", "in/data 1.csv"} {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String(key), Body: strings.NewReader("1,2")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the event", func() bool { return len(rec.events()) >= 1 })
	r := records(t, rec.events()[0])
	if len(r) != 1 || r[0].EventName != "ObjectCreated:Put" || r[0].S3.Object.Key != "in/data+1.csv" || r[0].S3.Bucket.Name != "uploads" ||
		!strings.HasPrefix(r[0].S3.ConfigurationID, "nimbus:s3events:") {
		t.Fatalf("event: %s", rec.events()[0])
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("uploads"), Key: aws.String("other/skip.csv")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delete event", func() bool { return len(rec.events()) >= 2 })
	if r := records(t, rec.events()[1]); r[0].EventName != "ObjectRemoved:Delete" || r[0].S3.Object.Key != "other/skip.csv" || len(rec.events()) != 2 {
		t.Fatalf("events: %d, delete %s", len(rec.events()), rec.events()[1])
	}
	// A redeploy changes nothing and is accepted (the bucket is the service's).
	p.Deploy(dir)

	// Removal: the bucket holds objects, so it stays (as CloudFormation
	// leaves a non-empty bucket) without the service's configuration.
	res, err := p.Client.Remove(ctx, "s3events")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "bucket uploads is not empty, so it is kept") {
		t.Fatalf("removal warnings: %v", res.Warnings)
	}
	conf, err := c.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: aws.String("uploads")})
	if err != nil || len(conf.LambdaFunctionConfigurations) != 0 {
		t.Fatalf("configuration after removal: %+v, %v", conf, err)
	}
	for _, key := range []string{"in/skip.txt", "in/data 1.csv"} {
		if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("uploads"), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	// Deployed again and removed with the bucket empty: the bucket goes.
	p.Deploy(dir)
	if _, err := p.Client.Remove(ctx, "s3events"); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("uploads")})
	var nf interface{ ErrorCode() string }
	if !errors.As(err, &nf) {
		t.Fatalf("bucket after removal: %v", err)
	}
}

// TestManifestBucketResources declares buckets in resources and
// provider.s3: references resolve to their names and ARNs, queue and
// EventBridge configurations deliver, `existing: true` needs the bucket, and
// a bucket created through the API is not taken over.
func TestManifestBucketResources(t *testing.T) {
	rec := newRecorder(t)
	p := testkit.Start(t, testkit.AllowLocalPortOf(rec.srv.URL))
	provider := `  s3:
    archive:
      name: s3events-archive
`
	body := `functions:
  record:
    handler: bootstrap
    environment:
      BUCKET: {Ref: Reports}
      BUCKET_ARN: !GetAtt Reports.Arn
    events:
      - s3: {bucket: archive, event: s3:ObjectCreated:Put}
resources:
  Resources:
    Inbox:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: s3events-inbox
    Reports:
      Type: AWS::S3::Bucket
      DeletionPolicy: Retain
      Properties:
        NotificationConfiguration:
          QueueConfigurations:
            - Event: s3:ObjectCreated:*
              Queue: !GetAtt Inbox.Arn
              Filter:
                S3Key:
                  Rules:
                    - {Name: suffix, Value: .json}
          EventBridgeConfiguration:
            EventBridgeEnabled: true
        LifecycleConfiguration:
          Rules:
            - Id: tmp
              Status: Enabled
              Prefix: tmp/
              ExpirationInDays: 1
`
	p.Deploy(writeNamedService(t, "s3events", rec.srv.URL, provider, body))
	generated := "s3events-dev-reports"
	env, err := p.Lambda().GetFunctionConfiguration(context.Background(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("s3events-dev-record")})
	if err != nil {
		t.Fatal(err)
	}
	if v := env.Environment.Variables; v["BUCKET"] != generated || v["BUCKET_ARN"] != "arn:aws:s3:::"+generated {
		t.Fatalf("references: %v", v)
	}

	c, q := client(p), sqsClient(p)
	ctx := context.Background()
	for _, b := range []string{generated, "s3events-archive"} {
		if _, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
	}
	urlOut, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("s3events-inbox")})
	if err != nil {
		t.Fatal(err)
	}
	receiveAll(t, q, aws.ToString(urlOut.QueueUrl), 1) // the test event
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(generated), Key: aws.String("r.json"), Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, q, aws.ToString(urlOut.QueueUrl), 1)
	if r := records(t, []byte(got[0])); len(r) != 1 || r[0].S3.Object.Key != "r.json" || r[0].S3.Bucket.Name != generated {
		t.Fatalf("queue event: %s", got[0])
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("s3events-archive"), Key: aws.String("a"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the archive event", func() bool { return len(rec.events()) >= 1 })
	if r := records(t, rec.events()[0]); r[0].S3.Bucket.Name != "s3events-archive" {
		t.Fatalf("archive event: %s", rec.events()[0])
	}

	// existing: true needs the bucket; a bucket made through the API is not taken over.
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("theirs")}); err != nil {
		t.Fatal(err)
	}
	other := writeNamedService(t, "other", rec.srv.URL, "", "functions:\n  f:\n    handler: bootstrap\n    events:\n      - s3: {bucket: nosuch, existing: true}\n")
	if _, err := p.Client.Deploy(ctx, other, manifest.Options{}, nil); err == nil || !strings.Contains(err.Error(), "bucket nosuch does not exist") {
		t.Fatalf("existing bucket missing: %v", err)
	}
	writeFile(t, filepath.Join(other, "serverless.yml"), strings.Replace(readFile(t, filepath.Join(other, "serverless.yml")), "nosuch, existing: true", "theirs", 1))
	if _, err := p.Client.Deploy(ctx, other, manifest.Options{}, nil); err == nil || !strings.Contains(err.Error(), "bucket theirs already exists") {
		t.Fatalf("bucket made through the API: %v", err)
	}
	writeFile(t, filepath.Join(other, "serverless.yml"), strings.Replace(readFile(t, filepath.Join(other, "serverless.yml")), "bucket: theirs", "bucket: theirs, existing: true", 1))
	if _, err := p.Client.Deploy(ctx, other, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
