// Package appspec defines the normalised application description that the CLI
// sends to the platform on deploy. The manifest package produces it from a
// serverless.yml; the platform validates it again (a request is never trusted)
// and applies it.
package appspec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Limits taken from AWS Lambda.
const (
	MinMemoryMB          = 128
	MaxMemoryMB          = 10240
	DefaultMemoryMB      = 1024 // Serverless Framework default
	MinTimeoutSeconds    = 1
	MaxTimeoutSeconds    = 900
	DefaultTimeout       = 6 // Serverless Framework default, in seconds
	MaxEnvironmentBytes  = 4 * 1024
	MaxUnzippedCodeBytes = 250 * 1024 * 1024
	MaxZippedCodeBytes   = 250 * 1024 * 1024
	MaxFunctionNameLen   = 64
	MaxDescriptionLen    = 256
	// Ephemeral storage (/tmp), in MB.
	MinEphemeralStorageMB     = 512
	MaxEphemeralStorageMB     = 10240
	DefaultEphemeralStorageMB = 512
)

// Application is one deployed service: what `nimbus deploy` sends.
type Application struct {
	Service   string     `json:"service"`
	Stage     string     `json:"stage"`
	Region    string     `json:"region"`
	Functions []Function `json:"functions"`
	// VersionFunctions is provider.versionFunctions: publish a version of
	// each function whose code or configuration a deploy changed. nimbus
	// leaves it off unless asked (docs/adr/0036-versions-aliases.md).
	VersionFunctions bool `json:"versionFunctions,omitempty"`
	// Resources carries the manifest's `resources` section verbatim (CloudFormation
	// shaped) for the event sources that read it.
	Resources json.RawMessage `json:"resources,omitempty"`
	// HTTP carries the provider-level API Gateway settings for the gateway.
	HTTP *HTTPSettings `json:"http,omitempty"`
	// Buckets is provider.s3 as written (bucket keys to {name, ...}); the
	// object store reads it with the resources' AWS::S3::Bucket.
	Buckets json.RawMessage `json:"buckets,omitempty"`
	// StepFunctions is the serverless-step-functions section as written
	// ({stateMachines: {key: {name, type, definition}}}); internal/workflows
	// reads it.
	StepFunctions json.RawMessage `json:"stepFunctions,omitempty"`
	// Imports are the export names the application's Fn::ImportValue read,
	// recorded by the platform on deploy (so an export in use stays).
	Imports []string `json:"imports,omitempty"`
	// EventRoutes are HTTP API routes that put the request on an event bus
	// (serverless-lift webhooks).
	EventRoutes []EventRoute `json:"eventRoutes,omitempty"`
}

// EventRoute is an HTTP API route integrated with EventBridge PutEvents, as
// API Gateway's EventBridge-PutEvents integration is: the request body is the
// event's detail.
type EventRoute struct {
	Construct string `json:"construct"` // the lift construct that declared it
	Method    string `json:"method"`
	Path      string `json:"path"`
	// Authorizer names an authorizer of provider.httpApi.authorizers; empty
	// for none.
	Authorizer   string `json:"authorizer,omitempty"`
	EventBusName string `json:"eventBusName"`
	Source       string `json:"source"`
	// DetailType is a fixed string, or $request.header.NAME or
	// $request.body.PATH read from each request.
	DetailType string `json:"detailType"`
}

// HTTPSettings are the provider sections the HTTP gateway reads, kept as the
// manifest gave them (variables resolved); the gateway interprets and checks them.
type HTTPSettings struct {
	APIGateway json.RawMessage `json:"apiGateway,omitempty"` // provider.apiGateway (apiKeys, binaryMediaTypes ...)
	HTTPAPI    json.RawMessage `json:"httpApi,omitempty"`    // provider.httpApi (cors, authorizers ...)
}

