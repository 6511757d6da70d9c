package tables

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Return value choices.
const (
	ReturnNone       = "NONE"
	ReturnAllOld     = "ALL_OLD"
	ReturnAllNew     = "ALL_NEW"
	ReturnUpdatedOld = "UPDATED_OLD"
	ReturnUpdatedNew = "UPDATED_NEW"
)

// Condition is an optional ConditionExpression with its request's names and values.
type Condition struct {
	Expression string
	// ReturnOldOnFailure asks for the item in the error when the condition
	// fails (ReturnValuesOnConditionCheckFailure ALL_OLD).
	ReturnOldOnFailure bool
}

// PutInput is a PutItem request.
type PutInput struct {
	Table        string
	Item         Item
	Condition    Condition
	Names        map[string]string
	Values       map[string]Value
	ReturnValues string
	// Capacity, when set, receives the capacity the write consumed.
	Capacity *Consumed
}

// GetInput is a GetItem request.
type GetInput struct {
	Table          string
	Key            Item
	Projection     string
	Names          map[string]string
	ConsistentRead bool
	// Capacity, when set, receives the capacity the read consumed.
	Capacity *Consumed
}

// DeleteInput is a DeleteItem request.
type DeleteInput struct {
	Table        string
	Key          Item
	Condition    Condition
	Names        map[string]string
	Values       map[string]Value
	ReturnValues string
	// Capacity, when set, receives the capacity the write consumed.
	Capacity *Consumed
}

// UpdateInput is an UpdateItem request.
type UpdateInput struct {
	Table        string
	Key          Item
	Update       string // UpdateExpression
	Condition    Condition
	Names        map[string]string
	Values       map[string]Value
	ReturnValues string
	// Capacity, when set, receives the capacity the write consumed.
	Capacity *Consumed
}

func checkReturnValues(rv string, update bool) error {
	switch rv {
	case "", ReturnNone, ReturnAllOld:
		return nil
	case ReturnAllNew, ReturnUpdatedOld, ReturnUpdatedNew:
		if update {
			return nil
		}
	default:
		if update {
			return validationf("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", rv)
		}
	}
	return validationf("ReturnValues can only be ALL_OLD or NONE")
}

// parseConditionOpt parses an optional condition expression.
func parseConditionOpt(what, src string, ex *Expressions) (cond, error) {
	if src == "" {
		return nil, nil
	}
	return parseCondition(what, src, ex)
}

// prepareWrite checks what PutItem and DeleteItem take before they write:
// the table, ReturnValues, and the condition with its names and values.
func (s *Service) prepareWrite(table, returnValues, condition string, names map[string]string, values map[string]Value) (*Table, cond, error) {
	t, err := s.table(table)
	if err != nil {
		return nil, nil, err
	}
	if err := checkReturnValues(returnValues, false); err != nil {
		return nil, nil, err
	}
	if condition == "" && names == nil && values == nil {
		return t, nil, nil // nothing to parse or check
	}
	ex := NewExpressions(names, values)
	c, err := parseConditionOpt("ConditionExpression", condition, ex)
	if err != nil {
		return nil, nil, err
	}
	return t, c, ex.Check()
}

// checkCondition fails with ConditionalCheckFailedException when c is not
// met by old.
func checkCondition(c cond, opt Condition, old Item) error {
	if c == nil || evalCond(old, c) {
		return nil
	}
	e := *errConditionFailed
	if opt.ReturnOldOnFailure {
		e.Item = old
	}
	return &e
}

// writeOne runs read-check-write on one item under its lock and syncs the
// result to disk before returning. change returns the new item (nil deletes).
func (s *Service) writeOne(t *Table, key []byte, change func(old Item) (Item, error)) (old, new Item, err error) {
	return s.writeOneAs(t, key, false, change)
}

