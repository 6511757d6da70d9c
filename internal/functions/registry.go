// Package functions is the registry of deployed services and their
// functions: it validates and applies deploys, keeps them in a JetStream KV
// bucket (so a restart or another node sees the same), and answers lookups
// for the invoke path from an in-memory index.
package functions

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/blobs"
	"github.com/nimbus-platform/nimbus/internal/runtime"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// ErrNotFound means no function or service has that name.
var ErrNotFound = errors.New("not found")

// ConflictError means a deploy would take a name another service (or
// another stage of the same service) owns.
type ConflictError struct{ Function, Service, Owner string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("function name %q of %s is already used by %s", e.Function, describeID(e.Service), describeID(e.Owner))
}

// describeID names a service's stage for a person: "service x (stage y)".
func describeID(id string) string {
	if svc, stage, ok := strings.Cut(id, "."); ok {
		return fmt.Sprintf("service %q (stage %s)", svc, stage)
	}
	return fmt.Sprintf("service %q", id)
}

// InvalidError wraps a deploy that was refused for its content.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Function is one deployed function version: $LATEST or a published one.
type Function struct {
	Config appspec.Function
	// Version is "$LATEST" or the number of a published version.
	Version string
	Service string
	Stage   string
	// App is the ID of the service's stage the function belongs to
	// (appspec.Application.ID).
	App          string
	Region       string
	ARN          string
	LastModified time.Time
	// CodeSha256 is base64 of the package's SHA-256, as Lambda reports it.
	CodeSha256 string
	RevisionID string
	// Spec is what the runtime needs to start instances.
	Spec *runtime.Spec
}

// service is the stored form of a deployed application, one per stage of a
// service, stored under its ID (services stored before stages were kept
// apart are under their bare name until their next deploy).
type service struct {
	App        appspec.Application `json:"app"`
	DeployedAt time.Time           `json:"deployedAt"`
	// CreatedAt is the first deploy of this stage: the older stage keeps
	// what two claim (a route of the shared HTTP root).
	CreatedAt time.Time `json:"createdAt,omitzero"`
	Revision  string    `json:"revision"`
}

func (s *service) created() time.Time {
	if s.CreatedAt.IsZero() {
		return s.DeployedAt
	}
	return s.CreatedAt
}

type index struct {
	services map[string]*service // by KV key
	byName   map[string]*Function
}

// find returns the stored key and record of a service's stage.
func (idx *index) find(service, stage string) (string, *service) {
	if svc := idx.services[appspec.AppID(service, stage)]; svc != nil {
		return appspec.AppID(service, stage), svc
	}
	if svc := idx.services[service]; svc != nil && svc.App.Stage == stage {
		return service, svc
	}
	return "", nil
}

// lookup finds a service's stage by ID ("svc.stage"), or by bare service
// name when that service has exactly one stage deployed.
func (idx *index) lookup(name string) (string, *service) {
	if svc, stage, ok := strings.Cut(name, "."); ok {
		return idx.find(svc, stage)
	}
	var key string
	var found *service
	for k, s := range idx.services {
		if s.App.Service == name {
			if found != nil {
				return "", nil
			}
			key, found = k, s
		}
	}
	return key, found
}

// Config sets up a Registry.
type Config struct {
	Store     *store.Store
	Blobs     *blobs.Store
	CodeDir   string // where packages are unpacked, one directory per SHA-256
	AccountID string
	Logger    *slog.Logger
	// Resolve runs on every deploy before the checks, with the version it
	// replaces (nil for a new service) and the other services deployed: it
	// evaluates the application's references (CloudFormation intrinsic
	// functions) in place and returns warnings for what it left unresolved.
	// An error refuses the deploy as invalid.
	Resolve func(app, prev *appspec.Application, others []appspec.Application) ([]string, error)
	// Retired is called with each function version ("$LATEST" or a
	// number) that was replaced or removed, so its instances can stop;
	// the function's other versions keep theirs.
	Retired func(function, version string)
	// Checks run on every deploy after validation, with the other services
	// deployed; an error refuses the deploy (e.g. the gateway's route conflicts).
	Checks []DeployCheck
	// CodeInUse reports whether a live instance runs from an unpacked code
	// directory, which collection must then keep; nil: none is.
	CodeInUse func(dir string) bool
	// BlobGrace spares a code package nothing uses for this long after its
	// upload or a client's check that it exists, so that the deploy that
	// follows finds it (default 15 minutes).
	BlobGrace time.Duration
	// Shift starts a traffic shift of an alias from one version to another
	// (internal/deployments); it is called after the deploy is stored, with
	// no lock held, and returns the deployment's id. Nil moves aliases at once.
	Shift func(ctx context.Context, req ShiftRequest) (string, error)
	// MaxVersions bounds the published versions kept per function
	// (default DefaultMaxVersions).
	MaxVersions int
	// CollectEvery is the period of collection passes besides those after
	// each change (default a minute).
	CollectEvery time.Duration
}

