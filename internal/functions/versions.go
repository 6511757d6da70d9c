package functions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Published versions and aliases live in their own bucket, one record per
// function: a redeploy of the service (which rewrites the service record)
// leaves them alone, and one record makes a publish or an alias change a
// single compare-and-set. See docs/adr/0036-versions-aliases.md.
const versionsBucket = "nimbus_versions"

// Latest is the unpublished version every function has.
const Latest = "$LATEST"

// PreconditionError means a RevisionId the caller expected is not the
// current one (Lambda's PreconditionFailedException).
type PreconditionError struct{ Message string }

func (e *PreconditionError) Error() string { return e.Message }

// ResourceConflictError means the request conflicts with what exists: an
// alias that already exists, a version an alias still routes to (Lambda's
// ResourceConflictException).
type ResourceConflictError struct{ Message string }

func (e *ResourceConflictError) Error() string { return e.Message }

// StorageExceededError means a function keeps as many published versions
// as the platform allows (Lambda's CodeStorageExceededException).
type StorageExceededError struct{ Message string }

func (e *StorageExceededError) Error() string { return e.Message }

// DefaultMaxVersions bounds the published versions one function keeps: each
// pins a code package, and a loop of PublishVersion must not fill the disk.
const DefaultMaxVersions = 100

// lineage is the stored record of one function's versions and aliases.
type lineage struct {
	Function string `json:"function"`
	// Last is the highest number ever published: numbers of deleted
	// versions are not reused, as in Lambda.
	Last     int         `json:"last"`
	Versions []published `json:"versions"`
	Aliases  []Alias     `json:"aliases,omitempty"` // sorted by name
}

// published is one immutable version: the function's configuration and
// code package as they were when it was published.
type published struct {
	Version     int              `json:"version"`
	Config      appspec.Function `json:"config"`
	Service     string           `json:"service"`
	Stage       string           `json:"stage"`
	Region      string           `json:"region"`
	Description string           `json:"description,omitempty"`
	PublishedAt time.Time        `json:"publishedAt"`
}

// Alias names a version of a function and, optionally, a second version
// that takes a share of the invocations (Lambda's RoutingConfig).
type Alias struct {
	Name            string `json:"name"`
	FunctionVersion string `json:"functionVersion"`
	Description     string `json:"description,omitempty"`
	// Weights holds at most one other version and the share (0 to 1) of
	// invocations it takes.
	Weights    map[string]float64 `json:"weights,omitempty"`
	RevisionID string             `json:"revisionId"`
}

// lineageView is a lineage with its versions built for the invoke path.
type lineageView struct {
	rec      *lineage
	versions map[string]*Function
}

func (r *Registry) openVersions(ctx context.Context) (jetstream.KeyWatcher, error) {
	kv, err := r.cfg.Store.KeyValue(ctx, versionsBucket, 5)
	if err != nil {
		return nil, err
	}
	r.vkv = kv
	empty := map[string]*lineageView{}
	r.lineages.Store(&empty)
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch versions: %w", err)
	}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		r.applyLineage(e)
	}
	return w, nil
}

func (r *Registry) applyLineage(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		r.setLineage(e.Key(), nil)
		return
	}
	var l lineage
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		r.log.Error("stored versions are unreadable; skipped", "function", e.Key(), "err", err)
		return
	}
	var digests []string
	for _, v := range l.Versions {
		digests = append(digests, v.Config.Code.SHA256)
	}
	defer r.pin(digests)()
	for _, v := range l.Versions {
		if err := r.unpack(v.Config.Code); err != nil {
			r.log.Error("code package of a published version cannot be unpacked", "function", l.Function, "version", v.Version, "err", err)
		}
	}
	r.setLineage(e.Key(), &l)
}

// setLineage installs (or with nil removes) one function's versions.
func (r *Registry) setLineage(name string, l *lineage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.lineages.Load()
	next := make(map[string]*lineageView, len(old)+1)
	for n, v := range old {
		if n != name {
			next[n] = v
		}
	}
	if l != nil {
		view := &lineageView{rec: l, versions: make(map[string]*Function, len(l.Versions))}
		for _, v := range l.Versions {
			view.versions[strconv.Itoa(v.Version)] = r.buildVersion(l.Function, v)
		}
		next[name] = view
	}
	r.lineages.Store(&next)
	r.generation.Add(1)
	r.requestCollect()
	if prev := old[name]; prev != nil && r.cfg.Retired != nil {
		for v := range prev.versions {
			if l == nil || next[name].versions[v] == nil {
				r.cfg.Retired(name, v)
			}
		}
	}
}