// Function is one function of an application, fully resolved: defaults from the
// provider are already applied.
type Function struct {
	Key        string `json:"key"`  // key under `functions:` in the manifest
	Name       string `json:"name"` // deployed name, service-stage-key unless set
	Handler    string `json:"handler"`
	Runtime    string `json:"runtime"`
	MemorySize int    `json:"memorySize"` // MB
	Timeout    int    `json:"timeout"`    // seconds
	// EphemeralStorageSize is the size of the function's /tmp in MB; 0 means
	// the default (512). Omitted when unset so functions deployed before it
	// existed keep their identity.
	EphemeralStorageSize int               `json:"ephemeralStorageSize,omitempty"`
	Architecture         string            `json:"architecture"`
	Description          string            `json:"description,omitempty"`
	Environment          map[string]string `json:"environment,omitempty"`
	// EnvironmentRefs are variables whose values are CloudFormation intrinsic
	// functions ({"Ref": ...}, {"Fn::GetAtt": ...}, ...) as the manifest gave
	// them. The platform resolves them on deploy into Environment and clears
	// this map, so a stored function never carries one.
	EnvironmentRefs map[string]json.RawMessage `json:"environmentRefs,omitempty"`
	// IAMStatements is the function's execution role: a JSON array of IAM
	// policy statements (Effect, Action/NotAction, Resource/NotResource,
	// Condition), the provider's and the function's own together. Intrinsic
	// functions in it are resolved by the platform on deploy.
	IAMStatements json.RawMessage `json:"iamStatements,omitempty"`
	// ManagedPolicies are the managed policy ARNs attached to the role
	// (arn:aws:iam::aws:policy/AdministratorAccess, ...).
	ManagedPolicies     []string `json:"managedPolicies,omitempty"`
	ReservedConcurrency *int     `json:"reservedConcurrency,omitempty"`
	Code                CodeRef  `json:"code"`
	Events              []Event  `json:"events,omitempty"`
	// URL is the function's `url:` as written (true or {cors, authorizer});
	// empty when the function has no function URL.
	URL json.RawMessage `json:"url,omitempty"`
	// Asynchronous invocation settings (Lambda's EventInvokeConfig and DLQ).
	// MaximumRetryAttempts is 0 to 2 (nil: Lambda's default, 2); MaximumEventAge
	// is in seconds, 60 to 21600 (nil: 6 hours).
	MaximumRetryAttempts *int         `json:"maximumRetryAttempts,omitempty"`
	MaximumEventAge      *int         `json:"maximumEventAge,omitempty"`
	Destinations         Destinations `json:"destinations,omitzero"`
	// OnError is the dead-letter target (an SQS queue or SNS topic ARN).
	OnError string `json:"onError,omitempty"`

	// LogRetentionInDays keeps the function's log lines this many days (one
	// of CloudWatch Logs' retention values); 0 keeps them for the platform's
	// retention, which also bounds a longer one.
	LogRetentionInDays int `json:"logRetentionInDays,omitempty"`

	// Deployment is the function's safe deployment (SAM's AutoPublishAlias
	// and DeploymentPreference, serverless-plugin-canary-deployments'
	// deploymentSettings); nil updates $LATEST in place.
	Deployment *Deployment `json:"deployment,omitempty"`
}

// Deployment publishes a version on each deploy that changes the function
// and moves an alias to it, all at once or by CodeDeploy's traffic shifting.
type Deployment struct {
	Alias string `json:"alias"`
	// Type is a CodeDeploy predefined Lambda configuration (AllAtOnce,
	// Canary10Percent5Minutes, Linear10PercentEvery1Minute ...); empty
	// moves the alias at once.
	Type string `json:"type,omitempty"`
	// PreTrafficHook and PostTrafficHook are function keys (or deployed
	// names) of this application.
	PreTrafficHook  string `json:"preTrafficHook,omitempty"`
	PostTrafficHook string `json:"postTrafficHook,omitempty"`
	// Alarms are CloudWatch alarm names; nimbus has no alarms to watch.
	Alarms []string `json:"alarms,omitempty"`
}

// Destinations are where the outcome of an asynchronous invocation goes: an
// ARN (SQS queue, SNS topic, Lambda function, EventBridge bus) or the name of a
// function.
type Destinations struct {
	OnSuccess string `json:"onSuccess,omitempty"`
	OnFailure string `json:"onFailure,omitempty"`
}

// Async limits from Lambda.
const (
	MaxRetryAttempts       = 2
	DefaultRetryAttempts   = 2
	MinEventAgeSeconds     = 60
	MaxEventAgeSeconds     = 21600
	DefaultEventAgeSeconds = 21600
)

var (
	aliasNameRE      = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	digitsRE         = regexp.MustCompile(`^[0-9]+$`)
	destinationARNRE = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:(sqs|sns|lambda|events):[a-z0-9-]*:\d{12}:.+$`)
	dlqARNRE         = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]*:\d{12}:.+$`)
)

// ValidDestination reports whether s can be an async destination: an ARN of a
// queue, topic, function or event bus, or a function name.
func ValidDestination(s string) bool {
	return destinationARNRE.MatchString(s) || functionNameRE.MatchString(s)
}

