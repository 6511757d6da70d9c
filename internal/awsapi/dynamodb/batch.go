package dynamodb

import (
	"context"
	"crypto/sha256"
	"maps"
	"slices"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// batchWriteIn is BatchWriteItem's request (read by fastdecode.go).
type batchWriteIn struct {
	RequestItems           map[string][]writeRequestIn
	ReturnConsumedCapacity string
}

type writeRequestIn struct {
	PutRequest    *struct{ Item wireItem }
	DeleteRequest *struct{ Key wireItem }
}

func (a *API) batchWriteItem(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[batchWriteIn](body)
	if err != nil {
		return nil, err
	}
	units, err := unitsFor(in.ReturnConsumedCapacity)
	if err != nil {
		return nil, err
	}
	req := map[string][]tables.WriteRequest{}
	for table, rs := range in.RequestItems {
		var keys []tables.Item
		for _, r := range rs {
			if r.PutRequest != nil {
				keys = append(keys, tables.Item(r.PutRequest.Item))
			}
			if r.DeleteRequest != nil {
				keys = append(keys, tables.Item(r.DeleteRequest.Key))
			}
		}
		var ck *condKeys
		if a.restricted(ctx) {
			ck = writeKeys(tables.RequestExpressions{}, "", in.ReturnConsumedCapacity, keys...)
		}
		if err := a.authorizeKeys(ctx, "BatchWriteItem", table, ck, keys...); err != nil {
			return nil, err
		}
		for _, r := range rs {
			var w tables.WriteRequest
			if r.PutRequest != nil {
				w.Put = tables.Item(r.PutRequest.Item)
				if w.Put == nil {
					w.Put = tables.Item{}
				}
			}
			if r.DeleteRequest != nil {
				w.DeleteKey = tables.Item(r.DeleteRequest.Key)
				if w.DeleteKey == nil {
					w.DeleteKey = tables.Item{}
				}
			}
			req[table] = append(req[table], w)
		}
	}
	if err := a.Tables.BatchWriteItem(ctx, req, units); err != nil {
		return nil, err
	}
	resp := map[string]any{"UnprocessedItems": map[string]any{}}
	if units != nil {
		resp["ConsumedCapacity"] = tableUnits(units, false)
	}
	return resp, nil
}

func (a *API) batchGetItem(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[batchGetIn](body)
	if err != nil {
		return nil, err
	}
	wantCapacity, err := capacityMode(in.ReturnConsumedCapacity)
	if err != nil {
		return nil, err
	}
	req := map[string]tables.KeysAndProjection{}
	for table, r := range in.RequestItems {
		keys := make([]tables.Item, len(r.Keys))
		for i, k := range r.Keys {
			keys[i] = tables.Item(k)
		}
		lp := legacyParams{AttributesToGet: r.AttributesToGet}
		if err := lp.translate(exprTarget{Projection: &r.ProjectionExpression, Names: &r.ExpressionAttributeNames}); err != nil {
			return nil, err
		}
		var ck *condKeys
		if a.restricted(ctx) {
			ck = readKeys(tables.RequestExpressions{Names: r.ExpressionAttributeNames, Projection: r.ProjectionExpression}, "", in.ReturnConsumedCapacity, false)
		}
		if err := a.authorizeKeys(ctx, "BatchGetItem", table, ck, keys...); err != nil {
			return nil, err
		}
		kp := tables.KeysAndProjection{Projection: r.ProjectionExpression, Names: r.ExpressionAttributeNames, ConsistentRead: r.ConsistentRead}
		for _, k := range r.Keys {
			kp.Keys = append(kp.Keys, tables.Item(k))
		}
		req[table] = kp
	}
	res, err := a.Tables.BatchGetItem(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string][]wireItem{}
	for table, its := range res.Responses {
		out[table] = items(its)
	}
	type keysOut struct {
		Keys                     []wireItem
		ProjectionExpression     string            `json:",omitempty"`
		ExpressionAttributeNames map[string]string `json:",omitempty"`
		ConsistentRead           bool              `json:",omitempty"`
	}
	unprocessed := map[string]keysOut{}
	for table, kp := range res.Unprocessed {
		unprocessed[table] = keysOut{Keys: items(kp.Keys), ProjectionExpression: kp.Projection, ExpressionAttributeNames: kp.Names, ConsistentRead: kp.ConsistentRead}
	}
	resp := map[string]any{"Responses": out, "UnprocessedKeys": unprocessed}
	if wantCapacity {
		resp["ConsumedCapacity"] = tableUnits(res.Units, true)
	}
	return resp, nil
}

// tableUnits is a batch's ConsumedCapacity: one entry per table.
func tableUnits(units map[string]float64, read bool) []map[string]any {
	out := []map[string]any{}
	for _, table := range slices.Sorted(maps.Keys(units)) {
		u := units[table]
		c := map[string]any{"TableName": table, "CapacityUnits": u}
		if read {
			c["ReadCapacityUnits"] = u
		} else {
			c["WriteCapacityUnits"] = u
		}
		out = append(out, c)
	}
	return out
}

type txBase struct {
	TableName                           string
	ConditionExpression                 string
	ReturnValuesOnConditionCheckFailure string
	exprParams
}

func (b *txBase) condition() tables.Condition {
	return tables.Condition{Expression: b.ConditionExpression, ReturnOldOnFailure: b.ReturnValuesOnConditionCheckFailure == "ALL_OLD"}
}

// batchGetIn is BatchGetItem's request (read by fastdecode.go).
type batchGetIn struct {
	RequestItems           map[string]keysAndProjectionIn
	ReturnConsumedCapacity string
}

type keysAndProjectionIn struct {
	Keys                     []wireItem
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
	ConsistentRead           bool
	AttributesToGet          []string
}

// transactWriteIn is TransactWriteItems's request (read by fastdecode.go).
type transactWriteIn struct {
	TransactItems          []transactWriteItemIn
	ClientRequestToken     string
	ReturnConsumedCapacity string
}

type transactWriteItemIn struct {
	ConditionCheck *txKeyed
	Put            *txPut
	Delete         *txKeyed
	Update         *txUpdate
}

type txKeyed struct {
	txBase
	Key wireItem
}

type txPut struct {
	txBase
	Item wireItem
}

type txUpdate struct {
	txBase
	Key              wireItem
	UpdateExpression string
}

func (a *API) transactWriteItems(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[transactWriteIn](body)
	if err != nil {
		return nil, err
	}
	units, err := unitsFor(in.ReturnConsumedCapacity)
	if err != nil {
		return nil, err
	}
	req := make([]tables.TransactWriteItem, len(in.TransactItems))
	restricted := a.restricted(ctx)
	for i, ti := range in.TransactItems {
		var table, action string
		var key tables.Item
		var exprs tables.RequestExpressions
		switch {
		case ti.ConditionCheck != nil:
			c := ti.ConditionCheck
			table, action, key = c.TableName, "ConditionCheckItem", tables.Item(c.Key)
			if restricted {
				exprs = tables.RequestExpressions{Names: c.ExpressionAttributeNames, Values: valuesMap(c.ExpressionAttributeValues), Condition: c.ConditionExpression}
			}
			req[i].ConditionCheck = &tables.ConditionCheck{Table: c.TableName, Key: tables.Item(c.Key), Condition: c.condition(), Names: c.ExpressionAttributeNames, Values: valuesMap(c.ExpressionAttributeValues)}
		case ti.Put != nil:
			p := ti.Put
			table, action, key = p.TableName, "PutItem", tables.Item(p.Item)
			if restricted {
				exprs = tables.RequestExpressions{Names: p.ExpressionAttributeNames, Values: valuesMap(p.ExpressionAttributeValues), Condition: p.ConditionExpression}
			}
			req[i].Put = &tables.PutInput{Table: p.TableName, Item: tables.Item(p.Item), Condition: p.condition(), Names: p.ExpressionAttributeNames, Values: valuesMap(p.ExpressionAttributeValues)}
		case ti.Delete != nil:
			d := ti.Delete
			table, action, key = d.TableName, "DeleteItem", tables.Item(d.Key)
			if restricted {
				exprs = tables.RequestExpressions{Names: d.ExpressionAttributeNames, Values: valuesMap(d.ExpressionAttributeValues), Condition: d.ConditionExpression}
			}
			req[i].Delete = &tables.DeleteInput{Table: d.TableName, Key: tables.Item(d.Key), Condition: d.condition(), Names: d.ExpressionAttributeNames, Values: valuesMap(d.ExpressionAttributeValues)}
		case ti.Update != nil:
			u := ti.Update
			table, action, key = u.TableName, "UpdateItem", tables.Item(u.Key)
			if restricted {
				exprs = tables.RequestExpressions{Names: u.ExpressionAttributeNames, Values: valuesMap(u.ExpressionAttributeValues), Condition: u.ConditionExpression, Update: u.UpdateExpression}
			}
			req[i].Update = &tables.UpdateInput{Table: u.TableName, Key: tables.Item(u.Key), Update: u.UpdateExpression, Condition: u.condition(), Names: u.ExpressionAttributeNames, Values: valuesMap(u.ExpressionAttributeValues)}
		}
		if table != "" {
			var ck *condKeys
			if restricted {
				ck = writeKeys(exprs, "", in.ReturnConsumedCapacity, key)
			}
			if err := a.authorizeKeys(ctx, action, table, ck, key); err != nil {
				return nil, err
			}
		}
	}
	var fingerprint []byte
	if in.ClientRequestToken != "" {
		sum := sha256.Sum256(body)
		fingerprint = sum[:]
	}
	if err := a.Tables.TransactWriteItems(ctx, tables.TransactWriteInput{Items: req, ClientRequestToken: in.ClientRequestToken, Fingerprint: fingerprint, Units: units}); err != nil {
		return nil, err
	}
	if units != nil {
		return map[string]any{"ConsumedCapacity": tableUnits(units, false)}, nil
	}
	return map[string]any{}, nil
}

func (a *API) transactGetItems(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[transactGetIn](body)
	if err != nil {
		return nil, err
	}
	units, err := unitsFor(in.ReturnConsumedCapacity)
	if err != nil {
		return nil, err
	}
	req := make([]tables.TransactGet, len(in.TransactItems))
	for i, ti := range in.TransactItems {
		g := ti.Get
		var ck *condKeys
		if a.restricted(ctx) {
			ck = readKeys(tables.RequestExpressions{Names: g.ExpressionAttributeNames, Projection: g.ProjectionExpression}, "", in.ReturnConsumedCapacity, false)
		}
		if err := a.authorizeKeys(ctx, "GetItem", g.TableName, ck, tables.Item(g.Key)); err != nil {
			return nil, err
		}
		req[i] = tables.TransactGet{Table: g.TableName, Key: tables.Item(g.Key), Projection: g.ProjectionExpression, Names: g.ExpressionAttributeNames}
	}
	res, err := a.Tables.TransactGetItems(ctx, req)
	if err != nil {
		return nil, err
	}
	type response struct {
		Item wireItem `json:",omitempty"`
	}
	out := make([]response, len(res))
	for i, it := range res {
		out[i].Item = wireItem(it)
		if units != nil {
			// A transactional read costs twice a consistent one.
			units[req[i].Table] += 2 * tables.ReadUnits(it.Size(), true)
		}
	}
	if units != nil {
		return map[string]any{"Responses": out, "ConsumedCapacity": tableUnits(units, true)}, nil
	}
	return map[string]any{"Responses": out}, nil
}

// transactGetIn is TransactGetItems' request (read by fastdecode.go).
type transactGetIn struct {
	TransactItems          []transactGetItemIn
	ReturnConsumedCapacity string
}

type transactGetItemIn struct {
	Get txGet
}

type txGet struct {
	TableName                string
	Key                      wireItem
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
}

// unitsFor checks ReturnConsumedCapacity for a batch or a transaction and
// returns the map to count units in (nil when none were asked for).
func unitsFor(mode string) (map[string]float64, error) {
	want, err := capacityMode(mode)
	if err != nil || !want {
		return nil, err
	}
	return map[string]float64{}, nil
}
