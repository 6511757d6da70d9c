package workflows

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestIntegrationErrorNames(t *testing.T) {
	for code, want := range map[string]string{
		"ConditionalCheckFailedException":         "ConditionalCheckFailedException",
		"QueueDoesNotExist":                       "QueueDoesNotExistException",
		"AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExistException",
		"NotFound":             "NotFoundException",
		"AccessDenied":         "AccessDeniedException",
		"RequestLimitExceeded": "RequestLimitExceeded",
	} {
		if got := withException(code); got != want {
			t.Errorf("withException(%q) = %q, want %q", code, got, want)
		}
	}
}

// TestQueryProtocol: SNS parameters flatten as the query protocol writes
// them, and an answer's Result element reads back as JSON.
func TestQueryProtocol(t *testing.T) {
	form := url.Values{}
	flattenQuery(form, "", map[string]any{
		"TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
		"Message":  "hi",
		"MessageAttributes": map[string]any{
			"b": map[string]any{"DataType": "String", "StringValue": "2"},
			"a": map[string]any{"DataType": "Number", "StringValue": "1"},
		},
		"Tags": []any{map[string]any{"Key": "k", "Value": "v"}},
	})
	want := url.Values{
		"TopicArn": {"arn:aws:sns:us-east-1:000000000000:t"}, "Message": {"hi"},
		"MessageAttributes.entry.1.Name": {"a"}, "MessageAttributes.entry.1.Value.DataType": {"Number"}, "MessageAttributes.entry.1.Value.StringValue": {"1"},
		"MessageAttributes.entry.2.Name": {"b"}, "MessageAttributes.entry.2.Value.DataType": {"String"}, "MessageAttributes.entry.2.Value.StringValue": {"2"},
		"Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"v"},
	}
	if !reflect.DeepEqual(form, want) {
		t.Errorf("form %v\nwant %v", form, want)
	}
	out, id, aerr, err := decodeQuery(200, []byte(`<ListTopicsResponse><ListTopicsResult><Topics><member><TopicArn>a</TopicArn></member><member><TopicArn>b</TopicArn></member></Topics></ListTopicsResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></ListTopicsResponse>`), "x")
	if err != nil || aerr != nil || id != "r-1" || !reflect.DeepEqual(out, map[string]any{"Topics": []any{map[string]any{"TopicArn": "a"}, map[string]any{"TopicArn": "b"}}}) {
		t.Errorf("answer: %v %s %v %v", out, id, aerr, err)
	}
	_, _, aerr, err = decodeQuery(404, []byte(`<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>r-2</RequestId></ErrorResponse>`), "x")
	if err != nil || aerr == nil || aerr.code != "NotFound" || aerr.message != "Topic does not exist" || aerr.requestID != "r-2" {
		t.Errorf("error answer: %+v %v", aerr, err)
	}
}

func TestDynamoDBRefusesTaskTokens(t *testing.T) {
	s := openService(t, Config{Tasks: echoTasks{}})
	_, err := s.CreateStateMachine(t.Context(), StateMachine{Name: "m", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::dynamodb:putItem.waitForTaskToken","End":true}}}`})
	var we *Error
	if !errors.As(err, &we) || we.Kind != KindInvalidDefinition || !strings.Contains(we.Message, "dynamodb:putItem.waitForTaskToken is not recognized") {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.CreateStateMachine(t.Context(), StateMachine{Name: "ok", RoleARN: "arn:aws:iam::000000000000:role/r",
		Definition: `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","End":true}}}`}); err != nil {
		t.Fatalf("sqs callback: %v", err)
	}
}