// writeOneAs is writeOne; ttl marks the write as the TTL sweeper's deletion
// (its stream record names DynamoDB as the user).
func (s *Service) writeOneAs(t *Table, key []byte, ttl bool, change func(old Item) (Item, error)) (old, new Item, err error) {
	if err := useTable(t); err != nil {
		return nil, nil, err
	}
	defer t.live.RUnlock()
	stripe := s.lockOne(key)
	defer stripe.Unlock()
	if old, err = s.read(key); err != nil {
		return nil, nil, err
	}
	if new, err = change(old); err != nil {
		return old, nil, err
	}
	if old == nil && new == nil {
		return nil, nil, nil
	}
	b := s.db.NewBatch()
	if ttl || (t.Stream != nil && t.Stream.Enabled) {
		defer s.closeBatch(b) // releases the batch's stream sequence numbers
	} else {
		defer b.Close()
	}
	if ttl {
		s.markTTL(b)
	}
	if err := s.stage(b, t, key, old, new); err != nil {
		return old, nil, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return old, nil, fmt.Errorf("write item: %w", err)
	}
	return old, new, nil
}

// putBlind writes item at key without reading the item it replaces, when
// the table has nothing that needs that item: no secondary index and no
// enabled stream (both checked under t.live, which UpdateTable holds
// exclusively to change them). It reports false, having written nothing,
// when the table needs the old item. The item's stripe is still taken, so a
// conditional write or transaction on the same item sees either all of
// this put or none of it. The table's statistics are marked for a recount.
func (s *Service) putBlind(t *Table, key []byte, item Item) (bool, error) {
	if err := useTable(t); err != nil {
		return false, err
	}
	defer t.live.RUnlock()
	if !t.blindWrites() {
		return false, nil
	}
	enc, err := encodeItem(item)
	if err != nil {
		return false, err
	}
	stripe := s.lockOne(key)
	defer stripe.Unlock()
	t.stats.markDirty()
	b := s.db.NewBatch()
	defer b.Close() // no stream records to release (closeBatch)
	_ = b.Set(key, enc, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return false, fmt.Errorf("write item: %w", err)
	}
	return true, nil
}

// blindWrites reports whether a write that asks nothing of the item it
// replaces may skip reading it: the table has no secondary index and no
// enabled stream, which would need the old item. Callers hold t.live, which
// UpdateTable holds exclusively to change either.
func (t *Table) blindWrites() bool {
	return len(t.Indexes) == 0 && (t.Stream == nil || !t.Stream.Enabled)
}

// PutItem writes a whole item; it returns the old item when ReturnValues is ALL_OLD.
func (s *Service) PutItem(ctx context.Context, in PutInput) (Item, error) {
	t, c, err := s.prepareWrite(in.Table, in.ReturnValues, in.Condition.Expression, in.Names, in.Values)
	if err != nil {
		return nil, err
	}
	if err := t.checkItemKeys(in.Item); err != nil {
		return nil, err
	}
	if err := checkItemSize(in.Item); err != nil {
		return nil, err
	}
	// Nothing asks for the old item: no condition, no ALL_OLD, no consumed
	// capacity (its units depend on the old item's size).
	if c == nil && in.ReturnValues != ReturnAllOld && in.Capacity == nil {
		done, err := s.putBlind(t, t.itemKey(in.Item), in.Item)
		if done || err != nil {
			return nil, err
		}
	}
	old, _, err := s.writeOne(t, t.itemKey(in.Item), func(old Item) (Item, error) {
		if err := checkCondition(c, in.Condition, old); err != nil {
			return nil, err
		}
		return in.Item, nil
	})
	if err != nil {
		return nil, err
	}
	in.Capacity.noteWrite(t, old, in.Item)
	if in.ReturnValues == ReturnAllOld {
		return old, nil
	}
	return nil, nil
}

