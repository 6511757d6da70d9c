// Package sns serves the Amazon SNS API (query protocol: form-encoded
// Action=..., XML answers) on top of internal/topics.
package sns

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/query"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/topics"
)

// API is the SNS edge.
type API struct {
	Topics *topics.Service
}

var actions = map[string]bool{
	"CreateTopic": true, "DeleteTopic": true, "ListTopics": true, "GetTopicAttributes": true, "SetTopicAttributes": true,
	"Subscribe": true, "Unsubscribe": true, "ListSubscriptions": true, "ListSubscriptionsByTopic": true,
	"Publish": true, "PublishBatch": true, "GetSubscriptionAttributes": true, "SetSubscriptionAttributes": true,
}

// IsAction reports whether action is an SNS operation.
func (a *API) IsAction(action string) bool { return actions[action] }

type failure struct {
	status int
	code   string
	msg    string
}

func (f *failure) Error() string { return f.msg }

func invalid(msg string) *failure { return &failure{400, "InvalidParameter", msg} }

func toFailure(err error) *failure {
	var te *topics.Error
	if errors.As(err, &te) {
		st := 400
		if te.Kind == topics.NotFound {
			st = 404
		}
		return &failure{st, string(te.Kind), te.Message}
	}
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	if ae, ok := auth.AsError(err); ok {
		return &failure{ae.Status(auth.ProtocolQuery), ae.Code(auth.ProtocolQuery), ae.Message}
	}
	if store.IsNoSpace(err) {
		return &failure{503, "ServiceUnavailable", err.Error()}
	}
	return &failure{500, "InternalError", err.Error()}
}

func entries(form url.Values, prefix string) map[string]string {
	out := map[string]string{}
	for _, i := range query.Indexes(form, prefix+".entry") {
		p := prefix + ".entry." + i + "."
		out[form.Get(p+"key")] = form.Get(p + "value")
	}
	return out
}

func messageAttributes(form url.Values, prefix string) map[string]topics.Attribute {
	var out map[string]topics.Attribute
	for _, i := range query.Indexes(form, prefix+".entry") {
		p := prefix + ".entry." + i + "."
		a := topics.Attribute{Type: form.Get(p + "Value.DataType"), Value: form.Get(p + "Value.StringValue")}
		if v := form.Get(p + "Value.BinaryValue"); v != "" {
			a.Value = v
		}
		if out == nil {
			out = map[string]topics.Attribute{}
		}
		out[form.Get(p+"Name")] = a
	}
	return out
}

var batchIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,80}$`)

// ServeQuery answers one action.
func (a *API) ServeQuery(w http.ResponseWriter, r *http.Request, form url.Values) {
	action := form.Get("Action")
	var b strings.Builder
	err := a.do(r, action, form, &b)
	if err != nil {
		f := toFailure(err)
		var e strings.Builder
		e.WriteString(`<?xml version="1.0"?><ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>`)
		query.Tag(&e, "Code", f.code)
		query.Tag(&e, "Message", f.msg)
		e.WriteString("</Error><RequestId>" + uuid.NewString() + "</RequestId></ErrorResponse>")
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(e.String()))
		return
	}
	out := `<?xml version="1.0"?><` + action + `Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><` + action + `Result>` +
		b.String() + `</` + action + `Result><ResponseMetadata><RequestId>` + uuid.NewString() + `</RequestId></ResponseMetadata></` + action + `Response>`
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(out))
}

// authorize checks the caller may perform action on the topic it names
// (subscriptions are authorized on their topic, as IAM does).
func (a *API) authorize(r *http.Request, action string, form url.Values) error {
	if auth.Unrestricted(r.Context()) {
		return nil
	}
	iam := "sns:" + action
	resource := "*"
	switch action {
	case "CreateTopic":
		if name := form.Get("Name"); name != "" {
			resource = a.Topics.ARN(name)
		}
	case "ListTopics", "ListSubscriptions":
	case "Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes":
		if arn := form.Get("SubscriptionArn"); strings.Count(arn, ":") >= 6 {
			resource = arn[:strings.LastIndexByte(arn, ':')]
		}
	case "PublishBatch":
		iam = "sns:Publish"
		resource = form.Get("TopicArn")
	default:
		if arn := form.Get("TopicArn"); arn != "" {
			resource = arn
		} else if arn := form.Get("TargetArn"); arn != "" {
			resource = arn
		}
	}
	return auth.Authorize(r.Context(), iam, resource, nil)
}

func (a *API) do(r *http.Request, action string, form url.Values, b *strings.Builder) error {
	if err := a.authorize(r, action, form); err != nil {
		return err
	}
	ctx := r.Context()
	t := a.Topics
	switch action {
	case "CreateTopic":
		name := form.Get("Name")
		if name == "" {
			return invalid("Invalid parameter: Name")
		}
		topic, err := t.CreateTopic(ctx, name, entries(form, "Attributes"))
		if err != nil {
			return err
		}
		query.Tag(b, "TopicArn", topic.ARN)
	case "DeleteTopic":
		return t.DeleteTopic(ctx, form.Get("TopicArn"))
	case "ListTopics":
		b.WriteString("<Topics>")
		for _, topic := range t.Topics() {
			b.WriteString("<member>")
			query.Tag(b, "TopicArn", topic.ARN)
			b.WriteString("</member>")
		}
		b.WriteString("</Topics>")
	case "GetTopicAttributes":
		topic, err := t.Topic(form.Get("TopicArn"))
		if err != nil {
			return err
		}
		subs := t.Subscriptions(topic.ARN)
		attrs := map[string]string{"TopicArn": topic.ARN, "Owner": appspec.AccountID, "DisplayName": topic.Attributes["DisplayName"],
			"SubscriptionsConfirmed": strconv.Itoa(len(subs)), "SubscriptionsPending": "0", "SubscriptionsDeleted": "0"}
		writeEntries(b, attrs)
	case "SetTopicAttributes":
		if _, err := t.Topic(form.Get("TopicArn")); err != nil {
			return err
		}
	case "Subscribe":
		attrs := entries(form, "Attributes")
		sub, err := t.Subscribe(ctx, topics.Subscription{
			TopicARN: form.Get("TopicArn"), Protocol: form.Get("Protocol"), Endpoint: form.Get("Endpoint"),
			RawMessageDelivery: attrs["RawMessageDelivery"] == "true", FilterPolicy: attrs["FilterPolicy"], FilterPolicyScope: attrs["FilterPolicyScope"],
		})
		if err != nil {
			return err
		}
		query.Tag(b, "SubscriptionArn", sub.ARN)
	case "Unsubscribe":
		return t.Unsubscribe(ctx, form.Get("SubscriptionArn"))
	case "ListSubscriptions", "ListSubscriptionsByTopic":
		topicARN := ""
		if action == "ListSubscriptionsByTopic" {
			topicARN = form.Get("TopicArn")
			if _, err := t.Topic(topicARN); err != nil {
				return err
			}
		}
		b.WriteString("<Subscriptions>")
		for _, s := range t.Subscriptions(topicARN) {
			b.WriteString("<member>")
			query.Tag(b, "SubscriptionArn", s.ARN)
			query.Tag(b, "Owner", appspec.AccountID)
			query.Tag(b, "Protocol", s.Protocol)
			query.Tag(b, "Endpoint", s.Endpoint)
			query.Tag(b, "TopicArn", s.TopicARN)
			b.WriteString("</member>")
		}
		b.WriteString("</Subscriptions>")
	case "GetSubscriptionAttributes":
		s, err := t.Subscription(form.Get("SubscriptionArn"))
		if err != nil {
			return err
		}
		attrs := map[string]string{"SubscriptionArn": s.ARN, "TopicArn": s.TopicARN, "Protocol": s.Protocol, "Endpoint": s.Endpoint,
			"Owner": appspec.AccountID, "RawMessageDelivery": strconv.FormatBool(s.RawMessageDelivery), "PendingConfirmation": "false",
			"ConfirmationWasAuthenticated": "true"}
		if s.FilterPolicy != "" {
			attrs["FilterPolicy"] = s.FilterPolicy
			scope := s.FilterPolicyScope
			if scope == "" {
				scope = "MessageAttributes"
			}
			attrs["FilterPolicyScope"] = scope
		}
		writeEntries(b, attrs)
	case "SetSubscriptionAttributes":
		return t.SetSubscriptionAttribute(ctx, form.Get("SubscriptionArn"), form.Get("AttributeName"), form.Get("AttributeValue"))
	case "Publish":
		arn := form.Get("TopicArn")
		if arn == "" {
			arn = form.Get("TargetArn")
		}
		id, err := t.Publish(ctx, &topics.PublishInput{TopicARN: arn, Message: form.Get("Message"), Subject: form.Get("Subject"),
			Attributes: messageAttributes(form, "MessageAttributes"), GroupID: form.Get("MessageGroupId"), DedupID: form.Get("MessageDeduplicationId")})
		if err != nil {
			return err
		}
		query.Tag(b, "MessageId", id)
	case "PublishBatch":
		arn := form.Get("TopicArn")
		if _, err := t.Topic(arn); err != nil {
			return err
		}
		idx := query.Indexes(form, "PublishBatchRequestEntries.member")
		if len(idx) == 0 {
			return &failure{400, "EmptyBatchRequest", "The batch request doesn't contain any entries"}
		}
		if len(idx) > 10 {
			return &failure{400, "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible"}
		}
		ins := make([]*topics.PublishInput, len(idx))
		ids := make([]string, len(idx))
		seen := map[string]bool{}
		total := 0
		for i, n := range idx {
			p := "PublishBatchRequestEntries.member." + n + "."
			ids[i] = form.Get(p + "Id")
			if !batchIDRE.MatchString(ids[i]) {
				return &failure{400, "InvalidBatchEntryId", "The Id of a batch entry in a batch request doesn't abide by the specification"}
			}
			if seen[ids[i]] {
				return &failure{400, "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id"}
			}
			seen[ids[i]] = true
			ins[i] = &topics.PublishInput{TopicARN: arn, Message: form.Get(p + "Message"), Subject: form.Get(p + "Subject"),
				Attributes: messageAttributes(form, p+"MessageAttributes"), GroupID: form.Get(p + "MessageGroupId"), DedupID: form.Get(p + "MessageDeduplicationId")}
			total += len(ins[i].Message)
		}
		if total > topics.MaxMessageBytes {
			return &failure{400, "BatchRequestTooLong", "The length of all the messages put together is more than the limit"}
		}
		var ok, failed strings.Builder
		for i, in := range ins {
			id, err := t.Publish(ctx, in)
			if err != nil {
				f := toFailure(err)
				failed.WriteString("<member>")
				query.Tag(&failed, "Id", ids[i])
				query.Tag(&failed, "Code", f.code)
				query.Tag(&failed, "Message", f.msg)
				query.Tag(&failed, "SenderFault", strconv.FormatBool(f.status < 500))
				failed.WriteString("</member>")
				continue
			}
			ok.WriteString("<member>")
			query.Tag(&ok, "Id", ids[i])
			query.Tag(&ok, "MessageId", id)
			ok.WriteString("</member>")
		}
		b.WriteString("<Successful>" + ok.String() + "</Successful><Failed>" + failed.String() + "</Failed>")
	default:
		return &failure{400, "InvalidAction", "The action " + action + " is not valid for this endpoint."}
	}
	return nil
}

func writeEntries(b *strings.Builder, attrs map[string]string) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("<Attributes>")
	for _, k := range keys {
		b.WriteString("<entry>")
		query.Tag(b, "key", k)
		query.Tag(b, "value", attrs[k])
		b.WriteString("</entry>")
	}
	b.WriteString("</Attributes>")
}
