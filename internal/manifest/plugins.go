package manifest

import (
	"fmt"
	"strings"
)

// knownPlugins are the Serverless plugins whose work nimbus does itself (or
// that only matter to the framework's own machinery), so a manifest that
// lists them deploys without a word about them.
var knownPlugins = map[string]bool{
	"serverless-esbuild":                true,
	"serverless-plugin-typescript":      true,
	"serverless-webpack":                true,
	"serverless-python-requirements":    true,
	"serverless-wsgi":                   true,
	"serverless-offline":                true, // `nimbus dev` is the local server
	"serverless-dotenv-plugin":          true, // useDotenv: .env files are read
	"serverless-iam-roles-per-function": true, // per-function iamRoleStatements
	"serverless-lift":                   true,
	// deploymentSettings: nimbus publishes, shifts and runs the hooks
	"serverless-plugin-canary-deployments": true,
}

// pluginGaps says what goes missing without a plugin people commonly use.
var pluginGaps = map[string]string{
	"serverless-step-functions":          "its state machines are created, but their events (http, schedule, eventBridge) are not",
	"serverless-domain-manager":          "no custom domain is set up: use the gateway's host names",
	"serverless-prune-plugin":            "nothing to prune: nimbus keeps only $LATEST and published versions",
	"serverless-plugin-warmup":           "no warm-up schedule is created",
	"serverless-s3-sync":                 "no files are synced to buckets",
	"serverless-plugin-split-stacks":     "nothing to split: nimbus has no stack size limit",
	"serverless-add-api-key":             "its API keys are not created (declare provider.apiGateway.apiKeys)",
	"serverless-plugin-aws-alerts":       "no alarms are created",
	"serverless-pseudo-parameters":       "#{AWS::...} placeholders are not replaced (use ${AWS::...} in Fn::Sub)",
	"serverless-plugin-log-subscription": "no log subscriptions are created",
}

// warnPlugins warns once about the plugins nimbus does not reproduce,
// saying what a deploy leaves out without them.
func (d *decoder) warnPlugins(n *node, modules []string) {
	var unknown []string
	for _, m := range modules {
		if knownPlugins[m] {
			continue
		}
		if gap := pluginGaps[m]; gap != "" {
			unknown = append(unknown, fmt.Sprintf("%s (%s)", m, gap))
		} else {
			unknown = append(unknown, m+" (whatever it adds to the deploy)")
		}
	}
	if len(unknown) == 0 {
		return
	}
	d.warnf(n.pos, "nimbus reproduces serverless-esbuild, -plugin-typescript, -webpack, -python-requirements, -wsgi, -offline, -dotenv-plugin, -iam-roles-per-function and -lift; others are not run",
		"plugins nimbus does not run, so the deploy goes without them: %s", strings.Join(unknown, "; "))
}
