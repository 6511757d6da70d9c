package server

import (
	"net"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// The website and CORS settings of a manifest's AWS::S3::Bucket resources
// are applied by the bucket resource's deploy hook (objects.Store.DeployHook),
// for given and generated names alike; here the deploy summary and `nimbus
// info` list each website's URL.

// registerBucketWebsites adds the summary's websites.
func (s *Server) registerBucketWebsites() {
	s.Registry.AddInventory(func(app *appspec.Application) []functions.Item {
		declared, _ := objects.DeclaredBuckets(app)
		var out []functions.Item
		for _, b := range declared {
			if b.Create && len(b.Website) > 0 && string(b.Website) != "null" {
				url := s.WebsiteURL(b.Name)
				out = append(out, functions.Item{Kind: "website", Name: url, Digest: url + string(b.Website), Retained: true})
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
