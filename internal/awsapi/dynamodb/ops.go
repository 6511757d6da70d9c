package dynamodb

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

func (a *API) handler(op string) handler {
	switch op {
	case "CreateTable":
		return (*API).createTable
	case "DescribeTable":
		return (*API).describeTable
	case "ListTables":
		return (*API).listTables
	case "DeleteTable":
		return (*API).deleteTable
	case "PutItem":
		return (*API).putItem
	case "GetItem":
		return (*API).getItem
	case "DeleteItem":
		return (*API).deleteItem
	case "UpdateItem":
		return (*API).updateItem
	case "Query":
		return (*API).query
	case "Scan":
		return (*API).scan
	case "BatchGetItem":
		return (*API).batchGetItem
	case "BatchWriteItem":
		return (*API).batchWriteItem
	case "TransactWriteItems":
		return (*API).transactWriteItems
	case "TransactGetItems":
		return (*API).transactGetItems
	case "UpdateTable":
		return (*API).updateTable
	case "UpdateTimeToLive":
		return (*API).updateTimeToLive
	case "DescribeTimeToLive":
		return (*API).describeTimeToLive
	case "TagResource":
		return (*API).tagResource
	case "UntagResource":
		return (*API).untagResource
	case "ListTagsOfResource":
		return (*API).listTagsOfResource
	case "ExecuteStatement":
		return (*API).executeStatement
	case "BatchExecuteStatement":
		return (*API).batchExecuteStatement
	case "ExecuteTransaction":
		return (*API).executeTransaction
	}
	return nil
}

func requireTable(name string) error {
	if name == "" {
		return validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	return nil
}

// ---- tables ----

type indexIn struct {
	IndexName             string
	KeySchema             []tables.KeyElement
	Projection            tables.Projection
	ProvisionedThroughput *tables.Throughput
}

func specIndexes(in []indexIn) []tables.IndexSpec {
	var out []tables.IndexSpec
	for _, ix := range in {
		out = append(out, tables.IndexSpec{IndexName: ix.IndexName, KeySchema: ix.KeySchema, Projection: ix.Projection, Throughput: ix.ProvisionedThroughput})
	}
	return out
}

func (a *API) createTable(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		TableName              string
		AttributeDefinitions   []tables.AttributeDefinition
		KeySchema              []tables.KeyElement
		BillingMode            string
		ProvisionedThroughput  *tables.Throughput
		GlobalSecondaryIndexes []indexIn
		LocalSecondaryIndexes  []indexIn
		StreamSpecification    *tables.StreamSpec
	}](body)
	if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "CreateTable", a.Tables.ARN(in.TableName)); err != nil {
		return nil, err
	}
	t, err := a.Tables.CreateTable(ctx, tables.TableSpec{
		TableName: in.TableName, AttributeDefinitions: in.AttributeDefinitions, KeySchema: in.KeySchema,
		BillingMode: in.BillingMode, Throughput: in.ProvisionedThroughput,
		GlobalSecondaryIndexes: specIndexes(in.GlobalSecondaryIndexes), LocalSecondaryIndexes: specIndexes(in.LocalSecondaryIndexes),
		StreamSpecification: in.StreamSpecification,
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"TableDescription": describe(t, "ACTIVE")}, nil
}

func (a *API) describeTable(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct{ TableName string }](body)
	if err != nil {
		return nil, err
	}
	if err := requireTable(in.TableName); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "DescribeTable", a.Tables.ARN(in.TableName)); err != nil {
		return nil, err
	}
	t, err := a.Tables.DescribeTable(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	st, err := a.Tables.TableStats(t)
	if err != nil {
		return nil, err
	}
	d := describe(t, "ACTIVE")
	d["ItemCount"], d["TableSizeBytes"] = st.ItemCount, st.TableSizeBytes
	for _, key := range []string{"GlobalSecondaryIndexes", "LocalSecondaryIndexes"} {
		list, _ := d[key].([]map[string]any)
		for _, ix := range list {
			c := st.Indexes[ix["IndexName"].(string)]
			ix["ItemCount"], ix["IndexSizeBytes"] = c[0], c[1]
		}
	}
	return map[string]any{"Table": d}, nil
}

