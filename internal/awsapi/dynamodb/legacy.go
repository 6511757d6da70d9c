package dynamodb

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// The legacy (pre-expression) parameters older apps still send are
// translated into expressions with generated placeholders, so the core knows
// only expressions.

type legacyCondition struct {
	AttributeValueList []wireValue
	ComparisonOperator string
}

type expectedValue struct {
	Value              *wireValue
	Exists             *bool
	AttributeValueList []wireValue
	ComparisonOperator string
}

type attributeUpdate struct {
	Action string
	Value  *wireValue
}

type legacyParams struct {
	AttributesToGet     []string
	KeyConditions       map[string]legacyCondition
	QueryFilter         map[string]legacyCondition
	ScanFilter          map[string]legacyCondition
	Expected            map[string]expectedValue
	AttributeUpdates    map[string]attributeUpdate
	ConditionalOperator string
}

// legacy builds expressions with #lN names and :lN values.
type legacy struct {
	names  map[string]string
	values map[string]wireValue
}

func (l *legacy) name(attr string) string {
	if l.names == nil {
		l.names = map[string]string{}
	}
	p := fmt.Sprintf("#l%d", len(l.names))
	l.names[p] = attr
	return p
}

func (l *legacy) value(v wireValue) string {
	if l.values == nil {
		l.values = map[string]wireValue{}
	}
	p := fmt.Sprintf(":l%d", len(l.values))
	l.values[p] = v
	return p
}

