package tables

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// IndexUpdate is one entry of UpdateTable's GlobalSecondaryIndexUpdates:
// exactly one of Create, Update (IndexName and Throughput) or Delete.
type IndexUpdate struct {
	Create *IndexSpec
	Update *IndexSpec
	Delete string
}

// backfillChunk is how many items one backfill batch indexes (under their
// item locks, so writers wait at most for one chunk).
const backfillChunk = 256

// errOneIndexChange is DynamoDB's answer to a second index creation or
// deletion while one is under way, or to two in one call.
var errOneIndexChange = &Error{Kind: KindLimitExceeded, Message: "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"}

// UpdateIndexes applies GlobalSecondaryIndexUpdates with the
// AttributeDefinitions that new index keys need. A created index is
// CREATING while a background task indexes the existing items (writers
// maintain it from the start), then ACTIVE; a deleted index goes at once,
// its entries with it, in one atomic batch.
// It returns the table and its schema as this call left it.
func (s *Service) UpdateIndexes(ctx context.Context, name string, defs []AttributeDefinition, updates []IndexUpdate) (*Table, Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return nil, Schema{}, tableNotFound(name)
	}
	changes := 0
	for _, u := range updates {
		n := 0
		for _, set := range []bool{u.Create != nil, u.Update != nil, u.Delete != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, Schema{}, validationf("One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update, or GlobalSecondaryIndexUpdate.Delete must be specified")
		}
		if u.Update == nil {
			changes++
		}
	}
	if changes > 1 {
		return nil, Schema{}, errOneIndexChange
	}
	sch := t.Schema()
	gsis := slices.Clone(t.GlobalSecondaryIndexes)
	if changes == 1 {
		for _, ix := range gsis {
			if ix.Creating {
				return nil, Schema{}, errOneIndexChange
			}
		}
	}
	var created *IndexSpec
	var deleted byte
	for _, u := range updates {
		switch {
		case u.Create != nil:
			spec := *u.Create
			if err := t.checkNewIndex(&spec, gsis); err != nil {
				return nil, Schema{}, err
			}
			id, ok := freeIndexID(sch.Indexes)
			if !ok {
				return nil, Schema{}, &Error{Kind: KindLimitExceeded, Message: "Subscriber limit exceeded: no index id left for table " + name}
			}
			spec.ID, spec.Creating = id, true
			gsis = append(gsis, spec)
			created = &gsis[len(gsis)-1]
		case u.Update != nil:
			i := slices.IndexFunc(gsis, func(ix IndexSpec) bool { return ix.IndexName == u.Update.IndexName })
			if i < 0 {
				return nil, Schema{}, &Error{Kind: KindNotFound, Message: "Requested resource not found: Index: " + u.Update.IndexName + " not found"}
			}
			if t.BillingMode == "PAY_PER_REQUEST" && u.Update.Throughput != nil {
				return nil, Schema{}, validationf("One or more parameter values were invalid: ProvisionedThroughput cannot be specified for index: %s when BillingMode is PAY_PER_REQUEST", u.Update.IndexName)
			}
			gsis[i].Throughput = u.Update.Throughput
		default:
			i := slices.IndexFunc(gsis, func(ix IndexSpec) bool { return ix.IndexName == u.Delete })
			if i < 0 {
				return nil, Schema{}, &Error{Kind: KindNotFound, Message: "Requested resource not found: Index: " + u.Delete + " not found"}
			}
			deleted = gsis[i].ID
			gsis = slices.Delete(gsis, i, i+1)
		}
	}
	newDefs, err := mergeDefinitions(t, sch.AttributeDefinitions, defs, gsis)
	if err != nil {
		return nil, Schema{}, err
	}
	t.live.Lock()
	err = s.swapSchema(t, newDefs, gsis, func(b *pebble.Batch) {
		if deleted != 0 {
			p := indexPrefix(t.ID, deleted)
			_ = b.DeleteRange(p, prefixEnd(p), nil)
		}
	})
	t.live.Unlock()
	if err != nil {
		return nil, Schema{}, err
	}
	if deleted != 0 {
		t.stats.invalidate()
	}
	sch = t.Schema()
	if created != nil {
		s.startBackfill(t, created.ID)
	}
	return t, sch, nil
}