// GetItem reads one item (nil if absent). Reads see every acknowledged write.
func (s *Service) GetItem(ctx context.Context, in GetInput) (Item, error) {
	t, err := s.table(in.Table)
	if err != nil {
		return nil, err
	}
	var paths []docPath
	if in.Projection != "" || in.Names != nil { // else there is nothing to check
		ex := NewExpressions(in.Names, nil)
		if in.Projection != "" {
			if paths, err = parseProjection(in.Projection, ex); err != nil {
				return nil, err
			}
		}
		if err := ex.Check(); err != nil {
			return nil, err
		}
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	item, err := s.read(t.itemKey(in.Key))
	if in.Capacity != nil && err == nil {
		in.Capacity.Table += ReadUnits(item.Size(), in.ConsistentRead)
	}
	if err != nil || item == nil {
		return nil, err
	}
	if paths != nil {
		item = project(item, paths)
	}
	return item, nil
}

// DeleteItem deletes one item; it returns the old item when ReturnValues is ALL_OLD.
func (s *Service) DeleteItem(ctx context.Context, in DeleteInput) (Item, error) {
	t, c, err := s.prepareWrite(in.Table, in.ReturnValues, in.Condition.Expression, in.Names, in.Values)
	if err != nil {
		return nil, err
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	old, _, err := s.writeOne(t, t.itemKey(in.Key), func(old Item) (Item, error) {
		return nil, checkCondition(c, in.Condition, old)
	})
	if err != nil {
		return nil, err
	}
	if old != nil {
		in.Capacity.noteWrite(t, old, nil)
	} else if in.Capacity != nil {
		in.Capacity.Table++ // deleting nothing still costs a unit
	}
	if in.ReturnValues == ReturnAllOld {
		return old, nil
	}
	return nil, nil
}

// updatePlan is a parsed UpdateItem.
type updatePlan struct {
	actions []updateAction
	cond    cond
}

func (t *Table) planUpdate(update string, condition string, ex *Expressions) (*updatePlan, error) {
	p := &updatePlan{}
	var err error
	if update != "" {
		if p.actions, err = parseUpdate(update, ex); err != nil {
			return nil, err
		}
	}
	if p.cond, err = parseConditionOpt("ConditionExpression", condition, ex); err != nil {
		return nil, err
	}
	for _, a := range p.actions {
		if name := a.path[0].name; name == t.hash || name == t.rng {
			return nil, validationf("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", name)
		}
	}
	return p, nil
}

// apply computes the updated item from old (nil: the item does not exist
// yet and starts as its key).
func (p *updatePlan) apply(t *Table, key, old Item) (Item, error) {
	base := old
	if base == nil {
		base = key
	}
	new, err := applyUpdate(base, p.actions)
	if err != nil {
		return nil, err
	}
	if err := t.checkItemKeys(new); err != nil {
		return nil, err
	}
	if err := checkItemSize(new); err != nil {
		return nil, err
	}
	return new, nil
}

// UpdateItem edits (or creates) one item with an update expression and
// returns the attributes ReturnValues asks for.
func (s *Service) UpdateItem(ctx context.Context, in UpdateInput) (Item, error) {
	t, err := s.table(in.Table)
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, true); err != nil {
		return nil, err
	}
	ex := NewExpressions(in.Names, in.Values)
	plan, err := t.planUpdate(in.Update, in.Condition.Expression, ex)
	if err != nil {
		return nil, err
	}
	if err := ex.Check(); err != nil {
		return nil, err
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	old, new, err := s.writeOne(t, t.itemKey(in.Key), func(old Item) (Item, error) {
		if err := checkCondition(plan.cond, in.Condition, old); err != nil {
			return nil, err
		}
		return plan.apply(t, in.Key, old)
	})
	if err != nil {
		return nil, err
	}
	in.Capacity.noteWrite(t, old, new)
	var paths, setPaths []docPath
	for _, a := range plan.actions {
		paths = append(paths, a.path)
		if a.kind != "REMOVE" {
			setPaths = append(setPaths, a.path)
		}
	}
	var out Item
	switch in.ReturnValues {
	case ReturnAllOld:
		out = old
	case ReturnAllNew:
		out = new
	case ReturnUpdatedOld:
		out = project(old, paths)
	case ReturnUpdatedNew:
		out = project(new, setPaths)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
