package streamsource

import (
	"strings"
	"testing"
)

func TestParseTrigger(t *testing.T) {
	const ddb = `"arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/1970-01-01T00:00:00.000"`
	const kin = `"arn:aws:kinesis:us-east-1:000000000000:stream/s"`
	ok := []struct {
		props string
		check func(Trigger) bool
	}{
		{ddb, func(t Trigger) bool {
			return t.Type == "dynamodb" && t.BatchSize == 100 && t.StartingPosition == "TRIM_HORIZON" && t.MaximumRetryAttempts == -1 && t.Enabled
		}},
		{`{"arn":` + kin + `,"batchSize":5,"startingPosition":"LATEST","enabled":false}`, func(t Trigger) bool {
			return t.Type == "kinesis" && t.BatchSize == 5 && t.StartingPosition == "LATEST" && !t.Enabled
		}},
		{`{"type":"dynamodb","arn":` + ddb + `,"maximumRetryAttempts":2,"maximumRecordAgeInSeconds":60,"bisectBatchOnFunctionError":true,
			"functionResponseType":"ReportBatchItemFailures","parallelizationFactor":3,"batchWindow":2,
			"filterPatterns":[{"eventName":["INSERT"]}],"destinations":{"onFailure":"arn:aws:sqs:us-east-1:000000000000:q"}}`, func(t Trigger) bool {
			return t.MaximumRetryAttempts == 2 && t.MaximumRecordAge == 60 && t.Bisect && t.ReportFailures && t.Parallelism == 3 &&
				t.BatchWindow == 2 && len(t.Filters) == 1 && t.OnFailure == "arn:aws:sqs:us-east-1:000000000000:q"
		}},
		{`{"arn":` + kin + `,"destinations":{"onFailure":{"arn":"arn:aws:sns:us-east-1:000000000000:t","type":"sns"}}}`, func(t Trigger) bool {
			return t.OnFailure == "arn:aws:sns:us-east-1:000000000000:t"
		}},
	}
	for _, c := range ok {
		tr, err := ParseTrigger([]byte(c.props))
		if err != nil || !c.check(tr) {
			t.Errorf("%s: %+v, %v", c.props, tr, err)
		}
	}
	bad := map[string]string{
		`"arn:aws:dynamodb:us-east-1:000000000000:table/t"`:                                "StreamArn",
		`"arn:aws:sqs:us-east-1:000000000000:q"`:                                           "not",
		`{"arn":` + ddb + `,"type":"kinesis"}`:                                             "does not match",
		`{"arn":` + ddb + `,"batchSize":0}`:                                                "batchSize",
		`{"arn":` + ddb + `,"maximumRecordAgeInSeconds":30}`:                               "maximumRecordAgeInSeconds",
		`{"arn":` + ddb + `,"startingPosition":"NOW"}`:                                     "startingPosition",
		`{"arn":` + kin + `,"startingPosition":"AT_TIMESTAMP"}`:                            "startingPositionTimestamp",
		`{"arn":` + ddb + `,"functionResponseType":"Other"}`:                               "functionResponseType",
		`{"arn":` + ddb + `,"filterPatterns":[{"eventName":"INSERT"}]}`:                    "filterPatterns[0]",
		`{"arn":` + ddb + `,"destinations":{"onFailure":"arn:aws:lambda:x:y:function:f"}}`: "onFailure",
		`{"arn":` + ddb + `,"batchsize":10}`:                                               "unknown property",
	}
	for props, want := range bad {
		if _, err := ParseTrigger([]byte(props)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one about %s", props, err, want)
		}
	}
}