func (l *legacy) compare(attr, op string, args []wireValue) (string, error) {
	want := map[string]int{"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "NOT_NULL": 0, "NULL": 0,
		"CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "BETWEEN": 2}
	n, known := want[op]
	if op == "IN" {
		n, known = len(args), len(args) > 0
	}
	if !known && op != "IN" {
		return "", validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]", op))
	}
	if len(args) != n || (op == "IN" && !known) {
		return "", validation("One or more parameter values were invalid: Invalid number of argument(s) for the " + op + " ComparisonOperator")
	}
	a := l.name(attr)
	switch op {
	case "NOT_NULL":
		return "attribute_exists(" + a + ")", nil
	case "NULL":
		return "attribute_not_exists(" + a + ")", nil
	case "CONTAINS":
		return "contains(" + a + ", " + l.value(args[0]) + ")", nil
	case "NOT_CONTAINS":
		return "NOT contains(" + a + ", " + l.value(args[0]) + ")", nil
	case "BEGINS_WITH":
		return "begins_with(" + a + ", " + l.value(args[0]) + ")", nil
	case "BETWEEN":
		return a + " BETWEEN " + l.value(args[0]) + " AND " + l.value(args[1]), nil
	case "IN":
		vals := make([]string, len(args))
		for i, v := range args {
			vals[i] = l.value(v)
		}
		return a + " IN (" + strings.Join(vals, ", ") + ")", nil
	}
	sym := map[string]string{"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}[op]
	return a + " " + sym + " " + l.value(args[0]), nil
}

func (l *legacy) conditions(conds map[string]legacyCondition, joiner string) (string, error) {
	var parts []string
	for _, attr := range sortedAttrs(conds) {
		c := conds[attr]
		p, err := l.compare(attr, c.ComparisonOperator, c.AttributeValueList)
		if err != nil {
			return "", err
		}
		parts = append(parts, "("+p+")")
	}
	return strings.Join(parts, " "+joiner+" "), nil
}

func (l *legacy) expected(exp map[string]expectedValue, joiner string) (string, error) {
	var parts []string
	for _, attr := range sortedAttrs(exp) {
		e := exp[attr]
		var p string
		var err error
		switch {
		case e.ComparisonOperator != "":
			if e.Value != nil || e.Exists != nil {
				return "", validation("One or more parameter values were invalid: Value or Exists cannot be used with ComparisonOperator")
			}
			p, err = l.compare(attr, e.ComparisonOperator, e.AttributeValueList)
		case e.Exists != nil && !*e.Exists:
			if e.Value != nil {
				return "", validation("One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: " + attr)
			}
			p = "attribute_not_exists(" + l.name(attr) + ")"
		case e.Value != nil:
			p, err = l.compare(attr, "EQ", []wireValue{*e.Value})
		default:
			return "", validation("One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: " + attr)
		}
		if err != nil {
			return "", err
		}
		parts = append(parts, "("+p+")")
	}
	return strings.Join(parts, " "+joiner+" "), nil
}

func (l *legacy) updates(ups map[string]attributeUpdate) (string, error) {
	var set, remove, add, del []string
	for _, attr := range sortedAttrs(ups) {
		u := ups[attr]
		a := l.name(attr)
		switch u.Action {
		case "", "PUT":
			if u.Value == nil {
				return "", validation("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
			}
			set = append(set, a+" = "+l.value(*u.Value))
		case "DELETE":
			if u.Value == nil {
				remove = append(remove, a)
			} else {
				del = append(del, a+" "+l.value(*u.Value))
			}
		case "ADD":
			if u.Value == nil {
				return "", validation("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
			}
			if u.Value.Kind == tables.KindL {
				// ADD of a list appends to it (or starts it).
				empty := l.value(wireValue(tables.L()))
				set = append(set, a+" = list_append(if_not_exists("+a+", "+empty+"), "+l.value(*u.Value)+")")
			} else {
				add = append(add, a+" "+l.value(*u.Value))
			}
		default:
			return "", validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'attributeUpdates.%s.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]", u.Action, attr))
		}
	}
	var clauses []string
	for _, c := range []struct {
		kw    string
		parts []string
	}{{"SET", set}, {"REMOVE", remove}, {"ADD", add}, {"DELETE", del}} {
		if len(c.parts) > 0 {
			clauses = append(clauses, c.kw+" "+strings.Join(c.parts, ", "))
		}
	}
	return strings.Join(clauses, " "), nil
}

func (l *legacy) projection(attrs []string) string {
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = l.name(a)
	}
	return strings.Join(parts, ", ")
}

func sortedAttrs[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// exprTarget is what a translation fills in: a request's expressions and
// their names and values.
type exprTarget struct {
	Projection, KeyCondition, Filter, Condition, Update *string
	Names                                               *map[string]string
	Values                                              *map[string]wireValue
}

// translate turns the legacy parameters of a request into expressions. It
// refuses requests that mix the two kinds, as DynamoDB does.
func (p *legacyParams) translate(t exprTarget) error {
	var legacyUsed, exprUsed []string
	note := func(list *[]string, name string, used bool) {
		if used {
			*list = append(*list, name)
		}
	}
	note(&legacyUsed, "AttributesToGet", p.AttributesToGet != nil)
	note(&legacyUsed, "KeyConditions", p.KeyConditions != nil)
	note(&legacyUsed, "QueryFilter", p.QueryFilter != nil)
	note(&legacyUsed, "ScanFilter", p.ScanFilter != nil)
	note(&legacyUsed, "Expected", p.Expected != nil)
	note(&legacyUsed, "AttributeUpdates", p.AttributeUpdates != nil)
	note(&legacyUsed, "ConditionalOperator", p.ConditionalOperator != "")
	if len(legacyUsed) == 0 {
		return nil
	}
	for _, e := range []struct {
		name string
		s    *string
	}{{"ProjectionExpression", t.Projection}, {"KeyConditionExpression", t.KeyCondition}, {"FilterExpression", t.Filter}, {"ConditionExpression", t.Condition}, {"UpdateExpression", t.Update}} {
		note(&exprUsed, e.name, e.s != nil && *e.s != "")
	}
	note(&exprUsed, "ExpressionAttributeNames", t.Names != nil && *t.Names != nil)
	note(&exprUsed, "ExpressionAttributeValues", t.Values != nil && *t.Values != nil)
	if len(exprUsed) > 0 {
		return validation("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {" +
			strings.Join(legacyUsed, ", ") + "} Expression parameters: {" + strings.Join(exprUsed, ", ") + "}")
	}
	joiner := "AND"
	switch p.ConditionalOperator {
	case "", "AND":
	case "OR":
		joiner = "OR"
	default:
		return validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]", p.ConditionalOperator))
	}
	l := &legacy{}
	var err error
	if p.AttributesToGet != nil && t.Projection != nil {
		*t.Projection = l.projection(p.AttributesToGet)
	}
	if p.KeyConditions != nil && t.KeyCondition != nil {
		if *t.KeyCondition, err = l.conditions(p.KeyConditions, "AND"); err != nil {
			return err
		}
	}
	filter := p.QueryFilter
	if filter == nil {
		filter = p.ScanFilter
	}
	if filter != nil && t.Filter != nil {
		if *t.Filter, err = l.conditions(filter, joiner); err != nil {
			return err
		}
	}
	if p.Expected != nil && t.Condition != nil {
		if *t.Condition, err = l.expected(p.Expected, joiner); err != nil {
			return err
		}
	}
	if p.AttributeUpdates != nil && t.Update != nil {
		if *t.Update, err = l.updates(p.AttributeUpdates); err != nil {
			return err
		}
	}
	if t.Names != nil {
		*t.Names = l.names
	}
	if t.Values != nil {
		*t.Values = l.values
	}
	return nil
}
