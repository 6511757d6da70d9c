// Package sqs serves the Amazon SQS API on top of internal/queues, in both
// wire protocols: JSON 1.0 (X-Amz-Target: AmazonSQS.*, the current SDKs and
// CLI) and the query protocol (form-encoded Action=..., XML answers). The core
// speaks Go types; this package only parses, maps errors and renders.
package sqs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/query"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// API is the SQS edge.
type API struct {
	Queues *queues.Service
}

// MaxRequestBytes bounds a request body (a 1 MiB message, url-encoded, plus room).
const MaxRequestBytes = 4 << 20

// Actions lists the operations served, for the dispatcher.
var actions = map[string]bool{
	"CreateQueue": true, "GetQueueUrl": true, "ListQueues": true, "DeleteQueue": true,
	"GetQueueAttributes": true, "SetQueueAttributes": true, "SendMessage": true, "SendMessageBatch": true,
	"ReceiveMessage": true, "DeleteMessage": true, "DeleteMessageBatch": true, "ChangeMessageVisibility": true,
	"ChangeMessageVisibilityBatch": true, "PurgeQueue": true, "ListQueueTags": true, "TagQueue": true, "UntagQueue": true,
}

// IsAction reports whether action is an SQS operation.
func IsAction(action string) bool { return actions[action] }

