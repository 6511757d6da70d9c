package dynamodb

import (
	"slices"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/tables"
)

// DynamoDB's condition keys beside dynamodb:LeadingKeys, as AWS's
// fine-grained access control documents them.
const (
	// AttributesKey is the top-level attribute names a request reads or
	// writes: the item's (PutItem), the key's and those its expressions
	// name (projection, update, condition, key condition, filter).
	AttributesKey = "dynamodb:Attributes"
	// SelectKey is the Select of a read: given, or SPECIFIC_ATTRIBUTES
	// with a projection, else ALL_ATTRIBUTES (ALL_PROJECTED_ATTRIBUTES on an
	// index), as DynamoDB defaults it.
	SelectKey = "dynamodb:Select"
	// ReturnValuesKey is a write's ReturnValues, when given.
	ReturnValuesKey = "dynamodb:ReturnValues"
	// ReturnConsumedCapacityKey is the request's ReturnConsumedCapacity,
	// when given.
	ReturnConsumedCapacityKey = "dynamodb:ReturnConsumedCapacity"
)

// condKeys describes what a request accesses, for the condition keys
// above. It is built only for restricted callers (functions).
type condKeys struct {
	exprs tables.RequestExpressions
	// items are items or keys whose attribute names the request names.
	items []tables.Item
	// read: a read, which supplies dynamodb:Select; index: it reads an index.
	read, index bool
	// sel is the read's Select as given.
	sel               string
	returnValues, rcc string
	projectionGiven   bool
}

// readKeys are the condition keys of a read with these expressions.
func readKeys(exprs tables.RequestExpressions, sel, rcc string, index bool) *condKeys {
	return &condKeys{exprs: exprs, read: true, index: index, sel: sel, rcc: rcc, projectionGiven: exprs.Projection != ""}
}

// writeKeys are the condition keys of a write naming items (the item or
// the key) with these expressions.
func writeKeys(exprs tables.RequestExpressions, returnValues, rcc string, items ...tables.Item) *condKeys {
	return &condKeys{exprs: exprs, items: items, returnValues: returnValues, rcc: rcc}
}

// addTo adds the keys to m (whose Values map is set).
func (k *condKeys) addTo(m *auth.MultiKeys) {
	if k == nil {
		return
	}
	sel := k.sel
	if k.read && sel == "" {
		switch {
		case k.projectionGiven:
			sel = tables.SelectSpecificAttributes
		case k.index:
			sel = tables.SelectAllProjected
		default:
			sel = tables.SelectAllAttributes
		}
	}
	names, err := tables.AttributeNames(k.exprs)
	// A read of whole items (no projection, not COUNT) returns attributes
	// nobody can name before it runs: under a dynamodb:Attributes condition
	// it is refused, as AWS's policies expect dynamodb:Select to refuse it.
	// An invalid expression fails the same way (the core would refuse it).
	if err != nil || (k.read && sel != tables.SelectCount && sel != tables.SelectSpecificAttributes) {
		m.Unknowable = append(m.Unknowable, AttributesKey)
	} else {
		for _, it := range k.items {
			for name := range it {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		m.Values[AttributesKey] = slices.Compact(names)
	}
	if k.read {
		m.Values[SelectKey] = []string{sel}
	}
	if k.returnValues != "" {
		m.Values[ReturnValuesKey] = []string{k.returnValues}
	}
	if k.rcc != "" {
		m.Values[ReturnConsumedCapacityKey] = []string{k.rcc}
	}
}
