package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// The website and CORS settings of a manifest's AWS::S3::Bucket resources
// (those with a BucketName): a deploy creates the bucket when it is missing
// and applies WebsiteConfiguration and CorsConfiguration as the template
// says (objects.Store.ApplyWebProperties); the deploy summary and `nimbus
// info` list each website's URL. The bucket resource as a whole (names
// CloudFormation generates, notifications, removal) is the resource's own
// code; this is the web part of it.

const typeBucket = "AWS::S3::Bucket"

type webBucket struct {
	id, name      string
	website, cors json.RawMessage
}

func webBuckets(app *appspec.Application) ([]webBucket, error) {
	if len(app.Resources) == 0 || string(app.Resources) == "null" {
		return nil, nil
	}
	var top struct {
		Resources map[string]struct {
			Type       string
			Properties struct {
				BucketName           json.RawMessage
				WebsiteConfiguration json.RawMessage
				CorsConfiguration    json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(app.Resources, &top); err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	var out []webBucket
	for id, r := range top.Resources {
		p := r.Properties
		if r.Type != typeBucket || p.WebsiteConfiguration == nil && p.CorsConfiguration == nil {
			continue
		}
		var name string
		if json.Unmarshal(p.BucketName, &name) != nil || name == "" {
			continue // a generated or computed name: the resource's code names it
		}
		where := "resources.Resources." + id
		if !objects.ValidBucketName(name) {
			return nil, fmt.Errorf("%s.BucketName: %q is not a valid bucket name", where, name)
		}
		b := webBucket{id: id, name: name, website: p.WebsiteConfiguration, cors: p.CorsConfiguration}
		if len(b.website) > 0 {
			var w objects.Website
			if err := json.Unmarshal(b.website, &w); err != nil {
				return nil, fmt.Errorf("%s.WebsiteConfiguration: %w", where, err)
			}
			if err := objects.ValidateWebsite(&w); err != nil {
				return nil, fmt.Errorf("%s.WebsiteConfiguration: %w", where, err)
			}
		}
		if len(b.cors) > 0 {
			var c struct{ CorsRules []objects.CORSRule }
			if err := json.Unmarshal(b.cors, &c); err != nil {
				return nil, fmt.Errorf("%s.CorsConfiguration: %w", where, err)
			}
			if err := objects.ValidateCORS(c.CorsRules); err != nil {
				return nil, fmt.Errorf("%s.CorsConfiguration: %w", where, err)
			}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// registerBucketWebsites adds the deploy hook and the summary's websites.
func (s *Server) registerBucketWebsites() {
	s.Registry.OnDeploy(func(ctx context.Context, app *appspec.Application) error {
		buckets, err := webBuckets(app)
		if err != nil {
			return &functions.InvalidError{Err: err}
		}
		for _, b := range buckets {
			if _, err := s.objects.CreateBucket(ctx, b.name); err != nil && !objects.IsKind(err, objects.KindBucketExists) {
				return err
			}
			if err := s.objects.ApplyWebProperties(ctx, b.name, b.website, b.cors); err != nil {
				return err
			}
		}
		return nil
	})
	s.Registry.AddInventory(func(app *appspec.Application) []functions.Item {
		buckets, _ := webBuckets(app)
		var out []functions.Item
		for _, b := range buckets {
			if len(b.website) > 0 && string(b.website) != "null" {
				url := s.WebsiteURL(b.name)
				out = append(out, functions.Item{Kind: "website", Name: url, Digest: url + string(b.website), Retained: true})
			}
		}
		return out
	})
}

// WebsiteURL is where a bucket's website is served: its own host name under
// localhost on the API listener's port (browsers and curl resolve
// *.localhost to the loopback address).
func (s *Server) WebsiteURL(bucket string) string {
	port := "80"
	if s.ln != nil {
		if _, p, err := net.SplitHostPort(s.ln.Addr().String()); err == nil {
			port = p
		}
	}
	return "http://" + bucket + websiteLabel + ".localhost:" + port + "/"
}