// checkNewIndex validates an index to create as CreateTable would.
func (t *Table) checkNewIndex(spec *IndexSpec, gsis []IndexSpec) error {
	if err := validateName("indexName", spec.IndexName); err != nil {
		return err
	}
	if len(gsis) >= 20 {
		return &Error{Kind: KindLimitExceeded, Message: "Subscriber limit exceeded: The number of global secondary indexes for table " + t.TableName + " exceeds the limit of 20"}
	}
	if t.Index(spec.IndexName) != nil {
		return validationf("One or more parameter values were invalid: Attempting to create an index which already exists")
	}
	if _, _, err := splitKeySchema(spec.KeySchema); err != nil {
		return err
	}
	switch spec.Projection.ProjectionType {
	case "ALL", "KEYS_ONLY":
		if len(spec.Projection.NonKeyAttributes) > 0 {
			return validationf("One or more parameter values were invalid: ProjectionType is %s, but NonKeyAttributes is specified", spec.Projection.ProjectionType)
		}
	case "INCLUDE":
		if len(spec.Projection.NonKeyAttributes) == 0 {
			return validationf("One or more parameter values were invalid: NonKeyAttributes must not be empty")
		}
	case "":
		return validationf("One or more parameter values were invalid: Unknown ProjectionType: null")
	default:
		return validationf("1 validation error detected: Value '%s' at 'projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]", spec.Projection.ProjectionType)
	}
	if t.BillingMode == "PAY_PER_REQUEST" && spec.Throughput != nil {
		return validationf("One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: %s when BillingMode is PAY_PER_REQUEST", spec.IndexName)
	}
	if t.BillingMode != "PAY_PER_REQUEST" && spec.Throughput == nil {
		return validationf("One or more parameter values were invalid: ProvisionedThroughput must be specified for index: %s", spec.IndexName)
	}
	return nil
}

// mergeDefinitions adds the request's attribute definitions to the table's
// and keeps those some key uses (DynamoDB drops a deleted index's).
func mergeDefinitions(t *Table, have, add []AttributeDefinition, gsis []IndexSpec) ([]AttributeDefinition, error) {
	all := slices.Clone(have)
	for _, d := range add {
		k := ParseKind(d.AttributeType)
		if k != KindS && k != KindN && k != KindB {
			return nil, validationf("1 validation error detected: Value '%s' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", d.AttributeType)
		}
		i := slices.IndexFunc(all, func(h AttributeDefinition) bool { return h.AttributeName == d.AttributeName })
		switch {
		case i < 0:
			all = append(all, d)
		case all[i].AttributeType != d.AttributeType:
			return nil, validationf("Cannot change the type of attribute %s from %s to %s: it is a key of the table or of an index", d.AttributeName, all[i].AttributeType, d.AttributeType)
		}
	}
	used := map[string]bool{}
	var keys []string
	for _, ks := range [][]KeyElement{t.KeySchema} {
		for _, k := range ks {
			used[k.AttributeName] = true
		}
	}
	for _, list := range [][]IndexSpec{gsis, t.LocalSecondaryIndexes} {
		for _, ix := range list {
			for _, k := range ix.KeySchema {
				if !used[k.AttributeName] {
					keys = append(keys, k.AttributeName)
				}
				used[k.AttributeName] = true
			}
		}
	}
	var missing, names []string
	for _, d := range all {
		names = append(names, d.AttributeName)
	}
	for _, k := range keys {
		if !slices.Contains(names, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, validationf("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: %v, AttributeDefinitions: %v", missing, names)
	}
	out := all[:0:0]
	for _, d := range all {
		if used[d.AttributeName] {
			out = append(out, d)
		}
	}
	return out, nil
}

// freeIndexID is the smallest index id no index of the table holds. An id
// is free again once its index's deletion (and the range deletion of its
// entries, in the same batch) is committed.
func freeIndexID(ixs []*Index) (byte, bool) {
	for id := 1; id <= 255; id++ {
		if !slices.ContainsFunc(ixs, func(ix *Index) bool { return ix.ID == byte(id) }) {
			return byte(id), true
		}
	}
	return 0, false
}

// swapSchema stores t's metadata with new definitions and global indexes,
// plus whatever extra adds to the batch, and then installs them. The caller
// holds s.mu and t.live exclusively.
func (s *Service) swapSchema(t *Table, defs []AttributeDefinition, gsis []IndexSpec, extra func(b *pebble.Batch)) error {
	// Marshal the table as it will be (so fields other parts add to it are
	// kept), then put the current schema back until the batch is committed.
	t.schemaMu.Lock()
	oldDefs, oldGSIs := t.AttributeDefinitions, t.GlobalSecondaryIndexes
	t.AttributeDefinitions, t.GlobalSecondaryIndexes = defs, gsis
	meta, err := json.Marshal(t)
	t.AttributeDefinitions, t.GlobalSecondaryIndexes = oldDefs, oldGSIs
	t.schemaMu.Unlock()
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(metaKey(t.TableName), meta, nil)
	if extra != nil {
		extra(b)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store table %s: %w", t.TableName, err)
	}
	indexes := t.buildIndexes(defs, gsis, t.LocalSecondaryIndexes)
	t.schemaMu.Lock()
	t.AttributeDefinitions, t.GlobalSecondaryIndexes, t.Indexes = defs, gsis, indexes
	t.schemaMu.Unlock()
	return nil
}

// startBackfill indexes a new index's existing items in the background
// (the service's Close stops it; the next Open resumes it).
func (s *Service) startBackfill(t *Table, id byte) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.backfill(s.bgCtx, t, id); err != nil && s.bgCtx.Err() == nil {
			s.log.Error("tables: index backfill failed", "table", t.TableName, "index", id, "err", err)
		}
	}()
}