func (a *API) listTables(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		ExclusiveStartTableName string
		Limit                   *int
	}](body)
	if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "ListTables", "*"); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if limit = *in.Limit; limit < 1 {
			return nil, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", limit))
		}
	}
	names, last, err := a.Tables.ListTables(ctx, in.ExclusiveStartTableName, limit)
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	out := map[string]any{"TableNames": names}
	if last != "" {
		out["LastEvaluatedTableName"] = last
	}
	return out, nil
}

func (a *API) deleteTable(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct{ TableName string }](body)
	if err != nil {
		return nil, err
	}
	if err := requireTable(in.TableName); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "DeleteTable", a.Tables.ARN(in.TableName)); err != nil {
		return nil, err
	}
	t, err := a.Tables.DeleteTable(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"TableDescription": describe(t, "DELETING")}, nil
}

type throughputOut struct {
	ReadCapacityUnits      int64
	WriteCapacityUnits     int64
	NumberOfDecreasesToday int64
}

func throughput(billing string, t *tables.Throughput) throughputOut {
	if billing == "PAY_PER_REQUEST" || t == nil {
		return throughputOut{}
	}
	return throughputOut{ReadCapacityUnits: t.ReadCapacityUnits, WriteCapacityUnits: t.WriteCapacityUnits}
}

func describe(t *tables.Table, status string) map[string]any {
	return describeSchema(t, status, t.Schema())
}

// describeSchema describes t with its indexes as they were in sch.
func describeSchema(t *tables.Table, status string, sch tables.Schema) map[string]any {
	created := float64(t.Created.UnixMilli()) / 1000
	d := map[string]any{
		"TableName":                 t.TableName,
		"TableArn":                  t.ARN,
		"TableId":                   fmt.Sprintf("00000000-0000-4000-8000-%012x", t.ID),
		"TableStatus":               status,
		"CreationDateTime":          created,
		"KeySchema":                 t.KeySchema,
		"AttributeDefinitions":      sch.AttributeDefinitions,
		"ItemCount":                 0,
		"TableSizeBytes":            0,
		"ProvisionedThroughput":     throughput(t.BillingMode, t.Throughput),
		"BillingModeSummary":        map[string]any{"BillingMode": t.BillingMode, "LastUpdateToPayPerRequestDateTime": created},
		"DeletionProtectionEnabled": false,
	}
	var gsis, lsis []map[string]any
	for _, ix := range sch.Indexes {
		o := map[string]any{
			"IndexName":      ix.IndexName,
			"KeySchema":      ix.KeySchema,
			"Projection":     projectionOut(ix.Projection),
			"IndexArn":       ix.ARN,
			"ItemCount":      0,
			"IndexSizeBytes": 0,
		}
		if ix.Global {
			o["IndexStatus"] = "ACTIVE"
			if ix.Creating {
				o["IndexStatus"], o["Backfilling"] = "CREATING", true
			}
			o["ProvisionedThroughput"] = throughput(t.BillingMode, ix.Throughput)
			gsis = append(gsis, o)
		} else {
			lsis = append(lsis, o)
		}
	}
	if gsis != nil {
		d["GlobalSecondaryIndexes"] = gsis
	}
	if lsis != nil {
		d["LocalSecondaryIndexes"] = lsis
	}
	if st := t.Stream; st != nil {
		d["LatestStreamArn"], d["LatestStreamLabel"] = t.StreamARN(), st.Label
		if st.Enabled {
			d["StreamSpecification"] = tables.StreamSpec{StreamEnabled: true, StreamViewType: st.ViewType}
		}
	}
	return d
}

func projectionOut(p tables.Projection) map[string]any {
	o := map[string]any{"ProjectionType": p.ProjectionType}
	if len(p.NonKeyAttributes) > 0 {
		o["NonKeyAttributes"] = p.NonKeyAttributes
	}
	return o
}

// ---- items ----

type exprParams struct {
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]wireValue
}

type putItemIn struct {
	TableName                           string
	Item                                wireItem
	ConditionExpression                 string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	ReturnConsumedCapacity              string
	exprParams
	legacyParams
}