// DeployCheck judges an application against the other deployed services.
type DeployCheck func(app *appspec.Application, others []appspec.Application) error

// Registry holds every deployed service.
type Registry struct {
	cfg     Config
	kv      jetstream.KeyValue
	prepare []PrepareHook
	// removeChecks may refuse to remove a service that others depend on.
	removeChecks []DeployCheck
	// removed clean up after a service is removed.
	removed []RemovedHook
	// inventories list what deploys create besides functions, for summaries.
	inventories []Inventory
	deploys     sync.Mutex // one deploy at a time keeps diffs and conflict checks simple
	mu          sync.Mutex // guards rebuilding the index
	current     atomic.Pointer[index]
	// vkv and lineages hold published versions and aliases (versions.go).
	vkv      jetstream.KeyValue
	lineages atomic.Pointer[map[string]*lineageView]
	// generation counts index changes so edges can rebuild derived tables lazily.
	generation atomic.Uint64
	log        *slog.Logger

	pinMu      sync.Mutex     // guards pins; held while collection decides
	pins       map[string]int // digests of deploys in progress
	collectMu  sync.Mutex     // one collection pass at a time
	collectNow chan struct{}
}

const bucket = "nimbus_services"

// Open loads every stored service and starts following changes (from other
// nodes) until ctx ends.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BlobGrace <= 0 {
		cfg.BlobGrace = defaultBlobGrace
	}
	if cfg.MaxVersions <= 0 {
		cfg.MaxVersions = DefaultMaxVersions
	}
	if cfg.CollectEvery <= 0 {
		cfg.CollectEvery = defaultCollectEvery
	}
	kv, err := cfg.Store.KeyValue(ctx, bucket, 5)
	if err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, kv: kv, log: cfg.Logger, pins: map[string]int{},
		collectNow: make(chan struct{}, 1)}
	if err := r.removeLeftovers(); err != nil {
		return nil, err
	}
	r.current.Store(&index{services: map[string]*service{}, byName: map[string]*Function{}})
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	// The watcher first replays every stored service, then a nil entry.
	for e := range w.Updates() {
		if e == nil {
			break
		}
		r.applyEntry(e)
	}
	vw, err := r.openVersions(ctx)
	if err != nil {
		_ = w.Stop()
		return nil, err
	}
	go r.collector(ctx)
	r.requestCollect() // what the previous run left unused
	go follow(ctx, w, r.applyEntry)
	go follow(ctx, vw, r.applyLineage)
	return r, nil
}

// follow applies a bucket's changes until ctx ends.
func follow(ctx context.Context, w jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry)) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				apply(e)
			}
		}
	}
}

func (r *Registry) applyEntry(e jetstream.KeyValueEntry) {
	name := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		r.setService(name, nil)
		return
	}
	var svc service
	if err := json.Unmarshal(e.Value(), &svc); err != nil {
		r.log.Error("stored service is unreadable; skipped", "service", name, "err", err)
		return
	}
	defer r.pin(codeDigests(&svc.App))()
	for _, f := range svc.App.Functions {
		if err := r.unpack(f.Code); err != nil {
			r.log.Error("code package of a stored function cannot be unpacked", "function", f.Name, "err", err)
		}
	}
	r.setService(name, &svc)
}

