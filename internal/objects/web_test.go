package objects

import (
	"context"
	"encoding/json"
	"testing"
)

func TestValidateWebsite(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, c := range []struct {
		name string
		w    Website
		ok   bool
	}{
		{"index", Website{IndexDocument: "index.html"}, true},
		{"index and error", Website{IndexDocument: "index.html", ErrorDocument: "404.html"}, true},
		{"no index", Website{ErrorDocument: "404.html"}, false},
		{"index with a slash", Website{IndexDocument: "a/index.html"}, false},
		{"redirect all", Website{RedirectAllRequestsTo: &RedirectAll{HostName: "example.com", Protocol: "https"}}, true},
		{"redirect all and index", Website{IndexDocument: "i.html", RedirectAllRequestsTo: &RedirectAll{HostName: "example.com"}}, false},
		{"redirect all, bad protocol", Website{RedirectAllRequestsTo: &RedirectAll{HostName: "example.com", Protocol: "ftp"}}, false},
		{"rule", Website{IndexDocument: "i.html", RoutingRules: []WebsiteRouting{{Condition: &RoutingCondition{KeyPrefixEquals: "a/"},
			Redirect: RoutingRedirect{ReplaceKeyPrefixWith: s("")}}}}, true},
		{"rule replacing twice", Website{IndexDocument: "i.html", RoutingRules: []WebsiteRouting{{Redirect: RoutingRedirect{ReplaceKeyPrefixWith: s("a"), ReplaceKeyWith: s("b")}}}}, false},
		{"rule without redirect", Website{IndexDocument: "i.html", RoutingRules: []WebsiteRouting{{Condition: &RoutingCondition{KeyPrefixEquals: "a/"}}}}, false},
		{"rule code 300", Website{IndexDocument: "i.html", RoutingRules: []WebsiteRouting{{Redirect: RoutingRedirect{HTTPRedirectCode: "300"}}}}, false},
		{"rule error code 200", Website{IndexDocument: "i.html", RoutingRules: []WebsiteRouting{{Condition: &RoutingCondition{HTTPErrorCodeReturnedEquals: "200"},
			Redirect: RoutingRedirect{HostName: "x"}}}}, false},
	} {
		if err := ValidateWebsite(&c.w); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestValidateCORS(t *testing.T) {
	for _, c := range []struct {
		name  string
		rules []CORSRule
		ok    bool
	}{
		{"one rule", []CORSRule{{AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"}}}, true},
		{"none", nil, false},
		{"no methods", []CORSRule{{AllowedOrigins: []string{"*"}}}, false},
		{"PATCH", []CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}}, false},
		{"two wildcards", []CORSRule{{AllowedOrigins: []string{"https://*.*.example.com"}, AllowedMethods: []string{"GET"}}}, false},
	} {
		if err := ValidateCORS(c.rules); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// CloudFormation's properties apply as they are written; null removes a
// setting; bucket settings go with their bucket.
func TestApplyWebProperties(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, "site"); err != nil {
		t.Fatal(err)
	}
	website := json.RawMessage(`{"IndexDocument":"index.html","RoutingRules":[{"RoutingRuleCondition":{"KeyPrefixEquals":"docs/"},"RedirectRule":{"ReplaceKeyPrefixWith":"documents/","HttpRedirectCode":"302"}}]}`)
	cors := json.RawMessage(`{"CorsRules":[{"AllowedOrigins":["*"],"AllowedMethods":["GET"],"MaxAge":60,"ExposedHeaders":["ETag"]}]}`)
	if err := s.ApplyWebProperties(ctx, "site", website, cors); err != nil {
		t.Fatal(err)
	}
	w, err := s.BucketWebsite(ctx, "site")
	if err != nil || w.IndexDocument != "index.html" || len(w.RoutingRules) != 1 || *w.RoutingRules[0].Redirect.ReplaceKeyPrefixWith != "documents/" ||
		w.RoutingRules[0].Redirect.HTTPRedirectCode != "302" {
		t.Fatalf("website %+v %v", w, err)
	}
	rules, err := s.BucketCORS(ctx, "site")
	if err != nil || len(rules) != 1 || *rules[0].MaxAge != 60 || rules[0].ExposedHeaders[0] != "ETag" {
		t.Fatalf("cors %+v %v", rules, err)
	}
	if err := s.ApplyWebProperties(ctx, "site", nil, json.RawMessage(`null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BucketWebsite(ctx, "site"); !IsKind(err, KindNoSuchWebsiteConfiguration) {
		t.Fatalf("website after removal: %v", err)
	}
	if _, err := s.BucketCORS(ctx, "site"); !IsKind(err, KindNoSuchCORSConfiguration) {
		t.Fatalf("cors after removal: %v", err)
	}
	if err := s.PutBucketPolicy(ctx, "site", []byte(`{"Statement":[]}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "site"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBucket(ctx, "site"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BucketPolicy(ctx, "site"); !IsKind(err, KindNoSuchBucketPolicy) {
		t.Fatalf("a new bucket of the same name has the old one's policy: %v", err)
	}
}
