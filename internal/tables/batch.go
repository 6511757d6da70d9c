package tables

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Batch and transaction limits.
const (
	MaxBatchWrite    = 25
	MaxBatchGet      = 100
	MaxTransactItems = 100
)

// WriteRequest is one entry of BatchWriteItem: a Put or a Delete.
type WriteRequest struct {
	Put       Item
	DeleteKey Item
}

// BatchWriteItem puts and deletes up to 25 items over several tables, all
// synced to disk together. Nothing is left unprocessed. units, when not
// nil, receives the write capacity each table consumed.
func (s *Service) BatchWriteItem(ctx context.Context, requests map[string][]WriteRequest, units map[string]float64) error {
	total := 0
	for _, rs := range requests {
		total += len(rs)
	}
	if total == 0 {
		return validationf("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if total > MaxBatchWrite {
		return validationf("Too many items requested for the BatchWriteItem call")
	}
	type write struct {
		t   *Table
		key []byte
		new Item
	}
	var writes []write
	seen := map[string]bool{}
	for _, name := range sortedKeys(requests) {
		t, err := s.table(name)
		if err != nil {
			return err
		}
		for _, r := range requests[name] {
			w := write{t: t}
			switch {
			case r.Put != nil && r.DeleteKey == nil:
				if err := t.checkItemKeys(r.Put); err != nil {
					return err
				}
				if err := checkItemSize(r.Put); err != nil {
					return err
				}
				w.key, w.new = t.itemKey(r.Put), r.Put
			case r.DeleteKey != nil && r.Put == nil:
				if err := t.checkKey(r.DeleteKey); err != nil {
					return err
				}
				w.key = t.itemKey(r.DeleteKey)
			default:
				return validationf("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			if seen[string(w.key)] {
				return validationf("Provided list of item keys contains duplicates")
			}
			seen[string(w.key)] = true
			writes = append(writes, w)
		}
	}
	keys := make([][]byte, len(writes))
	used := make([]*Table, len(writes))
	for i, w := range writes {
		keys[i], used[i] = w.key, w.t
	}
	release, err := useTables(used...)
	if err != nil {
		return err
	}
	defer release()
	unlock := s.lock(keys...)
	defer unlock()
	b := s.db.NewBatch()
	defer s.closeBatch(b)
	for _, w := range writes {
		if units == nil && w.t.blindWrites() {
			// Nothing needs the item this write replaces (the PutItem rule,
			// putBlind): write without reading it, under its lock all the same.
			w.t.stats.markDirty()
			if w.new == nil {
				_ = b.Delete(w.key, nil)
				continue
			}
			enc, err := encodeItem(w.new)
			if err != nil {
				return err
			}
			_ = b.Set(w.key, enc, nil)
			continue
		}
		old, err := s.read(w.key)
		if err != nil {
			return err
		}
		if units != nil {
			var c Consumed
			c.noteWrite(w.t, old, w.new) // deleting nothing still costs a unit
			units[w.t.TableName] += c.Total()
		}
		if old == nil && w.new == nil {
			continue
		}
		if err := s.stage(b, w.t, w.key, old, w.new); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("batch write: %w", err)
	}
	return nil
}

// KeysAndProjection is one table's part of a BatchGetItem.
type KeysAndProjection struct {
	Keys           []Item
	Projection     string
	Names          map[string]string
	ConsistentRead bool
}

// MaxBatchGetBytes is how much one BatchGetItem answers at most (16 MB);
// the keys it did not read come back as UnprocessedKeys.
const MaxBatchGetBytes = 16 << 20

// BatchGetOutput is what BatchGetItem read.
type BatchGetOutput struct {
	Responses map[string][]Item
	// Unprocessed holds the keys left unread once the answer reached
	// MaxBatchGetBytes, per table.
	Unprocessed map[string]KeysAndProjection
	// Units is the read capacity each table consumed.
	Units map[string]float64
}

// BatchGetItem reads up to 100 items over several tables, up to 16 MB of
// them; the rest are returned unprocessed, for the caller to ask again.
func (s *Service) BatchGetItem(ctx context.Context, requests map[string]KeysAndProjection) (*BatchGetOutput, error) {
	total := 0
	for _, r := range requests {
		total += len(r.Keys)
	}
	if total > MaxBatchGet {
		return nil, validationf("Too many items requested for the BatchGetItem call")
	}
	type plan struct {
		t     *Table
		paths []docPath
	}
	plans := map[string]plan{}
	for _, name := range sortedKeys(requests) {
		r := requests[name]
		t, err := s.table(name)
		if err != nil {
			return nil, err
		}
		ex := NewExpressions(r.Names, nil)
		var paths []docPath
		if r.Projection != "" {
			if paths, err = parseProjection(r.Projection, ex); err != nil {
				return nil, err
			}
		}
		if err := ex.Check(); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, k := range r.Keys {
			if err := t.checkKey(k); err != nil {
				return nil, err
			}
			key := t.itemKey(k)
			if seen[string(key)] {
				return nil, validationf("Provided list of item keys contains duplicates")
			}
			seen[string(key)] = true
		}
		plans[name] = plan{t, paths}
	}
	out := &BatchGetOutput{Responses: map[string][]Item{}, Unprocessed: map[string]KeysAndProjection{}, Units: map[string]float64{}}
	size := 0
	for _, name := range sortedKeys(requests) {
		r, p := requests[name], plans[name]
		found := []Item{}
		for i, k := range r.Keys {
			if size >= MaxBatchGetBytes {
				rest := r
				rest.Keys = r.Keys[i:]
				out.Unprocessed[name] = rest
				break
			}
			it, err := s.read(p.t.itemKey(k))
			if err != nil {
				return nil, err
			}
			out.Units[name] += ReadUnits(it.Size(), r.ConsistentRead)
			if it == nil {
				continue
			}
			if p.paths != nil {
				it = project(it, p.paths)
			}
			size += it.Size()
			found = append(found, it)
		}
		out.Responses[name] = found
	}
	return out, nil
}

// TransactWriteItem is one action of TransactWriteItems; exactly one field is set.
type TransactWriteItem struct {
	ConditionCheck *ConditionCheck
	Put            *PutInput
	Delete         *DeleteInput
	Update         *UpdateInput
}

// ConditionCheck is a transaction action that only checks a condition.
type ConditionCheck struct {
	Table     string
	Key       Item
	Condition Condition
	Names     map[string]string
	Values    map[string]Value
}

type txAction struct {
	t      *Table
	key    []byte
	cond   cond
	opt    Condition
	keyIt  Item
	put    Item        // Put
	delete bool        // Delete
	update *updatePlan // Update
	check  bool        // ConditionCheck
}

// TransactWriteInput is a TransactWriteItems request.
type TransactWriteInput struct {
	Items []TransactWriteItem
	// ClientRequestToken makes the call idempotent for 10 minutes: a repeat
	// with the same token and Fingerprint (a digest of the whole request)
	// succeeds without applying anything again.
	ClientRequestToken string
	Fingerprint        []byte
	// Units, when not nil, receives the write capacity each table
	// consumed: twice what the same writes cost outside a transaction.
	Units map[string]float64
}

// IdempotencyWindow is how long a ClientRequestToken is remembered.
const IdempotencyWindow = 10 * time.Minute

// TransactWriteItems applies up to 100 actions on distinct items all
// together or not at all. A failed condition cancels the whole transaction
// with one reason per action.
func (s *Service) TransactWriteItems(ctx context.Context, in TransactWriteInput) error {
	items := in.Items
	if len(items) == 0 || len(items) > MaxTransactItems {
		return validationf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
	}
	actions := make([]txAction, len(items))
	seen := map[string]bool{}
	for i, ti := range items {
		a, err := s.prepareTx(ti)
		if err != nil {
			return err
		}
		if seen[string(a.key)] {
			return validationf("Transaction request cannot include multiple operations on one item")
		}
		seen[string(a.key)] = true
		actions[i] = a
	}
	keys := make([][]byte, len(actions))
	used := make([]*Table, len(actions))
	for i, a := range actions {
		keys[i], used[i] = a.key, a.t
	}
	release, err := useTables(used...)
	if err != nil {
		return err
	}
	defer release()
	var tokenKey []byte
	if in.ClientRequestToken != "" {
		if len(in.ClientRequestToken) > 36 {
			return validationf("1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36", in.ClientRequestToken)
		}
		// The token is stored in the transaction's own batch: after a crash,
		// a retry finds it exactly when the transaction was applied.
		tokenKey = append([]byte{prefixToken}, in.ClientRequestToken...)
		keys = append(keys, tokenKey)
	}
	unlock := s.lock(keys...)
	defer unlock()
	if tokenKey != nil {
		v, closer, err := s.db.Get(tokenKey)
		if err == nil {
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v[:8])))
			same := bytes.Equal(v[8:], in.Fingerprint)
			_ = closer.Close()
			if time.Since(at) < IdempotencyWindow {
				if !same {
					return &Error{Kind: KindIdempotentMismatch, Message: "Request with the same client request token as a previous request had different parameters"}
				}
				return nil
			}
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return fmt.Errorf("read client request token: %w", err)
		}
	}
	olds := make([]Item, len(actions))
	news := make([]Item, len(actions))
	reasons := make([]CancellationReason, len(actions))
	failed := false
	for i, a := range actions {
		old, err := s.read(a.key)
		if err != nil {
			return err
		}
		olds[i] = old
		reasons[i].Code = "None"
		if err := checkCondition(a.cond, a.opt, old); err != nil {
			var te *Error
			errors.As(err, &te)
			reasons[i] = CancellationReason{Code: "ConditionalCheckFailed", Message: te.Message, Item: te.Item}
			failed = true
			continue
		}
		switch {
		case a.put != nil:
			news[i] = a.put
		case a.update != nil:
			n, err := a.update.apply(a.t, a.keyIt, old)
			if err != nil {
				var te *Error
				if !errors.As(err, &te) {
					return err
				}
				reasons[i] = CancellationReason{Code: "ValidationError", Message: te.Message}
				failed = true
				continue
			}
			news[i] = n
		}
	}
	if failed {
		codes := make([]string, len(reasons))
		for i, r := range reasons {
			codes[i] = r.Code
		}
		return &Error{Kind: KindTransactionCanceled, Reasons: reasons,
			Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"}
	}
	b := s.db.NewBatch()
	defer s.closeBatch(b)
	if tokenKey != nil {
		v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		_ = b.Set(tokenKey, append(v, in.Fingerprint...), nil)
	}
	for i, a := range actions {
		if a.check || (olds[i] == nil && news[i] == nil) {
			continue
		}
		if err := s.stage(b, a.t, a.key, olds[i], news[i]); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	if in.Units != nil {
		for i, a := range actions {
			var c Consumed
			if a.check {
				c.Table = writeUnits(olds[i].Size())
			} else {
				c.noteWrite(a.t, olds[i], news[i])
			}
			in.Units[a.t.TableName] += 2 * c.Total()
		}
	}
	return nil
}

func (s *Service) prepareTx(ti TransactWriteItem) (txAction, error) {
	var a txAction
	n := 0
	for _, set := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return a, validationf("TransactItems can only contain one of Check, Put, Update or Delete")
	}
	var table, condExpr string
	var names map[string]string
	var values map[string]Value
	switch {
	case ti.ConditionCheck != nil:
		c := ti.ConditionCheck
		table, a.keyIt, a.opt, names, values, a.check = c.Table, c.Key, c.Condition, c.Names, c.Values, true
		if c.Condition.Expression == "" {
			return a, validationf("1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null")
		}
	case ti.Put != nil:
		p := ti.Put
		table, a.keyIt, a.opt, names, values, a.put = p.Table, p.Item, p.Condition, p.Names, p.Values, p.Item
	case ti.Delete != nil:
		d := ti.Delete
		table, a.keyIt, a.opt, names, values, a.delete = d.Table, d.Key, d.Condition, d.Names, d.Values, true
	case ti.Update != nil:
		u := ti.Update
		table, a.keyIt, a.opt, names, values = u.Table, u.Key, u.Condition, u.Names, u.Values
	}
	condExpr = a.opt.Expression
	t, err := s.table(table)
	if err != nil {
		return a, err
	}
	a.t = t
	ex := NewExpressions(names, values)
	if ti.Update != nil {
		if ti.Update.Update == "" {
			return a, validationf("1 validation error detected: Value null at 'transactItems.1.member.update.updateExpression' failed to satisfy constraint: Member must not be null")
		}
		if a.update, err = t.planUpdate(ti.Update.Update, condExpr, ex); err != nil {
			return a, err
		}
		a.cond = a.update.cond
	} else if a.cond, err = parseConditionOpt("ConditionExpression", condExpr, ex); err != nil {
		return a, err
	}
	if err := ex.Check(); err != nil {
		return a, err
	}
	if a.put != nil {
		if err := t.checkItemKeys(a.put); err != nil {
			return a, err
		}
		if err := checkItemSize(a.put); err != nil {
			return a, err
		}
		a.keyIt = t.primaryKey(a.put)
	} else if err := t.checkKey(a.keyIt); err != nil {
		return a, err
	}
	a.key = t.itemKey(a.keyIt)
	return a, nil
}