// setService installs (or with nil removes) one service in a new index.
func (r *Registry) setService(name string, svc *service) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.current.Load()
	if prev := old.services[name]; prev != nil && svc != nil && prev.Revision == svc.Revision {
		return
	}
	next := &index{services: make(map[string]*service, len(old.services)+1), byName: make(map[string]*Function, len(old.byName)+4)}
	for n, s := range old.services {
		if n != name {
			next.services[n] = s
		}
	}
	if svc != nil {
		next.services[name] = svc
	}
	// The functions of the stage that changed are rebuilt from the records
	// left for it: during the move of a record stored under a service's bare
	// name to its ID, both can be present (the newer deploy wins).
	rebuild := map[string]bool{}
	if prev := old.services[name]; prev != nil {
		rebuild[prev.App.ID()] = true
	}
	if svc != nil {
		rebuild[svc.App.ID()] = true
	}
	for n, f := range old.byName {
		if !rebuild[f.App] {
			next.byName[n] = f
		}
	}
	var sources []*service
	for _, s := range next.services {
		if rebuild[s.App.ID()] {
			sources = append(sources, s)
		}
	}
	sort.Slice(sources, func(i, j int) bool { return sources[i].DeployedAt.Before(sources[j].DeployedAt) })
	for _, s := range sources {
		for _, fc := range s.App.Functions {
			next.byName[fc.Name] = r.buildFunction(s, fc)
		}
	}
	r.current.Store(next)
	r.generation.Add(1)
	r.requestCollect()
	if r.cfg.Retired != nil {
		for n, f := range old.byName {
			if nf, ok := next.byName[n]; !ok || nf.Spec.Key != f.Spec.Key {
				r.cfg.Retired(n, Latest)
			}
		}
	}
}

func (r *Registry) buildFunction(svc *service, fc appspec.Function) *Function {
	app := svc.App
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", app.Region, r.cfg.AccountID, fc.Name)
	digest, _ := hex.DecodeString(fc.Code.SHA256)
	cfgJSON, _ := json.Marshal(fc)
	sum := sha256.Sum256(append(cfgJSON, app.Region...))
	key := fc.Name + "@" + hex.EncodeToString(sum[:8])
	reserved := -1
	if fc.ReservedConcurrency != nil {
		reserved = *fc.ReservedConcurrency
	}
	return &Function{
		Config:       fc,
		Version:      Latest,
		Service:      app.Service,
		Stage:        app.Stage,
		App:          app.ID(),
		Region:       app.Region,
		ARN:          arn,
		LastModified: svc.DeployedAt,
		CodeSha256:   base64.StdEncoding.EncodeToString(digest),
		RevisionID:   hex.EncodeToString(sum[8:24]),
		Spec: &runtime.Spec{
			Key:                 key,
			FunctionName:        fc.Name,
			Version:             Latest,
			ARN:                 arn,
			Runtime:             fc.Runtime,
			Handler:             fc.Handler,
			MemoryMB:            fc.MemorySize,
			Timeout:             time.Duration(fc.Timeout) * time.Second,
			Environment:         fc.Environment,
			CodeDir:             r.codeDir(fc.Code.SHA256),
			Region:              app.Region,
			ReservedConcurrency: reserved,
			EphemeralStorageMB:  fc.EphemeralStorageMB(),
		},
	}
}

func (r *Registry) codeDir(digest string) string { return filepath.Join(r.cfg.CodeDir, digest) }

func codeDigests(app *appspec.Application) []string {
	out := make([]string, 0, len(app.Functions))
	for _, f := range app.Functions {
		out = append(out, f.Code.SHA256)
	}
	return out
}

func (r *Registry) unpack(code appspec.CodeRef) error {
	if !r.cfg.Blobs.Has(code.SHA256) {
		return fmt.Errorf("code package %s was never uploaded", code.SHA256)
	}
	return extract(r.cfg.Blobs.Path(code.SHA256), r.codeDir(code.SHA256), defaultExtractLimits())
}

// Get returns the function with that name.
func (r *Registry) Get(name string) (*Function, bool) {
	f, ok := r.current.Load().byName[name]
	return f, ok
}

// List returns every function, sorted by name.
func (r *Registry) List() []*Function {
	idx := r.current.Load()
	out := make([]*Function, 0, len(idx.byName))
	for _, f := range idx.byName {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Config.Name < out[j].Config.Name })
	return out
}

// Generation changes whenever the deployed services change.
func (r *Registry) Generation() uint64 { return r.generation.Load() }

