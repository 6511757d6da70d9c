package s3

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/objects"
)

// webSubresources are the bucket settings this file serves: CORS, website,
// bucket policy and public access block.
var webSubresources = []string{"cors", "website", "policy", "publicAccessBlock"}

func webSubresource(q url.Values) string {
	for _, s := range webSubresources {
		if _, ok := q[s]; ok {
			return s
		}
	}
	return ""
}

// webError maps the core's web setting errors to S3's codes.
func webError(e *objects.Error) *apiError {
	switch e.Kind {
	case objects.KindNoSuchCORSConfiguration:
		return &apiError{http.StatusNotFound, "NoSuchCORSConfiguration", e.Message}
	case objects.KindNoSuchWebsiteConfiguration:
		return &apiError{http.StatusNotFound, "NoSuchWebsiteConfiguration", e.Message}
	case objects.KindNoSuchBucketPolicy:
		return &apiError{http.StatusNotFound, "NoSuchBucketPolicy", e.Message}
	case objects.KindNoSuchPublicAccessBlock:
		return &apiError{http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", e.Message}
	case objects.KindMalformedPolicy:
		return &apiError{http.StatusBadRequest, "MalformedPolicy", e.Message}
	}
	return nil
}

var errMalformedXML = &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}

// readXML decodes a bounded configuration body.
func readXML(r *http.Request, v any) error {
	if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		return errMalformedXML
	}
	return nil
}

