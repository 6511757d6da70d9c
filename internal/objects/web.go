package objects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// A bucket's web settings (CORS rules, website configuration, bucket policy,
// public access block) are index entries beside the bucket:
// c<bucket>\x00<kind>, JSON. They go with the bucket when it is deleted.
const prefixConfig = 'c'

// Configuration kinds.
const (
	configCORS    = "cors"
	configWebsite = "website"
	configPolicy  = "policy"
	configPublic  = "publicAccessBlock"
)

// Error kinds of bucket web settings (numbered apart from errors.go's).
const (
	KindNoSuchCORSConfiguration    ErrorKind = 100 + iota // NoSuchCORSConfiguration
	KindNoSuchWebsiteConfiguration                        // NoSuchWebsiteConfiguration
	KindNoSuchBucketPolicy                                // NoSuchBucketPolicy
	KindNoSuchPublicAccessBlock                           // NoSuchPublicAccessBlockConfiguration
	KindMalformedPolicy                                   // MalformedPolicy
)

func configPrefix(bucket string) []byte {
	return append(append([]byte{prefixConfig}, bucket...), 0)
}

func configKey(bucket, kind string) []byte { return append(configPrefix(bucket), kind...) }

// deleteBucketConfigs drops every web setting of a bucket being deleted.
func (s *Store) deleteBucketConfigs(bucket string) error {
	p := configPrefix(bucket)
	if err := s.db.DeleteRange(p, prefixEnd(p), pebble.Sync); err != nil {
		return fmt.Errorf("delete bucket %s settings: %w", bucket, err)
	}
	return nil
}

func (s *Store) putConfig(bucket, kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(bucket); err != nil {
		return err
	}
	if err := s.db.Set(configKey(bucket, kind), data, pebble.Sync); err != nil {
		return fmt.Errorf("store bucket %s %s: %w", bucket, kind, err)
	}
	return nil
}

// getConfig reads a setting into v; missing answers the kind's error.
func (s *Store) getConfig(bucket, kind string, v any, missing error) error {
	if _, err := s.bucket(bucket); err != nil {
		return err
	}
	data, closer, err := s.db.Get(configKey(bucket, kind))
	if errors.Is(err, pebble.ErrNotFound) {
		return missing
	} else if err != nil {
		return fmt.Errorf("read bucket %s %s: %w", bucket, kind, err)
	}
	defer closer.Close()
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read bucket %s %s: %w", bucket, kind, err)
	}
	return nil
}

func (s *Store) deleteConfig(bucket, kind string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(bucket); err != nil {
		return err
	}
	if err := s.db.Delete(configKey(bucket, kind), pebble.Sync); err != nil {
		return fmt.Errorf("delete bucket %s %s: %w", bucket, kind, err)
	}
	return nil
}

// CORSRule is one rule of a bucket's CORS configuration. The JSON names are
// CloudFormation's (AWS::S3::Bucket CorsConfiguration.CorsRules), so a
// template's rules decode into it as they are.
type CORSRule struct {
	ID             string   `json:"Id,omitempty"`
	AllowedOrigins []string `json:"AllowedOrigins"`
	AllowedMethods []string `json:"AllowedMethods"`
	AllowedHeaders []string `json:"AllowedHeaders,omitempty"`
	ExposedHeaders []string `json:"ExposedHeaders,omitempty"`
	MaxAge         *int     `json:"MaxAge,omitempty"` // seconds
}

// corsMethods are the methods S3 accepts in AllowedMethods.
var corsMethods = map[string]bool{"GET": true, "PUT": true, "HEAD": true, "POST": true, "DELETE": true}

// ValidateCORS applies S3's rules for a CORS configuration.
func ValidateCORS(rules []CORSRule) error {
	if len(rules) == 0 || len(rules) > 100 {
		return errorf(KindMalformedXML, "A CORS configuration holds 1 to 100 rules.")
	}
	for i, r := range rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return errorf(KindMalformedXML, "CORS rule %d: AllowedOrigin and AllowedMethod are required.", i+1)
		}
		for _, m := range r.AllowedMethods {
			if !corsMethods[m] {
				return errorf(KindInvalidArgument, "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return errorf(KindInvalidArgument, "AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return errorf(KindInvalidArgument, "AllowedHeader %q can not have more than one wildcard.", h)
			}
		}
		if r.MaxAge != nil && *r.MaxAge < 0 {
			return errorf(KindInvalidArgument, "CORS rule %d: MaxAgeSeconds must not be negative.", i+1)
		}
	}
	return nil
}

// PutBucketCORS sets a bucket's CORS rules.
func (s *Store) PutBucketCORS(_ context.Context, bucket string, rules []CORSRule) error {
	if err := ValidateCORS(rules); err != nil {
		return err
	}
	return s.putConfig(bucket, configCORS, rules)
}