type attr struct {
	DataType         string   `json:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

type entry struct {
	ID                      string          `json:"Id"`
	MessageBody             *string         `json:"MessageBody"`
	DelaySeconds            *int            `json:"DelaySeconds"`
	MessageAttributes       map[string]attr `json:"MessageAttributes"`
	MessageSystemAttributes map[string]attr `json:"MessageSystemAttributes"`
	MessageGroupID          string          `json:"MessageGroupId"`
	MessageDeduplicationID  string          `json:"MessageDeduplicationId"`
	ReceiptHandle           string          `json:"ReceiptHandle"`
	VisibilityTimeout       *int            `json:"VisibilityTimeout"`
}

// request holds the parameters of every action, from either protocol.
type request struct {
	QueueName                   string            `json:"QueueName"`
	QueueURL                    string            `json:"QueueUrl"`
	QueueNamePrefix             string            `json:"QueueNamePrefix"`
	Attributes                  map[string]string `json:"Attributes"`
	Tags                        map[string]string `json:"tags"`
	TagKeys                     []string          `json:"TagKeys"`
	AttributeNames              []string          `json:"AttributeNames"`
	MessageAttributeNames       []string          `json:"MessageAttributeNames"`
	MessageSystemAttributeNames []string          `json:"MessageSystemAttributeNames"`
	MaxNumberOfMessages         *int              `json:"MaxNumberOfMessages"`
	WaitTimeSeconds             *int              `json:"WaitTimeSeconds"`
	MaxResults                  *int              `json:"MaxResults"`
	NextToken                   string            `json:"NextToken"`
	Entries                     []entry           `json:"Entries"`
	entry
	endpoint string
}

// failure is an error with its wire codes.
type failure struct {
	status    int
	jsonType  string // __type suffix
	queryCode string // x-amzn-query-error / XML Code
	message   string
	sender    bool
}

func toFailure(err error) *failure {
	var qe *queues.Error
	if errors.As(err, &qe) {
		code := string(qe.Kind)
		jt := strings.TrimPrefix(code, "AWS.SimpleQueueService.")
		switch qe.Kind {
		case queues.QueueDoesNotExist:
			jt = "QueueDoesNotExist"
		case queues.QueueNameExists:
			jt = "QueueNameExists"
		case queues.InvalidParameterValue:
			jt = "InvalidParameterValueException"
		case queues.MissingParameter:
			jt = "MissingRequiredParameterException"
		}
		return &failure{status: 400, jsonType: jt, queryCode: code, message: qe.Message, sender: true}
	}
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	if ae, ok := auth.AsError(err); ok {
		return &failure{status: ae.Status(auth.ProtocolQuery), jsonType: ae.Code(auth.ProtocolJSON), queryCode: ae.Code(auth.ProtocolQuery), message: ae.Message, sender: true}
	}
	if store.IsNoSpace(err) {
		return &failure{status: 503, jsonType: "ServiceUnavailable", queryCode: "ServiceUnavailable", message: err.Error()}
	}
	return &failure{status: 500, jsonType: "InternalError", queryCode: "InternalError", message: err.Error()}
}

func (f *failure) Error() string { return f.message }

func badRequest(code, format string, args ...any) *failure {
	return &failure{status: 400, jsonType: code, queryCode: code, message: fmt.Sprintf(format, args...), sender: true}
}

// queueName takes the queue from a QueueUrl (…/account/name) or a bare name.
func (r *request) queueName() (string, error) {
	if r.QueueURL == "" {
		return "", badRequest("MissingParameter", "The request must contain the parameter QueueUrl.")
	}
	u := r.QueueURL
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		u = u[i+1:]
	}
	if u == "" {
		return "", &queues.Error{Kind: queues.QueueDoesNotExist, Message: "The specified queue does not exist."}
	}
	return u, nil
}

func (a *API) queueURL(endpoint, name string) string {
	return endpoint + "/" + appspec.AccountID + "/" + name
}

func (e *entry) sendInput() *queues.SendInput {
	in := &queues.SendInput{DelaySeconds: e.DelaySeconds, GroupID: e.MessageGroupID, DedupID: e.MessageDeduplicationID}
	if e.MessageBody != nil {
		in.Body = *e.MessageBody
	}
	conv := func(m map[string]attr) map[string]queues.Attribute {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]queues.Attribute, len(m))
		for k, v := range m {
			out[k] = queues.Attribute{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		}
		return out
	}
	in.Attributes = conv(e.MessageAttributes)
	in.SystemAttributes = conv(e.MessageSystemAttributes)
	return in
}

// result is an action's answer, rendered by the protocol.
type result struct {
	json any
	xml  func(b *strings.Builder)
}

// iamActions names the IAM action of the batch operations, which AWS
// authorizes as their single-message forms.
var iamActions = map[string]string{
	"SendMessageBatch": "sqs:SendMessage", "DeleteMessageBatch": "sqs:DeleteMessage",
	"ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

// authorize checks the caller may perform action on the queue it names.
func (a *API) authorize(ctx context.Context, action string, r *request) error {
	if auth.Unrestricted(ctx) {
		return nil
	}
	iam, ok := iamActions[action]
	if !ok {
		iam = "sqs:" + action
	}
	resource := "*"
	switch action {
	case "ListQueues":
	case "CreateQueue", "GetQueueUrl":
		if r.QueueName != "" {
			resource = a.Queues.ARN(r.QueueName)
		}
	default:
		name, err := r.queueName()
		if err != nil {
			return nil // the action answers the missing parameter
		}
		resource = a.Queues.ARN(name)
	}
	return auth.Authorize(ctx, iam, resource, nil)
}

func (a *API) do(ctx context.Context, action string, r *request) (*result, error) {
	if err := a.authorize(ctx, action, r); err != nil {
		return nil, err
	}
	switch action {
	case "CreateQueue":
		if r.QueueName == "" {
			return nil, badRequest("MissingParameter", "The request must contain the parameter QueueName.")
		}
		c, err := a.Queues.Create(ctx, r.QueueName, r.Attributes, r.Tags)
		if err != nil {
			return nil, err
		}
		u := a.queueURL(r.endpoint, c.Name)
		return &result{json: map[string]string{"QueueUrl": u}, xml: func(b *strings.Builder) { query.Tag(b, "QueueUrl", u) }}, nil
	case "GetQueueUrl":
		if r.QueueName == "" {
			return nil, badRequest("MissingParameter", "The request must contain the parameter QueueName.")
		}
		c, err := a.Queues.Get(ctx, r.QueueName)
		if err != nil {
			return nil, err
		}
		u := a.queueURL(r.endpoint, c.Name)
		return &result{json: map[string]string{"QueueUrl": u}, xml: func(b *strings.Builder) { query.Tag(b, "QueueUrl", u) }}, nil
	case "ListQueues":
		names, err := a.Queues.List(ctx, r.QueueNamePrefix)
		if err != nil {
			return nil, err
		}
		start := 0
		if r.NextToken != "" {
			if n, err := strconv.Atoi(r.NextToken); err == nil && n >= 0 && n <= len(names) {
				start = n
			} else {
				return nil, badRequest("InvalidParameterValue", "Invalid NextToken value.")
			}
		}
		limit := 1000
		if r.MaxResults != nil {
			if *r.MaxResults < 1 || *r.MaxResults > 1000 {
				return nil, badRequest("InvalidParameterValue", "Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *r.MaxResults)
			}
			limit = *r.MaxResults
		}
		end := min(start+limit, len(names))
		urls := []string{}
		for _, n := range names[start:end] {
			urls = append(urls, a.queueURL(r.endpoint, n))
		}
		out := map[string]any{}
		if len(urls) > 0 {
			out["QueueUrls"] = urls
		}
		next := ""
		if r.MaxResults != nil && end < len(names) {
			next = strconv.Itoa(end)
			out["NextToken"] = next
		}
		return &result{json: out, xml: func(b *strings.Builder) {
			for _, u := range urls {
				query.Tag(b, "QueueUrl", u)
			}
			if next != "" {
				query.Tag(b, "NextToken", next)
			}
		}}, nil
	case "DeleteQueue", "PurgeQueue":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		if action == "DeleteQueue" {
			err = a.Queues.Delete(ctx, name)
		} else {
			err = a.Queues.Purge(ctx, name)
		}
		if err != nil {
			return nil, err
		}
		return &result{json: map[string]any{}}, nil
	case "GetQueueAttributes":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		attrs, err := a.attributes(ctx, name, r.AttributeNames)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		if len(attrs) > 0 {
			out["Attributes"] = attrs
		}
		return &result{json: out, xml: func(b *strings.Builder) {
			for _, k := range sortedKeys(attrs) {
				b.WriteString("<Attribute>")
				query.Tag(b, "Name", k)
				query.Tag(b, "Value", attrs[k])
				b.WriteString("</Attribute>")
			}
		}}, nil
	case "SetQueueAttributes":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		if err := a.Queues.SetAttributes(ctx, name, r.Attributes); err != nil {
			return nil, err
		}
		return &result{json: map[string]any{}}, nil
	case "ListQueueTags":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		c, err := a.Queues.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		if len(c.Tags) > 0 {
			out["Tags"] = c.Tags
		}
		return &result{json: out, xml: func(b *strings.Builder) {
			for _, k := range sortedKeys(c.Tags) {
				b.WriteString("<Tag>")
				query.Tag(b, "Key", k)
				query.Tag(b, "Value", c.Tags[k])
				b.WriteString("</Tag>")
			}
		}}, nil
	case "TagQueue", "UntagQueue":
		return &result{json: map[string]any{}}, nil
	case "SendMessage":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		if r.MessageBody == nil {
			return nil, badRequest("MissingParameter", "The request must contain the parameter MessageBody.")
		}
		res, err := a.Queues.Send(ctx, name, r.sendInput())
		if err != nil {
			return nil, err
		}
		out := sendJSON(res)
		return &result{json: out, xml: func(b *strings.Builder) { sendXML(b, res) }}, nil
	case "SendMessageBatch":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(r.Entries))
		ins := make([]*queues.SendInput, len(r.Entries))
		for i := range r.Entries {
			ids[i] = r.Entries[i].ID
			ins[i] = r.Entries[i].sendInput()
			if r.Entries[i].MessageBody == nil {
				ins[i].Body = ""
			}
		}
		results, err := a.Queues.SendBatch(ctx, name, ids, ins)
		if err != nil {
			return nil, err
		}
		return batchResult(results, func(br queues.BatchResult) (map[string]any, func(*strings.Builder)) {
			m := sendJSON(br.Result)
			m["Id"] = br.ID
			return m, func(b *strings.Builder) { query.Tag(b, "Id", br.ID); sendXML(b, br.Result) }
		}, "SendMessageBatchResultEntry"), nil
	case "ReceiveMessage":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		max := 1
		if r.MaxNumberOfMessages != nil {
			max = *r.MaxNumberOfMessages
			if max < 1 || max > 10 {
				return nil, badRequest("InvalidParameterValue", "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", max)
			}
		}
		msgs, err := a.Queues.Receive(ctx, name, queues.ReceiveInput{Max: max, WaitSeconds: r.WaitTimeSeconds, VisibilityTimeout: r.VisibilityTimeout})
		if err != nil {
			return nil, err
		}
		sysNames := append(append([]string{}, r.AttributeNames...), r.MessageSystemAttributeNames...)
		return receiveResult(msgs, sysNames, r.MessageAttributeNames), nil
	case "DeleteMessage":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		if r.ReceiptHandle == "" {
			return nil, badRequest("MissingParameter", "The request must contain the parameter ReceiptHandle.")
		}
		if err := a.Queues.DeleteMessage(ctx, name, r.ReceiptHandle); err != nil {
			return nil, err
		}
		return &result{json: map[string]any{}}, nil
	case "ChangeMessageVisibility":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		if r.VisibilityTimeout == nil {
			return nil, badRequest("MissingParameter", "The request must contain the parameter VisibilityTimeout.")
		}
		if err := a.Queues.ChangeVisibility(ctx, name, r.ReceiptHandle, *r.VisibilityTimeout); err != nil {
			return nil, err
		}
		return &result{json: map[string]any{}}, nil
	case "DeleteMessageBatch", "ChangeMessageVisibilityBatch":
		name, err := r.queueName()
		if err != nil {
			return nil, err
		}
		if _, err := a.Queues.Get(ctx, name); err != nil {
			return nil, err
		}
		ids := make([]string, len(r.Entries))
		for i, e := range r.Entries {
			ids[i] = e.ID
		}
		if err := queues.CheckBatchIDs(ids); err != nil {
			return nil, err
		}
		results := make([]queues.BatchResult, len(r.Entries))
		for i, e := range r.Entries {
			results[i].ID = e.ID
			var err error
			if action == "DeleteMessageBatch" {
				err = a.Queues.DeleteMessage(ctx, name, e.ReceiptHandle)
			} else {
				vt := 0
				if e.VisibilityTimeout != nil {
					vt = *e.VisibilityTimeout
				}
				err = a.Queues.ChangeVisibility(ctx, name, e.ReceiptHandle, vt)
			}
			if err != nil {
				var qe *queues.Error
				if !errors.As(err, &qe) {
					qe = &queues.Error{Kind: "InternalError", Message: err.Error()}
				}
				results[i].Err = qe
			}
		}
		el := "DeleteMessageBatchResultEntry"
		if action != "DeleteMessageBatch" {
			el = "ChangeMessageVisibilityBatchResultEntry"
		}
		return batchResult(results, func(br queues.BatchResult) (map[string]any, func(*strings.Builder)) {
			return map[string]any{"Id": br.ID}, func(b *strings.Builder) { query.Tag(b, "Id", br.ID) }
		}, el), nil
	}
	return nil, badRequest("InvalidAction", "The action %s is not valid for this endpoint.", action)
}

func sendJSON(res queues.SendResult) map[string]any {
	m := map[string]any{"MessageId": res.MessageID, "MD5OfMessageBody": res.MD5OfBody}
	if res.MD5OfAttrs != "" {
		m["MD5OfMessageAttributes"] = res.MD5OfAttrs
	}
	if res.MD5OfSysAttrs != "" {
		m["MD5OfMessageSystemAttributes"] = res.MD5OfSysAttrs
	}
	if res.SequenceNumber != "" {
		m["SequenceNumber"] = res.SequenceNumber
	}
	return m
}

func sendXML(b *strings.Builder, res queues.SendResult) {
	query.Tag(b, "MessageId", res.MessageID)
	query.Tag(b, "MD5OfMessageBody", res.MD5OfBody)
	if res.MD5OfAttrs != "" {
		query.Tag(b, "MD5OfMessageAttributes", res.MD5OfAttrs)
	}
	if res.MD5OfSysAttrs != "" {
		query.Tag(b, "MD5OfMessageSystemAttributes", res.MD5OfSysAttrs)
	}
	if res.SequenceNumber != "" {
		query.Tag(b, "SequenceNumber", res.SequenceNumber)
	}
}

func batchResult(results []queues.BatchResult, ok func(queues.BatchResult) (map[string]any, func(*strings.Builder)), okElement string) *result {
	successful := []map[string]any{}
	failed := []map[string]any{}
	var xmlParts []func(*strings.Builder)
	for _, br := range results {
		if br.Err != nil {
			f := toFailure(br.Err)
			failed = append(failed, map[string]any{"Id": br.ID, "SenderFault": f.sender, "Code": f.queryCode, "Message": f.message})
			xmlParts = append(xmlParts, func(b *strings.Builder) {
				b.WriteString("<BatchResultErrorEntry>")
				query.Tag(b, "Id", br.ID)
				query.Tag(b, "SenderFault", strconv.FormatBool(f.sender))
				query.Tag(b, "Code", f.queryCode)
				query.Tag(b, "Message", f.message)
				b.WriteString("</BatchResultErrorEntry>")
			})
			continue
		}
		m, x := ok(br)
		successful = append(successful, m)
		xmlParts = append(xmlParts, func(b *strings.Builder) {
			b.WriteString("<" + okElement + ">")
			x(b)
			b.WriteString("</" + okElement + ">")
		})
	}
	return &result{json: map[string]any{"Successful": successful, "Failed": failed}, xml: func(b *strings.Builder) {
		for _, p := range xmlParts {
			p(b)
		}
	}}
}

func wants(names []string, name string) bool {
	for _, n := range names {
		if n == "All" || n == name || (strings.HasSuffix(n, ".*") && strings.HasPrefix(name, strings.TrimSuffix(n, "*"))) || n == ".*" {
			return true
		}
	}
	return false
}

func receiveResult(msgs []queues.Message, sysNames, attrNames []string) *result {
	jsonMsgs := []map[string]any{}
	for _, m := range msgs {
		jm := map[string]any{"MessageId": m.ID, "ReceiptHandle": m.ReceiptHandle, "Body": m.Body, "MD5OfBody": m.MD5OfBody}
		sys := map[string]string{}
		for k, v := range m.System {
			if wants(sysNames, k) {
				sys[k] = v
			}
		}
		if len(sys) > 0 {
			jm["Attributes"] = sys
		}
		attrs := map[string]queues.Attribute{}
		for k, v := range m.Attributes {
			if wants(attrNames, k) {
				attrs[k] = v
			}
		}
		if len(attrs) > 0 {
			ja := map[string]attr{}
			for k, v := range attrs {
				ja[k] = attr{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
			}
			jm["MessageAttributes"] = ja
			jm["MD5OfMessageAttributes"] = queues.MD5OfAttributes(attrs)
		}
		jsonMsgs = append(jsonMsgs, jm)
	}
	out := map[string]any{}
	if len(jsonMsgs) > 0 {
		out["Messages"] = jsonMsgs
	}
	return &result{json: out, xml: func(b *strings.Builder) {
		for _, jm := range jsonMsgs {
			b.WriteString("<Message>")
			for _, k := range []string{"MessageId", "ReceiptHandle", "MD5OfBody", "Body", "MD5OfMessageAttributes"} {
				if v, ok := jm[k].(string); ok {
					query.Tag(b, k, v)
				}
			}
			if sys, ok := jm["Attributes"].(map[string]string); ok {
				for _, k := range sortedKeys(sys) {
					b.WriteString("<Attribute>")
					query.Tag(b, "Name", k)
					query.Tag(b, "Value", sys[k])
					b.WriteString("</Attribute>")
				}
			}
			if ma, ok := jm["MessageAttributes"].(map[string]attr); ok {
				for _, k := range sortedKeys(ma) {
					v := ma[k]
					b.WriteString("<MessageAttribute>")
					query.Tag(b, "Name", k)
					b.WriteString("<Value>")
					query.Tag(b, "DataType", v.DataType)
					if v.StringValue != nil {
						query.Tag(b, "StringValue", *v.StringValue)
					}
					if v.BinaryValue != nil {
						query.Tag(b, "BinaryValue", base64.StdEncoding.EncodeToString(v.BinaryValue))
					}
					b.WriteString("</Value></MessageAttribute>")
				}
			}
			b.WriteString("</Message>")
		}
	}}
}

func (a *API) attributes(ctx context.Context, name string, want []string) (map[string]string, error) {
	c, err := a.Queues.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	all := map[string]string{
		"QueueArn":                      a.Queues.ConfigARN(c),
		"VisibilityTimeout":             strconv.Itoa(c.VisibilityTimeout),
		"MessageRetentionPeriod":        strconv.Itoa(c.MessageRetentionPeriod),
		"DelaySeconds":                  strconv.Itoa(c.DelaySeconds),
		"ReceiveMessageWaitTimeSeconds": strconv.Itoa(c.ReceiveWaitTimeSeconds),
		"MaximumMessageSize":            strconv.Itoa(c.MaximumMessageSize),
		"CreatedTimestamp":              strconv.FormatInt(c.Created, 10),
		"LastModifiedTimestamp":         strconv.FormatInt(c.Modified, 10),
		"SqsManagedSseEnabled":          "false",
	}
	if c.FIFO {
		all["FifoQueue"] = "true"
		all["ContentBasedDeduplication"] = strconv.FormatBool(c.ContentBasedDeduplication)
		all["DeduplicationScope"] = "queue"
		all["FifoThroughputLimit"] = "perQueue"
	}
	if c.Redrive != nil {
		b, _ := json.Marshal(c.Redrive)
		all["RedrivePolicy"] = string(b)
	}
	if c.Policy != "" {
		all["Policy"] = c.Policy
	}
	counts := false
	for _, w := range want {
		if w == "All" || strings.HasPrefix(w, "ApproximateNumberOfMessages") {
			counts = true
		}
	}
	if counts {
		n, err := a.Queues.Count(ctx, name)
		if err != nil {
			return nil, err
		}
		all["ApproximateNumberOfMessages"] = strconv.FormatInt(n.Visible, 10)
		all["ApproximateNumberOfMessagesNotVisible"] = strconv.FormatInt(n.InFlight, 10)
		all["ApproximateNumberOfMessagesDelayed"] = strconv.FormatInt(n.Delayed, 10)
	}
	out := map[string]string{}
	known := map[string]bool{"All": true, "Policy": true, "RedrivePolicy": true, "RedriveAllowPolicy": true, "FifoQueue": true,
		"ContentBasedDeduplication": true, "KmsMasterKeyId": true, "KmsDataKeyReusePeriodSeconds": true, "DeduplicationScope": true,
		"FifoThroughputLimit": true, "SqsManagedSseEnabled": true}
	for _, w := range want {
		if _, ok := all[w]; !ok && !known[w] {
			return nil, &queues.Error{Kind: queues.InvalidAttributeName, Message: "Unknown Attribute " + w + "."}
		}
		if w == "All" {
			for k, v := range all {
				out[k] = v
			}
		} else if v, ok := all[w]; ok {
			out[w] = v
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func endpoint(r *http.Request) string { return "http://" + r.Host }

// ServeJSON answers a JSON-protocol request (X-Amz-Target: AmazonSQS.Action).
func (a *API) ServeJSON(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil || len(body) > MaxRequestBytes {
		writeJSONError(w, badRequest("RequestEntityTooLarge", "The request is too large."))
		return
	}
	req := &request{endpoint: endpoint(r)}
	if len(body) > 0 {
		if err := json.Unmarshal(body, req); err != nil {
			writeJSONError(w, &failure{status: 400, jsonType: "com.amazon.coral.service#SerializationException", queryCode: "SerializationException", message: "The request body could not be parsed: " + err.Error(), sender: true})
			return
		}
	}
	if !actions[action] {
		writeJSONError(w, &failure{status: 400, jsonType: "com.amazon.coral.service#UnknownOperationException", queryCode: "InvalidAction", message: "The action " + action + " is not valid for this endpoint.", sender: true})
		return
	}
	res, err := a.do(r.Context(), action, req)
	if err != nil {
		writeJSONError(w, toFailure(err))
		return
	}
	data, _ := json.Marshal(res.json)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	_, _ = w.Write(data)
}

func writeJSONError(w http.ResponseWriter, f *failure) {
	t := f.jsonType
	if !strings.Contains(t, "#") {
		t = "com.amazonaws.sqs#" + t
	}
	fault := "Sender"
	if !f.sender {
		fault = "Receiver"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", f.queryCode+";"+fault)
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	w.WriteHeader(f.status)
	data, _ := json.Marshal(map[string]string{"__type": t, "message": f.message})
	_, _ = w.Write(data)
}

// ServeQuery answers a query-protocol request whose form is already parsed.
func (a *API) ServeQuery(w http.ResponseWriter, r *http.Request, form url.Values) {
	action := form.Get("Action")
	req, err := parseForm(form)
	if err != nil {
		writeXMLError(w, toFailure(err))
		return
	}
	req.endpoint = endpoint(r)
	if req.QueueURL == "" && strings.Count(r.URL.Path, "/") == 2 {
		req.QueueURL = r.URL.Path // POST /account/queue
	}
	res, err := a.do(r.Context(), action, req)
	if err != nil {
		writeXMLError(w, toFailure(err))
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><` + action + `Response xmlns="http://queue.amazonaws.com/doc/2012-11-05/">`)
	if res.xml != nil {
		b.WriteString("<" + action + "Result>")
		res.xml(&b)
		b.WriteString("</" + action + "Result>")
	}
	b.WriteString("<ResponseMetadata><RequestId>" + uuid.NewString() + "</RequestId></ResponseMetadata></" + action + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(b.String()))
}

func writeXMLError(w http.ResponseWriter, f *failure) {
	fault := "Sender"
	if !f.sender {
		fault = "Receiver"
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>` + fault + `</Type>`)
	query.Tag(&b, "Code", f.queryCode)
	query.Tag(&b, "Message", f.message)
	b.WriteString("<Detail/></Error><RequestId>" + uuid.NewString() + "</RequestId></ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(f.status)
	_, _ = w.Write([]byte(b.String()))
}

// WriteQueryError answers a query-protocol request the dispatcher could not route.
func WriteQueryError(w http.ResponseWriter, status int, code, message string) {
	writeXMLError(w, &failure{status: status, queryCode: code, message: message, sender: status < 500})
}
