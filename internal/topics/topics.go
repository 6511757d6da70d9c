// Package topics gives SNS semantics: topics with subscriptions of functions
// (invoked asynchronously with the SNS event) and queues (the SNS envelope or
// the raw message), filtered by subscription filter policies. A publish is
// answered only after every matching delivery is stored durably (an async
// invocation or a queue message, each fsync'd in JetStream).
//
// Filter policies are matched with internal/events/pattern (EventBridge-style
// patterns, which SNS filter policies are a dialect of).
package topics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/events/pattern"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// MaxMessageBytes is SNS's message size limit (message plus attributes).
const MaxMessageBytes = 256 * 1024

// Kind is the SNS error a failure maps to.
type Kind string

// Error kinds, named after SNS's error codes.
const (
	NotFound              Kind = "NotFound"
	InvalidParameter      Kind = "InvalidParameter"
	InvalidParameterValue Kind = "ParameterValueInvalid"
	BatchEntryIdsNotDist  Kind = "BatchEntryIdsNotDistinct"
	EmptyBatchRequest     Kind = "EmptyBatchRequest"
	TooManyEntriesInBatch Kind = "TooManyEntriesInBatchRequest"
	InvalidBatchEntryID   Kind = "InvalidBatchEntryId"
	BatchRequestTooLong   Kind = "BatchRequestTooLong"
)

// Error is a refused request.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Topic is a stored topic.
type Topic struct {
	Name       string            `json:"name"`
	ARN        string            `json:"arn"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Subscription is a stored subscription.
type Subscription struct {
	ARN                string `json:"arn"`
	TopicARN           string `json:"topicArn"`
	Protocol           string `json:"protocol"` // lambda or sqs
	Endpoint           string `json:"endpoint"`
	RawMessageDelivery bool   `json:"raw,omitempty"`
	FilterPolicy       string `json:"filterPolicy,omitempty"`
	FilterPolicyScope  string `json:"filterPolicyScope,omitempty"`
	Owner              string `json:"owner,omitempty"` // service that declared it, if any
}

// Config sets up the service.
type Config struct {
	Store  *store.Store
	Async  *async.Service
	Queues *queues.Service
	Region string
	Logger *slog.Logger
}

// Service holds topics and subscriptions.
type Service struct {
	cfg        Config
	topicsKV   jetstream.KeyValue
	subsKV     jetstream.KeyValue
	log        *slog.Logger
	mu         sync.RWMutex
	topics     map[string]*Topic          // by ARN
	subs       map[string][]*Subscription // by topic ARN
	deployLock sync.Mutex
}

// New opens the buckets and loads topics and subscriptions.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tkv, err := cfg.Store.KeyValue(ctx, "nimbus_topics", 1)
	if err != nil {
		return nil, err
	}
	skv, err := cfg.Store.KeyValue(ctx, "nimbus_subscriptions", 1)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, topicsKV: tkv, subsKV: skv, log: cfg.Logger, topics: map[string]*Topic{}, subs: map[string][]*Subscription{}}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) load(ctx context.Context) error {
	for _, kv := range []jetstream.KeyValue{s.topicsKV, s.subsKV} {
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			return err
		}
		for k := range keys.Keys() {
			e, err := kv.Get(ctx, k)
			if err != nil {
				continue
			}
			if kv == s.topicsKV {
				var t Topic
				if json.Unmarshal(e.Value(), &t) == nil {
					s.topics[t.ARN] = &t
				}
			} else {
				var sub Subscription
				if json.Unmarshal(e.Value(), &sub) == nil {
					s.subs[sub.TopicARN] = append(s.subs[sub.TopicARN], &sub)
				}
			}
		}
	}
	return nil
}

var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,256}$`)

// ARN of a topic name in the platform's region.
func (s *Service) ARN(name string) string {
	return cfn.TopicARN(s.cfg.Region, appspec.AccountID, name)
}

func kvKey(arn string) string {
	r := strings.NewReplacer(":", "_", "$", "_")
	return r.Replace(arn)
}

// CreateTopic makes a topic in the platform's region (idempotent).
func (s *Service) CreateTopic(ctx context.Context, name string, attrs map[string]string) (*Topic, error) {
	return s.CreateTopicIn(ctx, s.cfg.Region, name, attrs)
}

