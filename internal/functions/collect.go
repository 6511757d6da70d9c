package functions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/blobs"
)

// Code packages are kept while something may still use them: a deployed
// function or a published version of one (on any node: the index holds
// every service), a deploy in
// progress (pinned), a live instance (Config.CodeInUse), or a client that
// uploaded or found the blob within the grace period and is about to deploy
// it. Everything else is collected after each change and periodically.

const (
	defaultBlobGrace    = 15 * time.Minute
	defaultCollectEvery = time.Minute
	extractTempPrefix   = ".extract-"
	trashPrefix         = ".trash-"
)

// CollectStats says what one collection removed.
type CollectStats struct {
	Blobs int // code packages
	Code  int // unpacked packages
}

// pin marks digests as used by a deploy in progress until the returned
// function is called; collection leaves them alone.
func (r *Registry) pin(digests []string) (unpin func()) {
	r.pinMu.Lock()
	for _, d := range digests {
		r.pins[d]++
	}
	r.pinMu.Unlock()
	return func() {
		r.pinMu.Lock()
		for _, d := range digests {
			if r.pins[d]--; r.pins[d] <= 0 {
				delete(r.pins, d)
			}
		}
		r.pinMu.Unlock()
	}
}

// requestCollect asks the collector for a pass soon, without waiting.
func (r *Registry) requestCollect() {
	select {
	case r.collectNow <- struct{}{}:
	default: // a pass is already due
	}
}

// collector runs passes on request and periodically until ctx ends.
func (r *Registry) collector(ctx context.Context) {
	tick := time.NewTicker(r.cfg.CollectEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.collectNow:
		case <-tick.C:
		}
		if _, err := r.Collect(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("code collection failed", "err", err)
		}
	}
}

// removeLeftovers removes what a previous run left half done: extractions
// and collections cut by a crash. Call it before any extraction starts.
func (r *Registry) removeLeftovers() error {
	entries, err := os.ReadDir(r.cfg.CodeDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read code directory: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, extractTempPrefix) || strings.HasPrefix(name, trashPrefix) {
			if err := os.RemoveAll(filepath.Join(r.cfg.CodeDir, name)); err != nil {
				return fmt.Errorf("remove leftover %s: %w", name, err)
			}
		}
	}
	return nil
}

// Collect removes the code packages and unpacked code that nothing uses.
func (r *Registry) Collect(ctx context.Context) (CollectStats, error) {
	if err := ctx.Err(); err != nil {
		return CollectStats{}, err
	}
	r.collectMu.Lock()
	defer r.collectMu.Unlock()
	var stats CollectStats
	var candidates []string
	entries, err := os.ReadDir(r.cfg.CodeDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return stats, fmt.Errorf("read code directory: %w", err)
	}
	for _, e := range entries {
		if blobs.ValidDigest(e.Name()) {
			candidates = append(candidates, e.Name())
		}
	}
	stored, err := r.cfg.Blobs.Digests()
	if err != nil {
		return stats, err
	}
	cutoff := time.Now().Add(-r.cfg.BlobGrace)

	// Deciding and renaming away happen under pinMu, so a deploy that pins
	// a digest either sees it gone (and unpacks again) or keeps it.
	trash := ""
	var errs []error
	r.pinMu.Lock()
	used := r.usedDigests()
	for _, d := range candidates {
		dir := r.codeDir(d)
		if used[d] || (r.cfg.CodeInUse != nil && r.cfg.CodeInUse(dir)) {
			continue
		}
		if trash == "" {
			if trash, err = os.MkdirTemp(r.cfg.CodeDir, trashPrefix+"*"); err != nil {
				errs = append(errs, fmt.Errorf("collect unused code: %w", err))
				break
			}
		}
		if err := os.Rename(dir, filepath.Join(trash, d)); err != nil {
			errs = append(errs, fmt.Errorf("move unused code %s aside: %w", d, err))
			continue
		}
		stats.Code++
	}
	for _, d := range stored {
		if used[d] {
			continue
		}
		removed, err := r.cfg.Blobs.RemoveIfIdle(d, cutoff)
		if err != nil {
			errs = append(errs, err)
		}
		if removed {
			stats.Blobs++
		}
	}
	r.pinMu.Unlock()

	if trash != "" {
		// Out of the lock: a big tree takes a while. What a crash leaves
		// goes at the next start.
		if err := os.RemoveAll(trash); err != nil {
			errs = append(errs, fmt.Errorf("remove unused code: %w", err))
		}
	}
	if stats.Blobs+stats.Code > 0 {
		r.log.Info("collected unused code", "packages", stats.Blobs, "unpacked", stats.Code)
	}
	return stats, errors.Join(errs...)
}

// usedDigests are the packages of every deployed function and of deploys in
// progress. The caller holds pinMu.
func (r *Registry) usedDigests() map[string]bool {
	used := map[string]bool{}
	for _, svc := range r.current.Load().services {
		for _, f := range svc.App.Functions {
			used[f.Code.SHA256] = true
		}
	}
	for d := range r.pins {
		used[d] = true
	}
	r.versionDigests(used)
	return used
}