func (a *API) putItem(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[putItemIn](body)
	if err != nil {
		return nil, err
	}
	if err := in.translate(exprTarget{Condition: &in.ConditionExpression, Names: &in.ExpressionAttributeNames, Values: &in.ExpressionAttributeValues}); err != nil {
		return nil, err
	}
	var ck *condKeys
	if a.restricted(ctx) {
		ck = writeKeys(tables.RequestExpressions{Names: in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues), Condition: in.ConditionExpression},
			in.ReturnValues, in.ReturnConsumedCapacity, tables.Item(in.Item))
	}
	consumed, err := a.itemCall(ctx, "PutItem", in.TableName, in.ReturnConsumedCapacity, ck, tables.Item(in.Item))
	if err != nil {
		return nil, err
	}
	old, err := a.Tables.PutItem(ctx, tables.PutInput{
		Table: in.TableName, Item: tables.Item(in.Item),
		Condition: tables.Condition{Expression: in.ConditionExpression, ReturnOldOnFailure: in.ReturnValuesOnConditionCheckFailure == "ALL_OLD"},
		Names:     in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues), ReturnValues: in.ReturnValues, Capacity: consumed,
	})
	if err != nil {
		return nil, err
	}
	return a.withCapacity(attributes(old), in.TableName, in.ReturnConsumedCapacity, consumed, false), nil
}

func attributes(it tables.Item) rawBody { return itemBody("Attributes", it) }

type getItemIn struct {
	TableName                string
	Key                      wireItem
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
	ConsistentRead           bool
	ReturnConsumedCapacity   string
	legacyParams
}

func (a *API) getItem(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[getItemIn](body)
	if err != nil {
		return nil, err
	}
	if err := in.translate(exprTarget{Projection: &in.ProjectionExpression, Names: &in.ExpressionAttributeNames}); err != nil {
		return nil, err
	}
	var ck *condKeys
	if a.restricted(ctx) {
		ck = readKeys(tables.RequestExpressions{Names: in.ExpressionAttributeNames, Projection: in.ProjectionExpression}, "", in.ReturnConsumedCapacity, false)
	}
	consumed, err := a.itemCall(ctx, "GetItem", in.TableName, in.ReturnConsumedCapacity, ck, tables.Item(in.Key))
	if err != nil {
		return nil, err
	}
	it, err := a.Tables.GetItem(ctx, tables.GetInput{Table: in.TableName, Key: tables.Item(in.Key), Projection: in.ProjectionExpression, Names: in.ExpressionAttributeNames,
		ConsistentRead: in.ConsistentRead, Capacity: consumed})
	if err != nil {
		return nil, err
	}
	return a.withCapacity(itemBody("Item", it), in.TableName, in.ReturnConsumedCapacity, consumed, true), nil
}

type deleteItemIn struct {
	TableName                           string
	Key                                 wireItem
	ConditionExpression                 string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	ReturnConsumedCapacity              string
	exprParams
	legacyParams
}

func (a *API) deleteItem(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[deleteItemIn](body)
	if err != nil {
		return nil, err
	}
	if err := in.translate(exprTarget{Condition: &in.ConditionExpression, Names: &in.ExpressionAttributeNames, Values: &in.ExpressionAttributeValues}); err != nil {
		return nil, err
	}
	var ck *condKeys
	if a.restricted(ctx) {
		ck = writeKeys(tables.RequestExpressions{Names: in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues), Condition: in.ConditionExpression},
			in.ReturnValues, in.ReturnConsumedCapacity, tables.Item(in.Key))
	}
	consumed, err := a.itemCall(ctx, "DeleteItem", in.TableName, in.ReturnConsumedCapacity, ck, tables.Item(in.Key))
	if err != nil {
		return nil, err
	}
	old, err := a.Tables.DeleteItem(ctx, tables.DeleteInput{
		Table: in.TableName, Key: tables.Item(in.Key),
		Condition: tables.Condition{Expression: in.ConditionExpression, ReturnOldOnFailure: in.ReturnValuesOnConditionCheckFailure == "ALL_OLD"},
		Names:     in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues), ReturnValues: in.ReturnValues, Capacity: consumed,
	})
	if err != nil {
		return nil, err
	}
	return a.withCapacity(attributes(old), in.TableName, in.ReturnConsumedCapacity, consumed, false), nil
}

