package sqs

import (
	"encoding/base64"
	"net/url"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/awsapi/query"
)

// parseForm turns query-protocol parameters into a request.
func parseForm(form url.Values) (*request, error) {
	r := &request{}
	var err error
	str := func(key string) string { return form.Get(key) }
	num := func(key string) *int {
		v, ok := form[key]
		if !ok || err != nil {
			return nil
		}
		n, e := strconv.Atoi(v[0])
		if e != nil {
			err = badRequest("InvalidParameterValue", "Value %s for parameter %s is invalid. Reason: must be an integer.", v[0], key)
			return nil
		}
		return &n
	}
	r.QueueName = str("QueueName")
	r.QueueURL = str("QueueUrl")
	r.QueueNamePrefix = str("QueueNamePrefix")
	r.NextToken = str("NextToken")
	r.MaxResults = num("MaxResults")
	r.MaxNumberOfMessages = num("MaxNumberOfMessages")
	r.WaitTimeSeconds = num("WaitTimeSeconds")
	r.entry = entryFrom(form, "", num)
	r.Attributes = pairs(form, "Attribute", "Name", "Value")
	r.Tags = pairs(form, "Tag", "Key", "Value")
	r.AttributeNames = list(form, "AttributeName")
	r.MessageAttributeNames = list(form, "MessageAttributeName")
	r.MessageSystemAttributeNames = list(form, "MessageSystemAttributeName")
	r.TagKeys = list(form, "TagKey")
	for _, prefix := range []string{"SendMessageBatchRequestEntry", "DeleteMessageBatchRequestEntry", "ChangeMessageVisibilityBatchRequestEntry"} {
		for _, i := range query.Indexes(form, prefix) {
			r.Entries = append(r.Entries, entryFrom(form, prefix+"."+i+".", num))
		}
	}
	return r, err
}

func entryFrom(form url.Values, p string, num func(string) *int) entry {
	e := entry{
		ID:                     form.Get(p + "Id"),
		DelaySeconds:           num(p + "DelaySeconds"),
		MessageGroupID:         form.Get(p + "MessageGroupId"),
		MessageDeduplicationID: form.Get(p + "MessageDeduplicationId"),
		ReceiptHandle:          form.Get(p + "ReceiptHandle"),
		VisibilityTimeout:      num(p + "VisibilityTimeout"),
	}
	if v, ok := form[p+"MessageBody"]; ok {
		e.MessageBody = &v[0]
	}
	e.MessageAttributes = messageAttrs(form, p+"MessageAttribute")
	e.MessageSystemAttributes = messageAttrs(form, p+"MessageSystemAttribute")
	return e
}

func pairs(form url.Values, prefix, k, v string) map[string]string {
	var out map[string]string
	for _, i := range query.Indexes(form, prefix) {
		if out == nil {
			out = map[string]string{}
		}
		out[form.Get(prefix+"."+i+"."+k)] = form.Get(prefix + "." + i + "." + v)
	}
	return out
}

func list(form url.Values, prefix string) []string {
	var out []string
	for _, i := range query.Indexes(form, prefix) {
		out = append(out, form.Get(prefix+"."+i))
	}
	if v := form.Get(prefix); v != "" {
		out = append(out, v)
	}
	return out
}

func messageAttrs(form url.Values, prefix string) map[string]attr {
	var out map[string]attr
	for _, i := range query.Indexes(form, prefix) {
		p := prefix + "." + i + "."
		a := attr{DataType: form.Get(p + "Value.DataType")}
		if v, ok := form[p+"Value.StringValue"]; ok {
			a.StringValue = &v[0]
		}
		if v, ok := form[p+"Value.BinaryValue"]; ok {
			b, err := base64.StdEncoding.DecodeString(v[0])
			if err != nil {
				b = []byte(v[0])
			}
			a.BinaryValue = b
		}
		if out == nil {
			out = map[string]attr{}
		}
		out[form.Get(p+"Name")] = a
	}
	return out
}