// CreateTopicIn makes a topic in a region (idempotent).
func (s *Service) CreateTopicIn(ctx context.Context, region, name string, attrs map[string]string) (*Topic, error) {
	base := strings.TrimSuffix(name, ".fifo")
	if !topicNameRE.MatchString(base) {
		return nil, errorf(InvalidParameter, "Invalid parameter: Topic Name")
	}
	arn := cfn.TopicARN(region, appspec.AccountID, name)
	s.mu.RLock()
	t := s.topics[arn]
	s.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	t = &Topic{Name: name, ARN: arn, Attributes: attrs}
	data, _ := json.Marshal(t)
	if _, err := s.topicsKV.Put(ctx, kvKey(arn), data); err != nil {
		return nil, fmt.Errorf("store topic: %w", err)
	}
	s.mu.Lock()
	s.topics[arn] = t
	s.mu.Unlock()
	return t, nil
}

// DeleteTopic removes a topic and its subscriptions.
func (s *Service) DeleteTopic(ctx context.Context, arn string) error {
	s.mu.Lock()
	subs := s.subs[arn]
	delete(s.topics, arn)
	delete(s.subs, arn)
	s.mu.Unlock()
	for _, sub := range subs {
		_ = s.subsKV.Delete(ctx, kvKey(sub.ARN))
	}
	if err := s.topicsKV.Delete(ctx, kvKey(arn)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}

// Topic returns a topic by ARN.
func (s *Service) Topic(arn string) (*Topic, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.topics[arn]
	if t == nil {
		return nil, errorf(NotFound, "Topic does not exist")
	}
	return t, nil
}

// Topics lists topics sorted by ARN.
func (s *Service) Topics() []*Topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Topic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

// Subscriptions lists subscriptions, of one topic or ("") all.
func (s *Service) Subscriptions(topicARN string) []*Subscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Subscription
	for t, subs := range s.subs {
		if topicARN == "" || t == topicARN {
			out = append(out, subs...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

// CheckFilterPolicy validates a filter policy.
func CheckFilterPolicy(policy string) error {
	if policy == "" {
		return nil
	}
	if err := pattern.Validate([]byte(policy)); err != nil {
		return errorf(InvalidParameter, "Invalid parameter: FilterPolicy: %v", err)
	}
	return nil
}

// Subscribe adds a subscription (idempotent for the same topic, protocol and endpoint).
func (s *Service) Subscribe(ctx context.Context, sub Subscription) (*Subscription, error) {
	if _, err := s.Topic(sub.TopicARN); err != nil {
		return nil, err
	}
	switch sub.Protocol {
	case "lambda":
		if !strings.HasPrefix(sub.Endpoint, "arn:aws:lambda:") {
			return nil, errorf(InvalidParameter, "Invalid parameter: Lambda endpoint ARN")
		}
	case "sqs":
		if _, ok := queues.NameFromARN(sub.Endpoint); !ok {
			return nil, errorf(InvalidParameter, "Invalid parameter: SQS endpoint ARN")
		}
	default:
		return nil, errorf(InvalidParameter, "Invalid parameter: Protocol: nimbus delivers to lambda and sqs subscriptions, not %q", sub.Protocol)
	}
	if err := CheckFilterPolicy(sub.FilterPolicy); err != nil {
		return nil, err
	}
	if sub.FilterPolicyScope != "" && sub.FilterPolicyScope != "MessageAttributes" && sub.FilterPolicyScope != "MessageBody" {
		return nil, errorf(InvalidParameter, "Invalid parameter: FilterPolicyScope")
	}
	s.mu.RLock()
	for _, old := range s.subs[sub.TopicARN] {
		if old.Protocol == sub.Protocol && old.Endpoint == sub.Endpoint {
			s.mu.RUnlock()
			if old.FilterPolicy != sub.FilterPolicy || old.RawMessageDelivery != sub.RawMessageDelivery || old.FilterPolicyScope != sub.FilterPolicyScope {
				sub.ARN = old.ARN
				return &sub, s.put(ctx, &sub)
			}
			return old, nil
		}
	}
	s.mu.RUnlock()
	sub.ARN = sub.TopicARN + ":" + uuid.NewString()
	return &sub, s.put(ctx, &sub)
}

func (s *Service) put(ctx context.Context, sub *Subscription) error {
	data, _ := json.Marshal(sub)
	if _, err := s.subsKV.Put(ctx, kvKey(sub.ARN), data); err != nil {
		return fmt.Errorf("store subscription: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.subs[sub.TopicARN][:0:0]
	for _, old := range s.subs[sub.TopicARN] {
		if old.ARN != sub.ARN {
			list = append(list, old)
		}
	}
	s.subs[sub.TopicARN] = append(list, sub)
	return nil
}

// Subscription returns one subscription.
func (s *Service) Subscription(arn string) (*Subscription, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, subs := range s.subs {
		for _, sub := range subs {
			if sub.ARN == arn {
				c := *sub
				return &c, nil
			}
		}
	}
	return nil, errorf(NotFound, "Subscription does not exist")
}

// SetSubscriptionAttribute changes RawMessageDelivery, FilterPolicy or FilterPolicyScope.
func (s *Service) SetSubscriptionAttribute(ctx context.Context, arn, name, value string) error {
	sub, err := s.Subscription(arn)
	if err != nil {
		return err
	}
	switch name {
	case "RawMessageDelivery":
		if value != "true" && value != "false" {
			return errorf(InvalidParameter, "Invalid parameter: RawMessageDelivery")
		}
		sub.RawMessageDelivery = value == "true"
	case "FilterPolicy":
		if err := CheckFilterPolicy(value); err != nil {
			return err
		}
		sub.FilterPolicy = value
	case "FilterPolicyScope":
		if value != "MessageAttributes" && value != "MessageBody" {
			return errorf(InvalidParameter, "Invalid parameter: FilterPolicyScope")
		}
		sub.FilterPolicyScope = value
	default:
		return errorf(InvalidParameter, "Invalid parameter: AttributeName")
	}
	return s.put(ctx, sub)
}

// Unsubscribe removes a subscription.
func (s *Service) Unsubscribe(ctx context.Context, arn string) error {
	sub, err := s.Subscription(arn)
	if err != nil {
		return err
	}
	if err := s.subsKV.Delete(ctx, kvKey(arn)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.subs[sub.TopicARN][:0:0]
	for _, old := range s.subs[sub.TopicARN] {
		if old.ARN != arn {
			list = append(list, old)
		}
	}
	s.subs[sub.TopicARN] = list
	return nil
}

// Attribute is a message attribute (String, Number, Binary, String.Array).
type Attribute struct {
	Type  string `json:"Type"`
	Value string `json:"Value"` // Binary is base64
}

// PublishInput is one message.
type PublishInput struct {
	TopicARN   string
	Message    string
	Subject    string
	Attributes map[string]Attribute
	GroupID    string
	DedupID    string
}

// Check validates a message without publishing it.
func (s *Service) Check(in *PublishInput) error {
	if _, err := s.Topic(in.TopicARN); err != nil {
		return err
	}
	if in.Message == "" {
		return errorf(InvalidParameter, "Invalid parameter: Empty message")
	}
	size := len(in.Message)
	if len(in.Attributes) > 10 {
		return errorf(InvalidParameter, "Invalid parameter: MessageAttributes: too many attributes (at most 10)")
	}
	for k, a := range in.Attributes {
		size += len(k) + len(a.Type) + len(a.Value)
		base, _, _ := strings.Cut(a.Type, ".")
		switch {
		case a.Type == "String.Array":
			var arr []any
			if json.Unmarshal([]byte(a.Value), &arr) != nil {
				return errorf(InvalidParameterValue, "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", k)
			}
		case base == "Number":
			if _, err := strconv.ParseFloat(a.Value, 64); err != nil {
				return errorf(InvalidParameterValue, "Could not cast message attribute '%s' value to number.", k)
			}
		case base == "Binary":
			if _, err := base64.StdEncoding.DecodeString(a.Value); err != nil || a.Value == "" {
				return errorf(InvalidParameterValue, "The message attribute '%s' with type 'Binary' must use a base64-encoded value.", k)
			}
		case base == "String":
		default:
			return errorf(InvalidParameterValue, "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", k)
		}
	}
	if size > MaxMessageBytes {
		return errorf(InvalidParameter, "Invalid parameter: Message too long")
	}
	if len(in.Subject) > 100 {
		return errorf(InvalidParameter, "Invalid parameter: Subject")
	}
	return nil
}

// matches applies a subscription's filter policy.
func matches(sub *Subscription, in *PublishInput) bool {
	if sub.FilterPolicy == "" {
		return true
	}
	var doc []byte
	if sub.FilterPolicyScope == "MessageBody" {
		if !json.Valid([]byte(in.Message)) {
			return false
		}
		doc = []byte(in.Message)
	} else {
		m := map[string]any{}
		for k, a := range in.Attributes {
			switch {
			case a.Type == "String.Array":
				var arr []any
				_ = json.Unmarshal([]byte(a.Value), &arr)
				m[k] = arr
			case strings.HasPrefix(a.Type, "Number"):
				f, _ := strconv.ParseFloat(a.Value, 64)
				m[k] = f
			case strings.HasPrefix(a.Type, "String"):
				m[k] = a.Value
			}
		}
		doc, _ = json.Marshal(m)
	}
	ok, err := pattern.MatchOne([]byte(sub.FilterPolicy), doc)
	return err == nil && ok
}

// Publish delivers a message to every matching subscription and returns its
// id once every delivery is stored.
func (s *Service) Publish(ctx context.Context, in *PublishInput) (string, error) {
	if err := s.Check(in); err != nil {
		return "", err
	}
	id := uuid.NewString()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	s.mu.RLock()
	subs := append([]*Subscription(nil), s.subs[in.TopicARN]...)
	s.mu.RUnlock()
	var errs []error
	for _, sub := range subs {
		if !matches(sub, in) {
			continue
		}
		if err := s.deliver(ctx, sub, in, id, ts); err != nil {
			errs = append(errs, fmt.Errorf("subscription %s: %w", sub.ARN, err))
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return id, nil
}

func (s *Service) envelope(in *PublishInput, id, ts, subARN string) map[string]any {
	env := map[string]any{
		"Type": "Notification", "MessageId": id, "TopicArn": in.TopicARN, "Message": in.Message, "Timestamp": ts,
		"SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "EXAMPLE",
		"UnsubscribeURL": "EXAMPLE?Action=Unsubscribe&SubscriptionArn=" + subARN,
	}
	if in.Subject != "" {
		env["Subject"] = in.Subject
	}
	if len(in.Attributes) > 0 {
		env["MessageAttributes"] = in.Attributes
	}
	return env
}

func (s *Service) deliver(ctx context.Context, sub *Subscription, in *PublishInput, id, ts string) error {
	switch sub.Protocol {
	case "lambda":
		env := s.envelope(in, id, ts, sub.ARN)
		env["SigningCertUrl"] = env["SigningCertURL"]
		env["UnsubscribeUrl"] = env["UnsubscribeURL"]
		delete(env, "SigningCertURL")
		delete(env, "UnsubscribeURL")
		if _, ok := env["MessageAttributes"]; !ok {
			env["MessageAttributes"] = map[string]Attribute{}
		}
		if _, ok := env["Subject"]; !ok {
			env["Subject"] = nil
		}
		event := map[string]any{"Records": []any{map[string]any{
			"EventVersion": "1.0", "EventSubscriptionArn": sub.ARN, "EventSource": "aws:sns", "Sns": env,
		}}}
		payload, _ := json.Marshal(event)
		_, err := s.cfg.Async.Enqueue(ctx, &async.Request{Function: sub.Endpoint, Payload: payload})
		return err
	case "sqs":
		name, _ := queues.NameFromARN(sub.Endpoint)
		send := &queues.SendInput{}
		if sub.RawMessageDelivery {
			send.Body = in.Message
			if len(in.Attributes) > 0 {
				send.Attributes = map[string]queues.Attribute{}
				for k, a := range in.Attributes {
					send.Attributes[k] = queueAttribute(a)
				}
			}
		} else {
			b, _ := json.Marshal(s.envelope(in, id, ts, sub.ARN))
			send.Body = string(b)
		}
		if c, err := s.cfg.Queues.Get(ctx, name); err == nil && c.FIFO {
			send.GroupID = in.GroupID
			if send.GroupID == "" {
				send.GroupID = "default"
			}
			send.DedupID = in.DedupID
			if send.DedupID == "" {
				send.DedupID = id
			}
		}
		_, err := s.cfg.Queues.Send(ctx, name, send)
		return err
	}
	return fmt.Errorf("unsupported protocol %s", sub.Protocol)
}

// queueAttribute is a message attribute as SNS hands it to SQS in raw
// delivery: Binary (and Binary.*) values as bytes, the rest as strings.
func queueAttribute(a Attribute) queues.Attribute {
	if base, _, _ := strings.Cut(a.Type, "."); base == "Binary" {
		b, _ := base64.StdEncoding.DecodeString(a.Value) // Check accepted it
		return queues.Attribute{DataType: a.Type, BinaryValue: b}
	}
	v := a.Value
	return queues.Attribute{DataType: a.Type, StringValue: &v}
}

// Sink publishes body to the topic named by arn (async destinations, DLQs).
func (s *Service) Sink(ctx context.Context, arn string, body []byte, attrs map[string]string) error {
	in := &PublishInput{TopicARN: arn, Message: string(body)}
	if len(attrs) > 0 {
		in.Attributes = map[string]Attribute{}
		for k, v := range attrs {
			in.Attributes[k] = Attribute{Type: "String", Value: v}
		}
	}
	_, err := s.Publish(ctx, in)
	return err
}

// PrepareDeploy creates the topics an application declares and its
// subscriptions (sns events of functions, AWS::SNS::Subscription resources).
func (s *Service) PrepareDeploy(ctx context.Context, app *appspec.Application) error {
	s.deployLock.Lock()
	defer s.deployLock.Unlock()
	topics, subs, err := declared(app)
	if err != nil {
		return &functions.InvalidError{Err: err}
	}
	declared := map[string]bool{}
	for _, t := range topics {
		declared[cfn.TopicARN(app.Region, appspec.AccountID, t)] = true
	}
	for _, sub := range subs {
		if !declared[sub.TopicARN] {
			if _, err := s.Topic(sub.TopicARN); err != nil {
				return &functions.InvalidError{Err: fmt.Errorf("topic %s does not exist; declare it in resources", sub.TopicARN)}
			}
		}
	}
	for _, t := range topics {
		if _, err := s.CreateTopicIn(ctx, app.Region, t, nil); err != nil {
			return err
		}
	}
	for _, sub := range subs {
		sub.Owner = app.Service
		if _, err := s.Subscribe(ctx, sub); err != nil {
			return err
		}
	}
	return nil
}

// Inventory lists the topics and subscriptions an application declares, for
// deploy summaries (a functions.Inventory). They stay when no longer declared.
func Inventory(app *appspec.Application) []functions.Item {
	topics, subs, err := declared(app)
	if err != nil {
		return nil
	}
	var out []functions.Item
	for _, t := range topics {
		out = append(out, functions.Item{Kind: "topic", Name: t, Digest: t, Retained: true})
	}
	for _, sub := range subs {
		digest, _ := json.Marshal(sub)
		topic := sub.TopicARN[strings.LastIndexByte(sub.TopicARN, ':')+1:]
		out = append(out, functions.Item{Kind: "subscription", Name: topic + " -> " + sub.Protocol + " " + sub.Endpoint, Digest: string(digest), Retained: true})
	}
	return out
}

// declared reads the topics (names) and subscriptions an application
// declares: topic resources, subscription resources and sns events.
func declared(app *appspec.Application) ([]string, []Subscription, error) {
	res, err := app.ParsedResources()
	if err != nil {
		return nil, nil, err
	}
	stack, err := cfn.NewStack(app, "")
	if err != nil {
		return nil, nil, err
	}
	var topics []string
	var subs []Subscription
	for _, id := range sortedIDs(res) {
		r := res[id]
		switch r.Type {
		case cfn.TypeTopic:
			name, err := stack.TopicName(id)
			if err != nil {
				return nil, nil, fmt.Errorf("resources.Resources.%s.TopicName: %w", id, err)
			}
			if !topicNameRE.MatchString(strings.TrimSuffix(name, ".fifo")) {
				return nil, nil, fmt.Errorf("resources.Resources.%s: invalid topic name %q", id, name)
			}
			topics = append(topics, name)
			inline, err := inlineSubscriptions(stack, app, id, name, r.Properties["Subscription"])
			if err != nil {
				return nil, nil, err
			}
			subs = append(subs, inline...)
		case cfn.TypeSubscription:
			sub, err := subscriptionResource(stack, id, r)
			if err != nil {
				return nil, nil, err
			}
			subs = append(subs, sub)
		}
	}
	for _, f := range app.Functions {
		for i, e := range f.Events {
			if e.Type != "sns" {
				continue
			}
			sub, topicName, err := functionSubscription(stack, app, f, e.Properties)
			if err != nil {
				return nil, nil, fmt.Errorf("function %q event #%d (sns): %w", f.Key, i+1, err)
			}
			if topicName != "" {
				topics = append(topics, topicName)
			}
			subs = append(subs, sub)
		}
	}
	return topics, subs, nil
}

// inlineSubscriptions reads a topic resource's Subscription property: a list
// of {Protocol, Endpoint}.
func inlineSubscriptions(stack *cfn.Stack, app *appspec.Application, id, topic string, raw json.RawMessage) ([]Subscription, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("resources.Resources.%s.Subscription must be a list of {Protocol, Endpoint}", id)
	}
	var out []Subscription
	for i, m := range list {
		where := fmt.Sprintf("resources.Resources.%s.Subscription[%d]", id, i)
		sub := Subscription{TopicARN: cfn.TopicARN(app.Region, appspec.AccountID, topic)}
		var err error
		if sub.Protocol, err = stack.String(m["Protocol"]); err != nil || (sub.Protocol != "sqs" && sub.Protocol != "lambda") {
			return nil, fmt.Errorf("%s: Protocol must be sqs or lambda", where)
		}
		if sub.Endpoint, err = stack.String(m["Endpoint"]); err != nil {
			return nil, fmt.Errorf("%s.Endpoint: %w", where, err)
		}
		out = append(out, sub)
	}
	return out, nil
}

func sortedIDs(m map[string]appspec.Resource) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func subscriptionResource(stack *cfn.Stack, id string, r appspec.Resource) (Subscription, error) {
	var sub Subscription
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(r.Properties[k], &v)
		return v
	}
	sub.Protocol = str("Protocol")
	if sub.Protocol != "sqs" && sub.Protocol != "lambda" {
		return sub, fmt.Errorf("resources.Resources.%s: Protocol must be sqs or lambda", id)
	}
	var err error
	if sub.TopicARN, err = stack.String(r.Properties["TopicArn"]); err != nil {
		return sub, fmt.Errorf("resources.Resources.%s.TopicArn: %w", id, err)
	}
	if sub.Endpoint, err = stack.String(r.Properties["Endpoint"]); err != nil {
		return sub, fmt.Errorf("resources.Resources.%s.Endpoint: %w", id, err)
	}
	if raw, ok := r.Properties["RawMessageDelivery"]; ok {
		var v any
		_ = json.Unmarshal(raw, &v)
		sub.RawMessageDelivery = v == true || v == "true"
	}
	if fp, ok := r.Properties["FilterPolicy"]; ok {
		sub.FilterPolicy = string(fp)
		var s string
		if json.Unmarshal(fp, &s) == nil {
			sub.FilterPolicy = s
		}
		if err := CheckFilterPolicy(sub.FilterPolicy); err != nil {
			return sub, fmt.Errorf("resources.Resources.%s.FilterPolicy: %w", id, err)
		}
	}
	sub.FilterPolicyScope = str("FilterPolicyScope")
	return sub, nil
}

// functionSubscription reads an `sns` event: a topic name or ARN, or a map
// with arn or topicName, filterPolicy and filterPolicyScope. It returns the
// topic to create when the event names one that is not an ARN.
func functionSubscription(stack *cfn.Stack, app *appspec.Application, f appspec.Function, props json.RawMessage) (Subscription, string, error) {
	sub := Subscription{Protocol: "lambda", Endpoint: cfn.FunctionARN(app.Region, appspec.AccountID, f.Name)}
	var name string
	var p map[string]json.RawMessage
	if json.Unmarshal(props, &p) == nil && (p["arn"] != nil || p["topicName"] != nil) {
		for k, raw := range p {
			switch k {
			case "arn":
				arn, err := stack.String(raw)
				if err != nil {
					return sub, "", err
				}
				sub.TopicARN = arn
			case "topicName":
				_ = json.Unmarshal(raw, &name)
			case "filterPolicy":
				sub.FilterPolicy = string(raw)
				if err := CheckFilterPolicy(sub.FilterPolicy); err != nil {
					return sub, "", err
				}
			case "filterPolicyScope":
				_ = json.Unmarshal(raw, &sub.FilterPolicyScope)
			case "displayName":
			default:
				return sub, "", fmt.Errorf("unknown property %q", k)
			}
		}
		if sub.TopicARN != "" {
			return sub, "", nil
		}
	} else {
		var v string
		if err := json.Unmarshal(props, &v); err != nil {
			return sub, "", fmt.Errorf("want a topic name or ARN, or a map with arn or topicName")
		}
		if strings.HasPrefix(v, "arn:") {
			sub.TopicARN = v
			return sub, "", nil
		}
		name = v
	}
	if !topicNameRE.MatchString(strings.TrimSuffix(name, ".fifo")) {
		return sub, "", fmt.Errorf("invalid topic name %q", name)
	}
	sub.TopicARN = cfn.TopicARN(app.Region, appspec.AccountID, name)
	return sub, name, nil
}
