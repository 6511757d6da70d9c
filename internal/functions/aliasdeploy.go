package functions

import (
	"context"
	"fmt"
	"sort"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// ShiftRequest asks for a traffic shift of an alias from its version to a
// newly published one (docs/adr/0038-traffic-shifting.md).
type ShiftRequest struct {
	Function   string
	Alias      string
	From, To   string
	Deployment appspec.Deployment
}

// deployAliases publishes a version of each function with a deployment
// (SAM's AutoPublishAlias, the canary plugin's deploymentSettings) and
// creates its alias, or moves it at once, or returns the shift that moves
// it. The deploy has happened: failures are warnings. The caller holds the
// deploy lock.
func (r *Registry) deployAliases(ctx context.Context, app *appspec.Application, res *DeployResult) []ShiftRequest {
	var shifts []ShiftRequest
	for _, fc := range app.Functions {
		d := fc.Deployment
		if d == nil {
			continue
		}
		warn := func(err error) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("function %s: alias %s not deployed: %v", fc.Name, d.Alias, err))
		}
		v, err := r.publish(ctx, fc.Name, PublishOptions{}, true)
		if err != nil {
			warn(err)
			continue
		}
		if res.Versions == nil {
			res.Versions = map[string]string{}
		}
		res.Versions[fc.Name] = v.Version
		cur, exists := r.Alias(fc.Name, d.Alias)
		cfg, _ := appspec.LookupShift(d.Type)
		shifted := cfg.Kind == appspec.ShiftCanary || cfg.Kind == appspec.ShiftLinear || d.PreTrafficHook != "" || d.PostTrafficHook != ""
		switch {
		case !exists:
			// The first version: nothing to shift from, as CodeDeploy.
			err = r.setAlias(ctx, fc.Name, d.Alias, v.Version, nil)
		case cur.FunctionVersion == v.Version && len(cur.Weights) == 0:
			// Unchanged, or a shift toward it already promoted it.
		case r.cfg.Shift == nil || !shifted:
			err = r.setAlias(ctx, fc.Name, d.Alias, v.Version, nil)
			if err == nil && r.cfg.Shift != nil {
				// A shift under way toward another version stops.
				shifts = append(shifts, ShiftRequest{Function: fc.Name, Alias: d.Alias, From: v.Version, To: v.Version, Deployment: *d})
			}
		default:
			shifts = append(shifts, ShiftRequest{Function: fc.Name, Alias: d.Alias, From: cur.FunctionVersion, To: v.Version, Deployment: *d})
		}
		if err != nil {
			warn(err)
		}
	}
	return shifts
}

// setAlias points an alias at one version (creating it when missing); the
// caller holds the deploy lock.
func (r *Registry) setAlias(ctx context.Context, name, alias, version string, weights map[string]float64) error {
	return r.updateLineage(ctx, name, func(l *lineage) (bool, error) {
		i := sort.Search(len(l.Aliases), func(i int) bool { return l.Aliases[i].Name >= alias })
		a := Alias{Name: alias}
		exists := i < len(l.Aliases) && l.Aliases[i].Name == alias
		if exists {
			a = l.Aliases[i]
		}
		a.FunctionVersion = version
		a.Weights = weights
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
		return true, nil
	})
}

// SetAlias points an alias at a version with the given weights of another,
// as a traffic shift moves it.
func (r *Registry) SetAlias(ctx context.Context, name, alias, version string, weights map[string]float64) error {
	r.deploys.Lock()
	defer r.deploys.Unlock()
	if _, ok := r.current.Load().byName[name]; !ok {
		return fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	return r.setAlias(ctx, name, alias, version, weights)
}

// startShifts hands the shifts a deploy decided on to the shifting engine.
func (r *Registry) startShifts(ctx context.Context, shifts []ShiftRequest, res *DeployResult) {
	for _, s := range shifts {
		id, err := r.cfg.Shift(ctx, s)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("function %s: traffic shift of alias %s to version %s not started: %v", s.Function, s.Alias, s.To, err))
			continue
		}
		if s.From == s.To {
			continue
		}
		if res.Deployments == nil {
			res.Deployments = map[string]string{}
		}
		res.Deployments[s.Function] = id
	}
}

// EventQualifier is the qualifier a function's own event sources invoke:
// its deployment's alias once that exists (SAM wires events, routes and
// URLs to the AutoPublishAlias alias), else "" for $LATEST.
func (r *Registry) EventQualifier(name string) string {
	f, ok := r.Get(name)
	if !ok || f.Config.Deployment == nil {
		return ""
	}
	if _, ok := r.Alias(name, f.Config.Deployment.Alias); !ok {
		return ""
	}
	return f.Config.Deployment.Alias
}
