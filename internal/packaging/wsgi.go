package packaging

import (
	"encoding/json"
	"slices"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/runtimes"
)

// wsgiFiles are the serverless-wsgi adapter and its configuration, placed at
// the root of the packages of functions whose handler is
// wsgi_handler.handler, or nil when no function is.
func wsgiFiles(p *manifest.Project, _ string) ([]file, error) {
	if !slices.ContainsFunc(p.App.Functions, func(fn appspec.Function) bool { return manifest.UsesWSGI(p, fn) }) {
		return nil, nil
	}
	var cfg struct {
		App           string   `json:"app"`
		TextMimeTypes []string `json:"textMimeTypes"`
	}
	if raw := manifest.CustomSection(p.Custom, "wsgi"); raw != nil {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, settingErr("wsgi", "custom.wsgi: %v", err)
		}
	}
	if cfg.App == "" {
		return nil, settingErr("wsgi", "custom.wsgi.app is missing: name the WSGI application as module.app (for app.py's app: app.app)")
	}
	conf, err := json.Marshal(map[string]any{"app": cfg.App, "text_mime_types": cfg.TextMimeTypes})
	if err != nil {
		return nil, err
	}
	return []file{
		{rel: "wsgi_handler.py", mode: 0o644, data: runtimes.WSGIHandler, size: int64(len(runtimes.WSGIHandler))},
		{rel: ".serverless-wsgi", mode: 0o644, data: conf, size: int64(len(conf))},
	}, nil
}
