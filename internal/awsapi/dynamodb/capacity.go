package dynamodb

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// capacityMode checks ReturnConsumedCapacity; "" and NONE ask for nothing.
func capacityMode(mode string) (want bool, err error) {
	switch mode {
	case "", "NONE":
		return false, nil
	case "TOTAL", "INDEXES":
		return true, nil
	}
	return false, validation("1 validation error detected: Value '" + mode + "' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]")
}

// itemCall does what every single-item operation does before it runs: the
// table name is checked, the caller authorized for action on the table, and
// the capacity mode read. consumed is nil when no capacity was asked for.
// ck is the request's other condition keys, built only for restricted
// callers (nil for operators).
func (a *API) itemCall(ctx context.Context, action, table, capacity string, ck *condKeys, key tables.Item) (consumed *tables.Consumed, err error) {
	if err := requireTable(table); err != nil {
		return nil, err
	}
	if err := a.authorizeKeys(ctx, action, table, ck, key); err != nil {
		return nil, err
	}
	want, err := capacityMode(capacity)
	if err != nil || !want {
		return nil, err
	}
	return &tables.Consumed{}, nil
}

// withCapacity adds ConsumedCapacity to a response body, as DynamoDB
// reports it for mode (TOTAL or INDEXES). A nil body is {}: it is answered
// as the handler's nil, without boxing a slice into the interface.
func (a *API) withCapacity(body rawBody, table, mode string, c *tables.Consumed, read bool) any {
	if c == nil {
		if body == nil {
			return nil
		}
		return body
	}
	if body == nil {
		body = rawBody("{}")
	}
	units := func(u float64) map[string]float64 {
		if read {
			return map[string]float64{"CapacityUnits": u, "ReadCapacityUnits": u}
		}
		return map[string]float64{"CapacityUnits": u, "WriteCapacityUnits": u}
	}
	out := map[string]any{"TableName": table}
	for k, v := range units(c.Total()) {
		out[k] = v
	}
	if mode == "INDEXES" {
		out["Table"] = units(c.Table)
		var global, local map[string]any
		t, _ := a.Tables.DescribeTable(context.Background(), table)
		for name, u := range c.Indexes {
			isGlobal := true
			if t != nil {
				if ix := t.Index(name); ix != nil {
					isGlobal = ix.Global
				}
			}
			if isGlobal {
				if global == nil {
					global = map[string]any{}
				}
				global[name] = units(u)
			} else {
				if local == nil {
					local = map[string]any{}
				}
				local[name] = units(u)
			}
		}
		if global != nil {
			out["GlobalSecondaryIndexes"] = global
		}
		if local != nil {
			out["LocalSecondaryIndexes"] = local
		}
	}
	enc, _ := json.Marshal(out)
	body = bytes.TrimSuffix(bytes.TrimSpace(body), []byte("}"))
	if !bytes.Equal(body, []byte("{")) {
		body = append(body, ',')
	}
	body = append(body, `"ConsumedCapacity":`...)
	body = append(body, enc...)
	return append(body, '}')
}