func (r *Registry) buildVersion(name string, v published) *Function {
	svc := &service{App: appspec.Application{Service: v.Service, Stage: v.Stage, Region: v.Region}, DeployedAt: v.PublishedAt}
	f := r.buildFunction(svc, v.Config)
	n := strconv.Itoa(v.Version)
	f.Version = n
	f.Config.Description = v.Description
	sum := sha256.Sum256([]byte(f.RevisionID + "/" + n))
	f.RevisionID = hex.EncodeToString(sum[:16])
	spec := *f.Spec
	spec.Version = n
	spec.ARN = f.ARN + ":" + n
	spec.Key = name + "@" + n + "-" + strings.TrimPrefix(spec.Key, name+"@")
	f.Spec = &spec
	return f
}

// versionIdentity is what makes two versions the same: the code and the
// configuration that runs, not the events that trigger the function.
func versionIdentity(fc appspec.Function) string {
	fc.Events, fc.URL, fc.Key, fc.Deployment = nil, nil, "", nil
	fc.Destinations, fc.MaximumEventAge, fc.MaximumRetryAttempts, fc.OnError = appspec.Destinations{}, nil, nil, ""
	b, _ := json.Marshal(fc)
	return string(b)
}

// Version returns a published version ("1", "2" ...) of a function, or
// $LATEST for Latest.
func (r *Registry) Version(name, version string) (*Function, bool) {
	if version == Latest || version == "" {
		return r.Get(name)
	}
	view := (*r.lineages.Load())[name]
	if view == nil {
		return nil, false
	}
	f, ok := view.versions[version]
	return f, ok
}

// Versions returns a function's published versions, oldest first.
func (r *Registry) Versions(name string) []*Function {
	view := (*r.lineages.Load())[name]
	if view == nil {
		return nil
	}
	out := make([]*Function, 0, len(view.rec.Versions))
	for _, v := range view.rec.Versions {
		out = append(out, view.versions[strconv.Itoa(v.Version)])
	}
	return out
}

// Alias returns one alias of a function.
func (r *Registry) Alias(name, alias string) (*Alias, bool) {
	view := (*r.lineages.Load())[name]
	if view == nil {
		return nil, false
	}
	for i := range view.rec.Aliases {
		if view.rec.Aliases[i].Name == alias {
			return &view.rec.Aliases[i], true
		}
	}
	return nil, false
}

// Aliases returns a function's aliases, sorted by name.
func (r *Registry) Aliases(name string) []Alias {
	view := (*r.lineages.Load())[name]
	if view == nil {
		return nil
	}
	return append([]Alias(nil), view.rec.Aliases...)
}

// PublishOptions are PublishVersion's preconditions and description.
type PublishOptions struct {
	// CodeSha256 and RevisionID, when set, must match $LATEST's.
	CodeSha256  string
	RevisionID  string
	Description string
}

// PublishVersion snapshots $LATEST as a new version. When nothing that
// runs changed since the last version, that version is returned instead,
// as Lambda does.
func (r *Registry) PublishVersion(ctx context.Context, name string, opts PublishOptions) (*Function, error) {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	return r.publish(ctx, name, opts, false)
}

// publish is PublishVersion with the deploy lock held. At the limit of
// versions kept, prune deletes the oldest one no alias routes to (deploys
// publish on their own, and must not stop at the limit); without it the
// publish is refused.
func (r *Registry) publish(ctx context.Context, name string, opts PublishOptions, prune bool) (*Function, error) {
	f, ok := r.current.Load().byName[name]
	if !ok {
		return nil, fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	if opts.CodeSha256 != "" && opts.CodeSha256 != f.CodeSha256 {
		return nil, &InvalidError{fmt.Errorf("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST", opts.CodeSha256, f.CodeSha256)}
	}
	if opts.RevisionID != "" && opts.RevisionID != f.RevisionID {
		return nil, &PreconditionError{"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
	}
	var out *Function
	err := r.updateLineage(ctx, name, func(l *lineage) (bool, error) {
		if n := len(l.Versions); n > 0 && versionIdentity(l.Versions[n-1].Config) == versionIdentity(f.Config) {
			out = r.buildVersion(name, l.Versions[n-1])
			return false, nil
		}
		if len(l.Versions) >= r.cfg.MaxVersions {
			if !prune || !pruneOldest(l) {
				return false, &StorageExceededError{fmt.Sprintf("Function %s keeps %d published versions, the most this platform allows: delete versions no longer used (DeleteFunction with a Qualifier) before publishing another", name, len(l.Versions))}
			}
		}
		desc := opts.Description
		if desc == "" {
			desc = f.Config.Description
		}
		l.Last++
		v := published{Version: l.Last, Config: f.Config, Service: f.Service, Stage: f.Stage, Region: f.Region,
			Description: desc, PublishedAt: time.Now().UTC()}
		l.Versions = append(l.Versions, v)
		out = r.buildVersion(name, v)
		return true, nil
	})
	return out, err
}

// publishDeployed publishes a version of each function of a stored deploy
// (one whose code and configuration match the last version answers that
// version). The deploy has happened: a failure is a warning. The caller
// holds the deploy lock.
func (r *Registry) publishDeployed(ctx context.Context, app *appspec.Application, res *DeployResult) {
	for _, fc := range app.Functions {
		v, err := r.publish(ctx, fc.Name, PublishOptions{}, true)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("function %s: no version published: %v", fc.Name, err))
			continue
		}
		if res.Versions == nil {
			res.Versions = map[string]string{}
		}
		res.Versions[fc.Name] = v.Version
	}
}