// ValidDeadLetterTarget reports whether s is an SQS queue or SNS topic ARN.
func ValidDeadLetterTarget(s string) bool { return dlqARNRE.MatchString(s) }

// CodeRef names an uploaded code package by content.
type CodeRef struct {
	SHA256 string `json:"sha256"` // hex digest of the zip
	Size   int64  `json:"size"`   // bytes of the zip
}

// Event is one entry of a function's `events:` list, kept as the manifest gave
// it: Type is the single key (http, httpApi, schedule, sqs ...), Properties its
// value with variables resolved.
type Event struct {
	Type       string          `json:"type"`
	Properties json.RawMessage `json:"properties"`
}

// Runtime families decide how an instance is started.
const (
	FamilyProvided = "provided" // run ./bootstrap
	FamilyGo       = "go"       // run the executable named by the handler
	FamilyNode     = "nodejs"
	FamilyPython   = "python"
	FamilyRuby     = "ruby"
	FamilyJava     = "java"
)

var runtimes = map[string]string{
	"provided":        FamilyProvided,
	"provided.al2":    FamilyProvided,
	"provided.al2023": FamilyProvided,
	"go1.x":           FamilyGo,
	"nodejs14.x":      FamilyNode,
	"nodejs16.x":      FamilyNode,
	"nodejs18.x":      FamilyNode,
	"nodejs20.x":      FamilyNode,
	"nodejs22.x":      FamilyNode,
	"python3.8":       FamilyPython,
	"python3.9":       FamilyPython,
	"python3.10":      FamilyPython,
	"python3.11":      FamilyPython,
	"python3.12":      FamilyPython,
	"python3.13":      FamilyPython,
	"ruby2.7":         FamilyRuby,
	"ruby3.2":         FamilyRuby,
	"ruby3.3":         FamilyRuby,
	"ruby3.4":         FamilyRuby,
	"java8":           FamilyJava,
	"java8.al2":       FamilyJava,
	"java11":          FamilyJava,
	"java17":          FamilyJava,
	"java21":          FamilyJava,
}

// deprecated runtimes are ones AWS has deprecated that nimbus still runs, on
// the installed interpreter of their language, with a warning at deploy.
var deprecated = map[string]bool{
	"nodejs14.x": true, "nodejs16.x": true, "python3.8": true, "ruby2.7": true,
	"java8": true, "java8.al2": true, "java11": true,
}

// retired runtimes are refused: AWS no longer runs them, and code written for
// them (Python 2, Node.js callbacks of 2016) would not run on today's interpreters.
var retired = map[string]bool{
	"nodejs": true, "nodejs4.3": true, "nodejs4.3-edge": true, "nodejs6.10": true, "nodejs8.10": true,
	"nodejs10.x": true, "nodejs12.x": true, "python2.7": true, "python3.6": true, "python3.7": true,
	"ruby2.5": true, "dotnetcore1.0": true, "dotnetcore2.0": true, "dotnetcore2.1": true, "dotnetcore3.1": true,
}

// RuntimeFamily returns the family of a runtime identifier and whether it is supported.
func RuntimeFamily(runtime string) (string, bool) {
	f, ok := runtimes[runtime]
	return f, ok
}

// RuntimeDeprecated reports whether AWS has deprecated a supported runtime.
func RuntimeDeprecated(runtime string) bool { return deprecated[runtime] }

// RuntimeRetired reports whether runtime is one that AWS retired and nimbus refuses.
func RuntimeRetired(runtime string) bool {
	return retired[runtime] || strings.HasPrefix(runtime, "dotnetcore")
}

// RuntimeVersion is the language version a runtime identifier declares:
// "20" for nodejs20.x, "3.12" for python3.12, "3.2" for ruby3.2, "17" for
// java17, "" for provided runtimes and go1.x (which run the function's own
// executable).
func RuntimeVersion(runtime string) string {
	family, ok := runtimes[runtime]
	if !ok {
		return ""
	}
	switch family {
	case FamilyNode:
		return strings.TrimSuffix(strings.TrimPrefix(runtime, "nodejs"), ".x")
	case FamilyPython, FamilyRuby:
		return strings.TrimPrefix(runtime, family)
	case FamilyJava:
		v, _, _ := strings.Cut(strings.TrimPrefix(runtime, "java"), ".")
		return v
	}
	return ""
}