type updateItemIn struct {
	TableName                           string
	Key                                 wireItem
	UpdateExpression                    string
	ConditionExpression                 string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	ReturnConsumedCapacity              string
	exprParams
	legacyParams
}

func (a *API) updateItem(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[updateItemIn](body)
	if err != nil {
		return nil, err
	}
	if err := in.translate(exprTarget{Condition: &in.ConditionExpression, Update: &in.UpdateExpression, Names: &in.ExpressionAttributeNames, Values: &in.ExpressionAttributeValues}); err != nil {
		return nil, err
	}
	var ck *condKeys
	if a.restricted(ctx) {
		ck = writeKeys(tables.RequestExpressions{Names: in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues), Condition: in.ConditionExpression, Update: in.UpdateExpression},
			in.ReturnValues, in.ReturnConsumedCapacity, tables.Item(in.Key))
	}
	consumed, err := a.itemCall(ctx, "UpdateItem", in.TableName, in.ReturnConsumedCapacity, ck, tables.Item(in.Key))
	if err != nil {
		return nil, err
	}
	out, err := a.Tables.UpdateItem(ctx, tables.UpdateInput{
		Table: in.TableName, Key: tables.Item(in.Key), Update: in.UpdateExpression,
		Condition: tables.Condition{Expression: in.ConditionExpression, ReturnOldOnFailure: in.ReturnValuesOnConditionCheckFailure == "ALL_OLD"},
		Names:     in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues), ReturnValues: in.ReturnValues, Capacity: consumed,
	})
	if err != nil {
		return nil, err
	}
	return a.withCapacity(attributes(out), in.TableName, in.ReturnConsumedCapacity, consumed, false), nil
}

// ---- reads ----

type readIn struct {
	TableName              string
	IndexName              string
	FilterExpression       string
	ProjectionExpression   string
	Limit                  *int
	ExclusiveStartKey      wireItem
	Select                 string
	ConsistentRead         bool
	ReturnConsumedCapacity string
	exprParams
	legacyParams
}

// readCapacity adds a Query's or Scan's consumed capacity when asked: the
// bytes it read, counted against the index it read (if any).
func (a *API) readCapacity(body rawBody, r *readIn, p *tables.Page) (any, error) {
	want, err := capacityMode(r.ReturnConsumedCapacity)
	if err != nil || !want {
		return body, err
	}
	u := tables.ReadUnits(p.ReadBytes, r.ConsistentRead)
	c := &tables.Consumed{Table: u}
	if r.IndexName != "" {
		c = &tables.Consumed{Indexes: map[string]float64{r.IndexName: u}}
	}
	return a.withCapacity(body, r.TableName, r.ReturnConsumedCapacity, c, true), nil
}

func (r *readIn) core() (tables.ReadInput, error) {
	out := tables.ReadInput{
		Table: r.TableName, Index: r.IndexName, Filter: r.FilterExpression, Projection: r.ProjectionExpression,
		Names: r.ExpressionAttributeNames, Values: valuesMap(r.ExpressionAttributeValues),
		ExclusiveStartKey: tables.Item(r.ExclusiveStartKey), Select: r.Select, ConsistentRead: r.ConsistentRead,
	}
	if r.Limit != nil {
		if *r.Limit < 1 {
			return out, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *r.Limit))
		}
		out.Limit = *r.Limit
	}
	return out, requireTable(r.TableName)
}

// readResource is the ARN a read is authorised on: the index's when it
// reads an index.
func (a *API) readResource(table, index string) string {
	if index != "" {
		return a.Tables.ARN(table) + "/index/" + index
	}
	return a.Tables.ARN(table)
}