// Services returns every deployed application (each stage of a service is
// one), oldest first: in the order their stages were first deployed.
func (r *Registry) Services() []appspec.Application {
	idx := r.current.Load()
	all := make([]*service, 0, len(idx.services))
	for _, svc := range idx.services {
		all = append(all, svc)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].created(), all[j].created()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return all[i].App.ID() < all[j].App.ID()
	})
	out := make([]appspec.Application, len(all))
	for i, svc := range all {
		out[i] = svc.App
	}
	return out
}

// Service returns a deployed application by ID ("service.stage", what
// Function.App holds), or by service name when one stage of it is deployed.
func (r *Registry) Service(name string) (*appspec.Application, bool) {
	_, svc := r.current.Load().lookup(name)
	if svc == nil {
		return nil, false
	}
	app := svc.App
	return &app, true
}

// Stages returns the deployed stages of a service, sorted by name.
func (r *Registry) Stages(service string) []appspec.Application {
	var out []appspec.Application
	for _, svc := range r.current.Load().services {
		if svc.App.Service == service {
			out = append(out, svc.App)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stage < out[j].Stage })
	return out
}

// Change is one line of a deploy's outcome.
type Change struct {
	Kind   string `json:"kind"` // function, or an Item's kind
	Name   string `json:"name"`
	Action string `json:"action"` // created, updated, unchanged, removed, retained
}

// Change actions.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
	Removed   = "removed"
	// Retained is an item no longer declared that stays on the platform.
	Retained = "retained"
)

// itemChanges compares what two versions of an application declare; prev
// may be nil. Unchanged items are left out.
func (r *Registry) itemChanges(prev, next *appspec.Application) []Change {
	var out []Change
	for _, inv := range r.inventories {
		old := map[string]Item{}
		if prev != nil {
			for _, it := range inv(prev) {
				old[it.Kind+"\x00"+it.Name] = it
			}
		}
		var batch []Change
		if next != nil {
			for _, it := range inv(next) {
				k := it.Kind + "\x00" + it.Name
				was, existed := old[k]
				delete(old, k)
				switch {
				case !existed:
					batch = append(batch, Change{Kind: it.Kind, Name: it.Name, Action: Created})
				case was.Digest != it.Digest:
					batch = append(batch, Change{Kind: it.Kind, Name: it.Name, Action: Updated})
				}
			}
		}
		for _, it := range old {
			action := Removed
			if it.Retained {
				action = Retained
			}
			batch = append(batch, Change{Kind: it.Kind, Name: it.Name, Action: action})
		}
		sort.Slice(batch, func(i, j int) bool {
			if batch[i].Kind != batch[j].Kind {
				return batch[i].Kind < batch[j].Kind
			}
			return batch[i].Name < batch[j].Name
		})
		out = append(out, batch...)
	}
	return out
}

// DeployResult says what a deploy changed.
type DeployResult struct {
	Service  string   `json:"service"`
	Stage    string   `json:"stage,omitempty"`
	Changed  bool     `json:"changed"`
	Changes  []Change `json:"changes"`
	Revision string   `json:"revision"`
	// Warnings are what the platform did not apply (references to
	// resources it does not create ...).
	Warnings []string `json:"warnings,omitempty"`
	// Versions are the versions the deploy published (versionFunctions),
	// by function name.
	Versions map[string]string `json:"versions,omitempty"`
	// Deployments are the traffic shifts the deploy started, by function.
	Deployments map[string]string `json:"deployments,omitempty"`
}

// Deploy validates app and, if it differs from what runs, makes it current in
// one step. Nothing changes when it fails.
func (r *Registry) Deploy(ctx context.Context, app *appspec.Application) (*DeployResult, error) {
	if err := app.Validate(); err != nil {
		return nil, &InvalidError{err}
	}
	// Unpacking a big package takes a while: do it before taking the deploy
	// lock, pinned so that collection keeps it until the deploy is stored.
	defer r.pin(codeDigests(app))()
	for _, f := range app.Functions {
		if !r.cfg.Blobs.Has(f.Code.SHA256) {
			return nil, &InvalidError{fmt.Errorf("function %q: code package %s was not uploaded", f.Key, f.Code.SHA256)}
		}
		if err := r.unpack(f.Code); err != nil {
			return nil, &InvalidError{fmt.Errorf("function %q: %w", f.Key, err)}
		}
		if err := appspec.CheckHandler(os.DirFS(r.codeDir(f.Code.SHA256)), f.Runtime, f.Handler); err != nil {
			return nil, &InvalidError{fmt.Errorf("function %q: %w", f.Key, err)}
		}
	}
	var shifts []ShiftRequest
	res, err := r.deploy(ctx, app, &shifts)
	if err != nil {
		return nil, err
	}
	r.startShifts(ctx, shifts, res)
	return res, nil
}