// Runtimes lists the supported runtime identifiers, sorted.
func Runtimes() []string {
	out := make([]string, 0, len(runtimes))
	for r := range runtimes {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

var (
	functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	serviceNameRE  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{0,127}$`)
	stageRE        = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	envKeyRE       = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])*$`)
	sha256RE       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// regionRE is the shape of AWS region names (us-east-1, us-gov-west-1),
	// the one function ARNs are parsed with.
	regionRE = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
)

// ValidRegion reports whether s has the shape of an AWS region name.
func ValidRegion(s string) bool { return regionRE.MatchString(s) }

// reservedEnv are variables Lambda sets itself and refuses from users.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true,
	"LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

// Validate checks everything the platform relies on. It is run by the CLI for
// early errors and again by the platform, which never trusts a request.
func (a *Application) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !serviceNameRE.MatchString(a.Service) {
		add("service name %q must start with a letter and contain only letters, digits and hyphens (at most 128)", a.Service)
	}
	if !stageRE.MatchString(a.Stage) {
		add("stage %q must contain only letters, digits, hyphens and underscores (at most 64)", a.Stage)
	}
	if a.Region == "" {
		add("region is empty")
	} else if !ValidRegion(a.Region) {
		add("region %q is not an AWS region name such as us-east-1 or eu-west-2", a.Region)
	}
	seenKey := map[string]bool{}
	seenName := map[string]bool{}
	for i := range a.Functions {
		f := &a.Functions[i]
		where := fmt.Sprintf("function %q", f.Key)
		if f.Key == "" {
			add("function #%d has no key", i+1)
		}
		if seenKey[f.Key] {
			add("%s is declared twice", where)
		}
		seenKey[f.Key] = true
		if !functionNameRE.MatchString(f.Name) {
			add("%s: name %q must be 1 to 64 letters, digits, hyphens or underscores", where, f.Name)
		}
		if seenName[f.Name] {
			add("%s: deployed name %q is used by another function", where, f.Name)
		}
		seenName[f.Name] = true
		family, ok := RuntimeFamily(f.Runtime)
		switch {
		case !ok && RuntimeRetired(f.Runtime):
			add("%s: runtime %q is retired by AWS and not supported (supported: %s)", where, f.Runtime, strings.Join(Runtimes(), ", "))
		case !ok:
			add("%s: unknown runtime %q (supported: %s)", where, f.Runtime, strings.Join(Runtimes(), ", "))
		}
		if f.Handler == "" && family != FamilyProvided {
			add("%s: handler is empty", where)
		}
		if len(f.Handler) > 128 {
			add("%s: handler is longer than 128 characters", where)
		}
		if f.MemorySize < MinMemoryMB || f.MemorySize > MaxMemoryMB {
			add("%s: memorySize %d must be between %d and %d MB", where, f.MemorySize, MinMemoryMB, MaxMemoryMB)
		}
		if f.EphemeralStorageSize != 0 && (f.EphemeralStorageSize < MinEphemeralStorageMB || f.EphemeralStorageSize > MaxEphemeralStorageMB) {
			add("%s: ephemeralStorageSize %d must be between %d and %d MB", where, f.EphemeralStorageSize, MinEphemeralStorageMB, MaxEphemeralStorageMB)
		}
		if f.Timeout < MinTimeoutSeconds || f.Timeout > MaxTimeoutSeconds {
			add("%s: timeout %d must be between %d and %d seconds", where, f.Timeout, MinTimeoutSeconds, MaxTimeoutSeconds)
		}
		if f.Architecture != "x86_64" && f.Architecture != "arm64" {
			add("%s: architecture %q must be x86_64 or arm64", where, f.Architecture)
		}
		if len(f.Description) > MaxDescriptionLen {
			add("%s: description is longer than %d characters", where, MaxDescriptionLen)
		}
		if f.ReservedConcurrency != nil && *f.ReservedConcurrency < 0 {
			add("%s: reservedConcurrency must not be negative", where)
		}
		envBytes := 0
		for k, v := range f.Environment {
			envBytes += len(k) + len(v)
			if !envKeyRE.MatchString(k) {
				add("%s: environment variable name %q must start with a letter and contain only letters, digits and underscores", where, k)
			}
			if reservedEnv[k] {
				add("%s: environment variable %q is reserved by the runtime", where, k)
			}
			// A NUL would end the value early in the process's environment.
			if strings.IndexByte(v, 0) >= 0 {
				add("%s: environment variable %q contains a NUL character", where, k)
			}
			if !utf8.ValidString(v) {
				add("%s: environment variable %q is not valid UTF-8", where, k)
			}
		}
		for k, v := range f.EnvironmentRefs {
			if !envKeyRE.MatchString(k) {
				add("%s: environment variable name %q must start with a letter and contain only letters, digits and underscores", where, k)
			}
			if reservedEnv[k] {
				add("%s: environment variable %q is reserved by the runtime", where, k)
			}
			if !json.Valid(v) {
				add("%s: environment variable %q is not valid JSON", where, k)
			}
		}
		if d := f.Deployment; d != nil {
			if !aliasNameRE.MatchString(d.Alias) || len(d.Alias) > 128 || digitsRE.MatchString(d.Alias) {
				add("%s: deployment alias %q must be 1 to 128 letters, digits, hyphens or underscores, not only digits", where, d.Alias)
			}
			if _, ok := LookupShift(d.Type); d.Type != "" && !ok {
				add("%s: deployment type %q is none of CodeDeploy's predefined ones (%s)", where, d.Type, strings.Join(ShiftNames(), ", "))
			}
		}
		if len(f.IAMStatements) > 0 {
			var statements []map[string]json.RawMessage
			if err := json.Unmarshal(f.IAMStatements, &statements); err != nil {
				add("%s: iamStatements must be a JSON array of statements", where)
			}
		}
		for _, p := range f.ManagedPolicies {
			if !managedPolicyRE.MatchString(p) {
				add("%s: managed policy %q is not an IAM policy ARN", where, p)
			}
		}
		if envBytes > MaxEnvironmentBytes {
			add("%s: environment variables take %d bytes, over the 4 KB limit", where, envBytes)
		}
		if r := f.MaximumRetryAttempts; r != nil && (*r < 0 || *r > MaxRetryAttempts) {
			add("%s: maximumRetryAttempts %d must be between 0 and %d", where, *r, MaxRetryAttempts)
		}
		if a := f.MaximumEventAge; a != nil && (*a < MinEventAgeSeconds || *a > MaxEventAgeSeconds) {
			add("%s: maximumEventAge %d must be between %d and %d seconds", where, *a, MinEventAgeSeconds, MaxEventAgeSeconds)
		}
		if d := f.Destinations.OnSuccess; d != "" && !ValidDestination(d) {
			add("%s: destinations.onSuccess %q must be a function name or the ARN of a queue, topic, function or event bus", where, d)
		}
		if d := f.Destinations.OnFailure; d != "" && !ValidDestination(d) {
			add("%s: destinations.onFailure %q must be a function name or the ARN of a queue, topic, function or event bus", where, d)
		}
		if f.OnError != "" && !ValidDeadLetterTarget(f.OnError) {
			add("%s: onError %q must be the ARN of an SQS queue or SNS topic", where, f.OnError)
		}
		if !sha256RE.MatchString(f.Code.SHA256) {
			add("%s: code sha256 %q is not a lower-case hex SHA-256", where, f.Code.SHA256)
		}
		if f.Code.Size <= 0 || f.Code.Size > MaxZippedCodeBytes {
			add("%s: code size %d is out of range", where, f.Code.Size)
		}
		if len(f.URL) > 0 && !json.Valid(f.URL) {
			add("%s: url is not valid JSON", where)
		}
	}
	if a.HTTP != nil {
		if len(a.HTTP.APIGateway) > 0 && !json.Valid(a.HTTP.APIGateway) {
			add("http.apiGateway is not valid JSON")
		}
		if len(a.HTTP.HTTPAPI) > 0 && !json.Valid(a.HTTP.HTTPAPI) {
			add("http.httpApi is not valid JSON")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid application %q: %s", a.Service, strings.Join(errs, "; "))
	}
	return nil
}

// EphemeralStorageMB is the size of the function's /tmp in MB, with the
// default applied.
func (f *Function) EphemeralStorageMB() int {
	if f.EphemeralStorageSize == 0 {
		return DefaultEphemeralStorageMB
	}
	return f.EphemeralStorageSize
}

// ID names one stage of a service: "service.stage". Every stage of a
// service is deployed, replaced and removed on its own; the dot appears in
// neither part, so the ID is unambiguous.
func (a *Application) ID() string { return AppID(a.Service, a.Stage) }

// AppID is the ID of a service's stage (Application.ID).
func AppID(service, stage string) string { return service + "." + stage }
