package s3

import (
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// withRequestInfo puts what event records say about a request (principal,
// source address, request id) in its context.
func withRequestInfo(w http.ResponseWriter, r *http.Request) *http.Request {
	ri := objects.RequestInfo{RequestID: w.Header().Get("x-amz-request-id")}
	ri.HostID = ri.RequestID
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ri.SourceIP = host
	}
	if p := auth.PrincipalFrom(r.Context()); p != nil && p.AccessKeyID != "" {
		ri.PrincipalID = "AWS:" + p.AccessKeyID
	} else {
		ri.PrincipalID = "anonymous"
	}
	return r.WithContext(objects.WithRequestInfo(r.Context(), ri))
}

// notificationXML is S3's NotificationConfiguration document. The SDKs
// send LambdaFunctionConfigurations as CloudFunctionConfiguration.
type notificationXML struct {
	XMLName     xml.Name    `xml:"NotificationConfiguration"`
	Xmlns       string      `xml:"xmlns,attr,omitempty"`
	Topics      []targetXML `xml:"TopicConfiguration"`
	Queues      []targetXML `xml:"QueueConfiguration"`
	Functions   []targetXML `xml:"CloudFunctionConfiguration"`
	EventBridge *struct{}   `xml:"EventBridgeConfiguration"`
}

type targetXML struct {
	ID            string     `xml:"Id,omitempty"`
	Topic         string     `xml:"Topic,omitempty"`
	Queue         string     `xml:"Queue,omitempty"`
	CloudFunction string     `xml:"CloudFunction,omitempty"`
	Events        []string   `xml:"Event"`
	Filter        *filterXML `xml:"Filter,omitempty"`
}

type filterXML struct {
	Rules []filterRuleXML `xml:"S3Key>FilterRule"`
}

type filterRuleXML struct {
	Name  string
	Value string
}

func (a *API) serveNotification(w http.ResponseWriter, r *http.Request, bucket string) error {
	switch r.Method {
	case http.MethodGet:
		return a.getBucketNotification(w, r, bucket)
	case http.MethodPut:
		return a.putBucketNotification(w, r, bucket)
	}
	return errMethod
}

func (a *API) getBucketNotification(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:GetBucketNotification", BucketARN(bucket)); err != nil {
		return err
	}
	c, err := a.Objects.BucketNotification(r.Context(), bucket)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, notificationDocument(c))
	return nil
}

// notificationDocument writes a configuration as S3 answers it.
func notificationDocument(c objects.NotificationConfiguration) notificationXML {
	doc := notificationXML{Xmlns: xmlns}
	for _, t := range c.Targets {
		x := targetXML{ID: t.ID, Events: t.Events}
		if t.Prefix != "" || t.Suffix != "" {
			x.Filter = &filterXML{}
			if t.Prefix != "" {
				x.Filter.Rules = append(x.Filter.Rules, filterRuleXML{"Prefix", t.Prefix})
			}
			if t.Suffix != "" {
				x.Filter.Rules = append(x.Filter.Rules, filterRuleXML{"Suffix", t.Suffix})
			}
		}
		switch t.Kind {
		case objects.TargetTopic:
			x.Topic = t.ARN
			doc.Topics = append(doc.Topics, x)
		case objects.TargetQueue:
			x.Queue = t.ARN
			doc.Queues = append(doc.Queues, x)
		case objects.TargetFunction:
			x.CloudFunction = t.ARN
			doc.Functions = append(doc.Functions, x)
		}
	}
	if c.EventBridge {
		doc.EventBridge = &struct{}{}
	}
	return doc
}

func (a *API) putBucketNotification(w http.ResponseWriter, r *http.Request, bucket string) error {
	if err := a.authorize(r.Context(), "s3:PutBucketNotification", BucketARN(bucket)); err != nil {
		return err
	}
	var doc notificationXML
	if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&doc); err != nil {
		return &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}
	}
	c := objects.NotificationConfiguration{EventBridge: doc.EventBridge != nil}
	add := func(kind objects.TargetKind, list []targetXML, arn func(*targetXML) string) error {
		for i := range list {
			x := &list[i]
			t := objects.NotificationTarget{Kind: kind, ID: x.ID, ARN: arn(x), Events: x.Events}
			if x.Filter != nil {
				if err := filterRules(&t, x.Filter.Rules); err != nil {
					return err
				}
			}
			c.Targets = append(c.Targets, t)
		}
		return nil
	}
	if err := add(objects.TargetTopic, doc.Topics, func(x *targetXML) string { return x.Topic }); err != nil {
		return err
	}
	if err := add(objects.TargetQueue, doc.Queues, func(x *targetXML) string { return x.Queue }); err != nil {
		return err
	}
	if err := add(objects.TargetFunction, doc.Functions, func(x *targetXML) string { return x.CloudFunction }); err != nil {
		return err
	}
	if err := a.Objects.PutBucketNotification(r.Context(), bucket, c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// filterRules reads a configuration's S3Key rules: at most one prefix and
// one suffix.
func filterRules(t *objects.NotificationTarget, rules []filterRuleXML) error {
	var prefix, suffix bool
	for _, rule := range rules {
		switch strings.ToLower(rule.Name) {
		case "prefix":
			if prefix {
				return &apiError{http.StatusBadRequest, "InvalidArgument", "Cannot specify more than one prefix rule in a filter."}
			}
			prefix, t.Prefix = true, rule.Value
		case "suffix":
			if suffix {
				return &apiError{http.StatusBadRequest, "InvalidArgument", "Cannot specify more than one suffix rule in a filter."}
			}
			suffix, t.Suffix = true, rule.Value
		default:
			return &apiError{http.StatusBadRequest, "InvalidArgument", "filter rule name must be either prefix or suffix"}
		}
	}
	return nil
}