// deploy is Deploy with the code unpacked; it holds the deploy lock and
// leaves the traffic shifts it decided on in shifts.
func (r *Registry) deploy(ctx context.Context, app *appspec.Application, shifts *[]ShiftRequest) (*DeployResult, error) {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	idx := r.current.Load()
	warnings, err := r.resolve(app, idx)
	if err != nil {
		return nil, err
	}
	if len(r.cfg.Checks) > 0 {
		others := r.others(idx, app.ID())
		for _, check := range r.cfg.Checks {
			if err := check(app, others); err != nil {
				return nil, &InvalidError{err}
			}
		}
	}
	for _, f := range app.Functions {
		if owner, ok := idx.byName[f.Name]; ok && owner.App != app.ID() {
			return nil, &ConflictError{Function: f.Name, Service: app.ID(), Owner: owner.App}
		}
	}
	for _, prepare := range r.prepare {
		if err := prepare(ctx, app); err != nil {
			return nil, err
		}
	}
	sort.Slice(app.Functions, func(i, j int) bool { return app.Functions[i].Key < app.Functions[j].Key })
	appJSON, err := json.Marshal(app)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(appJSON)
	revision := hex.EncodeToString(sum[:12])
	res := &DeployResult{Service: app.Service, Stage: app.Stage, Revision: revision, Warnings: warnings}

	prevKey, prev := idx.find(app.Service, app.Stage)
	prevFns := map[string]appspec.Function{}
	if prev != nil {
		for _, f := range prev.App.Functions {
			prevFns[f.Name] = f
		}
	}
	for _, f := range app.Functions {
		old, existed := prevFns[f.Name]
		delete(prevFns, f.Name)
		action := Created
		if existed {
			action = Updated
			a, _ := json.Marshal(old)
			b, _ := json.Marshal(f)
			if string(a) == string(b) {
				action = Unchanged
			}
		}
		res.Changes = append(res.Changes, Change{Kind: "function", Name: f.Name, Action: action})
	}
	for name := range prevFns {
		res.Changes = append(res.Changes, Change{Kind: "function", Name: name, Action: Removed})
	}

	sort.Slice(res.Changes, func(i, j int) bool { return res.Changes[i].Name < res.Changes[j].Name })
	if prev != nil && prev.Revision == revision {
		if app.VersionFunctions {
			// A version the last deploy failed to publish is published now.
			r.publishDeployed(ctx, app, res)
		}
		*shifts = r.deployAliases(ctx, app, res)
		return res, nil
	}
	var prevApp *appspec.Application
	if prev != nil {
		prevApp = &prev.App
	}
	res.Changes = append(res.Changes, r.itemChanges(prevApp, app)...)
	res.Changed = true
	now := time.Now().UTC()
	svc := &service{App: *app, DeployedAt: now, CreatedAt: now, Revision: revision}
	if prev != nil {
		svc.CreatedAt = prev.created()
	}
	data, err := json.Marshal(svc)
	if err != nil {
		return nil, err
	}
	key := app.ID()
	if _, err := r.kv.Put(ctx, key, data); err != nil {
		return nil, fmt.Errorf("store service %s: %w", key, err)
	}
	r.setService(key, svc)
	for name := range prevFns {
		r.dropLineage(ctx, name) // Lambda deletes a function's versions with it
	}
	if app.VersionFunctions {
		r.publishDeployed(ctx, app, res)
	}
	*shifts = r.deployAliases(ctx, app, res)
	if prevKey != "" && prevKey != key {
		// Stored under its bare name by an older version: one record per stage now.
		if err := r.kv.Delete(ctx, prevKey); err != nil {
			r.log.Warn("old record of a redeployed service not deleted", "key", prevKey, "err", err)
		}
		r.setService(prevKey, nil)
	}
	return res, nil
}

