package gateway

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Endpoints lists a service's HTTP endpoints as `METHOD URL` lines (what
// `nimbus info` prints) and its API keys by name. A route is listed on the
// shared root when this stage serves it there; a route an older stage or
// service holds on the root is listed on this stage's own host, saying so.
func (g *Gateway) Endpoints(app *appspec.Application) (endpoints []string, apiKeys map[string]string) {
	return g.endpoints(app, true)
}

// RouteLines lists a service's routes as Endpoints does, all on the shared
// root: lines that do not change with what other services deploy (deploy
// summaries compare them).
func (g *Gateway) RouteLines(app *appspec.Application) []string {
	lines, _ := g.endpoints(app, false)
	return lines
}

// Host is the base URL of a service's stage on its own host name,
// <stage>.<service>.<domain> (every route of that stage, and nothing else).
func (g *Gateway) Host(app *appspec.Application) string {
	return g.hostURL(g.base(), strings.ToLower(app.Stage+"."+app.Service)+"."+g.cfg.Domain)
}

func (g *Gateway) base() string {
	if base := g.URL(); base != "" {
		return base
	}
	return "http://<gateway address>"
}

func (g *Gateway) endpoints(app *appspec.Application, shared bool) (endpoints []string, apiKeys map[string]string) {
	p, err := parseApp(app)
	if err != nil {
		return nil, nil
	}
	base := g.base()
	var owners map[string]string
	if shared {
		owners = g.current().rootOwner
	}
	for _, r := range p.routes {
		at, note := base, ""
		if o := owners[r.conflictKey()]; o != "" && o != app.ID() {
			at = g.Host(app)
			svc, stage, _ := strings.Cut(o, ".")
			note = fmt.Sprintf(" (on its own host: the shared root serves service %s stage %s here)", svc, stage)
		}
		if r.pattern == "" {
			endpoints = append(endpoints, "ANY "+at+"/* ($default)"+note)
			continue
		}
		line := r.method + " " + at + r.fullPath()
		if r.private {
			line += " (api key)"
		}
		if r.auth != nil {
			line += " (authorizer " + r.auth.name + ")"
		}
		endpoints = append(endpoints, line+note)
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
	return len(g.cfg.Registry.Stages(service)) > 0
}