// pruneOldest deletes the oldest version no alias routes to; false when
// every version is routed to.
func pruneOldest(l *lineage) bool {
	for i, v := range l.Versions {
		if len(aliasesOf(l, strconv.Itoa(v.Version))) == 0 {
			l.Versions = append(l.Versions[:i], l.Versions[i+1:]...)
			return true
		}
	}
	return false
}

// aliasesOf names the aliases that route to a version.
func aliasesOf(l *lineage, version string) []string {
	var users []string
	for _, a := range l.Aliases {
		if _, weighted := a.Weights[version]; a.FunctionVersion == version || weighted {
			users = append(users, a.Name)
		}
	}
	return users
}

// DeleteVersion deletes a published version, unless an alias routes to it.
func (r *Registry) DeleteVersion(ctx context.Context, name, version string) error {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	if _, ok := r.current.Load().byName[name]; !ok {
		return fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	return r.updateLineage(ctx, name, func(l *lineage) (bool, error) {
		if users := aliasesOf(l, version); len(users) > 0 {
			return false, &ResourceConflictError{fmt.Sprintf("Unable to delete version because the following aliases reference it: [%s]", strings.Join(users, ", "))}
		}
		for i, v := range l.Versions {
			if strconv.Itoa(v.Version) == version {
				l.Versions = append(l.Versions[:i], l.Versions[i+1:]...)
				return true, nil
			}
		}
		// Lambda answers success for a version that does not exist.
		return false, nil
	})
}

// AliasChange is what CreateAlias and UpdateAlias set; nil fields of an
// update keep what the alias has.
type AliasChange struct {
	FunctionVersion *string
	Description     *string
	Weights         *map[string]float64
	// RevisionID, when set, must be the alias's current one (updates only).
	RevisionID string
}

// PutAlias creates (create true) or updates an alias.
func (r *Registry) PutAlias(ctx context.Context, name, alias string, change AliasChange, create bool) (*Alias, error) {
	if create {
		if err := ValidAliasName(alias); err != nil {
			return nil, &InvalidError{err}
		}
		if change.FunctionVersion == nil {
			return nil, &InvalidError{errors.New("FunctionVersion is required")}
		}
	}
	r.deploys.Lock()
	defer r.deploys.Unlock()
	f, ok := r.current.Load().byName[name]
	if !ok {
		return nil, fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	var out Alias
	err := r.updateLineage(ctx, name, func(l *lineage) (bool, error) {
		i := sort.Search(len(l.Aliases), func(i int) bool { return l.Aliases[i].Name >= alias })
		exists := i < len(l.Aliases) && l.Aliases[i].Name == alias
		switch {
		case create && exists:
			return false, &ResourceConflictError{fmt.Sprintf("Alias already exists: %s:%s", f.ARN, alias)}
		case !create && !exists:
			return false, fmt.Errorf("Alias not found: %s:%s: %w", f.ARN, alias, ErrNotFound)
		}
		var a Alias
		if exists {
			a = l.Aliases[i]
			if change.RevisionID != "" && change.RevisionID != a.RevisionID {
				return false, &PreconditionError{"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
			}
		}
		a.Name = alias
		if change.FunctionVersion != nil {
			a.FunctionVersion = *change.FunctionVersion
		}
		if change.Description != nil {
			a.Description = *change.Description
		}
		if change.Weights != nil {
			a.Weights = *change.Weights
			if len(a.Weights) == 0 {
				a.Weights = nil
			}
		}
		if err := checkAlias(l, &a); err != nil {
			return false, err
		}
		a.RevisionID = newRevision()
		if exists {
			l.Aliases[i] = a
		} else {
			l.Aliases = append(l.Aliases, Alias{})
			copy(l.Aliases[i+1:], l.Aliases[i:])
			l.Aliases[i] = a
		}
		out = a
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// checkAlias validates the versions an alias routes to against the
// published ones.
func checkAlias(l *lineage, a *Alias) error {
	has := func(v string) bool {
		if v == Latest {
			return true
		}
		for _, p := range l.Versions {
			if strconv.Itoa(p.Version) == v {
				return true
			}
		}
		return false
	}
	if !has(a.FunctionVersion) {
		return fmt.Errorf("Function not found: %s:%s: %w", l.Function, a.FunctionVersion, ErrNotFound)
	}
	if len(a.Weights) > 1 {
		return &InvalidError{errors.New("RoutingConfig: an alias routes to at most one additional version")}
	}
	for v, w := range a.Weights {
		switch {
		case !(w >= 0 && w <= 1):
			return &InvalidError{fmt.Errorf("RoutingConfig: the weight of version %s must be between 0.0 and 1.0", v)}
		case v == Latest || a.FunctionVersion == Latest:
			return &InvalidError{errors.New("RoutingConfig: $LATEST cannot take part in a weighted alias; publish a version")}
		case v == a.FunctionVersion:
			return &InvalidError{fmt.Errorf("RoutingConfig: version %s is already the alias's primary version", v)}
		case !has(v):
			return fmt.Errorf("Function not found: %s:%s: %w", l.Function, v, ErrNotFound)
		}
	}
	return nil
}

// DeleteAlias deletes an alias; deleting one that does not exist succeeds,
// as in Lambda.
func (r *Registry) DeleteAlias(ctx context.Context, name, alias string) error {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	if _, ok := r.current.Load().byName[name]; !ok {
		return fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	return r.updateLineage(ctx, name, func(l *lineage) (bool, error) {
		for i, a := range l.Aliases {
			if a.Name == alias {
				l.Aliases = append(l.Aliases[:i], l.Aliases[i+1:]...)
				return true, nil
			}
		}
		return false, nil
	})
}

// ValidAliasName checks an alias name as Lambda does: 1 to 128 of
// [a-zA-Z0-9-_], not only digits (those name versions), not $LATEST.
func ValidAliasName(s string) error {
	if len(s) == 0 || len(s) > 128 {
		return fmt.Errorf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must have length between 1 and 128", s)
	}
	digits := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", s)
		}
		if c < '0' || c > '9' {
			digits = false
		}
	}
	if digits {
		return fmt.Errorf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", s)
	}
	return nil
}

func newRevision() string {
	var b [16]byte
	sum := sha256.Sum256(strconv.AppendInt(b[:0], time.Now().UnixNano(), 10))
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// updateLineage reads a function's record, lets change edit it (true: store
// it) and stores it with a compare-and-set, so that nodes sharing the
// bucket do not overwrite each other's changes.
func (r *Registry) updateLineage(ctx context.Context, name string, change func(*lineage) (bool, error)) error {
	for attempt := 0; ; attempt++ {
		l := &lineage{Function: name}
		var rev uint64
		e, err := r.vkv.Get(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read versions of %s: %w", name, err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), l); err != nil {
				return fmt.Errorf("read versions of %s: %w", name, err)
			}
		}
		store, err := change(l)
		if err != nil || !store {
			return err
		}
		data, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = r.vkv.Create(ctx, name, data)
		} else {
			_, err = r.vkv.Update(ctx, name, data, rev)
		}
		if err != nil && attempt < 5 && (errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence")) {
			continue // another node changed it first
		}
		if err != nil {
			return fmt.Errorf("store versions of %s: %w", name, err)
		}
		r.setLineage(name, l)
		return nil
	}
}

// dropLineage deletes the versions and aliases of a function that is gone.
func (r *Registry) dropLineage(ctx context.Context, name string) {
	if (*r.lineages.Load())[name] == nil {
		return
	}
	if err := r.vkv.Delete(ctx, name); err != nil {
		r.log.Warn("versions of a removed function not deleted", "function", name, "err", err)
		return
	}
	r.setLineage(name, nil)
}

// versionDigests are the code packages published versions keep.
func (r *Registry) versionDigests(used map[string]bool) {
	for _, view := range *r.lineages.Load() {
		for _, v := range view.rec.Versions {
			used[v.Config.Code.SHA256] = true
		}
	}
}