// resolve evaluates app's references in place (Config.Resolve) against the
// deployed services, then validates the result again.
func (r *Registry) resolve(app *appspec.Application, idx *index) ([]string, error) {
	if r.cfg.Resolve == nil {
		return nil, nil
	}
	var prev *appspec.Application
	if _, svc := idx.find(app.Service, app.Stage); svc != nil {
		prev = &svc.App
	}
	warnings, err := r.cfg.Resolve(app, prev, r.others(idx, app.ID()))
	if err != nil {
		return nil, &InvalidError{err}
	}
	if err := app.Validate(); err != nil {
		return nil, &InvalidError{err}
	}
	return warnings, nil
}

// others returns the deployed applications other than the stage id, oldest
// first (see Services).
func (r *Registry) others(idx *index, id string) []appspec.Application {
	all := make([]*service, 0, len(idx.services))
	for _, svc := range idx.services {
		if svc.App.ID() != id {
			all = append(all, svc)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].created(), all[j].created()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return all[i].App.ID() < all[j].App.ID()
	})
	out := make([]appspec.Application, len(all))
	for i, svc := range all {
		out[i] = svc.App
	}
	return out
}

// ErrAmbiguous means a service was named without a stage while several of
// its stages are deployed.
var ErrAmbiguous = errors.New("several stages are deployed")

// Remove deletes one stage of a service and its functions. name is an ID
// ("service.stage") or a service name, which must then have one stage
// deployed.
func (r *Registry) Remove(ctx context.Context, name string) (*DeployResult, error) {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	idx := r.current.Load()
	key, svc := idx.lookup(name)
	if svc == nil {
		if !strings.Contains(name, ".") && len(r.Stages(name)) > 1 {
			var stages []string
			for _, a := range r.Stages(name) {
				stages = append(stages, a.Stage)
			}
			return nil, fmt.Errorf("service %q has the stages %s: name one: %w", name, strings.Join(stages, ", "), ErrAmbiguous)
		}
		return nil, fmt.Errorf("%s: %w", describeID(name), ErrNotFound)
	}
	for _, check := range r.removeChecks {
		if err := check(&svc.App, r.others(idx, svc.App.ID())); err != nil {
			return nil, &InvalidError{err}
		}
	}
	if err := r.kv.Delete(ctx, key); err != nil {
		return nil, fmt.Errorf("remove service %s: %w", key, err)
	}
	r.setService(key, nil)
	res := &DeployResult{Service: svc.App.Service, Stage: svc.App.Stage, Changed: true}
	for _, f := range svc.App.Functions {
		r.dropLineage(ctx, f.Name)
	}
	for _, h := range r.removed {
		if err := h(ctx, &svc.App); err != nil {
			res.Warnings = append(res.Warnings, err.Error())
		}
	}
	for _, f := range svc.App.Functions {
		res.Changes = append(res.Changes, Change{Kind: "function", Name: f.Name, Action: Removed})
	}
	res.Changes = append(res.Changes, r.itemChanges(&svc.App, nil)...)
	return res, nil
}

// DeleteFunction removes one function from its service (Lambda's DeleteFunction).
func (r *Registry) DeleteFunction(ctx context.Context, name string) error {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	f, ok := r.current.Load().byName[name]
	if !ok {
		return fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	key, svc := r.current.Load().find(f.Service, f.Stage)
	next := *svc
	next.App.Functions = nil
	for _, fc := range svc.App.Functions {
		if fc.Name != name {
			next.App.Functions = append(next.App.Functions, fc)
		}
	}
	next.DeployedAt = time.Now().UTC()
	next.Revision = next.Revision + "-" + name
	defer r.dropLineage(ctx, name)
	if len(next.App.Functions) == 0 {
		if err := r.kv.Delete(ctx, key); err != nil {
			return fmt.Errorf("remove service %s: %w", key, err)
		}
		r.setService(key, nil)
		return nil
	}
	data, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("store service %s: %w", key, err)
	}
	r.setService(key, &next)
	return nil
}