// indexByID finds a current index by id (nil: deleted since).
func (t *Table) indexByID(id byte) *Index {
	for _, ix := range t.indexes() {
		if ix.ID == id {
			return ix
		}
	}
	return nil
}

// backfill writes the entries of index id for every item of t, a chunk at a
// time under the items' locks (a concurrent write either comes before the
// chunk, which then sees it, or after, and maintains the entry itself), and
// marks the index ACTIVE when done.
func (s *Service) backfill(ctx context.Context, t *Table, id byte) error {
	start := indexPrefix(t.ID, 0)
	end := prefixEnd(start)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		keys, err := s.keysFrom(start, end, backfillChunk)
		if err != nil || len(keys) == 0 {
			if err != nil {
				return err
			}
			break
		}
		if err := s.backfillChunk(t, id, keys); err != nil {
			return err
		}
		start = append(keys[len(keys)-1], 0)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.live.Lock()
	defer t.live.Unlock()
	if t.deleted || t.indexByID(id) == nil {
		return nil
	}
	gsis := slices.Clone(t.GlobalSecondaryIndexes)
	for i := range gsis {
		if gsis[i].ID == id {
			gsis[i].Creating = false
		}
	}
	// This synced commit also makes the unsynced chunks before it durable
	// (one WAL, written in order).
	if err := s.swapSchema(t, t.AttributeDefinitions, gsis, nil); err != nil {
		return err
	}
	t.stats.invalidate()
	return nil
}

// keysFrom copies up to n storage keys in [start, end).
func (s *Service) keysFrom(start, end []byte, n int) ([][]byte, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var keys [][]byte
	for ok := it.First(); ok && len(keys) < n; ok = it.Next() {
		keys = append(keys, slices.Clone(it.Key()))
	}
	return keys, it.Error()
}

// backfillChunk indexes the items at keys, each re-read under its lock.
func (s *Service) backfillChunk(t *Table, id byte, keys [][]byte) error {
	release, err := useTables(t)
	if err != nil {
		return nil // the table is gone, and its indexes with it
	}
	defer release()
	ix := t.indexByID(id)
	if ix == nil {
		return nil // deleted while it was being created
	}
	unlock := s.lock(keys...)
	defer unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		item, err := s.read(k)
		if err != nil {
			return err
		}
		if item == nil {
			continue
		}
		ek := ix.entryKey(t, item)
		if ek == nil {
			continue
		}
		p := ix.project(t, item)
		enc, err := encodeItem(p)
		if err != nil {
			return err
		}
		_ = b.Set(ek, enc, nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("backfill index %s: %w", ix.IndexName, err)
	}
	return nil
}

// resumeBackfills restarts the backfill of indexes a previous run left
// CREATING.
func (s *Service) resumeBackfills() {
	for _, t := range s.tables {
		for _, ix := range t.Indexes {
			if ix.Creating {
				s.startBackfill(t, ix.ID)
			}
		}
	}
}
