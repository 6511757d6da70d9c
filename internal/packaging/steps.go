package packaging

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// buildSteps holds what the build steps made for each function, to be
// added to its package.
type buildSteps struct {
	bundles map[string]bundle // esbuild output, by function key
	// requirements installed for a function: its module ("" for the
	// service root) keys reqs
	pyModule map[string]string
	reqs     map[string][]file
	wsgi     []file // the WSGI adapter, for functions manifest.UsesWSGI names
}

func runSteps(ctx context.Context, p *manifest.Project, cacheDir string, progress func(string, ...any)) (*buildSteps, error) {
	s := &buildSteps{}
	var err error
	if s.bundles, err = buildBundles(ctx, p, cacheDir, progress); err != nil {
		return nil, err
	}
	if s.pyModule, s.reqs, err = installRequirements(ctx, p, cacheDir, progress); err != nil {
		return nil, err
	}
	if s.wsgi, err = wsgiFiles(p, cacheDir); err != nil {
		return nil, err
	}
	return s, nil
}

// assemble lists the files of spec's zip: the project's files its patterns
// select, with what the build steps made laid over them. A package whose
// functions are all bundled holds, as serverless-esbuild's, only the
// bundles, the external packages' node_modules and the files the patterns
// include explicitly.
func (s *buildSteps) assemble(p *manifest.Project, spec manifest.PackageSpec, files []file) ([]file, error) {
	allBundled := len(spec.Functions) > 0
	module := ""
	for _, k := range spec.Functions {
		if _, ok := s.bundles[k]; !ok {
			allBundled = false
		}
		if m := p.Modules[k]; m != "" {
			if len(spec.Functions) > 1 {
				return nil, fmt.Errorf("function %q has module %q: package it on its own (package.individually: true), as serverless-python-requirements requires", k, m)
			}
			module = m
		}
	}
	var base []file
	if allBundled {
		base = selectFiles(files, append([]string{"!**"}, spec.Patterns...))
	} else {
		base = selectFiles(files, spec.Patterns)
	}
	if module != "" {
		// The module folder is the package's root.
		prefix := module + "/"
		var moved []file
		for _, f := range base {
			if rest, ok := strings.CutPrefix(f.rel, prefix); ok {
				f.rel = rest
				moved = append(moved, f)
			}
		}
		base = moved
	}
	byName := map[string]file{}
	for _, f := range base {
		byName[f.rel] = f
	}
	over := func(fs []file) {
		for _, f := range fs {
			byName[f.rel] = f
		}
	}
	addedReqs := map[string]bool{}
	for _, k := range spec.Functions {
		if b, ok := s.bundles[k]; ok {
			over(b.modules)
			if module == "" {
				over(b.files)
			}
			for _, f := range b.files {
				// In the module folder, the package's root.
				if rest, ok := strings.CutPrefix(f.rel, module+"/"); ok && module != "" {
					f.rel = rest
					over([]file{f})
				}
			}
		}
		if m, ok := s.pyModule[k]; ok && !addedReqs[m] {
			addedReqs[m] = true
			over(s.reqs[m])
		}
		if fn := p.Function(k); fn != nil && manifest.UsesWSGI(p, *fn) {
			over(s.wsgi)
		}
	}
	out := make([]file, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b file) int { return strings.Compare(a.rel, b.rel) })
	return out, nil
}