// BucketCORS returns a bucket's CORS rules.
func (s *Store) BucketCORS(_ context.Context, bucket string) ([]CORSRule, error) {
	var rules []CORSRule
	err := s.getConfig(bucket, configCORS, &rules, errorf(KindNoSuchCORSConfiguration, "The CORS configuration does not exist"))
	return rules, err
}

// DeleteBucketCORS removes a bucket's CORS rules.
func (s *Store) DeleteBucketCORS(_ context.Context, bucket string) error {
	return s.deleteConfig(bucket, configCORS)
}

// Website is a bucket's static website configuration. The JSON names are
// CloudFormation's (AWS::S3::Bucket WebsiteConfiguration).
type Website struct {
	// IndexDocument is the suffix appended to requests for a "directory"
	// (a key ending in / or the root): "index.html".
	IndexDocument string `json:"IndexDocument,omitempty"`
	// ErrorDocument is the key served (with the error's status) on a 4xx.
	ErrorDocument         string           `json:"ErrorDocument,omitempty"`
	RedirectAllRequestsTo *RedirectAll     `json:"RedirectAllRequestsTo,omitempty"`
	RoutingRules          []WebsiteRouting `json:"RoutingRules,omitempty"`
}

// RedirectAll sends every request of a website to another host.
type RedirectAll struct {
	HostName string `json:"HostName"`
	Protocol string `json:"Protocol,omitempty"` // http or https; default: the request's
}

// WebsiteRouting is one routing rule: when Condition holds (or always, if
// it is nil), redirect as Redirect says.
type WebsiteRouting struct {
	Condition *RoutingCondition `json:"RoutingRuleCondition,omitempty"`
	Redirect  RoutingRedirect   `json:"RedirectRule"`
}

// RoutingCondition matches a request by key prefix and/or by the error
// status its object lookup returned.
type RoutingCondition struct {
	KeyPrefixEquals             string `json:"KeyPrefixEquals,omitempty"`
	HTTPErrorCodeReturnedEquals string `json:"HttpErrorCodeReturnedEquals,omitempty"`
}

// RoutingRedirect is where a routing rule sends a request.
type RoutingRedirect struct {
	HostName         string `json:"HostName,omitempty"`
	HTTPRedirectCode string `json:"HttpRedirectCode,omitempty"` // default 301
	Protocol         string `json:"Protocol,omitempty"`
	// Nil leaves the key as it is; an empty prefix strips the condition's.
	ReplaceKeyPrefixWith *string `json:"ReplaceKeyPrefixWith,omitempty"`
	ReplaceKeyWith       *string `json:"ReplaceKeyWith,omitempty"`
}

// ValidateWebsite applies S3's rules for a website configuration.
func ValidateWebsite(w *Website) error {
	if w.RedirectAllRequestsTo != nil {
		if w.IndexDocument != "" || w.ErrorDocument != "" || len(w.RoutingRules) > 0 {
			return errorf(KindInvalidArgument, "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.")
		}
		if w.RedirectAllRequestsTo.HostName == "" {
			return errorf(KindInvalidArgument, "RedirectAllRequestsTo requires a HostName.")
		}
		return validProtocol(w.RedirectAllRequestsTo.Protocol)
	}
	if w.IndexDocument == "" {
		return errorf(KindInvalidArgument, "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")
	}
	if strings.Contains(w.IndexDocument, "/") {
		return errorf(KindInvalidArgument, "The IndexDocument Suffix is not well formed")
	}
	if len(w.RoutingRules) > 50 {
		return errorf(KindInvalidArgument, "A website configuration holds at most 50 routing rules.")
	}
	for i, r := range w.RoutingRules {
		rd := r.Redirect
		if rd.ReplaceKeyPrefixWith != nil && rd.ReplaceKeyWith != nil {
			return errorf(KindInvalidArgument, "Routing rule %d: You can only define ReplaceKeyPrefix or ReplaceKey but not both.", i+1)
		}
		if rd.HostName == "" && rd.HTTPRedirectCode == "" && rd.Protocol == "" && rd.ReplaceKeyPrefixWith == nil && rd.ReplaceKeyWith == nil {
			return errorf(KindInvalidArgument, "Routing rule %d: a Redirect must name at least one of HostName, HttpRedirectCode, Protocol, ReplaceKeyPrefixWith, ReplaceKeyWith.", i+1)
		}
		if c := rd.HTTPRedirectCode; c != "" {
			if n, err := strconv.Atoi(c); err != nil || n < 300 || n > 399 || n == 300 {
				return errorf(KindInvalidArgument, "Routing rule %d: The provided HTTP redirect code (%s) is not valid. Valid codes are 3XX except 300.", i+1, c)
			}
		}
		if c := r.Condition; c != nil && c.HTTPErrorCodeReturnedEquals != "" {
			if n, err := strconv.Atoi(c.HTTPErrorCodeReturnedEquals); err != nil || n < 400 || n > 599 {
				return errorf(KindInvalidArgument, "Routing rule %d: The provided HTTP error code (%s) is not valid. Valid codes are 4XX or 5XX.", i+1, c.HTTPErrorCodeReturnedEquals)
			}
		}
		if err := validProtocol(rd.Protocol); err != nil {
			return err
		}
	}
	return nil
}