func pageOut(p *tables.Page, count bool) rawBody {
	size := 64
	for _, it := range p.Items {
		size += 16 + 32*len(it)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"Count":`...)
	b = strconv.AppendInt(b, int64(p.Count), 10)
	b = append(b, `,"ScannedCount":`...)
	b = strconv.AppendInt(b, int64(p.ScannedCount), 10)
	if !count {
		b = append(b, `,"Items":[`...)
		for i, it := range p.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendItem(b, it)
		}
		b = append(b, ']')
	}
	if p.LastEvaluatedKey != nil {
		b = append(b, `,"LastEvaluatedKey":`...)
		b = appendItem(b, p.LastEvaluatedKey)
	}
	return append(b, '}')
}

// itemBody is {"name": item}, or nil ({}, see withCapacity) without an item.
func itemBody(name string, it tables.Item) rawBody {
	if it == nil {
		return nil
	}
	b := make([]byte, 0, 64+itemSizeHint(it))
	b = append(b, `{"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	b = appendItem(b, it)
	return append(b, '}')
}

// itemSizeHint guesses an item's JSON size, so its buffer grows once.
func itemSizeHint(it tables.Item) int {
	n := 2
	for k, v := range it {
		n += len(k) + len(v.S) + len(v.B)*4/3 + 16
	}
	return n
}

type queryIn struct {
	readIn
	KeyConditionExpression string
	ScanIndexForward       *bool
}

func (a *API) query(ctx context.Context, body []byte) (any, error) {
	in, err := decodeFast[queryIn](body)
	if err != nil {
		return nil, err
	}
	if in.ScanFilter != nil {
		return nil, validation("ScanFilter is not a Query parameter; use QueryFilter")
	}
	if err := in.translate(exprTarget{Projection: &in.ProjectionExpression, KeyCondition: &in.KeyConditionExpression, Filter: &in.FilterExpression,
		Names: &in.ExpressionAttributeNames, Values: &in.ExpressionAttributeValues}); err != nil {
		return nil, err
	}
	rin, err := in.core()
	if err != nil {
		return nil, err
	}
	qin := tables.QueryInput{ReadInput: rin, KeyCondition: in.KeyConditionExpression, Backward: in.ScanIndexForward != nil && !*in.ScanIndexForward}
	if a.restricted(ctx) {
		// The partition is known once the core has read the key condition.
		resource := a.readResource(in.TableName, in.IndexName)
		ck := readKeys(tables.RequestExpressions{Names: in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues),
			Projection: in.ProjectionExpression, Filter: in.FilterExpression, KeyCondition: in.KeyConditionExpression}, in.Select, in.ReturnConsumedCapacity, in.IndexName != "")
		qin.Authorize = func(partition tables.Value) error {
			keys := &auth.MultiKeys{Values: map[string][]string{LeadingKeys: {keyText(partition)}}}
			ck.addTo(keys)
			return a.authorizeMulti(ctx, "Query", resource, keys)
		}
	} else if err := a.authorize(ctx, "Query", a.readResource(in.TableName, in.IndexName)); err != nil {
		return nil, err
	}
	p, err := a.Tables.Query(ctx, qin)
	if err != nil {
		return nil, err
	}
	return a.readCapacity(pageOut(p, in.Select == tables.SelectCount), &in.readIn, p)
}

func (a *API) scan(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		readIn
		Segment       *int
		TotalSegments *int
	}](body)
	if err != nil {
		return nil, err
	}
	if err := in.translate(exprTarget{Projection: &in.ProjectionExpression, Filter: &in.FilterExpression,
		Names: &in.ExpressionAttributeNames, Values: &in.ExpressionAttributeValues}); err != nil {
		return nil, err
	}
	rin, err := in.core()
	if err != nil {
		return nil, err
	}
	if a.restricted(ctx) {
		keys := scanKeys()
		readKeys(tables.RequestExpressions{Names: in.ExpressionAttributeNames, Values: valuesMap(in.ExpressionAttributeValues),
			Projection: in.ProjectionExpression, Filter: in.FilterExpression}, in.Select, in.ReturnConsumedCapacity, in.IndexName != "").addTo(keys)
		if err := a.authorizeMulti(ctx, "Scan", a.readResource(in.TableName, in.IndexName), keys); err != nil {
			return nil, err
		}
	} else if err := a.authorize(ctx, "Scan", a.readResource(in.TableName, in.IndexName)); err != nil {
		return nil, err
	}
	p, err := a.Tables.Scan(ctx, tables.ScanInput{ReadInput: rin, Segment: in.Segment, TotalSegments: in.TotalSegments})
	if err != nil {
		return nil, err
	}
	return a.readCapacity(pageOut(p, in.Select == tables.SelectCount), &in.readIn, p)
}
