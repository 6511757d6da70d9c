package dynamodb

import (
	"context"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// ---- UpdateTable ----

func (a *API) updateTable(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		TableName                   string
		BillingMode                 string
		ProvisionedThroughput       *tables.Throughput
		GlobalSecondaryIndexUpdates []indexUpdateIn
		StreamSpecification         *tables.StreamSpec
		AttributeDefinitions        []tables.AttributeDefinition
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireTable(in.TableName); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "UpdateTable", a.Tables.ARN(in.TableName)); err != nil {
		return nil, err
	}
	if in.BillingMode == "" && in.ProvisionedThroughput == nil && len(in.GlobalSecondaryIndexUpdates) == 0 && in.StreamSpecification == nil {
		return nil, validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	if len(in.GlobalSecondaryIndexUpdates) > 0 || len(in.AttributeDefinitions) > 0 {
		t, sch, err := a.updateIndexes(ctx, in.TableName, in.AttributeDefinitions, in.GlobalSecondaryIndexUpdates)
		if err != nil {
			return nil, err
		}
		if in.BillingMode == "" && in.ProvisionedThroughput == nil && in.StreamSpecification == nil {
			status := "ACTIVE"
			for _, ix := range sch.Indexes {
				if ix.Creating {
					status = "UPDATING" // as DynamoDB answers while an index is added
				}
			}
			return map[string]any{"TableDescription": describeSchema(t, status, sch)}, nil
		}
	}
	var t *tables.Table
	if in.BillingMode != "" || in.ProvisionedThroughput != nil {
		if t, err = a.Tables.UpdateTable(ctx, in.TableName, tables.TableUpdate{BillingMode: in.BillingMode, Throughput: in.ProvisionedThroughput}); err != nil {
			return nil, err
		}
	}
	if in.StreamSpecification != nil {
		if t, err = a.Tables.UpdateStream(ctx, in.TableName, *in.StreamSpecification); err != nil {
			return nil, err
		}
	}
	return map[string]any{"TableDescription": describe(t, "ACTIVE")}, nil
}

// indexUpdateIn is one GlobalSecondaryIndexUpdates entry.
type indexUpdateIn struct {
	Create *indexIn
	Update *struct {
		IndexName             string
		ProvisionedThroughput *tables.Throughput
	}
	Delete *struct{ IndexName string }
}

// updateIndexes applies GlobalSecondaryIndexUpdates (and the attribute
// definitions new index keys need).
func (a *API) updateIndexes(ctx context.Context, table string, defs []tables.AttributeDefinition, in []indexUpdateIn) (*tables.Table, tables.Schema, error) {
	if len(in) == 0 {
		return nil, tables.Schema{}, validation("One or more parameter values were invalid: AttributeDefinitions can only be specified together with GlobalSecondaryIndexUpdates that create an index")
	}
	updates := make([]tables.IndexUpdate, len(in))
	for i, u := range in {
		switch {
		case u.Create != nil:
			spec := specIndexes([]indexIn{*u.Create})[0]
			updates[i].Create = &spec
		case u.Update != nil:
			updates[i].Update = &tables.IndexSpec{IndexName: u.Update.IndexName, Throughput: u.Update.ProvisionedThroughput}
		case u.Delete != nil:
			if u.Delete.IndexName == "" {
				return nil, tables.Schema{}, validation("1 validation error detected: Value null at 'globalSecondaryIndexUpdates.1.member.delete.indexName' failed to satisfy constraint: Member must not be null")
			}
			updates[i].Delete = u.Delete.IndexName
		}
	}
	return a.Tables.UpdateIndexes(ctx, table, defs, updates)
}

// ---- time to live ----

func (a *API) updateTimeToLive(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		TableName               string
		TimeToLiveSpecification *tables.TTLSpec
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireTable(in.TableName); err != nil {
		return nil, err
	}
	if in.TimeToLiveSpecification == nil {
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	}
	if err := a.authorize(ctx, "UpdateTimeToLive", a.Tables.ARN(in.TableName)); err != nil {
		return nil, err
	}
	spec, err := a.Tables.UpdateTimeToLive(ctx, in.TableName, *in.TimeToLiveSpecification)
	if err != nil {
		return nil, err
	}
	return map[string]any{"TimeToLiveSpecification": spec}, nil
}

func (a *API) describeTimeToLive(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct{ TableName string }](body)
	if err != nil {
		return nil, err
	}
	if err := requireTable(in.TableName); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "DescribeTimeToLive", a.Tables.ARN(in.TableName)); err != nil {
		return nil, err
	}
	spec, err := a.Tables.DescribeTimeToLive(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"TimeToLiveStatus": "DISABLED"}
	if spec != nil && spec.Enabled {
		d = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": spec.AttributeName}
	}
	return map[string]any{"TimeToLiveDescription": d}, nil
}

// ---- tags ----

func requireARN(arn string) error {
	if arn == "" {
		return validation("1 validation error detected: Value null at 'resourceArn' failed to satisfy constraint: Member must not be null")
	}
	return nil
}

func (a *API) tagResource(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		ResourceArn string
		Tags        []tables.Tag
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireARN(in.ResourceArn); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "TagResource", in.ResourceArn); err != nil {
		return nil, err
	}
	return struct{}{}, a.Tables.TagResource(ctx, in.ResourceArn, in.Tags)
}

func (a *API) untagResource(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		ResourceArn string
		TagKeys     []string
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireARN(in.ResourceArn); err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	if err := a.authorize(ctx, "UntagResource", in.ResourceArn); err != nil {
		return nil, err
	}
	return struct{}{}, a.Tables.UntagResource(ctx, in.ResourceArn, in.TagKeys)
}

func (a *API) listTagsOfResource(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		ResourceArn string
		NextToken   string
	}](body)
	if err != nil {
		return nil, err
	}
	if err := requireARN(in.ResourceArn); err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, "ListTagsOfResource", in.ResourceArn); err != nil {
		return nil, err
	}
	tags, err := a.Tables.ListTagsOfResource(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Tags": tags}, nil
}