// TransactGet is one read of TransactGetItems.
type TransactGet struct {
	Table      string
	Key        Item
	Projection string
	Names      map[string]string
}

// TransactGetItems reads up to 100 items from one snapshot: no transaction
// is seen half applied. Missing items are nil.
func (s *Service) TransactGetItems(ctx context.Context, gets []TransactGet) ([]Item, error) {
	if len(gets) == 0 || len(gets) > MaxTransactItems {
		return nil, validationf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
	}
	type plan struct {
		key   []byte
		paths []docPath
	}
	plans := make([]plan, len(gets))
	for i, g := range gets {
		t, err := s.table(g.Table)
		if err != nil {
			return nil, err
		}
		ex := NewExpressions(g.Names, nil)
		if g.Projection != "" {
			if plans[i].paths, err = parseProjection(g.Projection, ex); err != nil {
				return nil, err
			}
		}
		if err := ex.Check(); err != nil {
			return nil, err
		}
		if err := t.checkKey(g.Key); err != nil {
			return nil, err
		}
		plans[i].key = t.itemKey(g.Key)
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	out := make([]Item, len(gets))
	for i, p := range plans {
		v, closer, err := snap.Get(p.key)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read item: %w", err)
		}
		it, err := decodeItem(v)
		_ = closer.Close()
		if err != nil {
			return nil, err
		}
		if p.paths != nil {
			it = project(it, p.paths)
		}
		out[i] = it
	}
	return out, nil
}
