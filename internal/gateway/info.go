package gateway

import (
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Endpoints lists a service's HTTP endpoints as `METHOD URL` lines (what
// `nimbus info` prints) and its API keys by name.
func (g *Gateway) Endpoints(app *appspec.Application) (endpoints []string, apiKeys map[string]string) {
	p, err := parseApp(app)
	if err != nil {
		return nil, nil
	}
	base := g.URL()
	if base == "" {
		base = "http://<gateway address>"
	}
	for _, r := range p.routes {
		if r.pattern == "" {
			endpoints = append(endpoints, "ANY "+base+"/* ($default)")
			continue
		}
		line := r.method + " " + base + r.fullPath()
		if r.private {
			line += " (api key)"
		}
		if r.auth != nil {
			line += " (authorizer " + r.auth.name + ")"
		}
		endpoints = append(endpoints, line)
	}
	sort.Strings(endpoints)
	for _, u := range p.urls {
		endpoints = append(endpoints, "URL "+base+urlPathPrefix+u.function+"/  (also "+g.hostURL(base, u.function+".lambda-url."+g.cfg.Domain)+"/)")
	}
	if len(p.api.apiKeys) > 0 {
		apiKeys = map[string]string{}
		for _, k := range p.api.apiKeys {
			apiKeys[k.name] = k.value
		}
	}
	return endpoints, apiKeys
}

// hostURL swaps the host of base for host, keeping the port.
func (g *Gateway) hostURL(base, host string) string {
	rest := strings.TrimPrefix(base, "http://")
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return "http://" + host + rest[i:]
	}
	return "http://" + host
}

// IsAccessLog reports whether name is a log the gateway writes (for `nimbus logs`).
func (g *Gateway) IsAccessLog(name string) bool {
	service, ok := strings.CutSuffix(name, ".access")
	if !ok {
		return false
	}
	if service == unmatchedAccessLogs {
		return true
	}
	_, deployed := g.cfg.Registry.Service(service)
	return deployed
}
