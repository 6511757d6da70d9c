package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nimbus-platform/nimbus/internal/sampleevents"
)

func newGenerateEventCommand() *cobra.Command {
	var o sampleevents.Options
	var list strings.Builder
	for _, k := range sampleevents.Kinds() {
		fmt.Fprintf(&list, "  %-12s %-16s %s\n", k.Service, k.Event, k.Description)
	}
	cmd := &cobra.Command{
		Use:   "generate-event SERVICE EVENT",
		Short: "Print a sample event as an AWS service delivers it to a function",
		Long: "Print a realistic sample event, in the shape the service delivers it to Lambda, so a\n" +
			"function can be tried without the service. Events:\n\n" + list.String(),
		Example: "  nimbus generate-event sqs receive-message --body '{\"orderId\":7}'\n" +
			"  nimbus generate-event s3 put --bucket uploads --key photos/cat.jpg | nimbus invoke resize -p -\n" +
			"  nimbus generate-event apigateway http-api-proxy --method POST --path /orders --body '{}'",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := sampleevents.Generate(args[0], args[1], o)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(data, '\n'))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Region, "region", "", "region in ARNs and records (default us-east-1)")
	f.StringVar(&o.Body, "body", "", "message body, HTTP body, record data or event detail")
	f.StringVar(&o.Method, "method", "", "HTTP method (apigateway; default GET)")
	f.StringVar(&o.Path, "path", "", "HTTP path (apigateway; default /hello)")
	f.StringVar(&o.Queue, "queue", "", "queue name (sqs)")
	f.StringVar(&o.Topic, "topic", "", "topic name (sns)")
	f.StringVar(&o.Bucket, "bucket", "", "bucket name (s3)")
	f.StringVar(&o.Key, "key", "", "object key (s3)")
	f.StringVar(&o.Table, "table", "", "table name (dynamodb)")
	f.StringVar(&o.Stream, "stream", "", "stream name (kinesis)")
	f.StringVar(&o.Partition, "partition-key", "", "partition key (kinesis)")
	f.StringVar(&o.Source, "source", "", "event source (eventbridge)")
	f.StringVar(&o.Detail, "detail-type", "", "detail-type (eventbridge)")
	return cmd
}