func validProtocol(p string) error {
	if p != "" && p != "http" && p != "https" {
		return errorf(KindInvalidArgument, "Invalid protocol %q: use http or https.", p)
	}
	return nil
}

// PutBucketWebsite sets a bucket's website configuration.
func (s *Store) PutBucketWebsite(_ context.Context, bucket string, w Website) error {
	if err := ValidateWebsite(&w); err != nil {
		return err
	}
	return s.putConfig(bucket, configWebsite, w)
}

// BucketWebsite returns a bucket's website configuration.
func (s *Store) BucketWebsite(_ context.Context, bucket string) (Website, error) {
	var w Website
	err := s.getConfig(bucket, configWebsite, &w, errorf(KindNoSuchWebsiteConfiguration, "The specified bucket does not have a website configuration"))
	return w, err
}

// DeleteBucketWebsite removes a bucket's website configuration.
func (s *Store) DeleteBucketWebsite(_ context.Context, bucket string) error {
	return s.deleteConfig(bucket, configWebsite)
}

// PutBucketPolicy sets a bucket's resource policy (a JSON policy document;
// the edge parses and evaluates it with the IAM evaluator).
func (s *Store) PutBucketPolicy(_ context.Context, bucket string, policy []byte) error {
	if !json.Valid(policy) {
		return errorf(KindMalformedPolicy, "Policies must be valid JSON and the first byte must be '{'")
	}
	return s.putConfig(bucket, configPolicy, json.RawMessage(policy))
}

// BucketPolicy returns a bucket's policy document.
func (s *Store) BucketPolicy(_ context.Context, bucket string) ([]byte, error) {
	var p json.RawMessage
	err := s.getConfig(bucket, configPolicy, &p, errorf(KindNoSuchBucketPolicy, "The bucket policy does not exist"))
	return p, err
}

// DeleteBucketPolicy removes a bucket's policy.
func (s *Store) DeleteBucketPolicy(_ context.Context, bucket string) error {
	return s.deleteConfig(bucket, configPolicy)
}

// PublicAccessBlock is S3's block on public access for one bucket.
type PublicAccessBlock struct {
	BlockPublicAcls       bool `json:"BlockPublicAcls"`
	IgnorePublicAcls      bool `json:"IgnorePublicAcls"`
	BlockPublicPolicy     bool `json:"BlockPublicPolicy"`
	RestrictPublicBuckets bool `json:"RestrictPublicBuckets"`
}

// PutPublicAccessBlock sets a bucket's public access block.
func (s *Store) PutPublicAccessBlock(_ context.Context, bucket string, b PublicAccessBlock) error {
	return s.putConfig(bucket, configPublic, b)
}

// PublicAccessBlockOf returns a bucket's public access block.
func (s *Store) PublicAccessBlockOf(_ context.Context, bucket string) (PublicAccessBlock, error) {
	var b PublicAccessBlock
	err := s.getConfig(bucket, configPublic, &b, errorf(KindNoSuchPublicAccessBlock, "The public access block configuration was not found"))
	return b, err
}

// DeletePublicAccessBlock removes a bucket's public access block.
func (s *Store) DeletePublicAccessBlock(_ context.Context, bucket string) error {
	return s.deleteConfig(bucket, configPublic)
}

// ApplyWebProperties sets or clears a bucket's website and CORS settings
// from an AWS::S3::Bucket resource's WebsiteConfiguration and
// CorsConfiguration properties (raw JSON as in the template; empty or null
// removes the setting), so a deploy keeps them as the template says.
func (s *Store) ApplyWebProperties(ctx context.Context, bucket string, website, cors json.RawMessage) error {
	if isNull(website) {
		if err := s.DeleteBucketWebsite(ctx, bucket); err != nil {
			return err
		}
	} else {
		var w Website
		if err := json.Unmarshal(website, &w); err != nil {
			return errorf(KindInvalidArgument, "bucket %s: WebsiteConfiguration: %v", bucket, err)
		}
		if err := s.PutBucketWebsite(ctx, bucket, w); err != nil {
			return fmt.Errorf("bucket %s: WebsiteConfiguration: %w", bucket, err)
		}
	}
	if isNull(cors) {
		return s.DeleteBucketCORS(ctx, bucket)
	}
	var c struct {
		CorsRules []CORSRule `json:"CorsRules"`
	}
	if err := json.Unmarshal(cors, &c); err != nil {
		return errorf(KindInvalidArgument, "bucket %s: CorsConfiguration: %v", bucket, err)
	}
	if err := s.PutBucketCORS(ctx, bucket, c.CorsRules); err != nil {
		return fmt.Errorf("bucket %s: CorsConfiguration: %w", bucket, err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null"
}
