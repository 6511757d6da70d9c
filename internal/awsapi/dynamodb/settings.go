package dynamodb

import (
	"context"
	"encoding/json"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// ---- UpdateTable ----

func (a *API) updateTable(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		TableName                   string
		BillingMode                 string
		ProvisionedThroughput       *tables.Throughput
		GlobalSecondaryIndexUpdates []json.RawMessage
		StreamSpecification         *tables.StreamSpec
		AttributeDefinitions        []json.RawMessage
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
	if len(in.GlobalSecondaryIndexUpdates) > 0 || len(in.AttributeDefinitions) > 0 {
		return nil, validation("GlobalSecondaryIndexUpdates are not supported by nimbus yet: create a new table with the index")
	}
	if in.BillingMode == "" && in.ProvisionedThroughput == nil && in.StreamSpecification == nil {
		return nil, validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
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
