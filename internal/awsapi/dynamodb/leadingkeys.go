package dynamodb

import (
	"context"
	"encoding/base64"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// LeadingKeys is the IAM condition key of the partition key values an item
// operation touches.
const LeadingKeys = "dynamodb:LeadingKeys"

// restricted reports whether the caller's policies must be evaluated with
// the request's condition keys (operators may do anything: the keys are not
// computed for them).
func (a *API) restricted(ctx context.Context) bool {
	return a.AuthorizeKeys != nil && !auth.Unrestricted(ctx)
}

// authorizeKeys authorizes action on table with the leading keys of items
// (keys or whole items) as dynamodb:LeadingKeys.
// ck, when set, adds the request's other condition keys (condkeys.go).
func (a *API) authorizeKeys(ctx context.Context, action, table string, ck *condKeys, items ...tables.Item) error {
	if !a.restricted(ctx) {
		return a.authorize(ctx, action, a.Tables.ARN(table))
	}
	keys := a.leadingKeys(ctx, table, items)
	if keys.Values == nil {
		keys.Values = map[string][]string{}
	}
	ck.addTo(keys)
	return a.authorizeMulti(ctx, action, a.Tables.ARN(table), keys)
}

func (a *API) authorizeMulti(ctx context.Context, action, resource string, keys *auth.MultiKeys) error {
	if err := a.AuthorizeKeys(ctx, iamAction(action), resource, keys); err != nil {
		return &deniedError{err}
	}
	return nil
}

// leadingKeys are the partition key values of items in table; a table that
// cannot be described makes them unknowable (the request then fails closed
// under a LeadingKeys condition, and the operation reports the table).
func (a *API) leadingKeys(ctx context.Context, table string, items []tables.Item) *auth.MultiKeys {
	t, err := a.Tables.DescribeTable(ctx, table)
	if err != nil {
		return &auth.MultiKeys{Values: map[string][]string{}, Unknowable: []string{LeadingKeys}}
	}
	hash := t.HashKey()
	values := make([]string, 0, len(items))
	for _, it := range items {
		if v, ok := it[hash]; ok {
			values = append(values, keyText(v))
		}
	}
	return &auth.MultiKeys{Values: map[string][]string{LeadingKeys: values}}
}

// keyText is a key value as IAM compares it: strings and numbers as text,
// binary in base64.
func keyText(v tables.Value) string {
	if v.Kind == tables.KindB {
		return base64.StdEncoding.EncodeToString(v.B)
	}
	return v.S
}

// scanKeys are a Scan's (or a PartiQL statement's) condition keys: which
// partitions it reads is not known in advance.
func scanKeys() *auth.MultiKeys {
	return &auth.MultiKeys{Values: map[string][]string{}, Unknowable: []string{LeadingKeys}}
}