// serveBucketWeb answers the Get/Put/Delete calls of one web setting.
func (a *API) serveBucketWeb(w http.ResponseWriter, r *http.Request, bucket, sub string) error {
	ctx := r.Context()
	arn := BucketARN(bucket)
	action := map[string][3]string{ // GET, PUT, DELETE
		"cors":              {"s3:GetBucketCORS", "s3:PutBucketCORS", "s3:PutBucketCORS"},
		"website":           {"s3:GetBucketWebsite", "s3:PutBucketWebsite", "s3:DeleteBucketWebsite"},
		"policy":            {"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"},
		"publicAccessBlock": {"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
	}[sub]
	var err error
	switch r.Method {
	case http.MethodGet:
		err = a.authorize(ctx, action[0], arn)
	case http.MethodPut:
		err = a.authorize(ctx, action[1], arn)
	case http.MethodDelete:
		err = a.authorize(ctx, action[2], arn)
	default:
		return errMethod
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodDelete {
		switch sub {
		case "cors":
			err = a.Objects.DeleteBucketCORS(ctx, bucket)
		case "website":
			err = a.Objects.DeleteBucketWebsite(ctx, bucket)
		case "policy":
			err = a.Objects.DeleteBucketPolicy(ctx, bucket)
		default:
			err = a.Objects.DeletePublicAccessBlock(ctx, bucket)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	switch sub {
	case "cors":
		return a.bucketCORS(w, r, bucket)
	case "website":
		return a.bucketWebsite(w, r, bucket)
	case "policy":
		return a.bucketPolicy(w, r, bucket)
	}
	return a.publicAccessBlock(w, r, bucket)
}

type corsConfiguration struct {
	XMLName xml.Name      `xml:"CORSConfiguration"`
	Xmlns   string        `xml:"xmlns,attr,omitempty"`
	Rules   []corsRuleXML `xml:"CORSRule"`
}

type corsRuleXML struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

func (a *API) bucketCORS(w http.ResponseWriter, r *http.Request, bucket string) error {
	if r.Method == http.MethodGet {
		rules, err := a.Objects.BucketCORS(r.Context(), bucket)
		if err != nil {
			return err
		}
		res := corsConfiguration{Xmlns: xmlns}
		for _, c := range rules {
			res.Rules = append(res.Rules, corsRuleXML{ID: c.ID, AllowedHeaders: c.AllowedHeaders, AllowedMethods: c.AllowedMethods,
				AllowedOrigins: c.AllowedOrigins, ExposeHeaders: c.ExposedHeaders, MaxAgeSeconds: c.MaxAge})
		}
		writeXML(w, http.StatusOK, res)
		return nil
	}
	var conf corsConfiguration
	if err := readXML(r, &conf); err != nil {
		return err
	}
	rules := make([]objects.CORSRule, 0, len(conf.Rules))
	for _, c := range conf.Rules {
		rules = append(rules, objects.CORSRule{ID: c.ID, AllowedHeaders: c.AllowedHeaders, AllowedMethods: c.AllowedMethods,
			AllowedOrigins: c.AllowedOrigins, ExposedHeaders: c.ExposeHeaders, MaxAge: c.MaxAgeSeconds})
	}
	if err := a.Objects.PutBucketCORS(r.Context(), bucket, rules); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type websiteConfiguration struct {
	XMLName               xml.Name `xml:"WebsiteConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	RedirectAllRequestsTo *struct {
		HostName string
		Protocol string `xml:",omitempty"`
	} `xml:",omitempty"`
	IndexDocument *struct{ Suffix string } `xml:",omitempty"`
	ErrorDocument *struct{ Key string }    `xml:",omitempty"`
	RoutingRules  *struct {
		Rules []routingRuleXML `xml:"RoutingRule"`
	} `xml:",omitempty"`
}

type routingRuleXML struct {
	Condition *struct {
		KeyPrefixEquals             string `xml:",omitempty"`
		HTTPErrorCodeReturnedEquals string `xml:"HttpErrorCodeReturnedEquals,omitempty"`
	} `xml:",omitempty"`
	Redirect redirectXML
}

type redirectXML struct {
	HostName             string  `xml:",omitempty"`
	HTTPRedirectCode     string  `xml:"HttpRedirectCode,omitempty"`
	Protocol             string  `xml:",omitempty"`
	ReplaceKeyPrefixWith *string `xml:",omitempty"`
	ReplaceKeyWith       *string `xml:",omitempty"`
}

func (a *API) bucketWebsite(w http.ResponseWriter, r *http.Request, bucket string) error {
	if r.Method == http.MethodGet {
		site, err := a.Objects.BucketWebsite(r.Context(), bucket)
		if err != nil {
			return err
		}
		writeXML(w, http.StatusOK, websiteToXML(site))
		return nil
	}
	var conf websiteConfiguration
	if err := readXML(r, &conf); err != nil {
		return err
	}
	if err := a.Objects.PutBucketWebsite(r.Context(), bucket, websiteFromXML(&conf)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func websiteFromXML(conf *websiteConfiguration) objects.Website {
	var site objects.Website
	if ra := conf.RedirectAllRequestsTo; ra != nil {
		site.RedirectAllRequestsTo = &objects.RedirectAll{HostName: ra.HostName, Protocol: ra.Protocol}
	}
	if conf.IndexDocument != nil {
		site.IndexDocument = conf.IndexDocument.Suffix
	}
	if conf.ErrorDocument != nil {
		site.ErrorDocument = conf.ErrorDocument.Key
	}
	if conf.RoutingRules != nil {
		for _, rr := range conf.RoutingRules.Rules {
			rule := objects.WebsiteRouting{Redirect: objects.RoutingRedirect(rr.Redirect)}
			if rr.Condition != nil {
				rule.Condition = &objects.RoutingCondition{KeyPrefixEquals: rr.Condition.KeyPrefixEquals,
					HTTPErrorCodeReturnedEquals: rr.Condition.HTTPErrorCodeReturnedEquals}
			}
			site.RoutingRules = append(site.RoutingRules, rule)
		}
	}
	return site
}

func websiteToXML(site objects.Website) websiteConfiguration {
	res := websiteConfiguration{Xmlns: xmlns}
	if ra := site.RedirectAllRequestsTo; ra != nil {
		res.RedirectAllRequestsTo = &struct {
			HostName string
			Protocol string `xml:",omitempty"`
		}{ra.HostName, ra.Protocol}
	}
	if site.IndexDocument != "" {
		res.IndexDocument = &struct{ Suffix string }{site.IndexDocument}
	}
	if site.ErrorDocument != "" {
		res.ErrorDocument = &struct{ Key string }{site.ErrorDocument}
	}
	if len(site.RoutingRules) > 0 {
		res.RoutingRules = &struct {
			Rules []routingRuleXML `xml:"RoutingRule"`
		}{}
		for _, rule := range site.RoutingRules {
			var rr routingRuleXML
			rr.Redirect = redirectXML(rule.Redirect)
			if c := rule.Condition; c != nil {
				rr.Condition = &struct {
					KeyPrefixEquals             string `xml:",omitempty"`
					HTTPErrorCodeReturnedEquals string `xml:"HttpErrorCodeReturnedEquals,omitempty"`
				}{c.KeyPrefixEquals, c.HTTPErrorCodeReturnedEquals}
			}
			res.RoutingRules.Rules = append(res.RoutingRules.Rules, rr)
		}
	}
	return res
}

func (a *API) bucketPolicy(w http.ResponseWriter, r *http.Request, bucket string) error {
	ctx := r.Context()
	if r.Method == http.MethodGet {
		doc, err := a.Objects.BucketPolicy(ctx, bucket)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(doc)
		return nil
	}
	doc, err := io.ReadAll(io.LimitReader(r.Body, 20<<10+1))
	if err != nil {
		return err
	}
	if len(doc) > 20<<10 {
		return &apiError{http.StatusBadRequest, "PolicyTooLarge", "Policies must be at most 20 KB."}
	}
	p, err := parseBucketPolicy(doc, bucket)
	if err != nil {
		msg := err.Error() // S3's messages start with a capital
		return &apiError{http.StatusBadRequest, "MalformedPolicy", strings.ToUpper(msg[:1]) + msg[1:]}
	}
	if p.public() {
		if pab, err := a.Objects.PublicAccessBlockOf(ctx, bucket); err == nil && pab.BlockPublicPolicy {
			return &apiError{http.StatusForbidden, "AccessDenied", "User is not authorized to perform: s3:PutBucketPolicy on resource: \"" + BucketARN(bucket) + "\" because public policies are blocked by the BlockPublicPolicy block public access setting."}
		}
	}
	if err := a.Objects.PutBucketPolicy(ctx, bucket, doc); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type publicAccessBlockXML struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       bool
	IgnorePublicAcls      bool
	BlockPublicPolicy     bool
	RestrictPublicBuckets bool
}

func (a *API) publicAccessBlock(w http.ResponseWriter, r *http.Request, bucket string) error {
	if r.Method == http.MethodGet {
		b, err := a.Objects.PublicAccessBlockOf(r.Context(), bucket)
		if err != nil {
			return err
		}
		writeXML(w, http.StatusOK, publicAccessBlockXML{Xmlns: xmlns, BlockPublicAcls: b.BlockPublicAcls,
			IgnorePublicAcls: b.IgnorePublicAcls, BlockPublicPolicy: b.BlockPublicPolicy, RestrictPublicBuckets: b.RestrictPublicBuckets})
		return nil
	}
	var conf publicAccessBlockXML
	if err := readXML(r, &conf); err != nil {
		return err
	}
	if err := a.Objects.PutPublicAccessBlock(r.Context(), bucket, objects.PublicAccessBlock{BlockPublicAcls: conf.BlockPublicAcls,
		IgnorePublicAcls: conf.IgnorePublicAcls, BlockPublicPolicy: conf.BlockPublicPolicy, RestrictPublicBuckets: conf.RestrictPublicBuckets}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
